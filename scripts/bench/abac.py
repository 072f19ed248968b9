"""ABAC cost per request: a decision against 200 rules, next to what a cached ``GetLayout`` costs the server.

The baseline is the engine (ValidateJsonWebTokens=0, pinned to CPU 0) answering ``GetLayout`` on a small
static session object, one request at a time over one socket from this process (pinned to CPU 1): the
server's CPU time per call (``/proc/<pid>/stat``) and the round trip seen by the client. A check runs on
the engine's core for every request, so its cost is compared with the server CPU per call; both sides
are CPU time, and rounds alternate the two, so other load on the machine colours neither more.

The policy has 200 allow rules and 10 deny rules: 120 about roles (``user.roles = "r17" and ...``), 60
about the resource alone (object types, owners, names with ``like`` and ``matches``), 20 mixing both, plus
a ``HasPrivilege`` rule. Reported, per check:

* cached decision: ``UserPolicy.decide(resource, action)`` once the session's policy has seen that
  resource (what a session pays per request in the steady state);
* a new resource: the whole rule pass for one (user, resource) pair, the cost of a first check;
* a new resource, nothing folded: the same with 200 rules none of which the user's claims decide;
* session start: compiling the 210 rules for a new user's claims (once per session);
* the whole dispatch check as wired: a second engine with ``EnableABAC=1`` and the same rules (plus one
  letting the bench's user read) answering the same GetLayouts; its extra server CPU per call (table
  lookup, resource built from the handle, the session policy's decision, ``qMeta.privileges``).

    python scripts/bench/abac.py [--calls 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import uvloop
from common import LOAD_CPU, Figure, command, cpu_seconds, figure, free_port, pin_self, start_engine, stop
from wsload import WsClient

from engine.app.abac import Policy, UserPolicy
from engine.app.rules import Resource

OBJECT = {"qInfo": {"qType": "bench-text"}, "text": "round 42"}
TYPES = ("sheet", "barchart", "table", "kpi", "map", "filterpane", "linechart", "pivot", "text", "combo")


def policy_text() -> tuple[str, str]:
    allow: list[str] = []
    for i in range(120):
        allow.append(f'user.roles = "r{i}" and resource._resourcetype = "App.Object" and '
                     f'resource._objecttype = "{TYPES[i % 10]}" and resource._actions = {{"read", "update"}}')
    for i in range(60):
        kind = i % 3
        if kind == 0:
            allow.append(f'resource._objecttype = "{TYPES[i % 10]}{i}" and resource.owner = user and '
                         'resource._actions = "delete"')
        elif kind == 1:
            allow.append(f'resource.name like "report-{i}-*" and resource.app.owner = user and '
                         'resource._actions = "export data"')
        else:
            allow.append(f'resource.description matches "draft-{i}-[0-9]+" and resource._actions = "update"')
    for i in range(19):
        allow.append(f'(user.country = "c{i}" or user.roles = "editor") and resource.app.name like "sales-{i}*" '
                     'and resource._actions = {"read", "create"}')
    allow.append('resource._resourcetype = "App.Object" and resource.HasPrivilege("read") and '
                 'resource._actions = "update"')
    deny = [f'user.blocked = true and user.country = "c{i}" and resource._actions = "*"' for i in range(10)]
    return "\n".join(allow) + "\n", "\n".join(deny) + "\n"


def unfoldable_text() -> str:
    """200 rules that only the resource decides: nothing folds away for any user."""
    return "".join(f'resource._objecttype = "{TYPES[i % 10]}" and resource.name like "n{i}*" and '
                   f'resource.owner = "o{i}" and resource._actions = "read"\n' for i in range(200))


#: lets the bench's anonymous user (JWT off: ``Personal\\Me``) read and create, so every GetLayout passes
#: the dispatch check after the other 210 rules were asked
WIRED_RULE = 'resource._resourcetype = {"App", "App.Object"} and resource._actions = {"read", "create"}\n'

CLAIMS = {"sub": "ada", "roles": ["r3", "r13", "editor"], "country": "c4", "custom": {"region": "north"}}


def resources(count: int, salt: str = "") -> list[Resource]:
    """Objects of 10 apps; every name and description is new for each ``salt``, so no pattern has seen
    it (a first check of each resource, for the first user)."""
    apps = [Resource.for_app(f"app-{i}", f"sales-{i % 20}", "ada") for i in range(10)]
    return [Resource.for_object(apps[i % 10], f"obj-{i}", TYPES[i % 10], f"report-{i % 60}-x{salt}{i}", "ada",
                                f"draft-{i % 60}-1{salt}{i}") for i in range(count)]


# --- the rules side --------------------------------------------------------------------------------------

def cpu_per_call(fn: Callable[[Resource], object], items: list[Resource]) -> float:
    """CPU seconds of this thread per item over one pass (CPU time, like the server's figure: time spent
    waiting for a core shared with other processes is not counted on either side)."""
    t0 = time.thread_time()
    for item in items:
        fn(item)
    return (time.thread_time() - t0) / len(items)


def rules_side(salt: str) -> dict[str, float]:
    """One measurement of each rules figure (seconds)."""
    allow, deny = policy_text()
    policy = Policy.from_text(allow, deny)
    assert len(policy.allow_rules) == 200 and len(policy.deny_rules) == 10
    user = policy.for_user(CLAIMS)
    sample = resources(4, salt + "check-")[3]
    assert user.allowed_actions(sample) == {"read", "update", "create"}, user.allowed_actions(sample)

    def fresh(resource: Resource, user: UserPolicy = user) -> None:
        user._evaluate(resource)  # the rule pass alone, past the cache (private: there is no other way in)

    wide = Policy.from_text(unfoldable_text()).for_user(CLAIMS)

    def fresh_wide(resource: Resource) -> None:
        wide._evaluate(resource)

    def cached(resource: Resource) -> None:
        user.decide(resource, "read")

    opened = resources(500, salt + "opened-")  # the objects a session works with: within its cache
    for r in opened:
        user.decide(r, "read")

    sessions = [dict(CLAIMS, sub=f"user{i}") for i in range(50)]
    fresh_policy = Policy.from_text(allow, deny)  # parsed once per file version, not per session
    t0 = time.thread_time()
    for claims in sessions:
        fresh_policy.for_user(claims)
    session = (time.thread_time() - t0) / len(sessions)
    return {
        # texts never seen before by any pattern: a first check in the worst case
        "fresh": cpu_per_call(fresh, resources(2000, salt + "fresh-")),
        "fresh_wide": cpu_per_call(fresh_wide, resources(2000, salt + "wide-")),
        "cached": cpu_per_call(cached, opened),
        "session": session,
        "rules_left": float(user.rule_count),
    }


# --- the engine side -------------------------------------------------------------------------------------

async def getlayout_loop(port: int, calls: int, pid: int) -> tuple[float, float]:
    """(server CPU seconds per call, client round-trip seconds per call) for sequential cached GetLayouts."""
    client = await WsClient.open("127.0.0.1", port, "/app/engineData/identity/abacbench")
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[dict] | None = None
    rid = 0

    def on_message(payload: bytes) -> None:
        msg = orjson.loads(payload)
        if waiter is not None and not waiter.done() and msg.get("id") == rid:
            waiter.set_result(msg)

    client.on_message = on_message

    async def call(method: str, handle: int, *params: object) -> dict:
        nonlocal waiter, rid
        rid += 1
        waiter = loop.create_future()
        client.send(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle,
                                  "params": list(params)}))
        return await waiter

    doc = (await call("CreateSessionApp", -1))["result"]["qReturn"]["qHandle"]
    obj = (await call("CreateSessionObject", doc, OBJECT))["result"]["qReturn"]["qHandle"]
    for _ in range(200):  # warm: caches, allocator
        assert (await call("GetLayout", obj))["result"]["qLayout"]["text"] == "round 42"
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for _ in range(calls):
        await call("GetLayout", obj)
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    client.close()
    await client.closed
    return cpu / calls, wall / calls


# --- report ----------------------------------------------------------------------------------------------

def run(calls: int, rounds: int) -> dict[str, float]:
    """Rounds alternate the engine and the rules so machine load hits both alike; medians of each."""
    pin_self(LOAD_CPU)
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        allow, deny = policy_text()
        (Path(tmp) / "allow.txt").write_text(allow + WIRED_RULE)
        (Path(tmp) / "deny.txt").write_text(deny)
        (Path(tmp) / "off").mkdir()
        (Path(tmp) / "on").mkdir()
        port, port_on = free_port(), free_port()
        proc = start_engine(port, Path(tmp) / "off", "ValidateJsonWebTokens=0")
        proc_on = start_engine(port_on, Path(tmp) / "on", "ValidateJsonWebTokens=0", "EnableABAC=1",
                               f"SystemAllowRulePath={Path(tmp) / 'allow.txt'}",
                               f"SystemDenyRulePath={Path(tmp) / 'deny.txt'}")
        try:
            for n in range(rounds):
                server_cpu, round_trip = uvloop.run(getlayout_loop(port, calls, proc.pid))
                on_cpu, on_trip = uvloop.run(getlayout_loop(port_on, calls, proc_on.pid))
                runs.append(rules_side(f"r{n}-") | {"server_cpu": server_cpu, "round_trip": round_trip,
                                                     "wired": max(on_cpu - server_cpu, 0.0),
                                                     "round_trip_on": on_trip})
        finally:
            stop(proc)
            stop(proc_on)
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def figures(result: dict[str, float], args: list[object]) -> list[Figure]:
    cmd = command("abac.py", *args)
    base = "server CPU per cached GetLayout"
    us = {k: v * 1e6 for k, v in result.items() if k != "rules_left"}
    note = (f"200 allow + 10 deny rules, {result['rules_left']:.0f} left once the user's claims are folded in; "
            f"client round trip {us['round_trip']:.0f} µs")
    return [
        figure("abac", "cached decision (steady state per request)", us["cached"], "µs", base, us["server_cpu"],
               command=cmd, at_most=0.05, note=note),
        figure("abac", "decision for a new resource, 200 rules", us["fresh"], "µs", base, us["server_cpu"],
               command=cmd, note="once per session and object (or after it changes); then the cached decision"),
        figure("abac", "decision for a new resource, 200 rules none folded", us["fresh_wide"], "µs", base,
               us["server_cpu"], command=cmd, note="every rule depends on the resource"),
        figure("abac", "whole dispatch check (EnableABAC=1 minus 0, server CPU per GetLayout)", us["wired"], "µs",
               base, us["server_cpu"], command=cmd, at_most=0.05,
               note=f"211 rules; round trip {us['round_trip_on']:.0f} µs with ABAC, {us['round_trip']:.0f} without"),
        figure("abac", "compiling 210 rules for a new session's user", us["session"], "µs", base,
               us["server_cpu"], command=cmd, note="once per session; parsing excluded (once per file change)"),
    ]


def measure(quick: bool = False) -> list[Figure]:
    args = {"calls": 500, "rounds": 1} if quick else {"calls": 3000, "rounds": 3}
    return figures(run(args["calls"], args["rounds"]), [f"--{k}={v}" for k, v in args.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(args.calls, args.rounds)
    for fig in figures(result, [f"--calls={args.calls}", f"--rounds={args.rounds}"]):
        print(json.dumps({"name": fig.name, "ours_us": round(fig.ours, 3), "baseline_us": round(fig.baseline_value, 1),
                          "ratio": round(fig.ratio, 4), "target": fig.target, "met": fig.met}, ensure_ascii=False))


if __name__ == "__main__":
    main()
