"""Every layout and data page a calculation test builds also goes through the delta path.

These tests build layouts in-process, so the wire's two forms are checked on each value they get: the
plain answer (the one encoder, :func:`engine.rpc.protocol.encode_result`) and the delta answer (one
:class:`~engine.rpc.delta.DeltaCache` per test and method, so a test's later layouts are diffed against
its earlier ones, patches applied as enigma.js does) must carry the same value. The test itself still
sees the value the calculation returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from engine.calc.hypercube import HyperCube
from engine.calc.listobject import ListObject
from engine.rpc.delta import DeltaCache
from engine.rpc.protocol import encode_result
from tests.harness import apply_patches

#: the methods whose results are answered to clients (GetLayout, Get*Data)
ANSWERED = [(HyperCube, "layout"), (HyperCube, "data_pages"), (HyperCube, "pivot_data_pages"),
            (HyperCube, "stack_data_pages"), (ListObject, "layout"), (ListObject, "data_pages")]


class DeltaClient:
    """The server's delta cache and a client's patched values, for one test."""

    def __init__(self) -> None:
        self.server = DeltaCache()
        self.held: dict[str, Any] = {}
        self.answers = 0

    def check(self, method: str, value: Any) -> None:
        plain = orjson.loads(encode_result(1, {"q": value}))["result"]["q"]
        frame = orjson.loads(encode_result(1, self.server.patches(1, method, {"q": value}), delta=True))
        self.held[method] = apply_patches(self.held.get(method), frame["result"]["q"])
        assert self.held[method] == plain, f"{method}: the delta answer differs from the plain one"
        self.answers += 1


def _through_delta(client: DeltaClient, method: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def answered(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        client.check(method, result)
        return result

    return answered


@pytest.fixture(autouse=True)
def delta_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[DeltaClient]:
    client = DeltaClient()
    for cls, name in ANSWERED:
        monkeypatch.setattr(cls, name, _through_delta(client, f"{cls.__name__}.{name}", getattr(cls, name)))
    yield client
