"""Set analysis in aggregations: identifiers, modifiers, element sets, set operators, reduction."""

from __future__ import annotations

import pytest

from engine.calc.evaluation import evaluate_expression
from engine.calc.hypercube import HyperCube
from engine.model.selection import EMPTY_STATE, Reduction, infer
from tests.modelutil import make_model, sym


@pytest.fixture
def star():
    return make_model({
        "Fact": {"OrderID": [1, 2, 3, 4, 5, 6, 7, 8],
                 "CustID": [1, 1, 2, 2, 3, 3, 4, 4],
                 "Year": [2019, 2020, 2020, 2021, 2021, 2022, 2022, 2022],
                 "Sales": [1, 2, 4, 8, 16, 32, 64, 128]},
        "Cust": {"CustID": [1, 2, 3, 4],
                 "Country": ["Germany", "Sweden", "Germany", "New Zealand"]},
    })


def ev(model, state, expr, **kw):
    text, num = evaluate_expression(model, infer(model, state, kw.pop("base", None)), expr, **kw)
    return num if num == num else text


def select(model, field, *values, state=EMPTY_STATE):
    return state.with_selection(field, sym(model, field, *values))


def test_identifiers_one_and_dollar(star):
    st = select(star, "Country", "Sweden")
    assert ev(star, st, "Sum(Sales)") == 12
    assert ev(star, st, "Sum({$} Sales)") == 12
    assert ev(star, st, "Sum({1} Sales)") == 255
    assert ev(star, st, "Sum({1-$} Sales)") == 243
    assert ev(star, st, "Sum({$+1} Sales)") == 255
    assert ev(star, st, "Sum({1*$} Sales)") == 12
    assert ev(star, st, "Sum({1/$} Sales)") == 243


def test_one_keeps_section_access_reduction(star):
    base = Reduction.from_state(star, select(star, "Country", "Germany"))
    assert ev(star, EMPTY_STATE, "Sum(Sales)", base=base) == 1 + 2 + 16 + 32
    # {1} means "no selections", never "no reduction"
    assert ev(star, select(star, "Year", 2020), "Sum({1} Sales)", base=base) == 51
    assert ev(star, EMPTY_STATE, "Sum({1<Country={'Sweden'}>} Sales)", base=base) == 0


def test_states_callback(star):
    alt = select(star, "Year", 2022)
    states = {"B": alt, "$": EMPTY_STATE}.get
    st = select(star, "Country", "Sweden")
    assert ev(star, st, "Sum({B} Sales)", states=states) == 224
    assert ev(star, st, "Sum({B<Country={'Germany'}>} Sales)", states=states) == 32
    assert ev(star, st, "Sum({$} Sales)", states=states) == 255  # $ is the default state itself
    assert ev(star, st, "Sum({Nope} Sales)", states=states).startswith("Error:")


def test_literal_is_exact_and_case_sensitive(star):
    assert ev(star, EMPTY_STATE, "Sum({1<Country={'Germany'}>} Sales)") == 51
    assert ev(star, EMPTY_STATE, "Sum({1<Country={'germany'}>} Sales)") == 0
    assert ev(star, EMPTY_STATE, "Sum({1<Country={'New Zealand', 'Sweden'}>} Sales)") == 204


def test_search_is_case_insensitive_with_wildcards(star):
    assert ev(star, EMPTY_STATE, 'Sum({1<Country={"germany"}>} Sales)') == 51
    assert ev(star, EMPTY_STATE, 'Sum({1<Country={"*land"}>} Sales)') == 192
    assert ev(star, EMPTY_STATE, 'Sum({1<Country={"s?eden"}>} Sales)') == 12
    assert ev(star, EMPTY_STATE, 'Sum({1<Country={"*e*"}>} Sales)') == 255


def test_numeric_search_and_numbers(star):
    assert ev(star, EMPTY_STATE, 'Sum({1<Year={">2020"}>} Sales)') == 248
    assert ev(star, EMPTY_STATE, 'Sum({1<Year={"<=2020"}>} Sales)') == 7
    assert ev(star, EMPTY_STATE, 'Sum({1<Year={">=2020<2022"}>} Sales)') == 30
    assert ev(star, EMPTY_STATE, "Sum({1<Year={2019, 2022}>} Sales)") == 225
    assert ev(star, EMPTY_STATE, 'Sum({1<Sales={"=Sales>10"}>} Sales)') == 240


def test_clear_and_assignment_operators(star):
    st = select(star, "Year", 2020, 2021)
    assert ev(star, st, "Sum(Sales)") == 30
    assert ev(star, st, "Sum({$<Year=>} Sales)") == 255
    assert ev(star, st, "Sum({$<Year+={2019}>} Sales)") == 31
    assert ev(star, st, "Sum({$<Year-={2021}>} Sales)") == 6
    assert ev(star, st, "Sum({$<Year*={2021, 2022}>} Sales)") == 24
    assert ev(star, st, "Sum({$<Year/={2021, 2022}>} Sales)") == 2 + 4 + 32 + 64 + 128
    assert ev(star, st, "Sum({$<Year={}>} Sales)") == 0
    assert ev(star, st, "Count({$<Year={}>} Sales)") == 0
    # a modifier on an unselected field starts from all values
    assert ev(star, EMPTY_STATE, "Sum({$<Year-={2022}>} Sales)") == 31


def test_several_modifiers_are_anded(star):
    assert ev(star, EMPTY_STATE, "Sum({1<Country={'Germany'}, Year={2021, 2022}>} Sales)") == 48


def test_element_set_operators_and_functions(star):
    assert ev(star, EMPTY_STATE, """Sum({1<Country={"*"}-{'Germany'}>} Sales)""") == 204
    assert ev(star, EMPTY_STATE, "Sum({1<Year={2019, 2020}+{2022}>} Sales)") == 231
    assert ev(star, EMPTY_STATE, "Sum({1<Year={2019, 2020}*{2020, 2021}>} Sales)") == 6
    # customers that bought in 2019 (P) / did not (E)
    assert ev(star, EMPTY_STATE, "Sum({1<CustID=P({1<Year={2019}>} CustID)>} Sales)") == 3
    assert ev(star, EMPTY_STATE, "Sum({1<CustID=E({1<Year={2019}>})>} Sales)") == 252
    # the values of another field (selected, else possible) in the identifier's state or a named one
    st = select(star, "Country", "Sweden")
    assert ev(star, st, "Sum({1<OrderID=CustID>} Sales)") == 1 + 2 + 4 + 8
    assert ev(star, st, "Sum({1<OrderID=$::CustID>} Sales)") == 2


def test_dollar_expansion_in_set(star):
    variables = {"vYear": "2021"}.get
    assert ev(star, EMPTY_STATE, "Sum({1<Year={$(=Max(Year))}>} Sales)") == 224
    assert ev(star, EMPTY_STATE, "Sum({1<Year={$(vYear)}>} Sales)", variables=variables) == 24


def test_set_analysis_per_dimension_group(star):
    st = select(star, "Year", 2022)
    qdef = {"qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}],
            "qMeasures": [{"qDef": {"qDef": "Sum(Sales)"}}, {"qDef": {"qDef": "Sum({1} Sales)"}},
                          {"qDef": {"qDef": "Sum({1<Year={2021}>} Sales)"}}],
            "qInitialDataFetch": [{"qWidth": 4, "qHeight": 10}]}
    layout = HyperCube(star, infer(star, st), qdef).layout()
    rows = [[c["qText"] for c in r] for r in layout["qDataPages"][0]["qMatrix"]]
    assert rows == [["Germany", "32", "51", "16"], ["New Zealand", "192", "192", "0"]]
    assert [c["qText"] for c in layout["qGrandTotalRow"]] == ["224", "255", "24"]


def test_bad_set_is_a_measure_error(star):
    qdef = {"qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}],
            "qMeasures": [{"qDef": {"qDef": "Sum({Nope} Sales)"}}, {"qDef": {"qDef": "Sum({1<Nope={1}>} Sales)"}}],
            "qInitialDataFetch": [{"qWidth": 3, "qHeight": 10}]}
    layout = HyperCube(star, infer(star, EMPTY_STATE), qdef).layout()
    assert "Nope" in layout["qMeasureInfo"][0]["qError"]["qContext"]
    assert "Nope" in layout["qMeasureInfo"][1]["qError"]["qContext"]
    assert layout["qSize"]["qcy"] == 3
