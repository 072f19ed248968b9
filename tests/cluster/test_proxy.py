"""The cluster as deployed: real HAProxy (deploy/haproxy/haproxy.cfg) in front of three real engine
processes sharing one folder, driven over real sockets on 127.0.0.1 (scripts/cluster.py starts it)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.cluster.conftest import HAPROXY_AVAILABLE, Cluster
from tests.harness import REPO, Client
from tests.jwt_keys import SECRET, bearer, mint

INTERVAL = 1.0  # FilePollingInterval of the engines

pytestmark = pytest.mark.skipif(not HAPROXY_AVAILABLE, reason="needs haproxy (apt-get install haproxy)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Any]:
    with Cluster(engines=3, document_dir=tmp_path_factory.mktemp("apps"), polling_interval=INTERVAL,
                 check_interval=0.25,
                 settings=("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")) as c:
        yield c


def auth(sub: str) -> dict[str, str]:
    return {"Authorization": bearer(mint({"sub": sub}))}


def run(coro: Any, timeout: float = 120) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def engine_of(url: str, headers: dict[str, str]) -> str:
    """Which engine the proxy sends this handshake to (even when that engine refuses it)."""
    try:
        async with connect(url, additional_headers=headers) as ws:
            assert ws.response is not None
            return ws.response.headers["X-Qix-Engine"]
    except InvalidStatus as err:
        return err.response.headers["X-Qix-Engine"]


async def subs_on(cluster: Any, prefix: str) -> dict[str, str]:
    """A user per engine: engine name → a sub the proxy sends there."""
    found: dict[str, str] = {}
    for i in range(200):
        sub = f"{prefix}{i}"
        name = await engine_of(cluster.url + "/app/engineData", auth(sub))
        found.setdefault(name, sub)
        if len(found) == len(cluster.members):
            return found
    raise AssertionError(f"no user found for every engine: {found}")


def test_one_user_always_reaches_one_engine_and_one_session(cluster):
    async def scenario():
        url = cluster.url + "/app/engineData"
        async with connect(url, additional_headers=auth("alice")) as first:
            hello = orjson.loads(await first.recv())
            assert hello["params"]["qSessionState"] == "SESSION_CREATED" and first.response is not None
            home = first.response.headers["X-Qix-Engine"]
            seen = collections.Counter()
            limit = asyncio.Semaphore(20)

            async def again() -> None:
                async with limit, connect(url, additional_headers=auth("alice")) as ws:
                    state = orjson.loads(await ws.recv())["params"]["qSessionState"]
                    assert ws.response is not None
                    seen[(ws.response.headers["X-Qix-Engine"], state)] += 1

            await asyncio.gather(*(again() for _ in range(1000)))
            assert seen == {(home, "SESSION_ATTACHED"): 1000}

    run(scenario())


def test_distinct_users_spread_evenly(cluster):
    async def scenario():
        counts = collections.Counter()
        limit = asyncio.Semaphore(25)

        async def one(n: int) -> None:
            async with limit:
                counts[await engine_of(cluster.url + "/app/engineData", auth(f"user-{n}"))] += 1

        await asyncio.gather(*(one(n) for n in range(1000)))
        return counts

    counts = run(scenario())
    assert sorted(counts) == ["engine1", "engine2", "engine3"]
    even = 1000 / 3
    assert all(0.75 * even <= c <= 1.25 * even for c in counts.values()), counts


def test_without_token_the_session_header_or_identity_routes(cluster):
    async def scenario():
        url = cluster.url + "/app/engineData"
        by_header = {await engine_of(url, {"X-Qlik-Session": "sess-42"}) for _ in range(30)}
        by_identity = {await engine_of(cluster.url + "/app/sales/identity/bob", {}) for _ in range(30)}
        # the identity decides, not the app: both sessions of bob are on one engine
        other_app = await engine_of(cluster.url + "/app/other/identity/bob/ttl/5", {})
        spread = {await engine_of(cluster.url + f"/app/sales/identity/u{n}", {}) for n in range(30)}
        return by_header, by_identity, other_app, spread

    by_header, by_identity, other_app, spread = run(scenario())
    assert len(by_header) == 1 and len(by_identity) == 1 and {other_app} == by_identity
    assert len(spread) == 3


SCRIPT = "Sales: LOAD RecNo() as Id, {k} * RecNo() as Amount AUTOGENERATE 100;"
KPI = {"qInfo": {"qType": "kpi"}, "total": {"qValueExpression": {"qExpr": "Sum(Amount)"}}}


def test_reload_through_one_engine_reaches_a_user_on_another_within_the_interval(cluster):
    async def scenario():
        subs = await subs_on(cluster, "sync-")
        (admin_engine, admin), (_, user) = list(subs.items())[:2]
        async with Client.open(cluster.url + "/app/engineData", auth(admin)) as ca, \
                Client.open(cluster.url + "/app/engineData", auth(user)) as cu:
            assert ca.ws.response.headers["X-Qix-Engine"] != cu.ws.response.headers["X-Qix-Engine"]
            await ca.call("CreateApp", -1, "shared")
            doc_a = (await ca.call("OpenDoc", -1, "shared"))["qReturn"]["qHandle"]
            await ca.call("SetScript", doc_a, SCRIPT.format(k=1))
            assert (await ca.call("DoReload", doc_a))["qReturn"] is True
            await ca.call("DoSave", doc_a)
            doc_u = (await cu.call("OpenDoc", -1, "shared"))["qReturn"]["qHandle"]
            kpi = (await cu.call("CreateSessionObject", doc_u, KPI))["qReturn"]["qHandle"]
            assert (await cu.call("GetLayout", kpi))["qLayout"]["total"] == 5050
            await ca.call("SetScript", doc_a, SCRIPT.format(k=2))
            assert (await ca.call("DoReload", doc_a))["qReturn"] is True
            await ca.call("DoSave", doc_a)
            saved = time.monotonic()
            while kpi not in (await cu.wait_push(INTERVAL + 1 - (time.monotonic() - saved))).get("change", []):
                pass
            took = time.monotonic() - saved
            assert (await cu.call("GetLayout", kpi))["qLayout"]["total"] == 10100
            assert took < INTERVAL + 1
            print(f"\nreload on {admin_engine} seen by a user on another engine after {took:.2f} s")

    run(scenario())


def healthcheck(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


SLOW = "T: LOAD RecNo() as A, Mod(RecNo(), 977) as B, 'x' & Mod(RecNo(), 5003) as C AUTOGENERATE {rows};"


def test_drained_engine_finishes_open_requests_and_the_proxy_sends_users_elsewhere(cluster):
    async def scenario():
        subs = await subs_on(cluster, "drain-")
        name, sub = next(iter(subs.items()))
        i = cluster.index_of(name)
        async with Client.open(cluster.url + "/app/engineData", auth(sub)) as c:
            doc = (await c.call("CreateSessionApp", -1))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, SLOW.format(rows=3_000_000))
            reload = asyncio.ensure_future(c.request("DoReload", doc))
            await asyncio.sleep(0.3)
            assert not reload.done()
            cluster.drain(i)
            deadline = time.monotonic() + 2
            while healthcheck(cluster.members[i].port) != 503:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            # the draining engine refuses new sockets itself...
            with pytest.raises(InvalidStatus) as refused:
                async with connect(cluster.engine_url(i) + "/app/engineData", additional_headers=auth(sub)):
                    pass
            assert refused.value.response.status_code == 503
            # ...and a new socket for this user through the proxy lands on another engine
            async with connect(cluster.url + "/app/engineData", additional_headers=auth(sub)) as ws:
                assert orjson.loads(await ws.recv())["method"] == "OnConnected"
                assert ws.response.headers["X-Qix-Engine"] != name
            # the open request is answered, then the socket closes with 1001
            assert (await asyncio.wait_for(reload, 60))["result"]["qReturn"] is True
            await asyncio.wait_for(c.ws.wait_closed(), 30)
            assert c.ws.close_code == 1001
        assert cluster.members[i].proc.wait(30) == 0
        assert sorted(cluster.wait_servers(2)) == sorted(m.name for m in cluster.members if m.name != name)

    try:
        run(scenario())
    finally:
        restart(cluster)


def restart(cluster: Any) -> None:
    """Bring the cluster back to full strength for the next test."""
    for i, m in enumerate(cluster.members):
        if m.alive and healthcheck(m.port) != 200:  # still draining
            with contextlib.suppress(subprocess.TimeoutExpired):
                m.proc.wait(40)
            cluster.kill(i)
        if not m.alive:
            cluster.start_engine(i)
            cluster.wait_engine(i)
    cluster.wait_servers(len(cluster.members))


def test_killed_engine_under_load_users_reconnect_elsewhere_and_nothing_saved_is_lost(cluster):
    """scripts/loadtest.py through the proxy with --reconnect; one engine is killed (-9) mid-run."""
    async def save_on_victim() -> tuple[int, str]:
        subs = await subs_on(cluster, "victim-")
        name, sub = next(iter(subs.items()))
        async with Client.open(cluster.url + "/app/engineData", auth(sub)) as c:
            await c.call("CreateApp", -1, "kept")
            doc = (await c.call("OpenDoc", -1, "kept"))["qReturn"]["qHandle"]
            for n in range(5):
                await c.call("CreateObject", doc, {"qInfo": {"qId": f"saved-{n}", "qType": "note"}, "n": n})
            await c.call("DoSave", doc)
        return cluster.index_of(name), sub

    victim, sub = run(save_on_victim())
    load = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "loadtest.py"), "--url", cluster.url, "--users", "30",
         "--duration", "12", "--ramp-up", "2", "--think", "0.2", "--secret", SECRET, "--reconnect", "--json", "--timeout", "20"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        killed_at = time.monotonic()
        cluster.kill(victim)
        out, err = load.communicate(timeout=90)
    finally:
        if load.poll() is None:
            load.kill()
    summary = json.loads(out)
    try:
        assert summary["users_failed"] == 0, (summary["errors"], err[-2000:])
        assert summary["reconnects"]["count"] >= 1
        assert summary["requests"] > 0

        async def check_saved() -> float:
            async with Client.open(cluster.url + "/app/engineData", auth(sub)) as c:
                assert c.ws.response.headers["X-Qix-Engine"] != cluster.members[victim].name
                doc = (await c.call("OpenDoc", -1, "kept"))["qReturn"]["qHandle"]
                ids = {i["qId"] for i in (await c.call("GetAllInfos", doc))["qInfos"]}
                assert {f"saved-{n}" for n in range(5)} <= ids
            return time.monotonic() - killed_at

        run(check_saved())
        errors = sum(summary["errors"].values()) + sum(summary["handshakes"]["refused"].values())
        print(f"\nkill -9 of {cluster.members[victim].name} under load: {summary['requests']} requests, "
              f"{errors} errors ({summary['errors']}, refused {summary['handshakes']['refused']}), "
              f"{summary['reconnects']['count']} reconnects, p50 {summary['reconnects']['p50_ms']} ms, "
              f"max {summary['reconnects']['max_ms']} ms; users that could not go on: {summary['users_failed']}")
    finally:
        restart(cluster)
