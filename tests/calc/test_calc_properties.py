"""Property tests: set analysis totals, list-object states and searches against plain-Python references
on random small star models with random selections."""

from __future__ import annotations

import fnmatch
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.calc.evaluation import evaluate_expression
from engine.calc.listobject import ListObject
from engine.calc.search import search
from engine.model.selection import EMPTY_STATE, Reduction, infer
from tests.calc.test_hypercube import star
from tests.model.test_selection import naive_rows
from tests.modelutil import make_model

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def value_of(syms, i):
    return syms.text[i] if math.isnan(syms.num[i]) else int(syms.num[i])


def to_state(model, sels, state=EMPTY_STATE):
    """Selections by value → a state, and the selections that took effect."""
    eff = {}
    for f, vals in sels.items():
        syms = model.fields[f].symbols
        idx = [i for i in range(len(syms)) if value_of(syms, i) in vals]
        if idx:
            state = state.with_selection(f, idx)
            eff[f] = {value_of(syms, i) for i in idx}
    return state, eff


def fact_sum(tables, rows):
    return sum(tables["Fact"]["M"][r] or 0 for r in rows)


def num(model, inf, expr):
    text, x = evaluate_expression(model, inf, expr)
    assert not text.startswith("Error"), text
    return 0 if math.isnan(x) else int(x)


@SETTINGS
@given(star(), st.sets(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2),
       st.sets(st.sampled_from(["a", "b", "c"]), max_size=2))
def test_set_analysis_totals_match_reference(case, values, reduce_to):
    tables, _dims, sels = case
    model = make_model(tables)
    state, eff = to_state(model, sels)
    inf = infer(model, state)
    every = set(range(len(tables["Fact"]["M"])))
    possible = naive_rows(tables, eff)["Fact"]
    assert num(model, inf, "Sum(M)") == fact_sum(tables, possible)
    assert num(model, inf, "Sum({1} M)") == fact_sum(tables, every)
    assert num(model, inf, "Sum({1-$} M)") == fact_sum(tables, every - possible)
    assert num(model, inf, "Sum({$*1} M)") == fact_sum(tables, possible)
    # <A1={...}>: the modifier replaces A1's selection; values that do not exist select nothing
    lit = ", ".join(f"'{v}'" for v in sorted(values))
    existing = {v for v in values if v in tables["D1"]["A1"]}
    mod_sels = {f: v for f, v in eff.items() if f != "A1"}
    expect = fact_sum(tables, naive_rows(tables, {**mod_sels, "A1": existing})["Fact"]) if existing else 0
    assert num(model, inf, f"Sum({{$<A1={{{lit}}}>}} M)") == expect
    one = fact_sum(tables, naive_rows(tables, {"A1": existing})["Fact"]) if existing else 0
    assert num(model, inf, f"Sum({{1<A1={{{lit}}}>}} M)") == one
    assert num(model, inf, f"Sum({{1<A1={{{lit}}}>}} M) + Sum({{1<A1-={{{lit}}}>}} M)") == fact_sum(
        tables, naive_rows(tables, {"A1": set(tables["D1"]["A1"])})["Fact"])
    # {1} under a section-access reduction: everything the user may see, regardless of selections
    if reduce_to:
        red_state, red_eff = to_state(model, {"A2": reduce_to})
        if red_eff:
            base = Reduction.from_state(model, red_state)
            visible = naive_rows(tables, red_eff)["Fact"]
            assert num(model, infer(model, state, base), "Sum({1} M)") == fact_sum(tables, visible)


@SETTINGS
@given(star(), st.sampled_from(["A1", "A2", "K1", "K2", "M", "P1"]))
def test_list_object_states_match_reference(case, field):
    tables, _dims, sels = case
    model = make_model(tables)
    state, eff = to_state(model, sels)
    inf = infer(model, state)
    rows = naive_rows(tables, eff)
    possible = {tables[t][field][r] for t in tables if field in tables[t] for r in rows[t]} - {None}
    lo = ListObject(model, inf, {"qDef": {"qFieldDefs": [field]}, "qShowAlternatives": True,
                                 "qInitialDataFetch": [{"qWidth": 1, "qHeight": 100}]})
    cells = [r[0] for r in lo.layout()["qDataPages"][0]["qMatrix"]]
    shown = {(c["qText"] if c["qNum"] == "NaN" else int(c["qNum"])): c["qState"] for c in cells}
    assert {v for v, s in shown.items() if s in ("S", "O")} == possible
    if field in eff:
        assert {v for v, s in shown.items() if s in ("S", "XS")} == eff[field]
    else:
        assert {v for v, s in shown.items() if s == "X"} == set(shown) - possible
    assert num(model, inf, f"GetPossibleCount([{field}])") == len(possible)


@SETTINGS
@given(st.lists(st.text(alphabet="abAB c", min_size=0, max_size=4), min_size=1, max_size=8),
       st.text(alphabet="abAB*? ", min_size=1, max_size=4))
def test_wildcard_search_matches_fnmatch(values, pattern):
    model = make_model({"T": {"F": values}})
    inf = infer(model, EMPTY_STATE)
    syms = model.fields["F"].symbols
    got = {syms.text[i] for i in search(model, inf, "F", pattern)}
    if "*" in pattern or "?" in pattern:
        want = {v for v in syms.text if fnmatch.fnmatchcase(v.lower(), pattern.lower().replace("[", "[[]"))}
    else:
        want = {v for v in syms.text if v.lower() == pattern.lower()}
    assert got == want
