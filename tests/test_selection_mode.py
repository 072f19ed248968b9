"""Selection mode over real sockets (BeginSelections, EndSelections, ResetMadeSelections, AbortModal).

While an object is in selection mode it is computed in the selections it began in, each value showing the
state it has now: the rows and their order stay as the user saw them (Qlik: "the visualization is not sorted
until the selection mode is ended"), so pages fetched meanwhile match the layout the chart drew and cell
selections address those rows. Every other object follows the selections at once. Only the object itself is
reported changed by Begin/EndSelections.
"""

from __future__ import annotations

from tests.harness import Client
from tests.objects_support import expect_error, on_session_doc

SCRIPT = """Sales:
LOAD * INLINE [
Country, Product, Amount
DE, Chairs, 300
DE, Desks, 10
UK, Chairs, 200
UK, Desks, 20
US, Chairs, 100
US, Desks, 30
];
"""
BY_COUNTRY = {
    "qInfo": {"qType": "barchart"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}],
        "qMeasures": [{"qDef": {"qDef": "Sum(Amount)"}, "qSortBy": {"qSortByNumeric": -1}}],
        "qInterColumnSortOrder": [1, 0],
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}],
    },
}
BY_PRODUCT = {
    "qInfo": {"qType": "kpi-ish"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["Product"]}}],
        "qMeasures": [{"qDef": {"qDef": "Sum(Amount)"}}],
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}],
    },
}
#: a list box as nebula.js's filter pane defines it: selected values first
LISTBOX = {
    "qInfo": {"qType": "njsListbox"},
    "qListObjectDef": {
        "qShowAlternatives": True,
        "qDef": {"qFieldDefs": ["Country"], "qSortCriterias": [{"qSortByState": 1, "qSortByAscii": 1}]},
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 10}],
    },
}


async def _object(c: Client, doc: int, props: dict) -> int:
    return (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]


def _rows(matrix: list[list[dict]]) -> list[tuple]:
    return [
        tuple((cell["qText"], cell["qState"]) if i == 0 else cell["qText"] for i, cell in enumerate(row))
        for row in matrix
    ]


async def _selection_info(c: Client, h: int) -> dict:
    return (await c.call("GetLayout", h))["qLayout"]["qSelectionInfo"]


async def _evaluate(c: Client, doc: int, expression: str) -> str:
    return (await c.call("Evaluate", doc, expression))["qReturn"]


async def _cube(c: Client, h: int) -> tuple[dict, list[tuple]]:
    cube = (await c.call("GetLayout", h))["qLayout"]["qHyperCube"]
    return cube, _rows(cube["qDataPages"][0]["qMatrix"])


def test_a_chart_in_selection_mode_keeps_its_rows_and_shows_current_states(engine):
    async def scenario(c: Client, doc: int) -> None:
        chart = await _object(c, doc, BY_COUNTRY)
        other = await _object(c, doc, BY_PRODUCT)
        await c.call("GetLayout", chart), await c.call("GetLayout", other)

        resp = await c.request("BeginSelections", chart, [["/qHyperCubeDef"]])
        assert resp["result"] == {} and resp["change"] == [chart]  # not the other object
        layout = (await c.call("GetLayout", chart))["qLayout"]
        assert layout["qSelectionInfo"] == {"qInSelections": True, "qMadeSelections": False}

        de = next(
            row[0]["qElemNumber"]
            for row in layout["qHyperCube"]["qDataPages"][0]["qMatrix"]
            if row[0]["qText"] == "DE"
        )
        resp = await c.request("SelectHyperCubeValues", chart, ["/qHyperCubeDef", 0, [de], False])
        assert resp["result"] == {"qSuccess": True} and sorted(resp["change"]) == sorted([chart, other])

        # the chart: its three rows in their order, DE selected, the others alternatives
        cube, rows = await _cube(c, chart)
        assert cube["qSize"] == {"qcx": 2, "qcy": 3}
        assert rows == [(("DE", "S"), "310"), (("UK", "A"), "220"), (("US", "A"), "130")]
        assert cube["qDimensionInfo"][0]["qStateCounts"]["qSelected"] == 1
        page = (
            await c.call(
                "GetHyperCubeData",
                chart,
                "/qHyperCubeDef",
                [{"qTop": 1, "qLeft": 0, "qWidth": 2, "qHeight": 2}],
            )
        )["qDataPages"][0]
        assert _rows(page["qMatrix"]) == [(("UK", "A"), "220"), (("US", "A"), "130")]
        assert await _selection_info(c, chart) == {"qInSelections": True, "qMadeSelections": True}
        # every other object follows the selection at once
        _, rows = await _cube(c, other)
        assert rows == [(("Chairs", "O"), "300"), (("Desks", "O"), "10")]

        # selecting a row by its index addresses the rows the chart shows
        await c.call("SelectHyperCubeCells", chart, "/qHyperCubeDef", [2], [0])
        _, rows = await _cube(c, chart)
        assert rows == [(("DE", "A"), "310"), (("UK", "A"), "220"), (("US", "S"), "130")]

        # confirmed: the chart now shows what is selected
        resp = await c.request("EndSelections", chart, [True])
        assert resp["change"] == [chart]
        cube, rows = await _cube(c, chart)
        assert cube["qSize"]["qcy"] == 1 and rows == [(("US", "S"), "130")]
        assert await _selection_info(c, chart) == {}

    on_session_doc(engine, scenario, SCRIPT)


def test_a_list_in_selection_mode_keeps_its_order_until_confirmed(engine):
    async def scenario(c: Client, doc: int) -> None:
        box = await _object(c, doc, LISTBOX)

        async def values() -> list[tuple[str, str]]:
            lo = (await c.call("GetLayout", box))["qLayout"]["qListObject"]
            return [(row[0]["qText"], row[0]["qState"]) for row in lo["qDataPages"][0]["qMatrix"]]

        assert await values() == [("DE", "O"), ("UK", "O"), ("US", "O")]
        await c.call("BeginSelections", box, ["/qListObjectDef"])
        us = 2 if (await values())[2][0] == "US" else None
        elem = (
            await c.call(
                "GetListObjectData",
                box,
                "/qListObjectDef",
                [{"qTop": us, "qLeft": 0, "qWidth": 1, "qHeight": 1}],
            )
        )["qDataPages"][0]
        await c.call(
            "SelectListObjectValues",
            box,
            "/qListObjectDef",
            [elem["qMatrix"][0][0]["qElemNumber"]],
            False,
        )
        assert await values() == [("DE", "A"), ("UK", "A"), ("US", "S")]
        await c.call("EndSelections", box, True)
        assert await values() == [("US", "S"), ("DE", "A"), ("UK", "A")]  # sorted by state once confirmed

    on_session_doc(engine, scenario, SCRIPT)


def test_end_selections_false_and_reset_return_to_the_selections_it_began_in(engine):
    async def scenario(c: Client, doc: int) -> None:
        chart = await _object(c, doc, BY_COUNTRY)
        product = (await c.call("GetField", doc, "Product"))["qReturn"]["qHandle"]
        await c.call("Select", product, "Chairs")
        await c.call("BeginSelections", chart, ["/qHyperCubeDef"])
        await c.call("SelectHyperCubeCells", chart, "/qHyperCubeDef", [0], [0])
        assert await _evaluate(c, doc, "Sum(Amount)") == "300"
        await c.call("ResetMadeSelections", chart)
        assert await _evaluate(c, doc, "Sum(Amount)") == "600"
        assert await _selection_info(c, chart) == {"qInSelections": True, "qMadeSelections": False}
        await c.call("SelectHyperCubeCells", chart, "/qHyperCubeDef", [1], [0])
        await c.call("EndSelections", chart, False)
        assert await _evaluate(c, doc, "Sum(Amount)") == "600"
        assert await _selection_info(c, chart) == {}
        _, rows = await _cube(c, chart)
        assert [r[0][0] for r in rows] == ["DE", "UK", "US"]

    on_session_doc(engine, scenario, SCRIPT)


def test_one_object_in_selection_mode_at_a_time_and_abort_modal(engine):
    async def scenario(c: Client, doc: int) -> None:
        chart = await _object(c, doc, BY_COUNTRY)
        box = await _object(c, doc, LISTBOX)
        await c.call("BeginSelections", chart, ["/qHyperCubeDef"])
        await c.call("BeginSelections", chart, ["/qHyperCubeDef"])  # the same object again: no error
        await c.call("SelectHyperCubeCells", chart, "/qHyperCubeDef", [1], [0])
        err = await expect_error(c, "BeginSelections", box, ["/qListObjectDef"])
        assert err.code == 6003
        # AbortModal(true) ends the chart's selection mode keeping UK; the list may begin now
        await c.call("AbortModal", doc, True)
        assert await _selection_info(c, chart) == {}
        assert await _evaluate(c, doc, "Only(Country)") == "UK"
        await c.call("BeginSelections", box, ["/qListObjectDef"])
        await c.call("AbortModal", doc, False)
        assert await _evaluate(c, doc, "Only(Country)") == "UK"

    on_session_doc(engine, scenario, SCRIPT)
