"""List object layouts: states, sorting, paging, frequency."""

from __future__ import annotations

import pytest

from engine.calc.listobject import ListObject
from engine.errors import QixError
from engine.model.selection import EMPTY_STATE, infer
from tests.modelutil import make_model, sym


@pytest.fixture
def shop():
    return make_model(
        {
            "Customers": {"CID": [1, 2, 3, 4], "Country": ["SE", "se", "DK", "NO"]},
            "Orders": {"CID": [1, 1, 2, 3, 5, 1], "Product": ["b", "a", "a", 10, 9, "b"]},
        }
    )


def texts(lo: ListObject, pages=None) -> list[tuple[str, str]]:
    page = lo.data_pages(pages or [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 100}])[0]
    return [(row[0]["qText"], row[0]["qState"]) for row in page["qMatrix"]]


def lo_def(field, **kw):
    d = {
        "qDef": {"qFieldDefs": [field]},
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 10}],
    }
    d.update(kw)
    return d


def test_layout_shape(shop):
    inf = infer(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "DK")))
    layout = ListObject(shop, inf, lo_def("Product")).layout()
    assert layout["qSize"] == {"qcx": 1, "qcy": 4}
    assert layout["qStateName"] == "$" and layout["qExpressions"] == []
    info = layout["qDimensionInfo"]
    assert info["qFallbackTitle"] == "Product" and info["qCardinal"] == 4
    assert info["qSortIndicator"] == "N" and info["qGroupFieldDefs"] == ["Product"]
    assert info["qStateCounts"]["qOption"] == 1 and info["qStateCounts"]["qExcluded"] == 3
    assert info["qDimensionType"] == "D" and info["qApprMaxGlyphCount"] == 2
    assert info["qCardinalities"] == {"qCardinal": 4, "qHypercubeCardinal": 4, "qAllValuesCardinal": -1}
    page = layout["qDataPages"][0]
    assert page["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 1, "qHeight": 4} and page["qTails"] == []
    # default order: state first (10 possible), then numbers ascending, then text
    assert page["qMatrix"][0] == [{"qText": "10", "qNum": 10, "qElemNumber": 2, "qState": "O"}]
    assert page["qMatrix"][2] == [{"qText": "a", "qNum": "NaN", "qElemNumber": 1, "qState": "X"}]
    assert texts(ListObject(shop, inf, lo_def("Product"))) == [
        ("10", "O"),
        ("9", "X"),
        ("a", "X"),
        ("b", "X"),
    ]


def test_selected_first_and_alternatives(shop):
    s = EMPTY_STATE.with_selection("Country", sym(shop, "Country", "NO", "DK"))
    inf = infer(shop, s)
    assert texts(ListObject(shop, inf, lo_def("Country"))) == [
        ("DK", "S"),
        ("NO", "S"),
        ("SE", "X"),
        ("se", "X"),
    ]
    lo = ListObject(shop, inf, lo_def("Country", qShowAlternatives=True))
    assert texts(lo) == [("DK", "S"), ("NO", "S"), ("SE", "A"), ("se", "A")]
    # state counts keep the true states whatever qShowAlternatives says
    counts = ListObject(shop, inf, lo_def("Country")).layout()["qDimensionInfo"]["qStateCounts"]
    assert counts["qAlternative"] == 2 and counts["qSelected"] == 2 and counts["qExcluded"] == 0


def test_sort_criteria(shop):
    inf = infer(shop, EMPTY_STATE)

    def order(**crit):
        d = lo_def("Product")
        d["qDef"]["qSortCriterias"] = [crit]
        return [t for t, _ in texts(ListObject(shop, inf, d))]

    assert order(qSortByLoadOrder=1) == ["b", "a", "10", "9"]
    assert order(qSortByLoadOrder=-1) == ["9", "10", "a", "b"]
    assert order(qSortByAscii=1) == ["10", "9", "a", "b"]
    assert order(qSortByAscii=-1) == ["b", "a", "9", "10"]
    assert order(qSortByNumeric=1) == ["9", "10", "b", "a"]  # texts after numbers, then load order
    assert order(qSortByNumeric=-1, qSortByAscii=1) == ["10", "9", "a", "b"]
    # frequency: b occurs twice, a twice, 10 and 9 once; descending, ties by ascii
    assert order(qSortByFrequency=-1, qSortByAscii=1) == ["a", "b", "10", "9"]
    assert order(qSortByFrequency=1, qSortByAscii=1) == ["10", "9", "a", "b"]
    d = lo_def("Country")
    d["qDef"]["qSortCriterias"] = [{"qSortByAscii": 1}]
    lo = ListObject(shop, inf, d)
    assert [t for t, _ in texts(lo)] == ["DK", "NO", "SE", "se"]  # case-insensitive, ties by code point
    assert lo.layout()["qDimensionInfo"]["qSortIndicator"] == "A"


def test_paging_and_errors(shop):
    lo = ListObject(shop, infer(shop, EMPTY_STATE), lo_def("CID"))
    pages = lo.data_pages([{"qTop": 3, "qLeft": 0, "qWidth": 0, "qHeight": 10}, {"qTop": 9, "qHeight": 5}])
    assert [r[0]["qText"] for r in pages[0]["qMatrix"]] == ["4", "5"]
    assert pages[0]["qArea"] == {"qLeft": 0, "qTop": 3, "qWidth": 1, "qHeight": 2}
    assert pages[1]["qMatrix"] == [] and pages[1]["qArea"]["qHeight"] == 0
    big = make_model({"T": {"F": list(range(20001))}})
    with pytest.raises(QixError) as e:
        ListObject(big, infer(big, EMPTY_STATE), lo_def("F")).data_pages([{"qWidth": 1, "qHeight": 10001}])
    assert e.value.code == 7009
    assert lo.symbols_of([3, 0, 3]).tolist() == [0, 3]
    with pytest.raises(QixError):
        lo.symbols_of([99])


def test_frequency_mode_and_state_helpers(shop):
    inf = infer(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "SE")))
    lo = ListObject(shop, inf, lo_def("Product", qFrequencyMode="V"))
    cells = {
        r[0]["qText"]: r[0]["qFrequency"] for r in lo.data_pages([{"qWidth": 1, "qHeight": 10}])[0]["qMatrix"]
    }
    assert cells == {"a": "1", "b": "2", "10": "0", "9": "0"}
    lo = ListObject(shop, inf, lo_def("Country"))
    assert sorted(lo.symbols_in_states({"A"}).tolist()) == sym(shop, "Country", "se", "DK", "NO")
    assert lo.symbols_in_states({"S"}).tolist() == sym(shop, "Country", "SE")


def test_unknown_field_gives_empty_list(shop):
    layout = ListObject(shop, infer(shop, EMPTY_STATE), lo_def("Nope")).layout()
    assert layout["qSize"] == {"qcx": 1, "qcy": 0}
    assert layout["qDataPages"][0]["qMatrix"] == []


def test_sort_by_expression_with_a_set_identifier(shop):
    """The sort expression is evaluated after the list's state codes are known: its set identifiers
    must still resolve through the states lookup (``{$}``, ``{B}``), not through the state codes."""
    inf = infer(shop, EMPTY_STATE)
    alt = EMPTY_STATE.with_selection("Product", sym(shop, "Product", 10))  # only DK ordered 10

    def order(expr: str) -> list[str]:
        d = lo_def("Country")
        d["qDef"]["qSortCriterias"] = [{"qSortByExpression": -1, "qExpression": {"qv": expr}}]
        lo = ListObject(shop, inf, d, states={"B": alt}.get)
        return [t for t, _ in texts(lo)]

    assert order("Count({$} Product)") == ["SE", "se", "DK", "NO"]  # 3, 1, 1, 0 orders; ties by load order
    assert order("Count({B} Product)") == ["DK", "SE", "se", "NO"]
