"""Pivot (qMode P) and stacked (qMode K) hypercubes: pages, trees, tails, selections."""

from __future__ import annotations

import pytest

from engine.calc.hypercube import HyperCube, data_mode
from engine.model.selection import EMPTY_STATE, infer
from tests.modelutil import make_model


@pytest.fixture
def sales():
    return make_model({"T": {
        "Region": ["N", "N", "N", "S", "S", "S", "S"],
        "City": ["x", "y", "y", "z", "z", "w", "w"],
        "Year": [2020, 2020, 2021, 2020, 2021, 2021, 2021],
        "Amount": [1, 2, 4, 8, 16, 32, 64],
    }})


def pivot_def(dims, measures, mode="EQ_DATA_MODE_PIVOT", left=-1, page=(0, 0, 10, 10)):
    return {"qDimensions": [{"qDef": {"qFieldDefs": [d]}} for d in dims],
            "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
            "qMode": mode, "qNoOfLeftDims": left, "qAlwaysFullyExpanded": True,
            "qInitialDataFetch": [{"qLeft": page[0], "qTop": page[1], "qWidth": page[2], "qHeight": page[3]}]}


def texts(nodes):
    return [(n["qText"], texts(n["qSubNodes"])) if n["qSubNodes"] else n["qText"] for n in nodes]


def data_texts(page):
    return [[c["qText"] for c in row] for row in page["qData"]]


def test_mode_spellings():
    assert [data_mode(m) for m in ("P", "EQ_DATA_MODE_PIVOT", "DATA_MODE_PIVOT", "K", "EQ_DATA_MODE_PIVOT_STACK",
                                   "DATA_MODE_PIVOT_STACK", "S", None, "bogus")] == ["P"] * 3 + ["K"] * 3 + ["S"] * 3


def test_pivot_left_and_top(sales):
    hc = HyperCube(sales, infer(sales, EMPTY_STATE), pivot_def(["Region", "City", "Year"], ["Sum(Amount)"], left=2))
    layout = hc.layout()
    assert layout["qMode"] == "P" and layout["qNoOfLeftDims"] == 2
    assert layout["qSize"] == {"qcx": 2, "qcy": 4}
    assert layout["qDataPages"] == [] and len(layout["qPivotDataPages"]) == 1
    page = layout["qPivotDataPages"][0]
    assert page["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 4}
    assert texts(page["qLeft"]) == [("N", ["x", "y"]), ("S", ["w", "z"])]
    assert texts(page["qTop"]) == ["2020", "2021"]
    assert data_texts(page) == [["1", "-"], ["2", "4"], ["-", "96"], ["8", "16"]]
    n = page["qLeft"][0]
    assert n["qElemNo"] == 0 and n["qValue"] == "NaN" and n["qType"] == "N" and n["qCanCollapse"] is True
    assert n["qCanExpand"] is False and n["qUp"] == 0 and n["qDown"] == 0
    leaf = n["qSubNodes"][0]
    assert leaf["qCanCollapse"] is False and leaf["qSubNodes"] == []
    top = page["qTop"][0]
    assert top["qValue"] == 2020 and top["qType"] == "N"
    empty = page["qData"][0][1]
    assert empty == {"qText": "-", "qNum": "NaN", "qType": "E", "qAttrExps": {"qValues": []}}
    assert page["qData"][0][0] == {"qText": "1", "qNum": 1, "qType": "V", "qAttrExps": {"qValues": []}}


def test_pivot_paging_tails(sales):
    hc = HyperCube(sales, infer(sales, EMPTY_STATE), pivot_def(["Region", "City", "Year"], ["Sum(Amount)"], left=2))
    [page] = hc.pivot_data_pages([{"qLeft": 1, "qTop": 1, "qWidth": 5, "qHeight": 2}])
    assert page["qArea"] == {"qLeft": 1, "qTop": 1, "qWidth": 1, "qHeight": 2}
    assert texts(page["qLeft"]) == [("N", ["y"]), ("S", ["w"])]
    north, south = page["qLeft"]
    assert (north["qUp"], north["qDown"]) == (1, 0)  # x is above the page
    assert (south["qUp"], south["qDown"]) == (0, 1)  # z is below it
    assert texts(page["qTop"]) == ["2021"] and page["qTop"][0]["qUp"] == 0
    assert data_texts(page) == [["4"], ["96"]]


def test_pivot_measures_as_pseudo_dimension(sales):
    hc = HyperCube(sales, infer(sales, EMPTY_STATE),
                   pivot_def(["Region", "Year"], ["Sum(Amount)", "Count(Amount)"], left=1))
    layout = hc.layout()
    assert layout["qSize"] == {"qcx": 4, "qcy": 2}
    page = layout["qPivotDataPages"][0]
    assert texts(page["qTop"]) == [("2020", ["Sum(Amount)", "Count(Amount)"]), ("2021", ["Sum(Amount)", "Count(Amount)"])]
    assert page["qTop"][0]["qSubNodes"][1]["qType"] == "P" and page["qTop"][0]["qSubNodes"][1]["qElemNo"] == 1
    assert data_texts(page) == [["3", "2", "4", "1"], ["8", "1", "112", "3"]]
    # no top dimension: the measures are the top
    all_left = HyperCube(sales, infer(sales, EMPTY_STATE), pivot_def(["Region"], ["Sum(Amount)", "Max(Amount)"]))
    page = all_left.layout()["qPivotDataPages"][0]
    assert texts(page["qTop"]) == ["Sum(Amount)", "Max(Amount)"]
    assert data_texts(page) == [["7", "4"], ["120", "64"]]


def test_select_pivot_cells(sales):
    hc = HyperCube(sales, infer(sales, EMPTY_STATE), pivot_def(["Region", "City", "Year"], ["Sum(Amount)"], left=2))
    sym = {f: list(sales.fields[f].symbols.text) for f in ("Region", "City", "Year")}

    def named(sel):
        return {f: sorted(sym[f][i] for i in v) for f, v in sel.items()}

    assert named(hc.pivot_cell_selections([{"qType": "D", "qRow": 1, "qCol": 1}])) == {
        "Region": ["N"], "City": ["y"], "Year": ["2021"]}
    assert named(hc.pivot_cell_selections([{"qType": "L", "qRow": 2, "qCol": 0}])) == {"Region": ["S"]}
    assert named(hc.pivot_cell_selections([{"qType": "L", "qRow": 2, "qCol": 1},
                                           {"qType": "L", "qRow": 3, "qCol": 1}])) == {"City": ["w", "z"]}
    assert named(hc.pivot_cell_selections([{"qType": "T", "qRow": 0, "qCol": 0}])) == {"Year": ["2020"]}
    assert hc.pivot_cell_selections([{"qType": "D", "qRow": 99, "qCol": 0}]) == {}


def test_enigma_pivot_example_shape():
    model = make_model({"TempTable": {"ID": list(range(1, 101)), "ID2": list(range(2, 102)),
                                      "Value": [0.5] * 100}})
    qdef = {"qDimensions": [{"qDef": {"qFieldDefs": ["ID"]}}, {"qDef": {"qFieldDefs": ["ID2"]}}],
            "qMeasures": [{"qDef": {"qDef": "Sum(Value)"}}],
            "qMode": "EQ_DATA_MODE_PIVOT", "qAlwaysFullyExpanded": True}
    hc = HyperCube(model, infer(model, EMPTY_STATE), qdef)
    [page] = hc.pivot_data_pages([{"qTop": 0, "qLeft": 0, "qHeight": 5, "qWidth": 2}])
    assert page["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 5}
    assert texts(page["qLeft"]) == [(str(i), [str(i + 1)]) for i in range(1, 6)]
    assert page["qLeft"][0]["qDown"] == 0 and texts(page["qTop"]) == ["Sum(Value)"]
    assert data_texts(page) == [["0.5"]] * 5
    sel = hc.pivot_cell_selections([{"qType": "D", "qRow": 1, "qCol": 0}])
    assert {f: v.tolist() for f, v in sel.items()} == {"ID": [1], "ID2": [1]}


def test_stacked(sales):
    hc = HyperCube(sales, infer(sales, EMPTY_STATE),
                   pivot_def(["Region", "Year"], ["Sum(Amount)"], mode="EQ_DATA_MODE_PIVOT_STACK", left=1))
    layout = hc.layout()
    assert layout["qMode"] == "K" and layout["qPivotDataPages"] == [] and layout["qDataPages"] == []
    [page] = layout["qStackedDataPages"]
    assert page["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 4}
    [root] = page["qData"]
    assert root["qType"] == "R" and root["qMaxPos"] == 127 and root["qMinNeg"] == 0
    assert texts(root["qSubNodes"]) == [("N", [("2020", ["3"]), ("2021", ["4"])]),
                                        ("S", [("2020", ["8"]), ("2021", ["112"])])]
    north = root["qSubNodes"][0]
    assert north["qMaxPos"] == 7 and north["qRow"] == 0
    leaf = north["qSubNodes"][1]["qSubNodes"][0]
    assert leaf["qType"] == "V" and leaf["qValue"] == 4 and leaf["qRow"] == 1
    sel = hc.pivot_cell_selections([{"qType": "D", "qRow": 3, "qCol": 0}])
    assert {f: v.tolist() for f, v in sel.items()} == {"Region": [1], "Year": [1]}
    [small] = hc.stack_data_pages([{"qTop": 1, "qLeft": 0, "qWidth": 1, "qHeight": 10}], max_cells=2)
    assert small["qArea"]["qHeight"] == 2 and small["qData"][0]["qMaxPos"] == 12
