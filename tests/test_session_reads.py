"""Reads in a session: layouts of different objects compute side by side, a change waits for the reads
before it, and a layout whose results another session cached is answered without a worker thread."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from engine.app import layout as layout_module
from engine.rpc import generic_object
from tests.harness import Client, RunningEngine

SCRIPT = "T: Load * Inline [\nDim, V\na, 1\na, 2\nb, 10\nc, 100\n];\n"


def _cube(kind: str, measure: str) -> dict:
    return {
        "qInfo": {"qType": kind},
        "qHyperCubeDef": {
            "qDimensions": [{"qDef": {"qFieldDefs": ["Dim"]}}],
            "qMeasures": [{"qDef": {"qDef": measure}}],
            "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}],
        },
    }


async def _doc(c: Client) -> int:
    doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
    await c.call("SetScript", doc, SCRIPT)
    assert (await c.call("DoReload", doc))["qReturn"] is True
    return doc


def _wrap_layouts(monkeypatch: pytest.MonkeyPatch, after: Any) -> None:
    """Call ``after(view)`` in the thread that computed a layout (not on a cached-only attempt, which
    raises before it)."""
    original = layout_module.object_layout

    def computed(doc: Any, view: Any) -> dict:
        out = original(doc, view)
        after(view)
        return out

    monkeypatch.setattr(generic_object, "object_layout", computed)


def test_layouts_of_two_objects_compute_side_by_side(
    engine: RunningEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of two layouts waits in its worker thread until the other is there too: run one after the
    other, the first would give up after 5 s and answer an error."""
    meet = threading.Barrier(2, timeout=5)
    _wrap_layouts(monkeypatch, lambda view: meet.wait() if view.entity.type == "meet" else None)

    async def run() -> None:
        async with Client.open(engine.url("/app/engineData/identity/reads")) as c:
            doc = await _doc(c)
            a = (await c.call("CreateSessionObject", doc, _cube("meet", "Sum(V)")))["qReturn"]["qHandle"]
            b = (await c.call("CreateSessionObject", doc, _cube("meet", "Count(V)")))["qReturn"]["qHandle"]
            la, lb = await asyncio.gather(c.call("GetLayout", a), c.call("GetLayout", b))
            rows = [
                [cell["qText"] for cell in row]
                for row in la["qLayout"]["qHyperCube"]["qDataPages"][0]["qMatrix"]
            ]
            assert rows == [["a", "3"], ["b", "10"], ["c", "100"]]
            assert lb["qLayout"]["qHyperCube"]["qDataPages"][0]["qMatrix"][0][1]["qNum"] == 2

    asyncio.run(run())


def test_a_selection_waits_for_the_layouts_before_it(
    engine: RunningEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layout still computing when a selection arrives is answered first and in the state it was asked
    in; the layout asked after the selection sees it."""
    release = threading.Event()
    _wrap_layouts(monkeypatch, lambda view: release.wait(5) if view.entity.type == "slow" else None)

    async def run() -> None:
        async with Client.open(engine.url("/app/engineData/identity/order")) as c:
            doc = await _doc(c)
            slow = (await c.call("CreateSessionObject", doc, _cube("slow", "Sum(V)")))["qReturn"]["qHandle"]
            after = (await c.call("CreateSessionObject", doc, _cube("plain", "Sum(V)")))["qReturn"]["qHandle"]
            field = (await c.call("GetField", doc, "Dim"))["qReturn"]["qHandle"]
            done: list[str] = []

            async def track(name: str, call: Any) -> Any:
                out = await call
                done.append(name)
                return out

            first = asyncio.ensure_future(track("slow", c.call("GetLayout", slow)))
            await asyncio.sleep(0.2)  # the slow layout is computing
            select = asyncio.ensure_future(track("select", c.call("SelectValues", field, [{"qText": "b"}])))
            later = asyncio.ensure_future(track("later", c.call("GetLayout", after)))
            await asyncio.sleep(0.3)
            assert done == []  # the selection waits for the layout before it, the layout for the selection
            release.set()
            slow_layout, _, later_layout = await asyncio.gather(first, select, later)
            assert done == ["slow", "select", "later"]
            assert slow_layout["qLayout"]["qHyperCube"]["qSize"]["qcy"] == 3  # asked before the selection
            assert later_layout["qLayout"]["qHyperCube"]["qSize"]["qcy"] == 1

    asyncio.run(run())


def test_a_cached_layout_needs_no_worker_thread(engine: RunningEngine) -> None:
    """Another session computed the cube; with every worker thread of the engine blocked, this session's
    layout of the same cube in the same state is still answered (from the shared cache, on the loop)."""
    release = threading.Event()

    async def run() -> None:
        async with Client.open(engine.url("/app/engineData/identity/owner")) as a:
            await a.call("CreateApp", -1, "shared-reads")
            doc = (await a.call("OpenDoc", -1, "shared-reads"))["qReturn"]["qHandle"]
            await a.call("SetScript", doc, SCRIPT)
            assert (await a.call("DoReload", doc))["qReturn"] is True
            obj = (await a.call("CreateSessionObject", doc, _cube("chart", "Sum(V) * 2")))["qReturn"][
                "qHandle"
            ]
            await a.call("GetLayout", obj)
            async with Client.open(engine.url("/app/engineData/identity/second")) as b:
                bdoc = (await b.call("OpenDoc", -1, "shared-reads"))["qReturn"]["qHandle"]
                bobj = (await b.call("CreateSessionObject", bdoc, _cube("chart", "Sum(V) * 2")))["qReturn"][
                    "qHandle"
                ]

                def block() -> None:  # more blocked jobs than any default executor has threads
                    loop = asyncio.get_running_loop()
                    for _ in range(40):
                        loop.run_in_executor(None, release.wait, 10)

                engine.call_soon(block)
                t = time.perf_counter()
                layout = await asyncio.wait_for(b.call("GetLayout", bobj), 3)
                assert time.perf_counter() - t < 3
                assert layout["qLayout"]["qHyperCube"]["qDataPages"][0]["qMatrix"][2][1]["qNum"] == 200
                release.set()

    try:
        asyncio.run(run())
    finally:
        release.set()
