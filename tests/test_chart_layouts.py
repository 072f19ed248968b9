"""Layout fields nebula.js charts read back, over real sockets.

Charts keep per-column settings as custom properties of each dimension's and measure's ``qDef`` (``cId``,
``textAlign``, ``columnWidth``…) and read them from ``qDimensionInfo`` / ``qMeasureInfo``; sn-table takes the
column order from ``qColumnOrder``, a master item's id from ``qLibraryId``, and does not let a locked column
be selected (``qLocked``). The requests are those the browser tests record (tests/browser/artifacts).
"""

from __future__ import annotations

from tests.harness import Client
from tests.objects_support import on_session_doc

SCRIPT = """T:
LOAD * INLINE [
Country, Product, Amount
DE, Chairs, 300
UK, Desks, 20
US, Chairs, 100
];
"""
TABLE = {
    "qInfo": {"qType": "table"},
    "qHyperCubeDef": {
        "qDimensions": [
            {
                "qDef": {
                    "qFieldDefs": ["Country"],
                    "cId": "dimA",
                    "textAlign": {"auto": False, "align": "center"},
                    "qReverseSort": True,
                }
            },
            {
                "qLibraryId": "masterProduct",
                "qDef": {"cId": "dimB", "columnWidth": {"type": "pixels", "pixels": 90}},
            },
        ],
        "qMeasures": [{"qDef": {"qDef": "Sum(Amount)", "cId": "measC", "numFormatFromTemplate": True}}],
        "qColumnOrder": [2, 0, 1],
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 10}],
    },
}
LISTBOX = {
    "qInfo": {"qType": "njsListbox"},
    "qListObjectDef": {
        "qDef": {"qFieldDefs": ["Country"], "cId": "lb1"},
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 10}],
    },
}


def test_dimension_and_measure_infos_carry_what_the_chart_defined(engine):
    async def scenario(c: Client, doc: int) -> None:
        await c.call(
            "CreateDimension",
            doc,
            {
                "qInfo": {"qId": "masterProduct", "qType": "dimension"},
                "qDim": {"qFieldDefs": ["Product"], "qGrouping": "N"},
            },
        )
        table = (await c.call("CreateSessionObject", doc, TABLE))["qReturn"]["qHandle"]
        box = (await c.call("CreateSessionObject", doc, LISTBOX))["qReturn"]["qHandle"]

        cube = (await c.call("GetLayout", table))["qLayout"]["qHyperCube"]
        country, product = cube["qDimensionInfo"]
        assert country["cId"] == "dimA" and country["textAlign"] == {"auto": False, "align": "center"}
        assert country["qReverseSort"] is True and "qLibraryId" not in country
        assert product["cId"] == "dimB" and product["columnWidth"] == {"type": "pixels", "pixels": 90}
        assert product["qLibraryId"] == "masterProduct" and product["qFallbackTitle"] == "Product"
        measure = cube["qMeasureInfo"][0]
        assert measure["cId"] == "measC" and measure["numFormatFromTemplate"] is True
        assert cube["qColumnOrder"] == [2, 0, 1]
        assert "qLocked" not in country
        assert (await c.call("GetLayout", box))["qLayout"]["qListObject"]["qDimensionInfo"][
            "cId"
        ] == "lb1"

        field = (await c.call("GetField", doc, "Country"))["qReturn"]["qHandle"]
        await c.call("Select", field, "DE")
        await c.call("Lock", field)
        cube = (await c.call("GetLayout", table))["qLayout"]["qHyperCube"]
        assert cube["qDimensionInfo"][0]["qLocked"] is True and "qLocked" not in cube["qDimensionInfo"][1]
        assert (await c.call("GetLayout", box))["qLayout"]["qListObject"]["qDimensionInfo"][
            "qLocked"
        ] is True

    on_session_doc(engine, scenario, SCRIPT)
