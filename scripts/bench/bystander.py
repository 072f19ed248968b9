"""One user must never freeze everyone: a bystander's cached ``GetLayout`` latency while another user runs
hostile requests, against the same bystander on an idle engine in the same run.

The engine runs in its own process pinned to CPU 0 (``python -m engine``); this process, pinned to CPU 1,
holds two sockets in two sessions. The bystander loops ``GetLayout`` on a small hypercube whose layout the
engine has cached, one call at a time, and records each round trip. Meanwhile the hostile socket runs one
case for ``--seconds``, then the next:

* ``idle``: nothing (the baseline);
* ``huge strings``: ``Evaluate`` of ``Len(Repeat('x', 5e9))`` and of an 8-million-character ``&``, over
  and over;
* ``50-dimension cube``: ``GetLayout`` of a fresh 50-dimension hypercube over ``--rows`` rows, over and
  over (a new measure text each time, so nothing is cached);
* ``deep nested Aggr``: ``Evaluate`` of an Aggr nested five deep over the same rows, over and over;
* ``runaway DO WHILE``: a reload of ``DO WHILE 1=1 ... LOOP``, cancelled (``CancelReload``) at the end;
* ``WHILE IterNo huge``: a reload of ``AUTOGENERATE 1 WHILE IterNo() <= 1e9``, cancelled at the end.

It prints one table: per case the bystander's calls, median, p99 and worst latency, the ratios of p99 and
worst to the idle engine's, and whether the goal (worst under 100 ms) held, and what the hostile side got
back (so a case that failed fast is told from one that ran).

    python scripts/bench/bystander.py [--seconds 3] [--rows 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from common import LOAD_CPU, Figure, command, figure, free_port, pin_self, start_engine, stop
from websockets.asyncio.client import ClientConnection, connect

GOAL_MS = 100.0
BYSTANDER_SCRIPT = "B: LOAD RecNo() AS K, Mod(RecNo(), 7) AS G AUTOGENERATE 1000;"
BYSTANDER_CUBE = {"qInfo": {"qType": "bench"}, "qHyperCubeDef": {
    "qDimensions": [{"qDef": {"qFieldDefs": ["G"]}}], "qMeasures": [{"qDef": {"qDef": "Sum(K)"}}],
    "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}]}}
NESTED_AGGR = "Sum(Aggr(Max(Aggr(Sum(Aggr(Count(Aggr(Sum(F1), F1, F2)), F1, F3)), F1, F4)), F1, F5)) + {k}"


def hostile_script(rows: int) -> str:
    fields = ", ".join(["R AS F1"] + [f"Mod(R, {k + 1}) AS F{k}" for k in range(2, 51)])
    return f"T: LOAD R, {fields};\nLOAD RecNo() AS R AUTOGENERATE {rows};"


class Rpc:
    """One QIX socket: numbered requests, answers matched by id (pushes and notifications dropped)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = orjson.loads(raw)
            fut = self.waiting.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def send(self, method: str, handle: int = -1, *params: Any) -> asyncio.Future[dict]:
        rid = next(self.ids)
        fut: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        asyncio.ensure_future(self.ws.send(orjson.dumps(
            {"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle, "params": list(params)}).decode()))
        return fut

    async def call(self, method: str, handle: int = -1, *params: Any) -> dict:
        msg = await asyncio.wait_for(self.send(method, handle, *params), 600)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg["result"]


async def session_app(rpc: Rpc, script: str) -> int:
    doc = (await rpc.call("CreateSessionApp"))["qReturn"]["qHandle"]
    await rpc.call("SetScript", doc, script)
    if not (await rpc.call("DoReload", doc))["qReturn"]:
        raise RuntimeError("reload failed")
    return doc


@dataclass
class Case:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    hostile_calls: int = 0
    hostile_answer: str = ""

    def stat(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q * len(data)))]

    @property
    def worst(self) -> float:
        return max(self.latencies_ms, default=float("nan"))


async def bystander_loop(rpc: Rpc, handle: int, case: Case, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        layout = await rpc.call("GetLayout", handle)
        case.latencies_ms.append(1000 * (time.perf_counter() - t0))
        assert layout["qLayout"]["qHyperCube"]["qSize"]["qcy"] == 7
        await asyncio.sleep(0.002)  # a user clicking, not a flood: the engine's loop gets breaks


def _short(msg: dict) -> str:
    text = orjson.dumps(msg.get("error") or msg.get("result")).decode()
    return text if len(text) <= 90 else text[:87] + "..."


async def repeat(case: Case, stop_at: float, one: Callable[[int], Awaitable[dict]]) -> None:
    k = 0
    while time.monotonic() < stop_at:
        msg = await one(k)
        case.hostile_calls += 1
        case.hostile_answer = _short(msg)
        k += 1


async def runaway_reload(rpc: Rpc, doc: int, script: str, case: Case, stop_at: float) -> None:
    await rpc.call("SetScript", doc, script)
    reload = rpc.send("DoReload", doc)
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    cancelled_at = time.monotonic()
    await rpc.call("CancelReload")
    msg = await reload
    case.hostile_calls = 1
    case.hostile_answer = f"cancel answered in {1000 * (time.monotonic() - cancelled_at):.0f} ms: {_short(msg)}"


def hostile_cases(rpc: Rpc, doc: int) -> dict[str, Callable[[Case, float], Awaitable[None]]]:
    def huge_strings(case: Case, stop_at: float) -> Awaitable[None]:
        exprs = ("Len(Repeat('x', 5e9))", "Len(Repeat('x', 4e6) & Repeat('y', 4e6) & Repeat('z', 4e6))")
        return repeat(case, stop_at, lambda k: rpc.send("Evaluate", doc, exprs[k % 2]))

    async def cube(case: Case, stop_at: float) -> None:
        dims = [{"qDef": {"qFieldDefs": [f"F{i}"]}} for i in range(1, 51)]

        async def one(k: int) -> dict:
            definition = {"qInfo": {"qType": "hostile"}, "qHyperCubeDef": {
                "qDimensions": dims, "qMeasures": [{"qDef": {"qDef": f"Sum(R) + {k}"}}],
                "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 51, "qHeight": 100}]}}
            handle = (await rpc.call("CreateSessionObject", doc, definition))["qReturn"]["qHandle"]
            msg = await rpc.send("GetLayout", handle)
            await rpc.call("DestroySessionObject", doc, msg.get("result", {}).get("qLayout", {})
                           .get("qInfo", {}).get("qId", ""))
            return {"result": {"qSize": msg.get("result", {}).get("qLayout", {}).get("qHyperCube", {})
                               .get("qSize")}} if "result" in msg else msg

        await repeat(case, stop_at, one)

    def aggr(case: Case, stop_at: float) -> Awaitable[None]:
        return repeat(case, stop_at, lambda k: rpc.send("Evaluate", doc, NESTED_AGGR.format(k=k)))

    def do_while(case: Case, stop_at: float) -> Awaitable[None]:
        return runaway_reload(rpc, doc, "LET i = 0;\nDO WHILE 1 = 1\nLET i = i + 1;\nLOOP", case, stop_at)

    def while_iterno(case: Case, stop_at: float) -> Awaitable[None]:
        script = "W: LOAD IterNo() AS I AUTOGENERATE 1 WHILE IterNo() <= 1e9;"
        return runaway_reload(rpc, doc, script, case, stop_at)

    return {"huge strings": huge_strings, "50-dimension cube": cube, "deep nested Aggr": aggr,
            "runaway DO WHILE": do_while, "WHILE IterNo huge": while_iterno}


async def scenario(port: int, seconds: float, rows: int) -> list[Case]:
    base = f"ws://127.0.0.1:{port}/app/engineData/identity"
    async with connect(f"{base}/bystander", max_size=None) as bws, \
            connect(f"{base}/hostile", max_size=None) as hws:
        bystander, hostile = Rpc(bws), Rpc(hws)
        bdoc = await session_app(bystander, BYSTANDER_SCRIPT)
        handle = (await bystander.call("CreateSessionObject", bdoc, BYSTANDER_CUBE))["qReturn"]["qHandle"]
        hdoc = await session_app(hostile, hostile_script(rows))
        cases = [Case("idle")]
        await bystander_loop(bystander, handle, Case("warm-up"), time.monotonic() + min(1.0, seconds))
        stop_at = time.monotonic() + seconds
        await bystander_loop(bystander, handle, cases[0], stop_at)
        for name, run in hostile_cases(hostile, hdoc).items():
            case = Case(name)
            cases.append(case)
            stop_at = time.monotonic() + seconds
            await asyncio.gather(bystander_loop(bystander, handle, case, stop_at), run(case, stop_at))
            await asyncio.sleep(0.2)  # let a cancelled reload's thread finish before the next case
        bystander.reader.cancel()
        hostile.reader.cancel()
    return cases


def run(seconds: float = 3, rows: int = 100_000) -> list[Case]:
    pin_self(LOAD_CPU)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        engine = start_engine(port, Path(tmp))
        try:
            return asyncio.run(scenario(port, seconds, rows))
        finally:
            stop(engine)


def table(cases: list[Case]) -> str:
    idle = cases[0]
    head = (f"{'case':<20} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'worst ms':>9} {'p99/idle':>9} "
            f"{'worst/idle':>10} {'< 100 ms':>8}  hostile side")
    lines = [head, "-" * len(head)]
    for c in cases:
        p50, p99 = statistics.median(c.latencies_ms) if c.latencies_ms else float("nan"), c.stat(0.99)
        goal = "yes" if c.worst < GOAL_MS else "NO"
        lines.append(f"{c.name:<20} {len(c.latencies_ms):>6} {p50:>8.1f} {p99:>8.1f} {c.worst:>9.1f} "
                     f"{p99 / idle.stat(0.99):>9.1f} {c.worst / idle.worst:>10.1f} {goal:>8}  "
                     f"{c.hostile_calls} calls; {c.hostile_answer}")
    return "\n".join(lines)


def figures(cases: list[Case], args: list[object]) -> list[Figure]:
    idle = cases[0]
    cmd = command("bystander.py", *args)
    out = []
    for c in cases[1:]:
        note = f"goal: worst < {GOAL_MS:g} ms; worst {c.worst:.1f} ms; hostile: {c.hostile_calls} calls"
        out.append(figure("bystander", f"bystander GetLayout p99 while {c.name}", c.stat(0.99), "ms",
                          "same bystander, idle engine", idle.stat(0.99), command=cmd, note=note))
    return out


def measure(quick: bool = False) -> list[Figure]:
    args = {"seconds": 1.0, "rows": 20_000} if quick else {"seconds": 3.0, "rows": 100_000}
    cases = run(args["seconds"], int(args["rows"]))
    print(table(cases), file=sys.stderr)
    return figures(cases, [f"--{k}={v:g}" for k, v in args.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3, help="how long each case runs")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the hostile user's 50-field table")
    args = parser.parse_args()
    print(table(run(args.seconds, args.rows)))


if __name__ == "__main__":
    main()
