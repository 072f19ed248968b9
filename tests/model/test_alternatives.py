"""``Inference.alternative`` (computed at the size of the field's table on acyclic models) against a second
propagation without the field's selection, on random acyclic models, with and without a reduction, and on
a loop (where the shortcut must not apply)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.model.index import model_index
from engine.model.selection import EMPTY_STATE, Inference, Reduction, infer
from tests.model.test_key_symbols import cyclic, state_of
from tests.model.test_selection import models_and_selections
from tests.modelutil import make_model


def check_alternatives(inf: Inference) -> None:
    for f in inf.state.fields:
        want = infer(inf.model, inf.state.without(f), inf.base).possible(f)
        assert np.array_equal(inf.alternative(f), want), f


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_and_selections(), st.data())
def test_alternatives_match_a_second_propagation(case, data):
    tables, selections = case
    model = make_model(tables)
    assert model_index(model).acyclic
    state = state_of(model, selections)
    check_alternatives(infer(model, state))
    f0 = data.draw(st.sampled_from(list(model.fields)))
    base = Reduction.from_state(model, EMPTY_STATE.with_selection(f0, [0]))
    check_alternatives(infer(model, state, base))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cyclic())
def test_alternatives_on_a_loop(case):
    tables, selections = case
    model = make_model(tables)
    assert not model_index(model).acyclic
    inf = infer(model, state_of(model, selections))
    assert all(inf._local_alternative(f) is None for f in model.fields)
    check_alternatives(inf)


def test_alternative_of_a_dimension_field_reads_its_table_only():
    """Region lives in Customer only; its alternatives come from Customer's rows that the fact's other
    selections (Product's Category) reach."""
    tables = {
        "Fact": {"CustID": [0, 1, 2, 0, 1], "ProdID": [0, 0, 1, 1, 2]},
        "Customer": {"CustID": [0, 1, 2], "Region": [10, 20, 30]},
        "Product": {"ProdID": [0, 1, 2], "Category": [1, 2, 2]},
    }
    model = make_model(tables)
    state = state_of(model, {"Region": {10}, "Category": {1}})
    inf = infer(model, state)
    # Category 1 is product 0, bought by customers 0 and 1: regions 10 and 20
    assert inf._local_alternative("Region") is not None
    alt = {int(model.fields["Region"].symbols.num[i]) for i in np.flatnonzero(inf.alternative("Region"))}
    assert alt == {10, 20}
    assert inf.state_letters("Region").tolist() == ["S", "A", "X"]
