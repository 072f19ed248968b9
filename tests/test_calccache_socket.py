"""The shared calculation cache over real sockets: users in equal selection states in different
section-access reductions, random selections from several clients, answers checked against a plain
Python reference, and ``/healthcheck``'s ``cache`` block counting the hits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Client, RunningEngine
from tests.jwt_keys import SECRET
from tests.test_section_access import MATRIX_SALES, MATRIX_SCRIPT, create_app, open_doc, token

#: client → (JWT subject, groups, countries the reduction shows)
USERS = {"e1": ("e1", ["EUROPE"], {"UK", "DE"}), "e2": ("e2", ["EUROPE"], {"UK", "DE"}),
         "us": ("us-user", None, {"US"}), "admin": ("admin", None, {"US", "UK", "DE", "IT", "FR"})}
CUBE = {"qInfo": {"qType": "cube"}, "qHyperCubeDef": {
    "qDimensions": [{"qDef": {"qFieldDefs": ["COUNTRY"]}}],
    "qMeasures": [{"qDef": {"qDef": "Sum(SALES_AMOUNT)"}}, {"qDef": {"qDef": "Sum({1} SALES_AMOUNT)"}}],
    "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 20}]}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEngine, str]]:
    eng = RunningEngine("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}",
                        document_dir=tmp_path_factory.mktemp("apps"))
    app_id = asyncio.run(create_app(eng, MATRIX_SCRIPT, "cc"))
    yield eng, app_id
    eng.stop()


def expected(visible: set[str], selected: set[str]) -> list[tuple[str, float, float]]:
    rows = [(c, a) for c, _p, a in MATRIX_SALES if c in visible]
    shown = {c for c in visible if not selected or c in selected}  # FR: in Capitals only, no sales
    return sorted((c, float(sum(a for cc, a in rows if cc == c)), float(sum(a for cc, a in rows if cc == c)))
                  for c in shown)


def health(eng: RunningEngine) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{eng.port}/healthcheck") as r:
        return json.loads(r.read())


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(sorted(USERS)),
                                st.sets(st.sampled_from(["US", "UK", "DE", "IT"]), max_size=2)),
                      min_size=2, max_size=8))
def test_equal_states_share_results_within_a_reduction_only(served: tuple[RunningEngine, str],
                                                           steps: list[tuple[str, set[str]]]) -> None:
    eng, app_id = served

    async def run() -> None:
        async with contextlib.AsyncExitStack() as stack:
            clients = {name: await stack.enter_async_context(
                Client.open(eng.url(f"/app/{app_id}/identity/{name}"), token(sub, groups)))
                for name, (sub, groups, _v) in USERS.items()}
            objs, docs = {}, {}
            for name, c in clients.items():
                docs[name] = await open_doc(c, app_id)
                await c.call("ClearAll", docs[name])
                objs[name] = (await c.call("CreateSessionObject", docs[name], CUBE))["qReturn"]["qHandle"]
            state = {name: set() for name in clients}
            for name, values in steps:
                c, visible = clients[name], USERS[name][2]
                pick = values & visible
                fld = (await c.call("GetField", docs[name], "COUNTRY"))["qReturn"]["qHandle"]
                if pick:
                    await c.call("SelectValues", fld, [{"qText": v} for v in sorted(pick)])
                else:
                    await c.call("Clear", fld)
                state[name] = pick
                for other, oc in clients.items():  # everyone reads after every step
                    page = (await oc.call("GetLayout", objs[other]))["qLayout"]["qHyperCube"]["qDataPages"][0]
                    rows = sorted((r[0]["qText"], r[1]["qNum"], r[2]["qNum"]) for r in page["qMatrix"])
                    assert rows == expected(USERS[other][2], state[other]), (other, state[other])
            # e1 and e2 share a reduction: in equal states, e2's new object is answered from e1's results
            # (the steps alone need not share anything: an unchanged object answers from its own handle)
            for name in ("e1", "e2"):
                fld = (await clients[name].call("GetField", docs[name], "COUNTRY"))["qReturn"]["qHandle"]
                await clients[name].call("SelectValues", fld, [{"qText": "DE"}])
            first = (await clients["e1"].call("CreateSessionObject", docs["e1"], CUBE))["qReturn"]["qHandle"]
            await clients["e1"].call("GetLayout", first)
            before = health(eng)["cache"]
            second = (await clients["e2"].call("CreateSessionObject", docs["e2"], CUBE))["qReturn"]["qHandle"]
            page = (await clients["e2"].call("GetLayout", second))["qLayout"]["qHyperCube"]["qDataPages"][0]
            after = health(eng)["cache"]
            rows = sorted((r[0]["qText"], r[1]["qNum"], r[2]["qNum"]) for r in page["qMatrix"])
            assert rows == expected(USERS["e2"][2], {"DE"})
            assert after["lookups"] > before["lookups"] and after["hits"] > before["hits"]

    asyncio.run(run())
