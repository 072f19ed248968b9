"""Small-call round trips per second: many connections each looping ``GetLayout`` on a small session object
of their own, against a bare ``websockets`` echo server under uvloop answering a frame of the same size.

The engine (ValidateJsonWebTokens=0) and the echo server run in their own processes pinned to CPU 0. The
load is ``--clients`` processes pinned to CPU 1 (with the lean client of ``wsload.py`` under uvloop), which
together hold ``--connections`` sockets. On the engine, each socket gets a session of its own
(``/identity/<n>``), opens a session app and creates a small generic object: a static one (the protocol
path alone) or, in a second set of sockets, one with a ``qStringExpression`` (plus a small calculation);
then every socket sends ``GetLayout`` on it, waits for the reply, checks it and sends the next, for
``--seconds``. Against the echo server the same loop sends a JSON request padded to the size of the
engine's reply. Every reply is parsed. Rounds interleave the three sides.

Besides calls/s, the server's CPU time per call (``/proc/<pid>/stat``) and the CPU share of each core
are printed, which say what limited the run: a server near 100% of CPU 0 is the limit; the load near
100% of CPU 1 means the client was.

    python scripts/bench/roundtrip.py [--seconds 3] [--rounds 3] [--connections 50] [--clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvloop
from common import (
    LOAD_CPU,
    Figure,
    command,
    cpu_seconds,
    figure,
    free_port,
    machine_busy_seconds,
    medians,
    pin_cmd,
    start_engine,
    start_python,
    stop,
)
from wsload import WsClient

ECHO_SERVER = """
import asyncio, sys, uvloop
from websockets.asyncio.server import serve
async def handler(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None):
        await asyncio.Future()
uvloop.run(main())
"""

#: The session object each engine socket loops GetLayout on, by kind: a static one measures the protocol
#: path alone (dispatch, layout copy, JSON, socket), the expression one adds a small calculation.
OBJECTS = {
    "static": {"qInfo": {"qType": "bench-text"}, "text": "round 42"},
    "expression": {"qInfo": {"qType": "bench-text"}, "text": {"qStringExpression": {"qExpr": "='round ' & (20 + 22)"}}},
}
KINDS = ("static", "expression", "echo")


# --- load process (one of --clients), driven over stdin by the parent --------------------------------

class Looper:
    """One socket's request/reply loop, run from ``data_received`` with no task switch per call."""

    def __init__(self, client: WsClient, handle: int, pad_to: int) -> None:
        self.client, self.handle, self.pad_to = client, handle, pad_to
        self.rid = 0
        self.calls = 0
        self.deadline = 0.0
        self.done: asyncio.Future[None] | None = None
        self.waiter: asyncio.Future[dict] | None = None
        client.on_message = self._on_message

    def request(self, method: str, handle: int, params: list) -> bytes:
        self.rid += 1
        body = b'{"jsonrpc":"2.0","id":%d,"method":"%s","handle":%d,"params":%s' % (
            self.rid, method.encode(), handle, orjson.dumps(params))
        if self.pad_to:  # the echo side: the request comes back as the reply, as big as the engine's
            body += b',"pad":"' + b"x" * max(0, self.pad_to - len(body) - 10) + b'"'
        return body + b"}"

    async def call(self, method: str, handle: int, *params: object) -> dict:
        self.waiter = asyncio.get_running_loop().create_future()
        self.client.send(self.request(method, handle, list(params)))
        return await self.waiter

    def start(self, seconds: float) -> asyncio.Future[None]:
        self.calls = 0
        self.deadline = time.monotonic() + seconds
        self.done = asyncio.get_running_loop().create_future()
        self.client.send(self.request("GetLayout", self.handle, []))
        return self.done

    def _on_message(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        if msg.get("id") != self.rid:
            return  # a notification (OnConnected) or a push
        if "error" in msg:
            raise RuntimeError(msg["error"])
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(msg)
            return
        self.calls += 1
        if time.monotonic() < self.deadline:
            self.client.send(self.request("GetLayout", self.handle, []))
        elif self.done is not None and not self.done.done():
            self.done.set_result(None)


async def _connect(port: int, first: int, count: int, kind: str, pad_to: int) -> tuple[list[Looper], int]:
    loopers = []
    reply_size = 0
    for i in range(first, first + count):
        engine = kind != "echo"
        path = f"/app/engineData/identity/bench{kind}{i}" if engine else "/"
        looper = Looper(await WsClient.open("127.0.0.1", port, path), 0, pad_to)
        if engine:
            doc = (await looper.call("CreateSessionApp", -1))["result"]["qReturn"]["qHandle"]
            obj = (await looper.call("CreateSessionObject", doc, OBJECTS[kind]))["result"]["qReturn"]["qHandle"]
            looper.handle = obj
            layout = await looper.call("GetLayout", obj)
            assert layout["result"]["qLayout"]["text"] == "round 42", layout
            reply_size = len(orjson.dumps(layout))
        looper.waiter = None
        loopers.append(looper)
    return loopers, reply_size


async def _load(port: int, first: int, count: int, kind: str, pad_to: int) -> None:
    loopers, reply_size = await _connect(port, first, count, kind, pad_to)
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True, "reply_size": reply_size}), flush=True)
    while (line := (await loop.run_in_executor(None, sys.stdin.readline)).split()) and line[0] == "go":
        cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        await asyncio.gather(*(lp.start(float(line[1])) for lp in loopers))
        cpu1, elapsed = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
        cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
        print(json.dumps({"calls": sum(lp.calls for lp in loopers), "seconds": elapsed, "cpu": cpu}), flush=True)
    for lp in loopers:
        lp.client.close()
    await asyncio.gather(*(lp.client.closed for lp in loopers))


# --- parent ---------------------------------------------------------------------------------------------

class LoadGroup:
    """``clients`` load processes against one server, holding ``connections`` sockets between them."""

    def __init__(self, port: int, connections: int, clients: int, kind: str, pad_to: int = 0) -> None:
        self.procs = []
        share = [connections // clients + (i < connections % clients) for i in range(clients)]
        first = 0
        for count in share:
            cmd = [*pin_cmd(LOAD_CPU), sys.executable, __file__, "--load", str(port), str(first), str(count),
                   kind, str(pad_to)]
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            first += count
        self.reply_size = max(json.loads(self._line(p))["reply_size"] for p in self.procs)

    @staticmethod
    def _line(proc: subprocess.Popen) -> str:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load process exited with {proc.wait()}")
        return line

    def go(self, seconds: float) -> tuple[float, float, float]:
        """(calls, wall seconds, load CPU seconds) of one timed run over every process."""
        for p in self.procs:
            p.stdin.write(f"go {seconds}\n")
            p.stdin.flush()
        results = [json.loads(self._line(p)) for p in self.procs]
        return (sum(r["calls"] for r in results), max(r["seconds"] for r in results),
                sum(r["cpu"] for r in results))

    def close(self) -> None:
        for p in self.procs:
            p.stdin.write("quit\n")
            p.stdin.close()
        for p in self.procs:
            p.wait(30)


@dataclass
class Side:
    """Per round: calls/s, server CPU µs per call, server and load CPU shares of their cores."""

    rate: list[float]
    server_us: list[float]
    server_share: list[float]
    load_share: list[float]
    other_share: list[float]  # CPU used by everything else on the machine (cores' worth)


@dataclass
class Result:
    sides: dict[str, Side]  # by kind: "static", "expression" (engine objects), "echo"
    reply_size: int


def _timed(group: LoadGroup, pid: int, seconds: float, side: Side) -> None:
    cpu0, busy0 = cpu_seconds(pid), machine_busy_seconds()
    calls, wall, load = group.go(seconds)
    server, busy = cpu_seconds(pid) - cpu0, machine_busy_seconds() - busy0
    side.rate.append(calls / wall)
    side.server_us.append(1e6 * server / calls)
    side.server_share.append(server / wall)
    side.load_share.append(load / wall)
    side.other_share.append(max(0.0, busy - server - load) / wall)


def run(seconds: float = 3, rounds: int = 3, connections: int = 50, clients: int = 2) -> Result:
    sides = {kind: Side([], [], [], [], []) for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        eport, bport = free_port(), free_port()
        engine = start_engine(eport, Path(tmp), "ValidateJsonWebTokens=0")
        echo = start_python(ECHO_SERVER, bport)
        groups: dict[str, LoadGroup] = {}
        try:
            for kind in KINDS[:-1]:
                groups[kind] = LoadGroup(eport, connections, clients, kind)
            reply_size = max(g.reply_size for g in groups.values())
            groups["echo"] = LoadGroup(bport, connections, clients, "echo", reply_size)
            for g in groups.values():
                g.go(min(0.5, seconds))  # warm-up: first calls, caches, allocator
            for _ in range(rounds):  # interleave so machine noise hits every side alike
                for kind in KINDS:
                    _timed(groups[kind], echo.pid if kind == "echo" else engine.pid, seconds, sides[kind])
        finally:
            for g in groups.values():
                g.close()
            stop(engine, echo)
    return Result(sides, reply_size)


def limit(side: Side) -> str:
    """What held a side back: the core that was (nearly) saturated, if one was."""
    server, load = statistics.median(side.server_share), statistics.median(side.load_share)
    if server >= 0.9:
        return "server core"
    if load >= 0.9:
        return "load core"
    other = statistics.median(side.other_share)
    if other >= 0.3:
        return f"neither core saturated; other processes took {other:.1f} cores (contention)"
    return "neither core saturated (latency/scheduling)"


def describe(result: Result) -> str:
    def one(kind: str, side: Side) -> str:
        rounds = " / ".join(f"{rate:,.0f}" for rate in side.rate)
        return (f"{kind}: {rounds} calls/s by round; server {100 * statistics.median(side.server_share):.0f}% "
                f"of CPU 0, load {100 * statistics.median(side.load_share):.0f}% of CPU 1, other processes "
                f"{100 * statistics.median(side.other_share):.0f}% of a core → limit: {limit(side)}")
    return "; ".join(one(k, s) for k, s in result.sides.items()) + f"; reply {result.reply_size} B"


def figures(result: Result, args: list[object]) -> list[Figure]:
    med = {k: medians({"rate": s.rate, "us": s.server_us}) for k, s in result.sides.items()}
    cmd = command("roundtrip.py", *args)
    note = describe(result)
    base = "websockets+uvloop echo"
    out = []
    for kind, label in (("static", "static object"), ("expression", "qStringExpression object")):
        out.append(figure("roundtrip", f"GetLayout round trips/s, {label}", med[kind]["rate"], "/s", base,
                          med["echo"]["rate"], command=cmd, at_least=0.8, note=note))
        out.append(figure("roundtrip", f"server CPU per GetLayout, {label}", med[kind]["us"], "µs", base,
                          med["echo"]["us"], command=cmd))
    return out


def measure(quick: bool = False) -> list[Figure]:
    args = {"seconds": 0.5, "rounds": 1, "connections": 20} if quick else \
        {"seconds": 3, "rounds": 3, "connections": 50}
    result = run(args["seconds"], int(args["rounds"]), int(args["connections"]))
    return figures(result, [f"--{k}={v}" for k, v in args.items()])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        port, first, count, kind, pad_to = sys.argv[2:7]
        uvloop.run(_load(int(port), int(first), int(count), kind, int(pad_to)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--clients", type=int, default=2, help="load processes (all pinned to CPU 1)")
    args = parser.parse_args()
    result = run(args.seconds, args.rounds, args.connections, args.clients)
    for name, side in result.sides.items():
        m = medians({"rate": side.rate, "us": side.server_us, "s": side.server_share, "l": side.load_share})
        print(json.dumps({"server": name, "calls_per_s_median": round(m["rate"]),
                          "runs": [round(r) for r in side.rate], "server_cpu_us_per_call": round(m["us"], 1),
                          "server_cpu_share": round(m["s"], 3), "load_cpu_share": round(m["l"], 3),
                          "other_cpu_share": round(statistics.median(side.other_share), 3),
                          "limit": limit(side)}))
    echo = statistics.median(result.sides["echo"].rate)
    print(json.dumps({f"ratio_{kind}_over_echo": round(statistics.median(result.sides[kind].rate) / echo, 3)
                      for kind in KINDS[:-1]} | {"reply_bytes": result.reply_size}))


if __name__ == "__main__":
    main()
