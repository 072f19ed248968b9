"""Document sync between two engines sharing DocumentDirectory (``EnableFilePolling=1``), over real sockets.

The engines run in this process (threads, one event loop each) with a short polling interval; each holds
its own App objects, so a save by one is another engine's change to the other, exactly as between
processes (tests/cluster/test_concurrent_saves.py and test_proxy.py use real processes).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from engine.app import store
from tests.harness import Client, RunningEngine
from tests.jwt_keys import SECRET, bearer, mint

INTERVAL = 0.3
POLLING = ("EnableFilePolling=1", f"FilePollingInterval={INTERVAL}")
#: a sync must be visible within the polling interval plus this (the poll itself, loading, the frame)
SLACK = 1.0

SCRIPT_V1 = """Sales:
LOAD * INLINE [
Region, Amount
East, 10
West, 20
North, 30
];
"""
# 'West' still exists (at another symbol position), its amount changed; 'North' is gone
SCRIPT_V2 = """Sales:
LOAD * INLINE [
Region, Amount
Atlantis, 1
South, 5
West, 200
East, 10
];
"""

LISTBOX = {"qInfo": {"qType": "listbox"},
           "qListObjectDef": {"qDef": {"qFieldDefs": ["Region"]},
                              "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 20}]}}
TOTAL = {"qInfo": {"qType": "kpi"}, "total": {"qValueExpression": {"qExpr": "Sum(Amount)"}}}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def engines(engine_factory, *settings: str) -> tuple[RunningEngine, RunningEngine]:
    return engine_factory(*POLLING, *settings), engine_factory(*POLLING, *settings)


async def wait_push_with(c: Client, key: str, handle: int, timeout: float) -> float:
    """Seconds until an id-less frame lists ``handle`` under ``key`` (change or close)."""
    started = time.monotonic()
    while True:
        remaining = timeout - (time.monotonic() - started)
        push = await c.wait_push(max(remaining, 0.01))
        if handle in push.get(key, []):
            return time.monotonic() - started


async def new_app(c: Client, name: str, script: str | None = None) -> int:
    await c.call("CreateApp", -1, name)
    doc = (await c.call("OpenDoc", -1, name))["qReturn"]["qHandle"]
    if script is not None:
        await c.call("SetScript", doc, script)
        assert (await c.call("DoReload", doc))["qReturn"] is True
    await c.call("DoSave", doc)
    return doc


def poll(eng: RunningEngine) -> Any:
    """Run one poll of ``eng``'s document sync now (on its loop) and return its outcome."""
    return asyncio.run_coroutine_threadsafe(eng.engine.sync.poll(), eng._loop).result(30)


def test_object_changes_saved_on_one_engine_reach_the_other(engine_factory):
    a, b = engines(engine_factory)

    async def scenario():
        async with Client.open(a.url()) as ca, Client.open(b.url()) as cb:
            doc_a = await new_app(ca, "shared")
            obj = (await ca.call("CreateObject", doc_a, {"qInfo": {"qId": "o1", "qType": "note"}, "text": "v1"}))
            obj_a = obj["qReturn"]["qHandle"]
            await ca.call("DoSave", doc_a)

            doc_b = (await cb.call("OpenDoc", -1, "shared"))["qReturn"]["qHandle"]
            obj_b = (await cb.call("GetObject", doc_b, "o1"))["qReturn"]["qHandle"]
            assert (await cb.call("GetLayout", obj_b))["qLayout"]["text"] == "v1"
            await cb.call("GetAllInfos", doc_b)

            # changed, and a new object: B's handle goes stale and the new object appears
            await ca.call("SetProperties", obj_a, {"qInfo": {"qId": "o1", "qType": "note"}, "text": "v2"})
            o2_a = (await ca.call("CreateObject", doc_a, {"qInfo": {"qId": "o2", "qType": "note"},
                                                          "text": "new"}))["qReturn"]["qHandle"]
            await ca.call("CreateChild", o2_a, {"qInfo": {"qId": "o2-child", "qType": "note"}})
            await ca.call("DoSave", doc_a)
            assert await wait_push_with(cb, "change", obj_b, INTERVAL + SLACK) < INTERVAL + SLACK
            assert (await cb.call("GetLayout", obj_b))["qLayout"]["text"] == "v2"
            o2 = (await cb.call("GetObject", doc_b, "o2"))["qReturn"]["qHandle"]
            assert (await cb.call("GetLayout", o2))["qLayout"]["text"] == "new"
            assert [i["qId"] for i in (await cb.call("GetChildInfos", o2))["qInfos"]] == ["o2-child"]

            # deleted: B's handle is closed
            await ca.call("DestroyObject", doc_a, "o1")
            await ca.call("DoSave", doc_a)
            await wait_push_with(cb, "close", obj_b, INTERVAL + SLACK)
            resp = await cb.request("GetLayout", obj_b)
            assert resp["error"]["code"] == -32602  # invalid handle
            ids = {i["qId"] for i in (await cb.call("GetAllInfos", doc_b))["qInfos"]}
            assert "o1" not in ids and "o2" in ids

    run(scenario())


def test_reload_reaches_other_engine_and_session_state_survives(engine_factory):
    a, b = engines(engine_factory)

    async def scenario():
        async with Client.open(a.url()) as ca, Client.open(b.url()) as cb:
            doc_a = await new_app(ca, "sales", SCRIPT_V1)
            doc_b = (await cb.call("OpenDoc", -1, "sales"))["qReturn"]["qHandle"]
            listbox = (await cb.call("CreateSessionObject", doc_b, LISTBOX))["qReturn"]["qHandle"]
            kpi = (await cb.call("CreateSessionObject", doc_b, TOTAL))["qReturn"]["qHandle"]
            rows = (await cb.call("GetLayout", listbox))["qLayout"]["qListObject"]["qDataPages"][0]["qMatrix"]
            west = next(r[0]["qElemNumber"] for r in rows if r[0]["qText"] == "West")
            await cb.call("SelectListObjectValues", listbox, "/qListObjectDef", [west], False)
            assert (await cb.call("GetLayout", kpi))["qLayout"]["total"] == 20

            await ca.call("SetScript", doc_a, SCRIPT_V2)
            assert (await ca.call("DoReload", doc_a))["qReturn"] is True
            await ca.call("DoSave", doc_a)
            took = await wait_push_with(cb, "change", kpi, INTERVAL + SLACK)
            assert took < INTERVAL + SLACK
            # the session object and its selection (by value: West is elsewhere in the new data) survived
            assert (await cb.call("GetLayout", kpi))["qLayout"]["total"] == 200
            layout = (await cb.call("GetLayout", listbox))["qLayout"]["qListObject"]
            states = {r[0]["qText"]: r[0]["qState"] for r in layout["qDataPages"][0]["qMatrix"]}
            assert states["West"] == "S" and "North" not in states and states["Atlantis"] == "X"

    run(scenario())


def test_deleted_app_closes_every_handle_on_the_other_engine(engine_factory):
    a, b = engines(engine_factory)

    async def scenario():
        async with Client.open(a.url()) as ca, Client.open(b.url()) as cb:
            await new_app(ca, "doomed", SCRIPT_V1)
            doc_b = (await cb.call("OpenDoc", -1, "doomed"))["qReturn"]["qHandle"]
            kpi = (await cb.call("CreateSessionObject", doc_b, TOTAL))["qReturn"]["qHandle"]
            assert (await ca.call("DeleteApp", -1, "doomed"))["qSuccess"] is True
            await wait_push_with(cb, "close", doc_b, INTERVAL + SLACK)
            assert (await cb.request("GetLayout", kpi))["error"]["code"] == -32602
            assert "doomed" not in b.call_soon(lambda: b.engine.apps.loaded)

    run(scenario())


def test_own_saves_are_not_read_back_and_unchanged_files_cost_one_stat(engine_factory, monkeypatch):
    a, b = engines(engine_factory)
    reads: list[str] = []
    real = store.read_versions

    def counting(path):
        reads.append(str(path))
        return real(path)

    monkeypatch.setattr(store, "read_versions", counting)

    async def scenario():
        async with Client.open(b.url()) as cb:
            doc_b = await new_app(cb, "mine")
            obj = (await cb.call("CreateObject", doc_b, {"qInfo": {"qId": "k", "qType": "note"}, "n": 1}))
            await cb.call("DoSave", doc_b)
            # an unsaved change on B must not be undone by B's own save being seen on disk
            await cb.call("SetProperties", obj["qReturn"]["qHandle"], {"qInfo": {"qId": "k", "qType": "note"},
                                                                       "n": 2})
            outcome = await asyncio.to_thread(poll, b)
            assert outcome.brought_in == [] and len(reads) == 1  # a new file: its meta rows, once
            outcome = await asyncio.to_thread(poll, b)
            assert outcome.brought_in == [] and len(reads) == 1  # unchanged: a stat only
            assert (await cb.call("GetLayout", obj["qReturn"]["qHandle"]))["qLayout"]["n"] == 2

    run(scenario())


SA_SCRIPT = """section access;
LOAD * inline [
ACCESS, USERID, REGION
ADMIN, admin, *
USER, bob, {region}
];
section application;
Sales:
LOAD * INLINE [
REGION, Amount
EAST, 1
WEST, 2
];
"""
REGIONS = {"qInfo": {"qType": "listbox"},
           "qListObjectDef": {"qDef": {"qFieldDefs": ["REGION"]},
                              "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 20}]}}


def test_section_access_of_the_new_version_applies(engine_factory):
    jwt = ("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")
    a, b = engines(engine_factory, *jwt)

    def auth(sub: str) -> dict[str, str]:
        return {"Authorization": bearer(mint({"sub": sub}))}

    async def regions(c: Client, doc: int) -> list[str]:
        obj = (await c.call("CreateSessionObject", doc, REGIONS))["qReturn"]["qHandle"]
        rows = (await c.call("GetLayout", obj))["qLayout"]["qListObject"]["qDataPages"][0]["qMatrix"]
        return sorted(r[0]["qText"] for r in rows)

    async def scenario():
        async with Client.open(a.url(), auth("admin")) as ca, Client.open(b.url(), auth("bob")) as cb:
            doc_a = await new_app(ca, "secure", SA_SCRIPT.format(region="EAST"))
            doc_b = (await cb.call("OpenDoc", -1, "secure"))["qReturn"]["qHandle"]
            assert await regions(cb, doc_b) == ["EAST"]
            await cb.call("GetAppLayout", doc_b)
            await ca.call("SetScript", doc_a, SA_SCRIPT.format(region="WEST"))
            assert (await ca.call("DoReload", doc_a))["qReturn"] is True
            await ca.call("DoSave", doc_a)
            await wait_push_with(cb, "change", doc_b, INTERVAL + SLACK)
            assert await regions(cb, doc_b) == ["WEST"]
            await cb.call("GetAppLayout", doc_b)
            # and a version without bob: his next call is refused
            await ca.call("SetScript", doc_a, SA_SCRIPT.format(region="WEST").replace("USER, bob", "USER, eve"))
            assert (await ca.call("DoReload", doc_a))["qReturn"] is True
            await ca.call("DoSave", doc_a)
            await wait_push_with(cb, "change", doc_b, INTERVAL + SLACK)
            assert (await cb.request("GetAppLayout", doc_b))["error"]["code"] == 5

    run(scenario())


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_polling_interval_must_be_positive(value):
    from engine.settings import SettingsError, parse_args

    with pytest.raises(SettingsError):
        parse_args(["-S", f"FilePollingInterval={value}"])
