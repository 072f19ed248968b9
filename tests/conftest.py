from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import Client, RunningEngine

#: tests that read layouts: each runs twice, answers in plain form and as delta patches (enigma.js's
#: default), so the delta path sees every layout they check
_BOTH_WAYS = [Path(__file__).parent / name for name in ("test_objects.py", "test_selections.py", "calc")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = Path(metafunc.definition.path)
    uses_engine = {"engine", "engine_factory"} & set(metafunc.fixturenames)
    if uses_engine and any(path == p or p in path.parents for p in _BOTH_WAYS):
        metafunc.parametrize("wire_delta", [False, True], ids=["plain", "delta"], indirect=True)


@pytest.fixture(autouse=True)
def wire_delta(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Whether :class:`Client` calls ask for delta answers in this test (plain unless parametrized)."""
    delta = bool(getattr(request, "param", False))
    Client.delta_calls = delta
    yield delta
    Client.delta_calls = False


@pytest.fixture
def engine_factory(tmp_path) -> Iterator[Callable[..., RunningEngine]]:
    """Start engines with given ``-S`` settings; all are stopped after the test."""
    started: list[RunningEngine] = []

    def make(*settings: str, **kwargs) -> RunningEngine:
        kwargs.setdefault("document_dir", tmp_path / "apps")
        eng = RunningEngine(*settings, **kwargs)
        started.append(eng)
        return eng

    yield make
    for eng in started:
        eng.stop()


@pytest.fixture
def engine(engine_factory) -> RunningEngine:
    """An engine with JWT validation off (the real engine's default)."""
    return engine_factory()
