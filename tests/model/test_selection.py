"""Associative inference: hand-computed cases and a property test against a naive reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.model import selection
from engine.model.datamodel import DataModel
from engine.model.selection import EMPTY_STATE, Reduction, SelectionState, infer
from tests.modelutil import make_model, states_by_text, sym


@pytest.fixture
def shop():
    return make_model(
        {
            "Customers": {"CID": [1, 2, 3, 4], "Country": ["SE", "SE", "DK", "NO"]},
            "Orders": {"CID": [1, 1, 2, 3, 5], "Product": ["a", "b", "a", "c", "d"]},
        }
    )


# --- SelectionState ---------------------------------------------------------------------------
def test_state_is_immutable_value():
    s0 = EMPTY_STATE
    s1 = s0.with_selection("F", [3, 1, 3])
    assert s0.is_empty and s1.selected("F").tolist() == [1, 3]
    assert s1.with_selection("F", [1, 3]) is s1
    assert s1 == SelectionState({"F": [3, 1]}) and hash(s1) == hash(SelectionState({"F": [1, 3]}))
    assert s1.with_selection("F", []).is_empty
    s2 = s1.with_selection("G", [0]).with_lock("F")
    assert s2.is_locked("F") and s2.fields == ("F", "G")
    assert s2.with_selection("F", [0]) is s2  # locked: refused
    assert s2.cleared("F") is s2
    assert s2.cleared_all().fields == ("F",)
    assert s2.cleared_all(keep_locked=False).is_empty
    assert s2.with_unlock("F").cleared("F").fields == ("G",)
    assert s2.without("F").fields == ("G",) and not s2.without("F").locked
    assert EMPTY_STATE.with_lock("F") is EMPTY_STATE  # nothing to lock
    assert s1.locked_all().locked == {"F"} and s1.locked_all().unlocked_all().locked == frozenset()
    with pytest.raises(ValueError):
        EMPTY_STATE.with_selection("F", [-1])


# --- hand-computed inference -------------------------------------------------------------------
def test_no_selection_everything_possible(shop):
    inf = infer(shop, EMPTY_STATE)
    assert inf.rows("Orders") is None and inf.row_index("Orders").tolist() == [0, 1, 2, 3, 4]
    assert set(states_by_text(inf, "CID").values()) == {"O"}
    assert inf.state_counts("Product") == {
        "qLocked": 0,
        "qSelected": 0,
        "qOption": 4,
        "qDeselected": 0,
        "qAlternative": 0,
        "qExcluded": 0,
        "qSelectedExcluded": 0,
        "qLockedExcluded": 0,
    }


def test_two_tables_linked_by_key(shop):
    inf = infer(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "SE")))
    assert inf.row_index("Customers").tolist() == [0, 1]
    assert inf.row_index("Orders").tolist() == [0, 1, 2]
    assert states_by_text(inf, "Country") == {"SE": "S", "DK": "A", "NO": "A"}
    assert states_by_text(inf, "CID") == {"1": "O", "2": "O", "3": "X", "4": "X", "5": "X"}
    assert states_by_text(inf, "Product") == {"a": "O", "b": "O", "c": "X", "d": "X"}
    assert inf.state_counts("Country")["qAlternative"] == 2
    assert inf.state_counts("Product")["qExcluded"] == 2


def test_selection_in_key_field(shop):
    inf = infer(shop, EMPTY_STATE.with_selection("CID", sym(shop, "CID", 1, 3)))
    assert inf.row_index("Customers").tolist() == [0, 2]
    assert inf.row_index("Orders").tolist() == [0, 1, 3]
    assert states_by_text(inf, "Country") == {"SE": "O", "DK": "O", "NO": "X"}
    assert states_by_text(inf, "CID") == {"1": "S", "2": "A", "3": "S", "4": "A", "5": "A"}


def test_selection_whose_associated_values_vanish(shop):
    # d is only ordered by customer 5, who is missing from Customers: nothing there is associated,
    # but d itself (and CID 5) stay selected / possible.
    inf = infer(shop, EMPTY_STATE.with_selection("Product", sym(shop, "Product", "d")))
    assert inf.row_index("Orders").tolist() == [4]
    assert inf.row_index("Customers").tolist() == []
    assert states_by_text(inf, "Country") == {"SE": "X", "DK": "X", "NO": "X"}
    assert states_by_text(inf, "Product") == {"a": "A", "b": "A", "c": "A", "d": "S"}
    assert states_by_text(inf, "CID") == {"1": "X", "2": "X", "3": "X", "4": "X", "5": "O"}


def test_customer_without_orders_excluded_by_product(shop):
    inf = infer(shop, EMPTY_STATE.with_selection("Product", sym(shop, "Product", "a")))
    assert states_by_text(inf, "Country") == {"SE": "O", "DK": "X", "NO": "X"}
    assert states_by_text(inf, "CID") == {"1": "O", "2": "O", "3": "X", "4": "X", "5": "X"}


def test_selected_excluded_and_alternative(shop):
    s = EMPTY_STATE.with_selection("Country", sym(shop, "Country", "SE")).with_selection(
        "Product", sym(shop, "Product", "c", "b")
    )
    inf = infer(shop, s)
    # Product b (customer 1, SE) possible; c (customer 3, DK) selected but excluded by Country.
    assert states_by_text(inf, "Product") == {"a": "A", "b": "S", "c": "XS", "d": "X"}
    # Country's own alternatives are computed with Country's selection removed: c → DK, b → SE.
    assert states_by_text(inf, "Country") == {"SE": "S", "DK": "A", "NO": "X"}
    assert inf.state_counts("Product") == {
        "qLocked": 0,
        "qSelected": 1,
        "qOption": 0,
        "qDeselected": 0,
        "qAlternative": 1,
        "qExcluded": 1,
        "qSelectedExcluded": 1,
        "qLockedExcluded": 0,
    }


def test_locks(shop):
    s = (
        EMPTY_STATE.with_selection("Country", sym(shop, "Country", "DK", "SE"))
        .with_lock("Country")
        .with_selection("Product", sym(shop, "Product", "a"))
    )
    inf = infer(shop, s)
    assert states_by_text(inf, "Country") == {"SE": "L", "DK": "XL", "NO": "X"}
    assert inf.state_counts("Country")["qLocked"] == 1
    assert inf.state_counts("Country")["qLockedExcluded"] == 1


def test_chain_of_three_tables():
    m = make_model(
        {
            "A": {"K1": [1, 2, 3], "a": ["x", "y", "z"]},
            "B": {"K1": [1, 1, 2, 3], "K2": [10, 20, 20, 30]},
            "C": {"K2": [10, 20, 30, 40], "c": ["p", "q", "r", "s"]},
        }
    )
    inf = infer(m, EMPTY_STATE.with_selection("c", sym(m, "c", "p")))
    assert inf.row_index("C").tolist() == [0]
    assert inf.row_index("B").tolist() == [0]
    assert inf.row_index("A").tolist() == [0]
    assert states_by_text(inf, "a") == {"x": "O", "y": "X", "z": "X"}
    inf = infer(m, EMPTY_STATE.with_selection("a", sym(m, "a", "y")))
    assert inf.row_index("B").tolist() == [2]
    assert states_by_text(inf, "c") == {"p": "X", "q": "O", "r": "X", "s": "X"}
    assert states_by_text(inf, "K2") == {"10": "X", "20": "O", "30": "X", "40": "X"}


def test_null_key_never_links():
    m = make_model(
        {
            "T1": {"K": [1, None, 2], "f": ["a", "b", "c"]},
            "T2": {"K": [1, 2, None], "g": ["u", "v", "w"]},
        }
    )
    inf = infer(m, EMPTY_STATE.with_selection("f", sym(m, "f", "b")))
    assert inf.row_index("T2").tolist() == []
    inf = infer(m, EMPTY_STATE.with_selection("f", sym(m, "f", "a", "c")))
    assert inf.row_index("T2").tolist() == [0, 1]
    assert states_by_text(inf, "g") == {"u": "O", "v": "O", "w": "X"}


def test_island_table_unaffected(shop):
    m = make_model(
        {
            "Customers": {"CID": [1, 2], "Country": ["SE", "DK"]},
            "Island": {"Z": [7, 8]},
        }
    )
    inf = infer(m, EMPTY_STATE.with_selection("Country", [0]))
    assert inf.rows("Island") is None
    assert states_by_text(inf, "Z") == {"7": "O", "8": "O"}


def test_base_reduction_is_never_lifted(shop):
    base = Reduction.from_state(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "DK", "NO")))
    inf = infer(shop, EMPTY_STATE, base)
    assert inf.row_index("Customers").tolist() == [2, 3]
    assert inf.row_index("Orders").tolist() == [3]
    # symbols removed by the reduction are not counted anywhere
    assert inf.state_counts("Country") == {
        "qLocked": 0,
        "qSelected": 0,
        "qOption": 2,
        "qDeselected": 0,
        "qAlternative": 0,
        "qExcluded": 0,
        "qSelectedExcluded": 0,
        "qLockedExcluded": 0,
    }
    assert inf.state_counts("CID")["qOption"] == 2 and inf.state_counts("CID")["qExcluded"] == 0
    inf = infer(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "NO")), base)
    assert inf.row_index("Orders").tolist() == []
    assert inf.state_counts("Country") == {
        "qLocked": 0,
        "qSelected": 1,
        "qOption": 0,
        "qDeselected": 0,
        "qAlternative": 1,
        "qExcluded": 0,
        "qSelectedExcluded": 0,
        "qLockedExcluded": 0,
    }
    # a selection of symbols the reduction removed selects nothing that exists: no selection at all
    inf = infer(shop, EMPTY_STATE.with_selection("Country", sym(shop, "Country", "SE")), base)
    assert inf.row_index("Customers").tolist() == [2, 3]
    assert inf.state_counts("Country")["qSelected"] == 0 and inf.state_counts("Country")["qOption"] == 2


# --- property test against a naive reference -----------------------------------------------------
def naive_rows(tables: dict[str, dict[str, list]], selections: dict[str, set]) -> dict[str, set[int]]:
    """Possible rows per table, by recursion over the (acyclic) table/key graph, in plain Python."""
    holders: dict[str, list[str]] = {}
    for t, cols in tables.items():
        for f in cols:
            holders.setdefault(f, []).append(t)
    keys = {f for f, hs in holders.items() if len(hs) > 1}

    def nrows(t):
        return len(next(iter(tables[t].values())))

    def own_ok(t, r):
        return all(tables[t][f][r] in vals for f, vals in selections.items() if f in tables[t])

    def constrained(t, skip):
        """Does the branch rooted at t (leaving through ``skip``) hold any selection? A selection in the
        key ``skip`` itself does not count: the tables are associated as by a full outer join, so a key
        value that only the other side has keeps that side's row possible."""
        if any(f in tables[t] and f != skip for f in selections):
            return True
        return any(
            constrained(h, k) for k in tables[t] if k in keys and k != skip for h in holders[k] if h != t
        )

    def branch_rows(t, skip):
        out = set()
        for r in range(nrows(t)):
            if not own_ok(t, r):
                continue
            if all(row_links(t, r, k) for k in tables[t] if k in keys and k != skip):
                out.add(r)
        return out

    def row_links(t, r, k):
        v = tables[t][k][r]
        for h in holders[k]:
            if h == t or not constrained(h, k):
                continue
            if v is None or v not in {tables[h][k][x] for x in branch_rows(h, k)}:
                return False
        return True

    return {t: branch_rows(t, None) for t in tables}


def _selecting(model: DataModel, selections: dict[str, set[int]]) -> SelectionState:
    """EMPTY_STATE with, in each field of ``selections``, the symbols whose number is in its set selected."""
    state = EMPTY_STATE
    for f, vals in selections.items():
        syms = model.fields[f].symbols
        state = state.with_selection(f, [i for i, x in enumerate(syms.num) if int(x) in vals])
    return state


@st.composite
def models_and_selections(draw):
    ntables = draw(st.integers(2, 4))
    values = st.one_of(st.none(), st.integers(0, 3))
    tables: dict[str, dict[str, list]] = {}
    fields: list[str] = []
    for ti in range(ntables):
        n = draw(st.integers(1, 6))
        cols: dict[str, list] = {}
        if fields and draw(st.booleans() if ti > 1 else st.just(True)):
            shared = draw(st.sampled_from(fields))  # exactly one link keeps the model acyclic
            cols[shared] = draw(st.lists(values, min_size=n, max_size=n))
        for j in range(draw(st.integers(1, 2))):
            f = f"T{ti}F{j}"
            cols[f] = draw(st.lists(values, min_size=n, max_size=n))
            fields.append(f)
        tables[f"T{ti}"] = cols
    sel_fields = draw(st.lists(st.sampled_from(fields), max_size=3, unique=True))
    selections = {f: set(draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))) for f in sel_fields}
    return tables, selections


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_and_selections())
def test_inference_matches_naive_reference(case):
    tables, selections = case
    model = make_model(tables)
    state = _selecting(model, selections)
    # the reference sees values that exist as symbols only (a selection of absent values selects nothing)
    eff = {
        f: {int(x) for x in model.fields[f].symbols.num if int(x) in vals} for f, vals in selections.items()
    }
    eff = {f: v for f, v in eff.items() if v}
    expected = naive_rows(tables, eff)
    inf = infer(model, state)
    for t in tables:
        assert set(inf.row_index(t).tolist()) == expected[t], t
    # possible / states per field, derived from the reference rows
    for f, fld in model.fields.items():
        poss = {tables[t][f][r] for t in tables if f in tables[t] for r in expected[t]} - {None}
        got = {int(fld.symbols.num[i]) for i in np.flatnonzero(inf.possible(f))}
        assert got == poss, f
        letters = inf.state_letters(f)
        for i, x in enumerate(fld.symbols.num):
            v = int(x)
            if f in eff:
                alt_rows = naive_rows(tables, {g: s for g, s in eff.items() if g != f})
                alt = {tables[t][f][r] for t in tables if f in tables[t] for r in alt_rows[t]}
                want = ("S" if v in poss else "XS") if v in eff[f] else ("A" if v in alt else "X")
            else:
                want = "O" if v in poss else "X"
            assert letters[i] == want, (f, v)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_and_selections(), st.data())
def test_base_reduction_equals_deleted_rows(case, data):
    tables, selections = case
    model = make_model(tables)
    fields = list(model.fields)
    f0 = data.draw(st.sampled_from(fields))
    v0 = set(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=2)))
    syms0 = [i for i, x in enumerate(model.fields[f0].symbols.num) if int(x) in v0]
    base = Reduction.from_state(model, EMPTY_STATE.with_selection(f0, syms0))
    kept = {
        t: sorted(np.flatnonzero(base.rows[t]).tolist())
        if t in base.rows
        else list(range(model.tables[t].nrows))
        for t in tables
    }
    reduced = {t: {f: [vals[r] for r in kept[t]] for f, vals in cols.items()} for t, cols in tables.items()}
    state = _selecting(model, selections)
    eff = {}
    for f, vals in selections.items():
        present = {v for t in reduced if f in reduced[t] for v in reduced[t][f]}
        if vals & present:
            eff[f] = vals & present
    expected = naive_rows(reduced, eff)
    inf = infer(model, state, base)
    for t in tables:
        assert set(inf.row_index(t).tolist()) == {kept[t][r] for r in expected[t]}, t


def test_a_key_value_only_one_table_has_stays_possible_there():
    # selecting a customer who has no orders: the customer's row (and name) stay possible, the orders
    # are all excluded; associated tables behave as a full outer join
    model = make_model(
        {"Customers": {"CustID": [1, 2], "Name": [10, 20]}, "Orders": {"CustID": [1], "Amt": [5]}}
    )
    syms = model.fields["CustID"].symbols
    inf = infer(model, EMPTY_STATE.with_selection("CustID", [int(np.flatnonzero(syms.num == 2)[0])]))
    assert inf.row_index("Customers").tolist() == [1]
    assert inf.row_index("Orders").tolist() == []
    names = model.fields["Name"].symbols.num
    assert names[inf.possible("Name")[: len(names)]].tolist() == [20]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_and_selections(), st.data())
def test_sparse_row_propagation_matches_masks(case, data):
    """Propagating over key → rows lookups (the path of large tables with a selective key) gives the
    same rows, possible symbols and states as full-length masks, with and without a reduction."""
    tables, selections = case
    model = make_model(tables)
    state = _selecting(model, selections)
    base = None
    if data.draw(st.booleans()):
        f0 = data.draw(st.sampled_from(list(model.fields)))
        syms0 = [i for i, x in enumerate(model.fields[f0].symbols.num) if int(x) in {0, 1}]
        base = Reduction.from_state(model, EMPTY_STATE.with_selection(f0, syms0))
    assert_sparse_matches_dense(model, [state, state], base, data.draw(st.integers(1, 8)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_sparse_row_propagation_on_a_star(data):
    """A fact table with three keys (the dashboard's shape): selections on every dimension and the fact."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n, nd = 60, 6
    key = lambda: [None if x < 0 else int(x) for x in rng.integers(-1, nd + 1, n)]  # noqa: E731
    tables = {"F": {"K1": key(), "K2": key(), "K3": key(), "M": rng.integers(0, 4, n).tolist()}}
    for i in (1, 2, 3):
        tables[f"D{i}"] = {f"K{i}": list(range(nd)), f"A{i}": rng.integers(0, 3, nd).tolist()}
    model = make_model(tables)
    states = []
    for _ in range(3):  # one after another on one model: later ones reuse the memo of messages
        state = EMPTY_STATE
        for f in data.draw(st.lists(st.sampled_from(["A1", "A2", "A3", "M", "K2"]), max_size=4, unique=True)):
            vals = set(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=2)))
            state = state.with_selection(
                f, [i for i, x in enumerate(model.fields[f].symbols.num) if int(x) in vals]
            )
        states.append(state)
    assert_sparse_matches_dense(model, states, None, data.draw(st.integers(1, 8)))


def assert_sparse_matches_dense(model, states, base, slice_rows):
    """Each state's sparse propagation (in order, on one model) equals its dense one. ``slice_rows``: rows
    per slice of a message's walk (small, so walks stop early, mid-way or never)."""
    dense = [infer(model, state, base) for state in states]
    saved = (selection.SPARSE_MIN, selection.SPARSE_DENSITY, selection.SLICE_ROWS)
    selection.SPARSE_MIN, selection.SPARSE_DENSITY, selection.SLICE_ROWS = 0, 1, slice_rows
    try:
        sparse = [infer(model, state, base) for state in states]
    finally:
        selection.SPARSE_MIN, selection.SPARSE_DENSITY, selection.SLICE_ROWS = saved
    for d, sp in zip(dense, sparse, strict=True):
        assert_same_inference(model, d, sp)


def assert_same_inference(model, dense, sparse):
    for t in model.tables:
        assert np.array_equal(sparse.row_index(t), dense.row_index(t)), t
        a, b = sparse.rows(t), dense.rows(t)
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b)), t
    for f in model.fields:
        assert np.array_equal(sparse.possible(f), dense.possible(f)), f
        assert list(sparse.state_letters(f)) == list(dense.state_letters(f)), f


def test_lookups_of_a_large_table_are_built_once_ahead_of_the_first_click(monkeypatch):
    """``warm`` builds every key lookup of a table of SPARSE_MIN rows or more in the background; a thread
    asking for a lookup while it is built waits for that build instead of starting its own."""
    import threading
    import time

    from engine.model.index import ModelIndex, model_index

    rng = np.random.default_rng(3)
    n = selection.SPARSE_MIN
    tables = {
        "Fact": {"K": rng.integers(0, 50, n).tolist(), "V": rng.integers(0, 3, n).tolist()},
        "Dim": {"K": list(range(50)), "A": [i % 5 for i in range(50)]},
    }
    model = make_model(tables)
    built: list[tuple[str, str]] = []
    real = ModelIndex._build_lookup

    def counting(self, table, key):
        built.append((table, key))
        time.sleep(0.2)  # long enough for the other callers to arrive while it builds
        return real(self, table, key)

    monkeypatch.setattr(ModelIndex, "_build_lookup", counting)
    selection.warm(model)
    askers = [threading.Thread(target=model_index(model).lookup, args=("Fact", "K")) for _ in range(3)]
    for t in askers:
        t.start()
    for t in askers:
        t.join(10)
    assert built == [("Fact", "K")]  # the small Dim table is not warmed; Fact's lookup built once
    selection.warm(model)  # once per model
    assert 0 < infer(model, EMPTY_STATE.with_selection("A", [0])).row_count("Fact") < n
    assert built == [("Fact", "K")]  # the click found the lookup ready
