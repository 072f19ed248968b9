"""Search strings (Field.Select, set-analysis searches) and the list-object search."""

from __future__ import annotations

import numpy as np
import pytest

from engine.calc.search import list_search, numeric_conditions, search, select_search
from engine.model.selection import EMPTY_STATE, Reduction, infer
from tests.modelutil import make_model, sym


@pytest.fixture
def model():
    return make_model({
        "T": {"Name": ["Alpha", "beta", "Gamma ray", "alphabet", "New York", "delta"],
              "Num": [1, 5, 10, 12, 3.5, 20],
              "Amt": [100, 5, 7, 1, 2, 3]},
    })


def texts(model, field, idx):
    return sorted(model.fields[field].symbols.text.take(np.asarray(idx, dtype=np.int64)).tolist())


def test_exact_text_is_case_insensitive(model):
    inf = infer(model, EMPTY_STATE)
    assert texts(model, "Name", search(model, inf, "Name", "alpha")) == ["Alpha"]
    assert texts(model, "Name", search(model, inf, "Name", "NEW YORK")) == ["New York"]
    assert texts(model, "Name", search(model, inf, "Name", "alp")) == []
    assert texts(model, "Num", search(model, inf, "Num", "10")) == ["10"]


def test_wildcards(model):
    inf = infer(model, EMPTY_STATE)
    assert texts(model, "Name", search(model, inf, "Name", "alpha*")) == ["Alpha", "alphabet"]
    assert texts(model, "Name", search(model, inf, "Name", "*A")) == ["Alpha", "beta", "delta"]
    assert texts(model, "Name", search(model, inf, "Name", "?eta")) == ["beta"]
    assert texts(model, "Name", search(model, inf, "Name", "*a*y")) == ["Gamma ray"]


def test_numeric_search(model):
    inf = infer(model, EMPTY_STATE)
    assert texts(model, "Num", search(model, inf, "Num", ">5")) == ["10", "12", "20"]
    assert texts(model, "Num", search(model, inf, "Num", "<=10")) == ["1", "10", "3.5", "5"]
    assert texts(model, "Num", search(model, inf, "Num", ">=1<5")) == ["1", "3.5"]
    assert texts(model, "Name", search(model, inf, "Name", ">1")) == []  # texts have no number
    assert numeric_conditions(">=1 < 5") == [(">=", 1.0), ("<", 5.0)]
    assert numeric_conditions("abc") is None and numeric_conditions(">x") is None


def test_expression_search(model):
    inf = infer(model, EMPTY_STATE)
    assert texts(model, "Name", search(model, inf, "Name", "=Sum(Amt) > 4")) == ["Alpha", "Gamma ray", "beta"]
    assert texts(model, "Num", search(model, inf, "Num", "=Num * 2 > 20")) == ["12", "20"]
    assert texts(model, "Name", search(model, inf, "Name", "=Sum(Nope) > 4")) == []


def test_only_possible_and_reduction(model):
    st = EMPTY_STATE.with_selection("Num", sym(model, "Num", 1, 12))
    inf = infer(model, st)
    assert texts(model, "Name", search(model, inf, "Name", "a*")) == ["Alpha", "alphabet"]
    assert texts(model, "Name", search(model, inf, "Name", "*a", only_possible=True)) == ["Alpha"]
    base = Reduction.from_state(model, EMPTY_STATE.with_selection("Num", sym(model, "Num", 5)))
    inf = infer(model, EMPTY_STATE, base)
    assert texts(model, "Name", search(model, inf, "Name", "*")) == ["beta"]


def test_select_search_and_toggle(model):
    inf = infer(model, EMPTY_STATE)
    st = select_search(EMPTY_STATE, model, inf, "Num", ">10")
    assert texts(model, "Num", st.selected("Num")) == ["12", "20"]
    st2 = select_search(st, model, infer(model, st), "Num", ">=12", toggle=True)
    assert st2.selected("Num") is None or texts(model, "Num", st2.selected("Num")) == []
    st3 = select_search(st, model, infer(model, st), "Num", "<2", toggle=True)
    assert texts(model, "Num", st3.selected("Num")) == ["1", "12", "20"]


def test_list_object_search_is_word_prefix_or(model):
    inf = infer(model, EMPTY_STATE)
    assert texts(model, "Name", list_search(model, inf, "Name", "al")) == ["Alpha", "alphabet"]
    assert texts(model, "Name", list_search(model, inf, "Name", "ray")) == ["Gamma ray"]  # a later word
    assert texts(model, "Name", list_search(model, inf, "Name", "york b")) == ["New York", "beta"]
    assert texts(model, "Name", list_search(model, inf, "Name", "eta")) == []  # not a word start
    assert texts(model, "Name", list_search(model, inf, "Name", "*et*")) == ["alphabet", "beta"]
