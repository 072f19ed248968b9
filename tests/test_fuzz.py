"""Fuzzing every registered method on every kind of handle over a real socket (see tests/fuzzing.py).

Every answer must be a result or a JSON-RPC error whose code is not -128, every request is answered
within a bounded wait, and a bystander session on another socket keeps answering its cached GetLayout.
A modest run here (the sweeps, then a few hundred random cases); ``scripts/fuzz.py`` runs thousands.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.fuzzing import (
    Bystander,
    Case,
    Tally,
    Target,
    cases,
    check_answer,
    definition_sweep,
    registered_methods,
    sweep,
)

#: the random cases of one run (about 20 s on the shared 2-core machine, with the sweep)
RANDOM_CASES = 400
#: the bystander's GetLayout must be answered within this (it is cached: normally about a millisecond)
BYSTANDER_LIMIT = 5.0


def test_every_request_is_answered_with_a_result_or_a_non_internal_error(engine) -> None:
    bystander = Bystander(engine.url("/app/engineData/identity/bystander"))
    bystander.start()
    target = Target(engine.url("/app/engineData/identity/fuzz")).prepare()
    tally = Tally()

    def one(case: Case) -> None:
        tally.add(case, check_answer(case, target.run(case)))
        target.restore(case)

    @settings(max_examples=RANDOM_CASES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(cases())
    def random_cases(case: Case) -> None:
        one(case)

    try:
        for case in sweep() + definition_sweep():
            one(case)
        random_cases()
    finally:
        bystander.stop()
        target.close()

    assert tally.methods == registered_methods()
    assert not bystander.failures, bystander.failures[:3]
    assert len(bystander.latencies) > 10 and bystander.worst < BYSTANDER_LIMIT, bystander.worst
