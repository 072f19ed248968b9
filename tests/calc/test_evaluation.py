"""Chart-level evaluation, field functions, TOTAL, Aggr, Rank, Fractile, FirstSortedValue, calculated
dimensions, sorting by expression and list-object expressions."""

from __future__ import annotations

import math

import pytest

from engine.calc.evaluation import evaluate_expression, symbol_values
from engine.calc.hypercube import HyperCube
from engine.calc.listobject import ListObject
from engine.errors import QixError
from engine.model.selection import EMPTY_STATE, infer
from tests.modelutil import make_model, sym


@pytest.fixture
def model():
    return make_model({
        "Orders": {"ID": list(range(1, 11)),
                   "Cust": ["a", "a", "b", "b", "b", "c", "c", "d", "d", "d"],
                   "Amount": [5, 15, 2, 4, 6, 30, 1, 8, 8, 3]},
        "Custs": {"Cust": ["a", "b", "c", "d", "e"], "Region": ["N", "S", "N", "S", "N"]},
    })


def rows(layout):
    return [[c["qText"] for c in r] for r in layout["qDataPages"][0]["qMatrix"]]


def cube(model, state, dims, measures, **kw):
    qdef = {"qDimensions": [{"qDef": {"qFieldDefs": [d]}} for d in dims],
            "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
            "qInitialDataFetch": [{"qWidth": 10, "qHeight": 100}]}
    qdef.update(kw)
    return HyperCube(model, infer(model, state), qdef)


def test_evaluate_texts_numbers_and_errors(model):
    inf = infer(model, EMPTY_STATE)
    assert evaluate_expression(model, inf, "='count(ID) = ' & count(ID)")[0] == "count(ID) = 10"
    assert evaluate_expression(model, inf, "Sum(Amount)") == ("82", 82.0)
    assert evaluate_expression(model, inf, "Sum(Amount) / Count(ID)") == ("8.2", 8.2)
    assert evaluate_expression(model, inf, "Only(Region)")[0] == "-"
    for bad in ("Sum(Nope)", "Sum(", "NoSuchFunction(1)", "Sum({Nope} Amount)"):
        text, num = evaluate_expression(model, inf, bad)
        assert text.startswith("Error:") and math.isnan(num)
    st = EMPTY_STATE.with_selection("Region", sym(model, "Region", "N"))
    assert evaluate_expression(model, infer(model, st), "Sum(Amount)") == ("51", 51.0)
    assert evaluate_expression(model, infer(model, st), "Count(ID)", variables={}.get) == ("4", 4.0)


def test_evaluate_with_variables_and_expansion(model):
    inf = infer(model, EMPTY_STATE)
    variables = {"vField": "Amount", "vTwo": "2"}.get
    assert evaluate_expression(model, inf, "Sum($(vField)) * vTwo", variables) == ("164", 164.0)
    assert evaluate_expression(model, inf, "$(=Max(Amount)) + 1") == ("31", 31.0)


def test_field_functions(model):
    st = EMPTY_STATE.with_selection("Cust", sym(model, "Cust", "a", "b", "c"))
    st = st.with_selection("Region", sym(model, "Region", "S"))
    inf = infer(model, st)

    def ev(e):
        t, n = evaluate_expression(model, inf, e)
        return n if not math.isnan(n) else t

    assert ev("GetSelectedCount(Cust)") == 1  # a and c are selected but excluded by Region
    assert ev("GetSelectedCount(Cust, True())") == 3
    assert ev("GetPossibleCount(Cust)") == 1  # b (S region)
    assert ev("GetPossibleCount(ID)") == 3
    assert ev("GetAlternativeCount(Region)") == 1  # N
    assert ev("GetExcludedCount(Cust)") == 4
    assert ev("GetFieldSelections(Cust)") == "a, b, c"
    assert ev("GetFieldSelections(Cust, ';', 2)") == "3 of 5"
    assert ev("GetFieldSelections(ID)") == "-"
    assert ev("GetCurrentSelections('|')") == "Cust: a, b, c|Region: S"
    assert ev("GetSelectedCount(Region)") == 1
    alt = {"B": EMPTY_STATE.with_selection("Cust", sym(model, "Cust", "d"))}.get
    assert evaluate_expression(model, inf, "GetSelectedCount(Cust, False(), 'B')", states=alt)[1] == 1


def test_total_and_total_fields(model):
    hc = cube(model, EMPTY_STATE, ["Region", "Cust"],
              ["Sum(Amount)", "Sum(TOTAL Amount)", "Sum(TOTAL <Region> Amount)", "Sum(Amount) / Sum(TOTAL <Region> Amount)"])
    assert rows(hc.layout()) == [
        ["N", "a", "20", "82", "51", "0.3921568627451"],
        ["N", "c", "31", "82", "51", "0.6078431372549"],
        ["N", "e", "0", "82", "51", "0"],
        ["S", "b", "12", "82", "31", "0.38709677419355"],
        ["S", "d", "19", "82", "31", "0.61290322580645"],
    ]


def test_aggr_rank_fractile_firstsortedvalue(model):
    inf = infer(model, EMPTY_STATE)

    def ev(e):
        return evaluate_expression(model, inf, e)

    assert ev("Max(Aggr(Sum(Amount), Cust))") == ("31", 31.0)
    assert ev("Avg(Aggr(Sum(Amount), Cust))") == ("16.4", 16.4)  # e (no orders) counts as 0
    assert ev("Count(Aggr(Sum(Amount), Cust, Region))") == ("5", 5.0)  # e has no orders: 0
    assert ev("Sum(Aggr(Sum({1<Region={'N'}>} Amount), Cust))") == ("51", 51.0)
    assert ev("Fractile(Amount, 0.5)") == ("5.5", 5.5)
    assert ev("Fractile(Amount, 0.9)") == ("15.15", 15.15) or ev("Fractile(Amount, 0.9)")[1] == pytest.approx(16.5)
    assert ev("Median(Amount)") == ("5.5", 5.5)
    assert ev("FirstSortedValue(Cust, -Amount)")[0] == "c"
    assert ev("FirstSortedValue(Cust, Amount)")[0] == "c"  # Amount 1 is c's
    assert ev("FirstSortedValue(ID, -Amount, 2)")[0] == "2"
    assert ev("FirstSortedValue(Cust, Amount, 7)")[0] == "d"  # 8 and 8: both rows are d's
    assert ev("FirstSortedValue(ID, Amount, 7)")[0] == "-"  # 8 and 8: a tie between IDs 8 and 9
    hc = cube(model, EMPTY_STATE, ["Cust"], ["Sum(Amount)", "Rank(Sum(Amount))", "Rank(TOTAL Sum(Amount))",
                                             "Aggr(Sum(Amount), Cust)", "FirstSortedValue(ID, -Amount)"])
    assert rows(hc.layout()) == [
        ["a", "20", "2", "2", "20", "2"],
        ["b", "12", "4", "4", "12", "5"],
        ["c", "31", "1", "1", "31", "6"],
        ["d", "19", "3", "3", "19", "-"],
        ["e", "0", "5", "5", "0", "-"],
    ]


def test_rank_within_column_segments(model):
    hc = cube(model, EMPTY_STATE, ["Region", "Cust"], ["Sum(Amount)", "Rank(Sum(Amount))", "Rank(TOTAL Sum(Amount))"])
    assert rows(hc.layout()) == [["N", "a", "20", "2", "2"], ["N", "c", "31", "1", "1"], ["N", "e", "0", "3", "5"],
                                 ["S", "b", "12", "2", "4"], ["S", "d", "19", "1", "3"]]


def test_count_distinct_across_tables(model):
    inf = infer(model, EMPTY_STATE)
    assert evaluate_expression(model, inf, "Count(DISTINCT Cust)") == ("5", 5.0)
    assert evaluate_expression(model, inf, "Count(DISTINCT Region & Cust)") == ("5", 5.0)
    hc = cube(model, EMPTY_STATE, ["Region"], ["Count(DISTINCT Cust)", "Count(DISTINCT Amount)"])
    assert rows(hc.layout()) == [["N", "3", "4"], ["S", "2", "5"]]


def test_calculated_dimension(model):
    hc = cube(model, EMPTY_STATE, ["=If(Amount > 5, 'big', 'small')"], ["Sum(Amount)", "Count(ID)"])
    layout = hc.layout()
    assert rows(layout) == [["big", "67", "5"], ["small", "15", "5"]]
    info = layout["qDimensionInfo"][0]
    assert info["qFallbackTitle"] == "=If(Amount > 5, 'big', 'small')" and info["qCardinal"] == 2
    cell = layout["qDataPages"][0]["qMatrix"][0][0]
    assert cell["qState"] == "O" and cell["qElemNumber"] in (0, 1)
    assert hc.cell_selections([0], [0]) == {}
    num = cube(model, EMPTY_STATE, ["=Amount * 10"], ["Count(ID)"], qInterColumnSortOrder=[0])
    assert [r[0] for r in rows(num.layout())][:3] == ["10", "20", "30"]
    with pytest.raises(QixError):
        cube(model, EMPTY_STATE, ["=Amount & Region"], ["Count(ID)"])


def test_sort_by_expression(model):
    crit = [{"qSortByExpression": -1, "qExpression": {"qv": "Sum(Amount)"}}]
    qdef = {"qDimensions": [{"qDef": {"qFieldDefs": ["Cust"], "qSortCriterias": crit}}],
            "qMeasures": [{"qDef": {"qDef": "Sum(Amount)"}}],
            "qInitialDataFetch": [{"qWidth": 2, "qHeight": 10}]}
    layout = HyperCube(model, infer(model, EMPTY_STATE), qdef).layout()
    assert rows(layout) == [["c", "31"], ["a", "20"], ["d", "19"], ["b", "12"], ["e", "0"]]
    lo = ListObject(model, infer(model, EMPTY_STATE),
                    {"qDef": {"qFieldDefs": ["Cust"], "qSortCriterias": [dict(crit[0], qSortByExpression=1)]},
                     "qInitialDataFetch": [{"qWidth": 1, "qHeight": 10}]})
    assert [r[0]["qText"] for r in lo.layout()["qDataPages"][0]["qMatrix"]] == ["e", "b", "d", "a", "c"]


def test_list_object_expressions(model):
    st = EMPTY_STATE.with_selection("Region", sym(model, "Region", "N"))
    lo = ListObject(model, infer(model, st), {
        "qDef": {"qFieldDefs": ["Cust"]}, "qExpressions": [{"qExpr": "Sum(Amount)"}, {"qExpr": "Sum(Nope)"}],
        "qInitialDataFetch": [{"qWidth": 1, "qHeight": 10}]})
    layout = lo.layout()
    assert layout["qExpressions"][0] == {"qExpr": "Sum(Amount)"}
    assert "Nope" in layout["qExpressions"][1]["qError"]["qContext"]
    cells = {r[0]["qText"]: r[0]["qAttrExps"]["qValues"][0] for r in layout["qDataPages"][0]["qMatrix"]}
    assert cells["a"] == {"qText": "20", "qNum": 20} and cells["c"] == {"qText": "31", "qNum": 31}
    assert cells["b"] == {"qText": "0", "qNum": 0}  # excluded: no records


def test_symbol_values(model):
    inf = infer(model, EMPTY_STATE)
    v = symbol_values(model, inf, "Region", "Sum(Amount)")
    assert v.num.tolist() == [51.0, 31.0]
