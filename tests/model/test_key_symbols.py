"""``Inference.key_symbols`` (symbol-level shortcut) against a scan of the possible rows, and the
chunked kernels against plain numpy."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.model import kernels
from engine.model.index import model_index
from engine.model.selection import EMPTY_STATE, Reduction, infer
from tests.model.test_selection import models_and_selections
from tests.modelutil import make_model


def scanned(inf, table, key):
    n = len(inf.model.fields[key].symbols)
    out = np.zeros(n + 1, dtype=bool)
    out[inf.model.tables[table].columns[key].take(inf.row_index(table))] = True
    return out


def check_all(inf):
    model = inf.model
    for t, keys in model_index(model).keys_of.items():
        for k in keys:
            assert np.array_equal(inf.key_symbols(t, k), scanned(inf, t, k)), (t, k)


def state_of(model, selections):
    state = EMPTY_STATE
    for f, vals in selections.items():
        syms = model.fields[f].symbols
        state = state.with_selection(f, [i for i, x in enumerate(syms.num) if int(x) in vals])
    return state


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_and_selections(), st.data())
def test_key_symbols_match_a_scan(case, data):
    tables, selections = case
    model = make_model(tables)
    state = state_of(model, selections)
    check_all(infer(model, state))
    f0 = data.draw(st.sampled_from(list(model.fields)))
    base = Reduction.from_state(model, EMPTY_STATE.with_selection(f0, [0]))
    check_all(infer(model, state, base))


@st.composite
def cyclic(draw):
    """Three tables linked in a loop (A-B on K1, B-C on K2, C-A on K3), NULL keys included."""
    vals = st.one_of(st.none(), st.integers(0, 3))

    def col(n):
        return draw(st.lists(vals, min_size=n, max_size=n))

    na, nb, nc = (draw(st.integers(1, 6)) for _ in range(3))
    tables = {"A": {"K1": col(na), "K3": col(na), "X": col(na)},
              "B": {"K1": col(nb), "K2": col(nb), "Y": col(nb)},
              "C": {"K2": col(nc), "K3": col(nc)}}
    sels = draw(st.dictionaries(st.sampled_from(["X", "Y", "K2"]),
                                st.sets(st.integers(0, 3), min_size=1, max_size=2), max_size=2))
    return tables, sels


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cyclic())
def test_key_symbols_on_a_loop(case):
    tables, selections = case
    model = make_model(tables)
    check_all(infer(model, state_of(model, selections)))


def test_kernels_match_numpy_on_large_arrays():
    rng = np.random.default_rng(1)
    n = kernels.PARALLEL_MIN * 2 + 12345
    codes = rng.integers(-1, 1000, n).astype(np.int32)
    table = rng.random(1001)
    assert np.array_equal(kernels.take(table, codes), table.take(codes))
    rows = np.sort(rng.choice(n, n // 3, replace=False))
    want = np.zeros(1001, dtype=bool)
    want[codes.take(rows)] = True
    assert np.array_equal(kernels.scatter_true(1001, codes, rows), want)
    want[:] = False
    want[codes] = True
    assert np.array_equal(kernels.scatter_true(1001, codes), want)


def test_kernels_run_every_part_themselves_while_the_kernel_threads_are_busy():
    """Parts no kernel thread has started are run by the caller: a request never queues behind other
    requests' parts (with every kernel thread blocked, the call still finishes, with the right answer)."""
    import threading

    release = threading.Event()
    blockers = [kernels._executor().submit(release.wait, 10) for _ in range(kernels.WORKERS)]
    try:
        rng = np.random.default_rng(2)
        codes = rng.integers(-1, 50, kernels.PARALLEL_MIN * 2).astype(np.int32)
        table = rng.random(51)
        done = []
        t = threading.Thread(target=lambda: done.append(np.array_equal(kernels.take(table, codes), table.take(codes))))
        t.start()
        t.join(5)
        assert done == [True]
    finally:
        release.set()
        for b in blockers:
            b.result(10)
