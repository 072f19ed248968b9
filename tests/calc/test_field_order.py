"""``sorting.field_order`` (a cached per-field order, then a stable sort by state) against the reference
lexsort of ``symbol_keys`` over random fields, criteria, states and existing-symbol masks."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.calc.sorting import field_order, sorted_symbols, symbol_keys
from tests.modelutil import make_model

values = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["b", "A", "a", "c", "10", "B"]),
    st.floats(-2, 2, allow_nan=False).map(lambda x: round(x, 1)),
)
signs = st.sampled_from([-1, 0, 1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=30), st.data())
def test_field_order_matches_the_lexsort(vals, data):
    model = make_model({"T": {"F": vals}})
    n = len(model.fields["F"].symbols)
    crit = {
        k: data.draw(signs) for k in ("qSortByState", "qSortByNumeric", "qSortByAscii", "qSortByLoadOrder")
    }
    states = np.asarray(data.draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)), dtype=np.uint8)
    exists = np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    want = sorted_symbols(np.flatnonzero(exists), symbol_keys(model, "F", crit, states=states))
    assert field_order(model, "F", crit, states, exists).tolist() == want.tolist()
