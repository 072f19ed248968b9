"""The hypercube star fast path (``calc.star``) against the general frame path on random snowflake
models: NULL keys, fact keys without a dimension row, dimension rows without facts, selections on
both sides, a section-access reduction, TOTAL, suppression."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.calc.hypercube as hypercube
from engine.calc import star
from engine.calc.hypercube import HyperCube
from engine.model import kernels
from engine.model.datamodel import DataModel, Field, Table
from engine.model.selection import EMPTY_STATE, Reduction, infer
from engine.model.symbols import SymbolTable
from tests.modelutil import make_model, sym


def cube_def(dims, measures, **extra):
    return {"qDimensions": [{"qDef": {"qFieldDefs": [d]}, "qNullSuppression": ns} for d, ns in dims],
            "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
            "qInitialDataFetch": [{"qWidth": 10, "qHeight": 500}], **extra}


def general(model, inf, qdef, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(hypercube, "star_plan", lambda *a, **k: None)
        return HyperCube(model, inf, qdef).layout()


@st.composite
def snowflake(draw):
    key1 = st.one_of(st.none(), st.integers(0, 5))
    key2 = st.one_of(st.none(), st.integers(0, 3))
    nf = draw(st.integers(6, 12))

    def col(elems, n):
        return draw(st.lists(elems, min_size=n, max_size=n))

    fact = {"K1": col(key1, nf), "K2": col(key2, nf),
            "M": col(st.one_of(st.none(), st.integers(0, 5), st.just("x")), nf),
            "F": col(st.sampled_from(["p", "q", None]), nf)}
    k1 = draw(st.lists(st.integers(0, 6), min_size=1, max_size=5, unique=True))
    k2 = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4, unique=True))
    k3 = draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True))
    cats = st.sampled_from(["a", "b", "c"])
    d1 = {"K1": k1, "A1": col(cats, len(k1)), "K3": col(st.one_of(st.none(), st.integers(0, 3)), len(k1))}
    d2 = {"K2": k2, "A2": col(st.one_of(st.none(), cats), len(k2))}
    d3 = {"K3": k3, "A3": col(cats, len(k3))}
    dims = draw(st.lists(st.tuples(st.sampled_from(["A1", "A2", "A3", "K1", "F", "K3"]), st.booleans()),
                         min_size=0, max_size=3, unique_by=lambda d: d[0]))
    sels = draw(st.dictionaries(st.sampled_from(["A1", "A2", "A3", "F", "K3"]),
                                st.sets(st.sampled_from(["a", "b", "c", "p", 0, 1, 2]), min_size=1, max_size=2),
                                max_size=2))
    reduce = draw(st.one_of(st.none(), st.sampled_from(["a", "b", "q"])))
    suppress = draw(st.booleans())
    return {"Fact": fact, "D1": d1, "D2": d2, "D3": d3}, dims, sels, reduce, suppress


def selection_state(model, sels):
    state = EMPTY_STATE
    for f, vals in sels.items():
        syms = model.fields[f].symbols
        idx = [i for i in range(len(syms))
               if syms.text[i] in {str(v) for v in vals}]
        if idx:
            state = state.with_selection(f, idx)
    return state


MEASURES = ["Sum(M)", "Count(M)", "Avg(M)", "Sum(TOTAL M)", "Count(F) + 1", "Sum(M) / Count(TOTAL M)", "Rank(Sum(M))"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(snowflake())
def test_star_path_equals_general_path(monkeypatch, case):
    tables, dims, sels, reduce, suppress = case
    model = make_model(tables)
    base = None
    if reduce is not None:
        field = "F" if reduce == "q" else "A1"
        ids = [i for i, t in enumerate(model.fields[field].symbols.text) if t == reduce]
        if ids:
            base = Reduction.from_state(model, EMPTY_STATE.with_selection(field, ids))
    inf = infer(model, selection_state(model, sels), base)
    measures = MEASURES + ([f"Sum(TOTAL <{dims[0][0]}> M)"] if dims else [])
    qdef = cube_def(dims, measures, qSuppressZero=suppress)
    taken = []
    with monkeypatch.context() as m:  # Fact is the largest table: every link is many-to-one
        m.setattr(hypercube, "StarAggregator", lambda *a, **k: taken.append(1) or star.StarAggregator(*a, **k))
        m.setattr(HyperCube, "_general_source", lambda self: pytest.fail("fell back to the general path"))
        fast = HyperCube(model, inf, qdef).layout()
    assert taken == [1]
    assert fast == general(model, inf, qdef, monkeypatch)


def test_fast_path_is_taken_and_falls_back(monkeypatch):
    tables = {"Fact": {"K": [1, 1, 2, None, 9, 2], "V": [1, 2, 3, 4, 5, "t"]},
              "Dim": {"K": [1, 2, 3], "C": ["x", "y", "x"], "P": [10, 20, 30]}}
    model = make_model(tables)
    inf = infer(model, EMPTY_STATE.with_selection("C", sym(model, "C", "x")))
    calls = []
    real = star.star_groups
    monkeypatch.setattr(hypercube, "star_groups", lambda *a: calls.append(1) or real(*a))
    layout = HyperCube(model, inf, cube_def([("C", False)], ["Sum(V)", "Count(V)"])).layout()
    assert calls == [1]
    rows = [[c["qText"] for c in r] for r in layout["qDataPages"][0]["qMatrix"]]
    assert rows == [["x", "3", "2"]]  # K=1 rows; K=3 has no facts: no extra group since C=x is covered
    assert layout["qGrandTotalRow"][0]["qNum"] == 3
    # a measure over the dimension table and set analysis take the general path
    for m in ["Sum(P)", "Sum({1} V)", "Count(DISTINCT V)", "Min(V)"]:
        qdef = cube_def([("C", False)], [m])
        assert HyperCube(model, inf, qdef).layout() == general(model, inf, qdef, monkeypatch)


def test_unreached_dimension_rows_form_groups():
    tables = {"Fact": {"K": [1, 1, None, 7], "V": [1, 2, 3, 4]},
              "Dim": {"K": [1, 2, 3], "C": ["x", "y", None]}}
    model = make_model(tables)
    layout = HyperCube(model, infer(model, EMPTY_STATE), cube_def([("C", False)], ["Sum(V)", "Count(V)"])).layout()
    rows = [[c["qText"] for c in r] for r in layout["qDataPages"][0]["qMatrix"]]
    # y: a customer without facts (0); NULL: the NULL-key and unknown-key facts plus K=3
    assert rows == [["x", "3", "2"], ["y", "0", "0"], ["-", "7", "2"]]


def test_large_model_two_threads_match_numpy():
    """Enough possible fact rows for several chunks on both threads (and the chunked inference)."""
    n = 3_000_000
    rng = np.random.default_rng(5)
    k = rng.integers(0, 1000, n).astype(np.int32)
    v = rng.integers(0, 100, n).astype(np.int32)
    c = (np.arange(1000) % 7).astype(np.int32)

    def syms(m):
        return SymbolTable(np.arange(m, dtype=float), np.array([str(i) for i in range(m)], dtype=object))

    model = DataModel([Table("Fact", {"K": k, "V": v}, n), Table("Dim", {"K": np.arange(1000, dtype=np.int32), "C": c},
                                                                  1000)],
                      {"K": Field("K", syms(1000)), "V": Field("V", syms(100)), "C": Field("C", syms(7))})
    inf = infer(model, EMPTY_STATE.with_selection("C", [1, 2, 3, 4]))
    assert len(inf.row_index("Fact")) > 2 * kernels.PARALLEL_MIN // 2
    layout = HyperCube(model, inf, cube_def([("C", False)], ["Sum(V)", "Count(V)"])).layout()
    got = {r[0]["qText"]: (r[1]["qNum"], r[2]["qNum"]) for r in layout["qDataPages"][0]["qMatrix"]}
    fc = c.take(k)
    assert got == {str(x): (int(v[fc == x].sum()), int((fc == x).sum())) for x in (1, 2, 3, 4)}
    assert layout["qGrandTotalRow"][0]["qNum"] == int(v[(fc >= 1) & (fc <= 4)].sum())
