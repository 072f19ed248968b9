"""GetLayout answers from the view's last layout and page reads reuse the session's last cubes: both must
move with everything a result depends on (selections in any state, variables, properties, reloads)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Client, RunningEngine

SCRIPT = "T: Load * Inline [\nDim, V\na, 1\na, 2\nb, 10\nc, 100\n];\n"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    eng = RunningEngine(document_dir=tmp_path_factory.mktemp("apps"))
    yield eng
    eng.stop()


async def _doc(c: Client, script: str = SCRIPT) -> int:
    doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
    await c.call("SetScript", doc, script)
    assert (await c.call("DoReload", doc))["qReturn"] is True
    return doc


def _cube(measure: str, **extra: object) -> dict:
    return {"qInfo": {"qType": "cube"}, "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["Dim"]}}], "qMeasures": [{"qDef": {"qDef": measure}}],
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}], **extra}}


async def _rows(c: Client, obj: int) -> list[tuple[str, float]]:
    pages = (await c.call("GetHyperCubeData", obj, "/qHyperCubeDef",
                          [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}]))["qDataPages"]
    return [(row[0]["qText"], row[1]["qNum"]) for row in pages[0]["qMatrix"]]


async def _select(c: Client, doc: int, field: str, values: list[str], state: str = "$") -> None:
    fld = (await c.call("GetField", doc, field, state))["qReturn"]["qHandle"]
    await c.call("SelectValues", fld, [{"qText": v} for v in values])


def test_pages_follow_selections_variables_and_other_states(engine: RunningEngine) -> None:
    async def run() -> None:
        async with Client.open(engine.url()) as c:
            doc = await _doc(c)
            await c.call("CreateSessionVariable", doc, {"qInfo": {"qType": "variable"}, "qName": "vM",
                                                         "qDefinition": "Sum(V)"})
            await c.call("AddAlternateState", doc, "B")
            obj = (await c.call("CreateSessionObject", doc, _cube("$(vM)")))["qReturn"]["qHandle"]
            other = (await c.call("CreateSessionObject", doc, _cube("Sum({B} V)")))["qReturn"]["qHandle"]
            first = (await c.call("GetLayout", obj))["qLayout"]["qHyperCube"]["qDataPages"][0]["qMatrix"]
            assert [(r[0]["qText"], r[1]["qNum"]) for r in first] == [("a", 3), ("b", 10), ("c", 100)]
            assert await _rows(c, obj) == [("a", 3), ("b", 10), ("c", 100)]

            await _select(c, doc, "Dim", ["a", "b"])
            assert await _rows(c, obj) == [("a", 3), ("b", 10)]

            var = (await c.call("GetVariableByName", doc, "vM"))["qReturn"]["qHandle"]
            props = (await c.call("GetProperties", var))["qProp"]
            await c.call("SetProperties", var, {**props, "qDefinition": "Count(V)"})
            assert await _rows(c, obj) == [("a", 2), ("b", 1)]

            # the cube over state B answers B's selections, which leave $ alone
            assert await _rows(c, other) == [("a", 3), ("b", 10)]  # dims in $, measure over all of B
            await _select(c, doc, "Dim", ["c"], state="B")
            assert await _rows(c, other) == [("a", 0), ("b", 0)]
            assert await _rows(c, obj) == [("a", 2), ("b", 1)]

    asyncio.run(run())


def test_layout_is_recomputed_after_properties_and_reload_change(engine: RunningEngine) -> None:
    async def run() -> None:
        async with Client.open(engine.url()) as c:
            doc = await _doc(c)
            obj = (await c.call("CreateSessionObject", doc, {
                "qInfo": {"qType": "kpi"}, "v": {"qStringExpression": {"qExpr": "=Sum(V)"}}}))["qReturn"]["qHandle"]
            assert (await c.call("GetLayout", obj))["qLayout"]["v"] == "113"
            again = await c.call("GetLayout", obj)
            assert again["qLayout"]["v"] == "113"

            props = (await c.call("GetProperties", obj))["qProp"]
            props["v"] = {"qStringExpression": {"qExpr": "=Max(V)"}}
            await c.call("SetProperties", obj, props)
            assert (await c.call("GetLayout", obj))["qLayout"]["v"] == "100"

            await c.call("SetScript", doc, SCRIPT.replace("c, 100", "c, 7"))
            assert (await c.call("DoReload", doc))["qReturn"] is True
            assert (await c.call("GetLayout", obj))["qLayout"]["v"] == "10"

    asyncio.run(run())


def test_sessions_never_share_a_cached_layout(engine: RunningEngine, tmp_path: Path) -> None:
    """Two sessions on one app with different selections each see their own layout of the same object."""
    async def run() -> None:
        async with Client.open(engine.url("/app/engineData/identity/u1")) as a, \
                Client.open(engine.url("/app/engineData/identity/u2")) as b:
            await a.call("CreateApp", -1, "cache-shared")
            for c in (a, b):
                doc = (await c.call("OpenDoc", -1, "cache-shared"))["qReturn"]["qHandle"]
                c.doc = doc  # type: ignore[attr-defined]
            await a.call("SetScript", a.doc, SCRIPT)  # type: ignore[attr-defined]
            assert (await a.call("DoReload", a.doc))["qReturn"] is True  # type: ignore[attr-defined]
            obj_id = (await a.call("CreateObject", a.doc, _cube("Sum(V)")))["qReturn"]["qGenericId"]  # type: ignore[attr-defined]
            await _select(a, a.doc, "Dim", ["b"])  # type: ignore[attr-defined]
            handles = []
            for c in (a, b):
                handles.append((await c.call("GetObject", c.doc, obj_id))["qReturn"]["qHandle"])  # type: ignore[attr-defined]
            la = (await a.call("GetLayout", handles[0]))["qLayout"]["qHyperCube"]["qSize"]["qcy"]
            lb = (await b.call("GetLayout", handles[1]))["qLayout"]["qHyperCube"]["qSize"]["qcy"]
            assert (la, lb) == (1, 3)
            assert await _rows(a, handles[0]) == [("b", 10)]
            assert await _rows(b, handles[1]) == [("a", 3), ("b", 10), ("c", 100)]

    asyncio.run(run())
