"""Change notifications over real sockets: a handle is reported in ``change`` exactly when something its layout
depends on moved (its own properties, its children, the list it shows, the variables its expressions read), and
not when an unrelated object of the session or the app is created, changed or destroyed.

Clients (nebula.js through enigma.js) re-fetch the layout of every handle in ``change``; a spurious entry costs a
round trip and a re-render, a missing one leaves a stale chart.
"""

from __future__ import annotations

from tests.harness import Client
from tests.objects_support import create, install_data, layout, on_session_doc

SHEET = {"qInfo": {"qType": "sheet"}, "qChildListDef": {"qData": {"title": "/title"}}}
CHART_WITH_VARIABLE = {
    "qInfo": {"qType": "barchart"},
    "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["Dim"]}}],
        "qMeasures": [{"qDef": {"qDef": "Sum(Value) * $(vFactor)"}}],
        "qInitialDataFetch": [{"qWidth": 2, "qHeight": 10}],
    },
}


def test_destroying_a_session_object_reports_only_what_listed_it(engine):
    async def scenario(c: Client, doc: int) -> None:
        sheet, _ = await create(c, doc, SHEET, "CreateSessionObject")
        other_sheet, _ = await create(c, doc, SHEET, "CreateSessionObject")
        apps, _ = await create(
            c,
            doc,
            {
                "qInfo": {"qType": "lists"},
                "qAppObjectListDef": {"qType": "sheet"},
                "qDimensionListDef": {"qType": "dimension"},
                "t": {"qStringExpression": "=1"},
            },
            "CreateSessionObject",
        )
        child = (await c.call("CreateChild", sheet, {"qInfo": {"qType": "kpi"}, "title": "k"}))["qReturn"]
        _, loose = await create(c, doc, {"qInfo": {"qType": "kpi"}}, "CreateSessionObject")
        for h in (sheet, other_sheet, apps):
            await layout(c, h)

        # an object no layout lists: nobody changes
        resp = await c.request("DestroySessionObject", doc, [loose])
        assert resp["result"] == {"qSuccess": True}
        assert "change" not in resp
        resp = await c.request("CreateSessionObject", doc, [{"qInfo": {"qType": "kpi"}}])
        assert "change" not in resp

        # a child changes: its parent's child list (which shows its title) and nothing else
        resp = await c.request(
            "SetProperties", child["qHandle"], [{"qInfo": {"qType": "kpi"}, "title": "k2"}]
        )
        assert resp["change"] == [sheet]
        assert (await layout(c, sheet))["qChildList"]["qItems"][0]["qData"] == {"title": "k2"}

        # destroying the child: only its parent
        resp = await c.request("DestroySessionObject", doc, [child["qGenericId"]])
        assert resp["result"] == {"qSuccess": True}
        assert resp["change"] == [sheet] and resp["close"] == [child["qHandle"]]
        assert (await layout(c, sheet))["qChildList"]["qItems"] == []

    on_session_doc(engine, scenario)


def test_persisted_objects_change_the_lists_of_their_kind_only(engine):
    async def scenario(c: Client, doc: int) -> None:
        sheets, _ = await create(
            c,
            doc,
            {"qInfo": {"qType": "lists"}, "qAppObjectListDef": {"qType": "sheet"}},
            "CreateSessionObject",
        )
        dims, _ = await create(
            c,
            doc,
            {"qInfo": {"qType": "lists"}, "qDimensionListDef": {"qType": "dimension"}},
            "CreateSessionObject",
        )
        sheet, _ = await create(c, doc, SHEET, "CreateSessionObject")
        await layout(c, sheets), await layout(c, dims), await layout(c, sheet)

        resp = await c.request("CreateObject", doc, [{"qInfo": {"qType": "sheet"}}])
        assert sheets in resp["change"] and dims not in resp["change"] and sheet not in resp["change"]
        await layout(c, sheets)
        resp = await c.request(
            "CreateDimension", doc, [{"qInfo": {"qType": "dimension"}, "qDim": {"qFieldDefs": ["Dim"]}}]
        )
        assert dims in resp["change"] and sheets not in resp["change"] and sheet not in resp["change"]

    on_session_doc(engine, scenario)


def test_a_chart_reading_a_variable_changes_when_the_variable_does(engine):
    async def scenario(c: Client, doc: int) -> None:
        install_data(engine)
        await c.call("CreateVariableEx", doc, {"qName": "vFactor", "qDefinition": "2"})
        chart, _ = await create(c, doc, CHART_WITH_VARIABLE, "CreateSessionObject")
        cells = (await layout(c, chart))["qHyperCube"]["qDataPages"][0]["qMatrix"]
        before = {row[0]["qText"]: row[1]["qNum"] for row in cells}
        var = (await c.call("GetVariableByName", doc, "vFactor"))["qReturn"]["qHandle"]
        resp = await c.request("SetNumValue", var, [3])
        assert chart in resp["change"]
        cells = (await layout(c, chart))["qHyperCube"]["qDataPages"][0]["qMatrix"]
        assert {row[0]["qText"]: row[1]["qNum"] for row in cells} == {
            k: v * 3 / 2 for k, v in before.items()
        }

    on_session_doc(engine, scenario)


def test_an_object_extending_another_changes_with_its_base(engine):
    async def scenario(c: Client, doc: int) -> None:
        base, _ = await create(c, doc, {"qInfo": {"qId": "base", "qType": "master"}, "color": "red"})
        leaf, _ = await create(c, doc, {"qInfo": {"qType": "x"}, "qExtendsId": "base"})
        assert (await layout(c, leaf))["color"] == "red"
        resp = await c.request("SetProperties", base, [{"qInfo": {"qType": "master"}, "color": "blue"}])
        assert leaf in resp["change"]
        assert (await layout(c, leaf))["color"] == "blue"

    on_session_doc(engine, scenario)
