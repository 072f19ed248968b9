"""Selections and calculations over the socket: Field methods, list objects, hypercubes, Evaluate,
alternate states, Back/Forward, change notifications."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.harness import Client
from tests.objects_support import loaded_session_doc

SCRIPT = """
Orders:
LOAD * INLINE [
OrderId, CustomerId, Product, Amount
1, 1, Apple, 10
2, 1, Pear, 20
3, 2, Apple, 30
4, 3, Plum, 40
5, 3, Pear, 50
];
Customers:
LOAD * INLINE [
CustomerId, Country
1, SE
2, NO
3, DK
4, FI
];
"""


async def _doc(c: Client, script: str = SCRIPT) -> int:
    return await loaded_session_doc(c, script)


async def _list(c: Client, doc: int, field: str, **extra) -> int:
    props = {"qInfo": {"qType": "lb"}, "qListObjectDef": {
        "qDef": {"qFieldDefs": [field], "qSortCriterias": [{"qSortByLoadOrder": 1}]},
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 50}], **extra}}
    return (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]


@asynccontextmanager
async def _two_sessions(engine) -> AsyncIterator[tuple[Client, int, Client, int, int]]:
    """Sessions a and b (identities of their own), each on a doc of SCRIPT, and b's list of Country:
    (a, doc_a, b, doc_b, lb_b)."""
    async with Client.open(engine.url("/app/engineData/identity/a")) as a, \
            Client.open(engine.url("/app/engineData/identity/b")) as b:
        doc_a = await _doc(a)
        doc_b = await _doc(b)
        yield a, doc_a, b, doc_b, await _list(b, doc_b, "Country")


def _held_until(release: threading.Event, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, called once ``release`` is set (or after 10 s)."""

    def held(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    return held


async def _states(c: Client, handle: int) -> dict[str, str]:
    lo = (await c.call("GetLayout", handle))["qLayout"]["qListObject"]
    return {row[0]["qText"]: row[0]["qState"] for row in lo["qDataPages"][0]["qMatrix"]}


@pytest.mark.parametrize("cache_mib", ["512", "0"], ids=["cached", "uncached"])
def test_field_selections_and_states(engine_factory, cache_mib):
    """Every Field method; with no calculation cache, the ones that read the state's inference
    (GetCardinal, SelectPossible/Excluded/Alternative/All) always compute it in a worker thread."""
    engine = engine_factory(f"CalcCacheMemory={cache_mib}")

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/sel")) as c:
            doc = await _doc(c)
            country = (await c.call("GetField", doc, "Country"))["qReturn"]["qHandle"]
            product = (await c.call("GetField", doc, "Product"))["qReturn"]["qHandle"]
            lb_country = await _list(c, doc, "Country", qShowAlternatives=True)
            lb_product = await _list(c, doc, "Product", qShowAlternatives=True)
            assert set((await _states(c, lb_country)).values()) == {"O"}
            assert (await c.call("Select", country, "se"))["qReturn"] is True  # case-insensitive text
            assert await _states(c, lb_country) == {"SE": "S", "NO": "A", "DK": "A", "FI": "A"}
            assert await _states(c, lb_product) == {"Apple": "O", "Pear": "O", "Plum": "X"}
            # a selection in Product excludes a selected country: XS
            assert (await c.call("Select", product, "Plum"))["qReturn"] is True
            states = await _states(c, lb_country)
            assert states["SE"] == "XS" and states["DK"] == "A"
            counts = (await c.call("GetLayout", lb_country))["qLayout"]["qListObject"]["qDimensionInfo"]["qStateCounts"]
            assert counts["qSelectedExcluded"] == 1 and counts["qAlternative"] == 1
            await c.call("ClearAll", doc)
            # wildcards, numeric search, SelectValues, toggle, low-level, lock
            assert (await c.call("Select", product, "P*"))["qReturn"] is True
            assert await _states(c, lb_product) == {"Apple": "A", "Pear": "S", "Plum": "S"}
            amount = (await c.call("GetField", doc, "Amount"))["qReturn"]["qHandle"]
            assert (await c.call("Select", amount, ">=30"))["qReturn"] is True
            assert await _states(c, lb_product) == {"Apple": "A", "Pear": "S", "Plum": "S"}  # Apple has Amount 30
            await c.call("ClearAll", doc)
            await c.call("SelectValues", product, [{"qText": "Apple"}, {"qText": "Pear"}])
            assert await _states(c, lb_product) == {"Apple": "S", "Pear": "S", "Plum": "A"}
            await c.call("ToggleSelect", product, "Pear")
            assert await _states(c, lb_product) == {"Apple": "S", "Pear": "A", "Plum": "A"}
            await c.call("LowLevelSelect", product, [2], True)  # Plum's element number in load order
            assert await _states(c, lb_product) == {"Apple": "S", "Pear": "A", "Plum": "S"}
            await c.call("Lock", product)
            assert (await c.call("Select", product, "Pear"))["qReturn"] is False
            await c.call("ClearAll", doc)  # locked selections survive ClearAll
            assert (await _states(c, lb_product))["Apple"] == "L"
            await c.call("Unlock", product)
            await c.call("ClearAll", doc)
            assert (await c.call("GetCardinal", product))["qReturn"] == 3
            # SelectPossible / SelectExcluded / SelectAlternative / ClearAllButThis
            await c.call("Select", country, "NO")
            await c.call("SelectExcluded", product)
            # the Country selection still holds, so the newly selected values are selected-excluded
            assert await _states(c, lb_product) == {"Apple": "A", "Pear": "XS", "Plum": "XS"}
            await c.call("ClearAllButThis", product)
            assert await _states(c, lb_product) == {"Apple": "A", "Pear": "S", "Plum": "S"}
            assert await _states(c, lb_country) == {"SE": "O", "NO": "X", "DK": "O", "FI": "X"}
            await c.call("ClearAll", doc)
            await c.call("Select", country, "SE")
            await c.call("SelectPossible", product)
            assert await _states(c, lb_product) == {"Apple": "S", "Pear": "S", "Plum": "X"}
            await c.call("Select", product, "Apple")
            await c.call("SelectAlternative", product)
            assert await _states(c, lb_product) == {"Apple": "A", "Pear": "S", "Plum": "X"}
            await c.call("ClearAll", doc)
            await c.call("Select", country, "DK")
            await c.call("SelectAll", product)  # every value that exists, possible or not
            assert await _states(c, lb_product) == {"Apple": "XS", "Pear": "S", "Plum": "S"}
            await c.call("ClearAll", doc)
            await c.call("Select", country, "NO")
            await c.call("SetNxProperties", product, {"qOneAndOnlyOne": True})  # the first possible value
            assert await _states(c, lb_product) == {"Apple": "S", "Pear": "X", "Plum": "X"}

    asyncio.run(scenario())


def test_hypercube_selection_and_pages(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/hc")) as c:
            doc = await _doc(c)
            props = {"qInfo": {"qType": "table"}, "qHyperCubeDef": {
                "qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}],
                "qMeasures": [{"qDef": {"qDef": "Sum(Amount)"}}, {"qDef": {"qDef": "Count(OrderId)"}}],
                "qInterColumnSortOrder": [0],
                "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 10}]}}
            h = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
            cube = (await c.call("GetLayout", h))["qLayout"]["qHyperCube"]
            rows = {r[0]["qText"]: (r[1]["qNum"], r[2]["qNum"]) for r in cube["qDataPages"][0]["qMatrix"]}
            assert rows["SE"] == (30, 2) and rows["NO"] == (30, 1) and rows["DK"] == (90, 2)
            assert cube["qSize"]["qcx"] == 3
            assert cube["qGrandTotalRow"][0]["qNum"] == 150
            page = (await c.call("GetHyperCubeData", h, "/qHyperCubeDef",
                                 [{"qTop": 1, "qLeft": 1, "qWidth": 5, "qHeight": 1}]))["qDataPages"][0]
            assert page["qArea"] == {"qLeft": 1, "qTop": 1, "qWidth": 2, "qHeight": 1}
            dk_row = next(i for i, r in enumerate(cube["qDataPages"][0]["qMatrix"]) if r[0]["qText"] == "DK")
            resp = await c.request("SelectHyperCubeCells", h, ["/qHyperCubeDef", [dk_row], [0]])
            assert resp["result"]["qSuccess"] is True and h in resp["change"]
            cube = (await c.call("GetLayout", h))["qLayout"]["qHyperCube"]
            assert [(r[0]["qText"], r[0]["qState"]) for r in cube["qDataPages"][0]["qMatrix"]] == [("DK", "S")]
            assert (await c.call("Evaluate", doc, "Sum(Amount)"))["qReturn"] == "90"
            ex = (await c.call("EvaluateEx", doc, "Count(DISTINCT Product)"))["qValue"]
            assert ex["qNumber"] == 2 and ex["qIsNumeric"] is True
            await c.call("Back", doc)
            assert (await c.call("Evaluate", doc, "Sum(Amount)"))["qReturn"] == "150"
            await c.call("Forward", doc)
            assert (await c.call("Evaluate", doc, "Sum(Amount)"))["qReturn"] == "90"
            bad = (await c.call("Evaluate", doc, "Sum(NoSuchField"))["qReturn"]
            assert bad.startswith("Error")

    asyncio.run(scenario())


def test_expressions_in_layouts_and_list_object_selection(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/expr")) as c:
            doc = await _doc(c, "T: LOAD RecNo() AS ID, Mod(RecNo(), 3) AS G AUTOGENERATE 100;")
            lb = await _list(c, doc, "G")
            h = (await c.call("CreateSessionObject", doc, {
                "qInfo": {"qType": "expr"}, "expr": {"qStringExpression": {"qExpr": "='count(ID) = ' & count(ID)"}},
                "value": {"qValueExpression": {"qExpr": "=Sum(ID)"}}}))["qReturn"]["qHandle"]
            layout = (await c.call("GetLayout", h))["qLayout"]
            assert layout["expr"] == "count(ID) = 100" and layout["value"] == 5050
            resp = await c.request("SelectListObjectValues", lb, ["/qListObjectDef", [0], False])
            assert resp["result"]["qSuccess"] is True
            assert set(resp["change"]) >= {h}  # the expression object went stale
            layout = (await c.call("GetLayout", h))["qLayout"]
            assert layout["expr"] == "count(ID) = 34"
            resp = await c.request("SelectListObjectValues", lb, ["/qListObjectDef", [999], False])
            assert resp["error"]["code"] == 8

    asyncio.run(scenario())


def test_alternate_states_are_independent(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/alt")) as c:
            doc = await _doc(c)
            await c.call("AddAlternateState", doc, "B")
            assert (await c.call("GetAppLayout", doc))["qLayout"]["qStateNames"] == ["B"]
            fb = (await c.call("GetField", doc, "Product", "B"))["qReturn"]["qHandle"]
            await c.call("Select", fb, "Apple")
            lb_default = await _list(c, doc, "Product")
            lb_b = await _list(c, doc, "Product", qStateName="B")
            assert set((await _states(c, lb_default)).values()) == {"O"}
            assert (await _states(c, lb_b))["Apple"] == "S"
            await c.call("ClearAll", doc, False, "B")
            assert set((await _states(c, lb_b)).values()) == {"O"}

    asyncio.run(scenario())


def test_selection_change_reaches_other_socket(engine):
    async def scenario():
        url = engine.url("/app/engineData/identity/fanout-sel")
        async with Client.open(url) as a, Client.open(url) as b:
            doc = await _doc(a)
            lb = await _list(a, doc, "Product")
            await b.call("GetLayout", lb)  # b reads the object: it is valid for the session
            field = (await a.call("GetField", doc, "Product"))["qReturn"]["qHandle"]
            resp = await a.request("Select", field, ["Apple"])
            assert resp["change"] == [lb]
            assert (await b.wait_push())["change"] == [lb]
            with pytest.raises(TimeoutError):
                await a.wait_push(timeout=0.3)

    asyncio.run(scenario())


def test_ctrl00_selection_object_26_selected(engine):
    ctrl00 = """
Characters:
Load Chr(RecNo()+Ord('A')-1) as Alpha, RecNo() as Num autogenerate 26;
"""

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/ctrl")) as c:
            doc = await _doc(c, ctrl00)
            alpha = (await c.call("GetField", doc, "Alpha"))["qReturn"]["qHandle"]
            assert (await c.call("SelectAll", alpha))["qReturn"] is True
            h = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "CurrentSelections"},
                                                           "qSelectionObjectDef": {}}))["qReturn"]["qHandle"]
            sel = (await c.call("GetLayout", h))["qLayout"]["qSelectionObject"]
            assert sel["qSelections"][0]["qSelectedCount"] == 26 and sel["qBackCount"] == 1

    asyncio.run(scenario())


def test_abort_request_answers_15(engine):
    big = "T: LOAD RecNo() AS X, Mod(RecNo(), 7919) AS K AUTOGENERATE 2000000;"

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/abort")) as c:
            doc = await _doc(c, big)
            slow = asyncio.create_task(c.request("Evaluate", doc, ["Count(DISTINCT X) + Sum(X*K)"], request_id=900))
            await asyncio.sleep(0.05)
            assert await c.call("AbortRequest", -1, 900) == {}
            resp = await asyncio.wait_for(slow, 30)
            assert resp["error"] == {"code": 15, "parameter": "Evaluate", "message": "Request aborted"}
            # the session goes on
            assert (await c.call("Evaluate", doc, "Count(K)"))["qReturn"] == "2000000"

    asyncio.run(scenario())


def test_calc_condition(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/calccond")) as c:
            doc = await _doc(c)
            props = {"qInfo": {"qType": "t"}, "qHyperCubeDef": {
                "qDimensions": [{"qDef": {"qFieldDefs": ["Product"]}}],
                "qMeasures": [{"qDef": {"qDef": "Sum(Amount)"}}],
                "qCalcCondition": {"qCond": {"qv": "GetSelectedCount(Country) = 1"},
                                   "qMsg": {"qv": "Select one country"}},
                "qInitialDataFetch": [{"qWidth": 2, "qHeight": 10}]}}
            h = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
            cube = (await c.call("GetLayout", h))["qLayout"]["qHyperCube"]
            assert cube["qError"]["qErrorCode"] == 7005 and cube["qCalcCondMsg"] == "Select one country"
            assert cube["qDataPages"] == [] and cube["qSize"]["qcy"] == 0
            resp = await c.request("GetHyperCubeData", h, ["/qHyperCubeDef", [{"qWidth": 2, "qHeight": 5}]])
            assert resp["error"]["code"] == 7005
            country = (await c.call("GetField", doc, "Country"))["qReturn"]["qHandle"]
            await c.call("Select", country, "SE")
            cube = (await c.call("GetLayout", h))["qLayout"]["qHyperCube"]
            assert "qError" not in cube
            assert {r[0]["qText"]: r[1]["qNum"] for r in cube["qDataPages"][0]["qMatrix"]} == {"Apple": 10, "Pear": 20}

    asyncio.run(scenario())


def test_reduced_data_samples_long_cubes_and_clear_undo_buffer_answers(engine):
    """What sn-line-chart asks for: GetHyperCubeReducedData (mode N = plain pages; D1 samples a cube longer
    than the page, first and last rows kept), then Doc.ClearUndoBuffer after migrating its properties."""
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/reduced")) as c:
            doc = await _doc(c, "T: LOAD RecNo() AS X, RecNo() * 2 AS Y AUTOGENERATE 1000;")
            props = {"qInfo": {"qType": "line"}, "qHyperCubeDef": {
                "qDimensions": [{"qDef": {"qFieldDefs": ["X"]}}], "qMeasures": [{"qDef": {"qDef": "Sum(Y)"}}],
                "qInterColumnSortOrder": [0]}}
            h = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
            page = {"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}
            plain = (await c.call("GetHyperCubeReducedData", h, "/qHyperCubeDef", [page], -1, "N"))["qDataPages"][0]
            assert plain["qIsReduced"] is False
            assert [r[0]["qNum"] for r in plain["qMatrix"]] == list(range(1, 11))
            reduced = (await c.call("GetHyperCubeReducedData", h, "/qHyperCubeDef", [page], -1, "D1"))["qDataPages"][0]
            xs = [r[0]["qNum"] for r in reduced["qMatrix"]]
            assert reduced["qIsReduced"] is True and len(xs) == 10 == reduced["qArea"]["qHeight"]
            assert xs[0] == 1 and xs[-1] == 1000 and xs == sorted(xs)
            assert all(r[1]["qNum"] == r[0]["qNum"] * 2 for r in reduced["qMatrix"])
            assert await c.call("ClearUndoBuffer", doc) == {}

    asyncio.run(scenario())


@pytest.mark.parametrize("method", ["SelectPossible", "Select", "SelectHyperCubeValues", "VariableLayout"])
def test_a_field_method_computing_an_inference_holds_no_one_else_up(engine, monkeypatch, method):
    """A Field method that needs a state's inference nobody computed (SelectPossible after a Select; a
    Select's search) propagates in a worker thread: while that propagation is held up, another session's
    requests are answered; then it answers, right."""
    from engine.app import selections as selections_module

    async def scenario():
        async with _two_sessions(engine) as (a, doc_a, b, doc_b, lb_b):
            await _states(b, lb_b)
            country = (await a.call("GetField", doc_a, "Country"))["qReturn"]["qHandle"]
            product = (await a.call("GetField", doc_a, "Product"))["qReturn"]["qHandle"]
            lb_a = await _list(a, doc_a, "Product")
            release = threading.Event()
            held = _held_until(release, selections_module.infer)
            if method == "SelectPossible":
                await _states(a, lb_a)  # the state the Select searches in is computed: it does not wait
            monkeypatch.setattr(selections_module, "infer", held)
            if method == "SelectPossible":
                await a.call("Select", country, "SE")
                pending = asyncio.ensure_future(a.call("SelectPossible", product))
                want = {"Apple": "S", "Pear": "S", "Plum": "X"}
            elif method == "Select":  # the search needs the inference of the state it searches in
                pending = asyncio.ensure_future(a.call("Select", product, "P*"))
                want = {"Apple": "X", "Pear": "S", "Plum": "S"}  # no qShowAlternatives: X
            elif method == "VariableLayout":  # a calculated variable over a state nobody computed
                var = (await a.call("CreateVariableEx", doc_a, {"qName": "vSum", "qDefinition": "=Sum(Amount)"}))
                pending = asyncio.ensure_future(a.call("GetLayout", var["qReturn"]["qHandle"]))
                want = {"Apple": "O", "Pear": "O", "Plum": "O"}
            else:  # the cube a click in a chart reads was never computed
                chart = (await a.call("CreateSessionObject", doc_a, {"qInfo": {"qType": "chart"}, "qHyperCubeDef": {
                    "qDimensions": [{"qDef": {"qFieldDefs": ["Product"]}}],
                    "qMeasures": [{"qDef": {"qDef": "Sum(Amount)"}}]}}))["qReturn"]["qHandle"]
                pending = asyncio.ensure_future(
                    a.call("SelectHyperCubeValues", chart, "/qHyperCubeDef", 0, [2], False)
                )
                want = {"Apple": "X", "Pear": "X", "Plum": "S"}  # element 2 in load order
            await asyncio.sleep(0.2)
            assert not pending.done()
            # the event loop is free: the other session is answered while the propagation waits
            assert await asyncio.wait_for(_states(b, lb_b), 5) == {"SE": "O", "NO": "O", "DK": "O", "FI": "O"}
            assert (await asyncio.wait_for(b.call("GetField", doc_b, "Product"), 5))["qReturn"]["qHandle"]
            release.set()
            answer = await asyncio.wait_for(pending, 10)
            if method == "VariableLayout":
                assert answer["qLayout"]["qNum"] == 150
            else:
                assert answer.get("qReturn", answer.get("qSuccess")) is True
            assert await _states(a, lb_a) == want

    asyncio.run(scenario())


@pytest.mark.parametrize("method", ["GetTablesAndKeys", "GetFieldDescription"])
def test_model_statistics_are_read_off_the_event_loop(engine, monkeypatch, method):
    """GetTablesAndKeys/GetFieldDescription read every row (0.2-0.5 s at 10M rows): while one is held in
    its worker, another session is answered."""
    from engine.calc import tables

    release = threading.Event()
    name = {"GetTablesAndKeys": "tables_and_keys", "GetFieldDescription": "field_description"}[method]
    held = _held_until(release, getattr(tables, name))

    async def scenario():
        async with _two_sessions(engine) as (a, doc_a, b, doc_b, lb_b):
            monkeypatch.setattr(tables, name, held)
            args = [{}, {}, 0, False, False] if method == "GetTablesAndKeys" else ["Product"]
            pending = asyncio.ensure_future(a.call(method, doc_a, *args))
            await asyncio.sleep(0.2)
            assert not pending.done()
            assert await asyncio.wait_for(_states(b, lb_b), 5) == {"SE": "O", "NO": "O", "DK": "O", "FI": "O"}
            release.set()
            answer = await asyncio.wait_for(pending, 10)
            if method == "GetTablesAndKeys":
                assert {t["qName"] for t in answer["qtr"]} == {"Orders", "Customers"}
            else:
                assert answer["qReturn"]["qName"] == "Product"

    asyncio.run(scenario())
