"""Hypercubes: golden layouts and a property test against a naive join-and-group reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.calc.hypercube import HyperCube
from engine.errors import QixError
from engine.model.selection import EMPTY_STATE, infer
from tests.model.test_selection import naive_rows
from tests.modelutil import make_model, sym


def cube_def(dims, measures, **kw):
    d = {"qDimensions": [{"qDef": {"qFieldDefs": [f]}} for f in dims],
         "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
         "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 50, "qHeight": 200}]}
    d.update(kw)
    return d


def matrix_texts(layout) -> list[list[str]]:
    return [[c["qText"] for c in row] for row in layout["qDataPages"][0]["qMatrix"]]


@pytest.fixture
def xyz():
    return make_model({"T": {"xyz": ["x", "y", "z", "y", "z"], "numbers": [1, 2, 3, 4, 5]}})


def test_one_table_golden(xyz):
    layout = HyperCube(xyz, infer(xyz, EMPTY_STATE), cube_def(["xyz"], ["count(numbers)"])).layout()
    assert layout["qSize"] == {"qcx": 2, "qcy": 3}
    assert layout["qMode"] == "S" and layout["qNoOfLeftDims"] == -1
    assert layout["qEffectiveInterColumnSortOrder"] == [0, 1]
    assert layout["qPivotDataPages"] == [] and layout["qStackedDataPages"] == [] and layout["qColumnOrder"] == []
    dim = layout["qDimensionInfo"][0]
    assert dim["qFallbackTitle"] == "xyz" and dim["qCardinal"] == 3 and dim["qSortIndicator"] == "N"
    assert dim["qTags"] == ["$ascii", "$text"] and dim["qDimensionType"] == "D"
    assert dim["qMin"] == "NaN" and dim["qMax"] == "NaN"
    assert dim["qCardinalities"] == {"qCardinal": 3, "qHypercubeCardinal": 3, "qAllValuesCardinal": -1}
    meas = layout["qMeasureInfo"][0]
    assert meas["qFallbackTitle"] == "count(numbers)" and meas["qMin"] == 1 and meas["qMax"] == 2
    assert meas["qNumFormat"] == {"qType": "I", "qnDec": 0, "qUseThou": 1, "qFmt": "###0", "qDec": "."}
    assert layout["qGrandTotalRow"] == [{"qText": "5", "qNum": 5, "qElemNumber": -1, "qState": "X",
                                         "qIsTotalCell": True}]
    page = layout["qDataPages"][0]
    assert page["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 2, "qHeight": 3}
    assert page["qTails"] == [{"qUp": 0, "qDown": 0}]
    assert page["qMatrix"][0] == [{"qText": "x", "qNum": "NaN", "qElemNumber": 0, "qState": "O"},
                                  {"qText": "1", "qNum": 1, "qElemNumber": 0, "qState": "L"}]
    assert matrix_texts(layout) == [["x", "1"], ["y", "2"], ["z", "2"]]


def test_selection_effects_and_states(xyz):
    inf = infer(xyz, EMPTY_STATE.with_selection("xyz", sym(xyz, "xyz", "y")))
    layout = HyperCube(xyz, inf, cube_def(["xyz"], ["Sum(numbers)", "Avg(numbers)", "Only(numbers)"])).layout()
    assert layout["qSize"]["qcy"] == 1
    row = layout["qDataPages"][0]["qMatrix"][0]
    assert row[0] == {"qText": "y", "qNum": "NaN", "qElemNumber": 1, "qState": "S"}
    assert [c["qText"] for c in row[1:]] == ["6", "3", "-"]
    assert row[3]["qNum"] == "NaN" and row[3].get("qIsNull") is True
    assert layout["qDimensionInfo"][0]["qStateCounts"]["qSelected"] == 1


def test_measures_arithmetic_and_functions(xyz):
    inf = infer(xyz, EMPTY_STATE)
    layout = HyperCube(xyz, inf, cube_def(
        ["xyz"], ["Sum(numbers)*2+1", "Min(numbers)", "Max(numbers)", "Count(DISTINCT xyz)", "10",
                  "Sum(numbers)/Sum(TOTAL numbers)", "MaxString(xyz)", "Concat(numbers, ';')"])).layout()
    assert matrix_texts(layout) == [
        ["x", "3", "1", "1", "1", "10", "0.066666666666667", "x", "1"],
        ["y", "13", "2", "4", "1", "10", "0.4", "y", "2;4"],
        ["z", "17", "3", "5", "1", "10", "0.53333333333333", "z", "3;5"],
    ]
    assert [c["qText"] for c in layout["qGrandTotalRow"]][:5] == ["31", "1", "5", "3", "10"]


def test_sorting_and_suppression():
    m = make_model({"T": {"D": ["b", "a", "c", "a", None], "V": [5, 1, 0, 2, 7]}})
    inf = infer(m, EMPTY_STATE)
    base = cube_def(["D"], ["Sum(V)"])
    assert matrix_texts(HyperCube(m, inf, base).layout()) == [["a", "3"], ["b", "5"], ["c", "0"], ["-", "7"]]
    d = cube_def(["D"], ["Sum(V)"], qInterColumnSortOrder=[1, 0])
    d["qMeasures"][0]["qSortBy"] = {"qSortByNumeric": -1}
    assert matrix_texts(HyperCube(m, inf, d).layout()) == [["-", "7"], ["b", "5"], ["a", "3"], ["c", "0"]]
    d = cube_def(["D"], ["Sum(V)"], qSuppressZero=True)
    d["qDimensions"][0]["qNullSuppression"] = True
    layout = HyperCube(m, inf, d).layout()
    assert matrix_texts(layout) == [["a", "3"], ["b", "5"]] and layout["qSize"]["qcy"] == 2
    d = cube_def(["D"], ["Sum(V)"])
    d["qDimensions"][0]["qDef"]["qSortCriterias"] = [{"qSortByAscii": -1}]
    layout = HyperCube(m, inf, d).layout()
    assert [r[0] for r in matrix_texts(layout)] == ["c", "b", "a", "-"]
    assert layout["qDimensionInfo"][0]["qSortIndicator"] == "D"
    null_cell = layout["qDataPages"][0]["qMatrix"][3][0]
    assert null_cell == {"qText": "-", "qNum": "NaN", "qElemNumber": -2, "qState": "O", "qIsNull": True}


@pytest.fixture
def shop():
    return make_model({
        "Customers": {"CID": [1, 2, 3, 4], "Country": ["SE", "SE", "DK", "NO"], "Credit": [100, 200, 300, 400]},
        "Orders": {"CID": [1, 1, 2, 3, 5], "Product": ["b", "a", "a", "c", "d"], "Amount": [10, 20, 30, 40, 50]},
    })


def test_two_linked_tables(shop):
    inf = infer(shop, EMPTY_STATE)
    layout = HyperCube(shop, inf, cube_def(["Country"], ["Sum(Amount)", "Count(Product)"])).layout()
    # NO has no orders (0); order of customer 5 has no customer: a NULL country row
    assert matrix_texts(layout) == [["DK", "40", "1"], ["NO", "0", "0"], ["SE", "60", "3"], ["-", "50", "1"]]
    # a measure on the one side is not multiplied by a dimension on the many side
    layout = HyperCube(shop, inf, cube_def(["Country"], ["Sum(Credit)"])).layout()
    assert matrix_texts(layout) == [["DK", "300"], ["NO", "400"], ["SE", "300"]]
    layout = HyperCube(shop, inf, cube_def(["Product"], ["Sum(Credit)", "Count(CID)"])).layout()
    # customer 4 has no orders: its credit shows on the NULL product row
    assert matrix_texts(layout) == [["a", "300", "2"], ["b", "100", "1"], ["c", "300", "1"], ["d", "0", "1"],
                                    ["-", "400", "0"]]
    # key field as a dimension: customer 4 (no orders) keeps its key
    layout = HyperCube(shop, inf, cube_def(["CID"], ["Sum(Amount)"])).layout()
    assert matrix_texts(layout) == [["1", "30"], ["2", "30"], ["3", "40"], ["4", "0"], ["5", "50"]]


def test_two_dims_across_tables_with_selection(shop):
    inf = infer(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "SE")))
    layout = HyperCube(shop, inf, cube_def(["Country", "Product"], ["Sum(Amount)"])).layout()
    assert matrix_texts(layout) == [["SE", "a", "50"], ["SE", "b", "10"]]
    assert layout["qDataPages"][0]["qMatrix"][0][0]["qState"] == "S"
    assert layout["qDataPages"][0]["qMatrix"][0][1]["qState"] == "O"
    assert layout["qGrandTotalRow"][0]["qNum"] == 60
    hc = HyperCube(shop, inf, cube_def(["Country", "Product"], ["Sum(Amount)"]))
    assert {k: v.tolist() for k, v in hc.cell_selections([0, 1], [1]).items()} == {
        "Product": sorted(sym(shop, "Product", "a", "b"))}
    assert hc.cell_selections([1], [0, 2]) == {"Country": sym(shop, "Country", "SE")}


def test_islands_make_a_cartesian_product():
    m = make_model({"A": {"a": ["p", "q"]}, "B": {"b": [1, 2, 3]}})
    layout = HyperCube(m, infer(m, EMPTY_STATE), cube_def(["a", "b"], [])).layout()
    assert layout["qSize"] == {"qcx": 2, "qcy": 6}
    assert matrix_texts(layout)[:3] == [["p", "1"], ["p", "2"], ["p", "3"]]


def test_no_dimensions_and_empty_cube(shop):
    inf = infer(shop, EMPTY_STATE)
    layout = HyperCube(shop, inf, cube_def([], ["Sum(Amount)", "Count(DISTINCT Country)"])).layout()
    assert matrix_texts(layout) == [["150", "3"]]
    inf = infer(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "NO"))
                .with_selection("Product", sym(shop, "Product", "a")))
    layout = HyperCube(shop, inf, cube_def(["Country"], ["Sum(Amount)"])).layout()
    assert layout["qSize"]["qcy"] == 0 and layout["qDataPages"][0]["qMatrix"] == []
    assert layout["qMeasureInfo"][0]["qMin"] == "NaN"


def test_paging(shop):
    hc = HyperCube(shop, infer(shop, EMPTY_STATE), cube_def(["CID"], ["Sum(Amount)"], qInitialDataFetch=[]))
    pages = hc.data_pages([{"qLeft": 1, "qTop": 3, "qWidth": 5, "qHeight": 5}])
    assert pages[0]["qArea"] == {"qLeft": 1, "qTop": 3, "qWidth": 1, "qHeight": 2}
    assert [[c["qText"] for c in r] for r in pages[0]["qMatrix"]] == [["0"], ["50"]]
    assert hc.layout()["qDataPages"] == []
    big = make_model({"T": {"F": list(range(6000)), "G": list(range(6000))}})
    hc = HyperCube(big, infer(big, EMPTY_STATE), cube_def(["F", "G"], []))
    with pytest.raises(QixError) as e:
        hc.data_pages([{"qWidth": 2, "qHeight": 5001}])
    assert e.value.code == 7009
    assert len(hc.data_pages([{"qWidth": 2, "qHeight": 5000}])[0]["qMatrix"]) == 5000


def test_bad_measure_and_unknown_dimension(shop):
    inf = infer(shop, EMPTY_STATE)
    layout = HyperCube(shop, inf, cube_def(["Country"], ["Sum(Amount"])).layout()
    assert "qError" in layout["qMeasureInfo"][0]
    assert matrix_texts(layout)[0] == ["DK", "-"]
    with pytest.raises(QixError):
        HyperCube(shop, inf, cube_def(["Nope"], []))


# --- property test: star schema against a naive reference ---------------------------------------
@st.composite
def star(draw):
    vals = st.one_of(st.none(), st.integers(0, 5))
    nf = draw(st.integers(1, 8))
    fact = {"K1": draw(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=nf, max_size=nf)),
            "K2": draw(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=nf, max_size=nf)),
            "M": draw(st.lists(vals, min_size=nf, max_size=nf))}
    k1 = draw(st.lists(st.integers(0, 4), min_size=1, max_size=5, unique=True))
    k2 = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True))
    cats = st.sampled_from(["a", "b", "c"])
    d1 = {"K1": k1, "A1": draw(st.lists(cats, min_size=len(k1), max_size=len(k1))),
          "P1": draw(st.lists(vals, min_size=len(k1), max_size=len(k1)))}
    d2 = {"K2": k2, "A2": draw(st.lists(cats, min_size=len(k2), max_size=len(k2)))}
    dims = draw(st.lists(st.sampled_from(["A1", "A2", "K1"]), min_size=1, max_size=2, unique=True))
    sels = draw(st.dictionaries(st.sampled_from(["A1", "A2", "M"]), st.sets(st.sampled_from(["a", "b", "c", 0, 1, 2]),
                                                                          min_size=1, max_size=2), max_size=2))
    return {"Fact": fact, "D1": d1, "D2": d2}, dims, sels


def reference(tables, dims, selections):
    rows = naive_rows(tables, selections)
    home = {"A1": "D1", "A2": "D2", "K1": "D1"}
    d1_of = {v: r for r, v in enumerate(tables["D1"]["K1"]) if r in rows["D1"]}
    d2_of = {v: r for r, v in enumerate(tables["D2"]["K2"]) if r in rows["D2"]}
    tuples = []  # (fact row, d1 row, d2 row)
    for f in sorted(rows["Fact"]):
        tuples.append((f, d1_of.get(tables["Fact"]["K1"][f]), d2_of.get(tables["Fact"]["K2"][f])))
    used = [("D1", 1)] + ([("D2", 2)] if "A2" in dims else [])  # tables the cube reads
    for t, i in used:
        covered = {tp[i] for tp in tuples}
        for r in sorted(rows[t] - covered):
            tp = [None, None, None]
            tp[i] = r
            tuples.append(tuple(tp))

    def value(field, tp):
        if field == "K1":
            if tp[0] is not None:
                return tables["Fact"]["K1"][tp[0]]
            return tables["D1"]["K1"][tp[1]] if tp[1] is not None else None
        r = tp[1] if home[field] == "D1" else tp[2]
        return tables[home[field]][field][r] if r is not None else None

    groups: dict[tuple, dict[str, set]] = {}
    for tp in tuples:
        key = tuple(value(f, tp) for f in dims)
        g = groups.setdefault(key, {"fact": set(), "d1": set()})
        if tp[0] is not None:
            g["fact"].add(tp[0])
        if tp[1] is not None:
            g["d1"].add(tp[1])
    out = {}
    for key, g in groups.items():
        ms = [tables["Fact"]["M"][r] for r in g["fact"]]
        ps = [tables["D1"]["P1"][r] for r in g["d1"]]
        out[key] = (sum(m for m in ms if m is not None), sum(1 for m in ms if m is not None),
                    sum(p for p in ps if p is not None),
                    len({tables["Fact"]["M"][r] for r in g["fact"]} - {None}))
    return out


def cell_value(cell):
    if cell["qElemNumber"] == -2:
        return None
    return cell["qText"] if cell["qNum"] == "NaN" else int(cell["qNum"])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(star())
def test_hypercube_matches_reference(case):
    tables, dims, sels = case
    model = make_model(tables)
    state = EMPTY_STATE
    eff = {}
    for f, vals in sels.items():
        syms = model.fields[f].symbols
        idx = [i for i in range(len(syms))
               if (syms.text[i] if math.isnan(syms.num[i]) else int(syms.num[i])) in vals]
        if idx:
            state = state.with_selection(f, idx)
            eff[f] = {syms.text[i] if math.isnan(syms.num[i]) else int(syms.num[i]) for i in idx}
    inf = infer(model, state)
    hc = HyperCube(model, inf, cube_def(dims, ["Sum(M)", "Count(M)", "Sum(P1)", "Count(DISTINCT M)"],
                                        qInitialDataFetch=[]))
    got = {}
    for row in hc.data_pages([{"qWidth": 10, "qHeight": 1000}])[0]["qMatrix"]:
        key = tuple(cell_value(c) for c in row[: len(dims)])
        assert key not in got
        got[key] = tuple(int(c["qNum"]) for c in row[len(dims):])
    assert got == reference(tables, dims, eff)
    assert int(np.sum([v[0] for v in got.values()])) == sum(
        tables["Fact"]["M"][r] or 0 for r in naive_rows(tables, eff)["Fact"])
