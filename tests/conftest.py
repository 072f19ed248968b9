from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.harness import RunningEngine


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
