"""The statements and prefixes the engine refused until now, over the socket, built from the facts of the
Qlik script reference: Merge (with partial reload and SequenceNoVar), Loosen Table, Search
Include/Exclude, Semantic, When/Unless, and Direct Query refused by name."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.harness import Client


async def _app(c: Client, script: str, name: str) -> int:
    await c.call("CreateApp", -1, name)
    h = (await c.call("OpenDoc", -1, name))["qReturn"]["qHandle"]
    await c.call("SetScript", h, script)
    resp = await c.request("DoReload", h, [], request_id=f"r-{name}")
    if not resp["result"]["qReturn"]:
        progress = (await c.call("GetProgress", -1, f"r-{name}"))["qProgressData"]
        raise AssertionError(progress["qErrorData"])
    return h


async def _rows(c: Client, h: int, table: str) -> list[tuple[str, ...]]:
    data = await c.call("GetTableData", h, 0, 100, False, table)
    return [tuple(cell["qText"] for cell in row["qValue"]) for row in data["qData"]]


async def _list(c: Client, doc: int, field: str) -> int:
    props = {
        "qInfo": {"qType": "lb"},
        "qListObjectDef": {
            "qDef": {"qFieldDefs": [field], "qSortCriterias": [{"qSortByLoadOrder": 1}]},
            "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 50}],
        },
    }
    return (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]


async def _states(c: Client, handle: int) -> dict[str, str]:
    lo = (await c.call("GetLayout", handle))["qLayout"]["qListObject"]
    return {row[0]["qText"]: row[0]["qState"] for row in lo["qDataPages"][0]["qMatrix"]}


async def _select(c: Client, doc: int, field: str, *values: str) -> None:
    h = (await c.call("GetField", doc, field))["qReturn"]["qHandle"]
    await c.call("SelectValues", h, [{"qText": v} for v in values])


def _run(coro: Any) -> None:
    asyncio.run(coro)


# --- Merge ----------------------------------------------------------------------------------------
PERSONS = """Persons:
LOAD * INLINE [
Name, Date, Number, City
Jake, 2022-03-28, 3, Lund
Jill, 2022-03-28, 6, Malmo
Steven, 2022-03-30, 3, Umea
];
"""
CHANGES = """Merge (Date, LastChange) On Name Concatenate (Persons)
LOAD * INLINE [
Operation, Date, Name, Number
Insert, 2022-04-01, Mary, 4
Delete, 2022-04-01, Steven,
Update, 2022-03-01, Jake, 5
u, 2022-04-02, Jill, 7
];
"""


def test_merge_applies_a_change_log_by_sequence_number(engine) -> None:
    """The reference: only the latest record per key survives (by the sequence field, the target's own
    rows included), a key whose latest operation is Delete is gone, an Update replaces the fields it
    lists and keeps the others, an Insert leaves fields it lacks NULL; 'i', 'u', 'd' are accepted; the
    operation field is not stored; SequenceNoVar gets the highest sequence value."""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/merge")) as c:
            h = await _app(c, PERSONS + CHANGES, "merge")
            assert await _rows(c, h, "Persons") == [
                ("Jake", "2022-03-28", "3", "Lund"),  # its update is older than the row: ignored
                ("Jill", "2022-04-02", "7", "Malmo"),  # updated, City kept
                ("Mary", "2022-04-01", "4", "-"),  # inserted, City NULL
            ]
            tables = (await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False))["qtr"]
            assert [t["qName"] for t in tables] == ["Persons"]
            assert "Operation" not in [f["qName"] for f in tables[0]["qFields"]]
            assert (await c.call("Evaluate", h, "'$(LastChange)'"))["qReturn"] == "2022-04-02"

    _run(scenario())


def test_merge_without_concatenate_finds_the_table_with_its_fields(engine) -> None:
    script = """T: LOAD * INLINE [
Id, Qty
1, 10
2, 20
];
Merge On Id LOAD * INLINE [
Op, Id, Qty
Update, 2, 21
Insert, 3, 30
Delete, 1,
Update, 2, 22
];
"""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/merge2")) as c:
            h = await _app(c, script, "merge2")
            # without a sequence field the load order decides: the later Update of 2 wins
            assert await _rows(c, h, "T") == [("2", "22"), ("3", "30")]

    _run(scenario())


def test_merge_only_runs_in_a_partial_reload_and_filters_with_the_sequence_variable(engine) -> None:
    script = """LET vLast = If(IsNull(vLast), 0, vLast);
Stock: LOAD * INLINE [
Item, Qty, Seq
bolt, 10, 1
nut, 20, 1
];
Merge Only (Seq, vLast) On Item Concatenate (Stock)
LOAD * INLINE [
Op, Item, Qty, Seq
u, bolt, 11, 2
i, screw, 5, 3
d, nut, , 4
] WHERE Seq > $(vLast);
"""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/merge3")) as c:
            h = await _app(c, script, "merge3")
            # a normal reload skips MERGE ONLY
            assert await _rows(c, h, "Stock") == [("bolt", "10", "1"), ("nut", "20", "1")]
            assert (await c.call("DoReloadEx", h, {"qPartial": True}))["qResult"]["qSuccess"] is True
            assert await _rows(c, h, "Stock") == [("bolt", "11", "2"), ("screw", "5", "3")]
            assert (await c.call("Evaluate", h, "$(vLast)"))["qReturn"] == "4"
            # a second partial reload: the accumulated log is filtered by vLast, nothing changes
            assert (await c.call("DoReloadEx", h, {"qPartial": True}))["qResult"]["qSuccess"] is True
            assert await _rows(c, h, "Stock") == [("bolt", "11", "2"), ("screw", "5", "3")]

    _run(scenario())


# --- Loosen Table -----------------------------------------------------------------------------------
ORDERS = """Orders:
LOAD * INLINE [
OrderId, CustomerId, Product
1, 1, Apple
2, 1, Pear
3, 2, Apple
4, 3, Plum
];
Customers:
LOAD * INLINE [
CustomerId, Country
1, SE
2, NO
3, DK
];
"""


async def _product_plum(c: Client, h: int) -> tuple[dict[str, str], dict[str, str]]:
    country, product = await _list(c, h, "Country"), await _list(c, h, "Product")
    await _select(c, h, "Product", "Plum")
    return await _states(c, country), await _states(c, product)


def test_loosen_table_stops_selections_crossing_it(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/tight")) as c:
            tight = await _app(c, ORDERS, "tight")
            assert await _product_plum(c, tight) == (
                {"SE": "X", "NO": "X", "DK": "O"},
                {"Apple": "X", "Pear": "X", "Plum": "S"},
            )
            assert set((await _states(c, await _list(c, tight, "OrderId"))).values()) == {"O", "X"}
        async with Client.open(engine.url("/app/engineData/identity/loose")) as c:
            loose = await _app(c, ORDERS + "Loosen Table Orders;", "loose")
            assert await _product_plum(c, loose) == (
                {"SE": "O", "NO": "O", "DK": "O"},
                {"Apple": "X", "Pear": "X", "Plum": "S"},
            )
            # nor do the table's other fields follow: OrderId stays all possible
            assert set((await _states(c, await _list(c, loose, "OrderId"))).values()) == {"O"}
            await c.call("ClearAll", loose)
            # a selection reaching the loose table through its key still restricts that key's values
            customer = await _list(c, loose, "CustomerId")
            await _select(c, loose, "Country", "SE")
            assert await _states(c, customer) == {"1": "O", "2": "X", "3": "X"}
            assert set((await _states(c, await _list(c, loose, "Product"))).values()) == {"O"}
            tables = (await c.call("GetTablesAndKeys", loose, {}, {}, 0, False, False))["qtr"]
            assert {t["qName"]: t["qLoose"] for t in tables} == {"Orders": True, "Customers": False}
            await c.call("DoSave", loose)
        # the app keeps it through a save and a new session
        async with Client.open(engine.url("/app/engineData/identity/loose-again")) as c:
            h = (await c.call("OpenDoc", -1, "loose"))["qReturn"]["qHandle"]
            tables = (await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False))["qtr"]
            assert {t["qName"]: t["qLoose"] for t in tables} == {"Orders": True, "Customers": False}
            assert (await _product_plum(c, h))[0] == {"SE": "O", "NO": "O", "DK": "O"}

    _run(scenario())


# --- Search Include / Exclude -------------------------------------------------------------------------
def test_search_exclude_and_include_decide_where_smart_search_looks(engine) -> None:
    """The reference's sequence: exclude every field ending in ID, then include ProductID again."""
    script = """T: LOAD * INLINE [
CustomerID, ProductID, Name
A12, A12, A12 corp
B7, C9, Bolt
];
Search Include *;
Search Exclude '*ID';
Search Include ProductID;
"""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/search")) as c:
            h = await _app(c, script, "search")
            res = (await c.call("SearchResults", h, {}, ["a12"], {"qOffset": 0, "qCount": 10}))["qResult"]
            found = [item["qIdentifier"] for item in res["qSearchGroupArray"][0]["qItems"]]
            assert found == ["ProductID", "Name"]
            # a field asked for by name is still searched
            res = (
                await c.call(
                    "SearchResults",
                    h,
                    {"qSearchFields": ["CustomerID"]},
                    ["a12"],
                    {"qOffset": 0, "qCount": 10},
                )
            )["qResult"]
            assert [i["qIdentifier"] for i in res["qSearchGroupArray"][0]["qItems"]] == ["CustomerID"]
            sugg = (await c.call("SearchSuggest", h, {}, ["b"]))["qResult"]["qSuggestions"]
            assert [s["qValue"] for s in sugg] == ["Bolt"]  # B7 is only in CustomerID

    _run(scenario())


# --- Semantic -------------------------------------------------------------------------------------------
SEMANTIC = """Objects: LOAD * INLINE [
Object, Kind
Anna, person
Bert, person
Cia, person
];
Relations:
Semantic LOAD Object, 'Parent' AS Relationship, Parent AS Object, 'Child' AS Relationship INLINE [
Object, Parent
Bert, Anna
Cia, Anna
];
Arrows:
Semantic LOAD Object, 'Manager' AS Boss, Manager AS Object INLINE [
Object, Manager
Cia, Bert
];
"""


def test_semantic_relations_move_the_selection(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/semantic")) as c:
            h = await _app(c, SEMANTIC, "semantic")
            obj = await _list(c, h, "Object")
            await _select(c, h, "Object", "Bert")
            await _select(c, h, "Relationship", "Parent")  # Bert's parent
            assert await _states(c, obj) == {"Anna": "S", "Bert": "X", "Cia": "X"}
            # the relation is an action, not a selection that stays
            assert "S" not in (await _states(c, await _list(c, h, "Relationship"))).values()
            await _select(c, h, "Relationship", "Child")  # Anna's children
            assert await _states(c, obj) == {"Anna": "X", "Bert": "S", "Cia": "S"}
            # without a fourth field the way back is the relation with an arrow
            await c.call("ClearAll", h)
            await _select(c, h, "Object", "Bert")
            await _select(c, h, "Boss", "<- Manager")
            assert await _states(c, obj) == {"Anna": "X", "Bert": "X", "Cia": "S"}
            # relation fields are semantic: listed only when asked for
            props = {"qInfo": {"qType": "fl"}, "qFieldListDef": {"qShowSemantic": False}}
            fl = (await c.call("CreateSessionObject", h, props))["qReturn"]["qHandle"]
            names = [f["qName"] for f in (await c.call("GetLayout", fl))["qLayout"]["qFieldList"]["qItems"]]
            assert "Relationship" not in names and "Object" in names
            props["qFieldListDef"]["qShowSemantic"] = True
            fl = (await c.call("CreateSessionObject", h, props))["qReturn"]["qHandle"]
            items = (await c.call("GetLayout", fl))["qLayout"]["qFieldList"]["qItems"]
            assert {
                f["qName"]: f["qIsSemantic"] for f in items if f["qName"] in ("Relationship", "Boss")
            } == {"Relationship": True, "Boss": True}

    _run(scenario())


def test_semantic_needs_three_or_four_fields(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/semantic2")) as c:
            await c.call("CreateApp", -1, "semantic2")
            h = (await c.call("OpenDoc", -1, "semantic2"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, "T: Semantic LOAD * INLINE [a, b\n1, 2];")
            assert (await c.request("DoReload", h, [], request_id=9))["result"]["qReturn"] is False
            err = (await c.call("GetProgress", -1, 9))["qProgressData"]["qErrorData"][0]["qErrorString"]
            assert "SEMANTIC needs three or four fields" in err

    _run(scenario())


# --- When / Unless, Direct Query ---------------------------------------------------------------------
def test_when_and_unless_prefixes(engine) -> None:
    script = """LET A = 1;
LET B = 2;
Tab1: LOAD 1 AS x AUTOGENERATE 1;
Tab2: LOAD 2 AS y AUTOGENERATE 1;
Tab3: LOAD 3 AS z AUTOGENERATE 1;
when A=1 Tab4: LOAD 4 AS w AUTOGENERATE 1;
unless A=1 Tab5: LOAD 5 AS v AUTOGENERATE 1;
unless A=1 when B=2 drop table Tab1;
when A=1 unless B=3 drop table Tab2;
when Left('ab', 1) = 'a' drop table Tab3;
"""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/when")) as c:
            h = await _app(c, script, "when")
            tables = (await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False))["qtr"]
            assert sorted(t["qName"] for t in tables) == ["Tab1", "Tab4"]

    _run(scenario())


def test_direct_query_is_refused_by_name(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/direct")) as c:
            await c.call("CreateApp", -1, "direct")
            h = (await c.call("OpenDoc", -1, "direct"))["qReturn"]["qHandle"]
            await c.call(
                "SetScript", h, "LET a = 1;\nDIRECT QUERY DIMENSION Dim1 MEASURE Num1 FROM TableName;"
            )
            assert (await c.request("DoReload", h, [], request_id=5))["result"]["qReturn"] is False
            err = (await c.call("GetProgress", -1, 5))["qProgressData"]["qErrorData"][0]["qErrorString"]
            assert "DIRECT QUERY" in err

    _run(scenario())


# --- Sleep ----------------------------------------------------------------------------------------------
def test_sleep_pauses_and_a_cancel_ends_it(engine) -> None:
    """``Sleep n`` pauses n milliseconds (an expression, at most 3600000); CancelReload ends it at once."""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/sleep")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, "LET t = 0.15;\nSleep t*1000;\nT: LOAD 1 AS x AUTOGENERATE 1;")
            started = asyncio.get_running_loop().time()
            assert (await c.call("DoReload", h))["qReturn"] is True
            assert asyncio.get_running_loop().time() - started >= 0.15
            await c.call("SetScript", h, "Sleep 3600000;")
            reload = asyncio.create_task(c.request("DoReload", h, [], request_id=77))
            await asyncio.sleep(0.3)
            started = asyncio.get_running_loop().time()
            await c.call("CancelReload")
            assert (await asyncio.wait_for(reload, 10))["result"]["qReturn"] is False
            assert asyncio.get_running_loop().time() - started < 5
            await c.call("SetScript", h, "Sleep 3600001;")
            assert (await c.request("DoReload", h, [], request_id=78))["result"]["qReturn"] is False

    _run(scenario())


# --- Sub / Call parameter transfer --------------------------------------------------------------------
def test_call_copies_variable_arguments_back(engine) -> None:
    """The reference's ParTrans example: A is passed as a variable and gets 2 back; (X+1)*2 is no
    variable; C is a parameter without argument (NULL inside) and the global C is not touched; INCR
    with EXIT SUB copies I and J back into X and Y."""
    script = """Sub ParTrans (A,B,C)
A=A+1
B=B+1
C=C+1
LET inB = B;
LET inC = If(IsNull(C), 'null', C);
End Sub
A=1
X=1
C=1
Call ParTrans (A, (X+1)*2)
Sub INCR (I,J)
I = I + 1
Exit Sub when I < 10
J = J + 1
End Sub
LET P = 9;
LET Q = 0;
Call INCR (P, Q)
T: LOAD '$(A)|$(X)|$(C)|$(inB)|$(inC)|$(P)|$(Q)' AS v AUTOGENERATE 1;
"""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/sub")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, script)
            assert (await c.call("DoReload", h))["qReturn"] is True
            data = await c.call("GetTableData", h, 0, 1, False, "T")
            assert data["qData"][0]["qValue"][0]["qText"] == "2|1|1|5|null|10|1"

    _run(scenario())
