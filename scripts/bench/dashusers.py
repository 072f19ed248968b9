"""Dashboards over sockets: the 8-object dashboard of ``dashboard.py`` served by ``python -m engine`` to
simulated users, each case beside its baseline in the same run.

The app is written once from generated arrays (``dashboard.build``) into a temporary DocumentDirectory and
opened by every user (``OpenDoc``); each user creates the 8 objects as session objects. A dashboard step is
one click in the Region filter pane (``SelectListObjectValues``) and then every object's ``GetLayout`` sent
at once, as a client does after a change (each layout carries its first page). The engine is not pinned
(it has both cores); the users run in this process. Cases:

* ``shared``: 50 users, no think time, distinct selection sequences (every step a state nobody saw) against
  50 users replaying 10 shared states: dashboards/s of each and the ratio (target ≥ 10);
* ``think``: 50 users in distinct states, think time 1 s (0.5-1.5 s): dashboard latency p50/p95 (target
  p95 < 1 s on 2 cores);
* ``bystander``: one session's cached ``GetLayout`` (the view's last layout, and a shared-cache hit after a
  selection) while another session computes uncached hypercubes over every fact row, against the same
  calls on the idle engine (target: within 5 ms);
* ``parallel``: one user's cold dashboard with the 8 layouts sent at once against the same sent one after
  another (each waiting for the previous answer): below 1 when independent objects compute on both cores.

    python scripts/bench/dashusers.py --rows 10000000 [--cases shared,think,bystander,parallel]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bystander import Rpc
from common import Figure, command, cpu_seconds, figure, free_port, start_engine, stop
from dashboard import CUBES, LISTS, NCAT, NREGION, build
from websockets.asyncio.client import connect

from engine.app import store

APP = "dashboard"
OBJECTS = [{"qInfo": {"qType": "chart"}, "qHyperCubeDef": c} for c in CUBES] + [
    {"qInfo": {"qType": "filterpane"}, "qListObjectDef": li} for li in LISTS
]
REGION_PANE, CATEGORY_PANE, YEAR_PANE = 5, 6, 7
#: every singleton and pair of regions: the Region selections a distinct user steps through
REGION_SETS = [[r] for r in range(NREGION)] + [list(p) for p in itertools.combinations(range(NREGION), 2)]


def write_app(rows: int, directory: Path) -> float:
    """Write the dashboard app with ``rows`` fact rows; returns the model's bytes per fact row."""
    model, _arrays = build(rows)
    store.save(store.document_path(directory, APP), store.AppDocument(APP, APP, model=model))
    return sum(c.nbytes for t in model.tables.values() for c in t.columns.values()) / rows


class User:
    """One socket, one session: the app open and the dashboard's 8 session objects."""

    def __init__(self, rpc: Rpc, handles: list[int]) -> None:
        self.rpc = rpc
        self.handles = handles

    @classmethod
    async def open(cls, port: int, name: str, stack: list[Any]) -> User:
        ws = await connect(
            f"ws://127.0.0.1:{port}/app/{APP}/identity/{name}",
            max_size=None,
            compression=None,
            open_timeout=120,
            ping_interval=None,
        )
        stack.append(ws)
        rpc = Rpc(ws)
        doc = (await rpc.call("OpenDoc", -1, APP))["qReturn"]["qHandle"]
        handles = [(await rpc.call("CreateSessionObject", doc, o))["qReturn"]["qHandle"] for o in OBJECTS]
        return cls(rpc, handles)

    async def select(self, pane: int, values: list[int]) -> None:
        await self.rpc.call("SelectListObjectValues", self.handles[pane], "/qListObjectDef", values, False)

    async def layouts(self, at_once: bool = True) -> list[dict]:
        if at_once:
            return list(await asyncio.gather(*(self.rpc.call("GetLayout", h) for h in self.handles)))
        return [await self.rpc.call("GetLayout", h) for h in self.handles]

    async def step(self, regions: list[int], at_once: bool = True) -> float:
        """One click and the whole dashboard; seconds from the click to the last layout."""
        t0 = time.perf_counter()
        await self.select(REGION_PANE, regions)
        out = await self.layouts(at_once)
        elapsed = time.perf_counter() - t0
        kpi = out[0]["qLayout"]["qHyperCube"]["qDataPages"][0]["qMatrix"][0][0]
        assert kpi["qNum"] != "NaN", "the KPI did not compute"
        return elapsed


async def open_users(port: int, n: int, prefix: str, stack: list[Any]) -> list[User]:
    users = []
    for i in range(0, n, 10):  # a few at a time: 50 sockets opening at once would time the handshakes
        users += await asyncio.gather(
            *(User.open(port, f"{prefix}{u}", stack) for u in range(i, min(n, i + 10)))
        )
    return users


async def close_all(stack: list[Any]) -> None:
    for ws in stack:
        await ws.close()
    stack.clear()


def pct(xs: list[float], q: float) -> float:
    data = sorted(xs)
    return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")


@dataclass
class LoadRun:
    """A closed-loop (or thinking) run of many users: dashboards done and their latencies."""

    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    engine_cpu: float = 0.0
    client_cpu: float = 0.0
    repeats: int = 0  # steps that revisited a state of the run (distinct runs must have none)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def load_run(
    port: int,
    engine_pid: int,
    name: str,
    users: int,
    seconds: float,
    shared_states: int | None,
    think: float,
    seed: int,
) -> LoadRun:
    """``users`` users stepping until ``seconds`` pass. ``shared_states``: every user starts in the same
    Category/Year and steps through that many Region states (shared by all); None: user u starts in its own
    Category/Year and steps through Region sets nobody else visits."""
    stack: list[Any] = []
    run = LoadRun(name)
    try:
        pool = await open_users(port, users, f"{name.replace(' ', '-')}-{seed}-", stack)
        for u, user in enumerate(pool):  # the starting state (not timed)
            category, year = (0, 0) if shared_states else (u % NCAT, (u // NCAT) % 2)
            await user.select(CATEGORY_PANE, [category])
            await user.select(YEAR_PANE, [year])
        rng = random.Random(seed)
        seen: set[tuple] = set()
        cpu0, own0, t0 = cpu_seconds(engine_pid), time.process_time(), time.perf_counter()
        deadline = t0 + seconds

        async def loop(u: int, user: User) -> None:
            for k in itertools.count():
                if time.perf_counter() >= deadline:
                    return
                if shared_states:
                    regions = [(u + k) % shared_states]
                    state: tuple = (0, 0, regions[0])
                else:
                    regions = REGION_SETS[(k + u) % len(REGION_SETS)]
                    state = (u % NCAT, (u // NCAT) % 2, tuple(regions))
                if state in seen and not shared_states:
                    run.repeats += 1
                seen.add(state)
                run.latencies.append(await user.step(regions))
                if think:
                    await asyncio.sleep(
                        min(think * rng.uniform(0.5, 1.5), max(0.0, deadline - time.perf_counter()))
                    )

        await asyncio.gather(*(loop(u, user) for u, user in enumerate(pool)))
        run.seconds = time.perf_counter() - t0
        run.engine_cpu = cpu_seconds(engine_pid) - cpu0
        run.client_cpu = time.process_time() - own0
    finally:
        await close_all(stack)
    return run


@dataclass
class Bystander:
    """Latencies (ms) of one kind of small request, idle and while another session computes."""

    name: str
    idle: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    heavy: list[float] = field(default_factory=list)  # the heavy session's layouts (ms)


HEAVY_CUBE = {
    "qDimensions": [{"qDef": {"qFieldDefs": ["ProdID"]}}, {"qDef": {"qFieldDefs": ["Month"]}}],
    "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 20}],
}


async def bystander_case(port: int, seconds: float) -> list[Bystander]:
    """A bystander's cached GetLayout, answered (a) from its view's last layout and (b) from the shared
    cache after it re-selects a state computed before, on the idle engine and while another session
    computes uncached ``ProdID × Month`` cubes over every fact row, one after another."""
    stack: list[Any] = []
    view, shared = Bystander("view's last layout"), Bystander("shared-cache hit after a selection")
    try:
        by, heavy = await open_users(port, 2, "bystander-", stack)
        for r in (0, 1):  # both states computed once: later layouts in them are cache hits
            await by.step([r])
        doc = (await heavy.rpc.call("OpenDoc", -1, APP))["qReturn"]["qHandle"]

        async def probe(
            out: Callable[[], list[float]], out2: Callable[[], list[float]], until: float
        ) -> None:
            r = 0
            while time.perf_counter() < until:
                t = time.perf_counter()
                await by.rpc.call("GetLayout", by.handles[0])  # unchanged: the view's layout
                out().append(1000 * (time.perf_counter() - t))
                r ^= 1
                await by.select(REGION_PANE, [r])
                t = time.perf_counter()
                await by.rpc.call("GetLayout", by.handles[0])  # stale view, shared-cache hit
                out2().append(1000 * (time.perf_counter() - t))
                await asyncio.sleep(0.005)

        async def hog(until: float) -> None:
            for k in itertools.count():
                if time.perf_counter() >= until:
                    return
                cube = {**HEAVY_CUBE, "qMeasures": [{"qDef": {"qDef": f"Sum(Amount) + {k}"}}]}
                h = (
                    await heavy.rpc.call(
                        "CreateSessionObject", doc, {"qInfo": {"qType": "heavy"}, "qHyperCubeDef": cube}
                    )
                )["qReturn"]["qHandle"]
                t = time.perf_counter()
                await heavy.rpc.call("GetLayout", h)
                view.heavy.append(1000 * (time.perf_counter() - t))

        await probe(lambda: view.idle, lambda: shared.idle, time.perf_counter() + seconds)
        until = time.perf_counter() + seconds
        await asyncio.gather(probe(lambda: view.busy, lambda: shared.busy, until), hog(until))
        shared.heavy = view.heavy
    finally:
        await close_all(stack)
    return [view, shared]


async def parallel_case(port: int, rounds: int) -> tuple[list[float], list[float]]:
    """Cold dashboards (a state nobody computed) with the 8 layouts sent at once vs one after another,
    interleaved; seconds each."""
    stack: list[Any] = []
    at_once: list[float] = []
    serial: list[float] = []
    try:
        (user,) = await open_users(port, 1, "parallel-", stack)
        await user.select(CATEGORY_PANE, [NCAT - 1])
        sets = iter(REGION_SETS)
        await user.step(next(sets))  # the model's first use builds its indexes: not timed
        for _ in range(rounds):
            at_once.append(await user.step(next(sets), at_once=True))
            serial.append(await user.step(next(sets), at_once=False))
    finally:
        await close_all(stack)
    return at_once, serial


# ---------------------------------------------------------------------------------------------- running

CASES = ("shared", "think", "bystander", "parallel")


@dataclass
class Results:
    rows: int
    bytes_per_row: float
    load: tuple[float, ...]
    users: int = 0
    runs: dict[str, LoadRun] = field(default_factory=dict)
    bystanders: list[Bystander] = field(default_factory=list)
    parallel: tuple[list[float], list[float]] | None = None


def run(
    rows: int, cases: tuple[str, ...], seconds: float, users: int, think_seconds: float, rounds: int
) -> Results:
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    with tempfile.TemporaryDirectory() as tmp:
        res = Results(rows, write_app(rows, Path(tmp)), os.getloadavg(), users)
        port = free_port()
        engine = start_engine(port, Path(tmp), cpu=None)
        try:
            if "parallel" in cases:
                res.parallel = runner(parallel_case(port, rounds))
            if "bystander" in cases:
                res.bystanders = runner(bystander_case(port, seconds))
            if "shared" in cases:
                for name, states in (("distinct", None), ("shared", 10), ("distinct again", None)):
                    res.runs[name] = runner(
                        load_run(port, engine.pid, name, users, seconds, states, 0.0, seed=len(res.runs))
                    )
            if "think" in cases:
                res.runs["think"] = runner(
                    load_run(port, engine.pid, "think", users, think_seconds, None, 1.0, seed=99)
                )
        finally:
            stop(engine)
    return res


def report(res: Results) -> str:
    lines = [
        f"{res.rows:,} fact rows, {res.bytes_per_row:.1f} model bytes per fact row; load average at start "
        f"{' '.join(f'{x:.2f}' for x in res.load)}, now {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    ]
    if res.parallel:
        a, s = (statistics.median(x) * 1000 for x in res.parallel)
        lines.append(
            f"parallel: cold dashboard, 8 layouts at once {a:.0f} ms vs one after another {s:.0f} ms "
            f"(median of {len(res.parallel[0])}), ratio {a / s:.2f}"
        )
    for b in res.bystanders:
        lines.append(
            f"bystander, {b.name}: idle p50 {statistics.median(b.idle):.2f} / p99 {pct(b.idle, 0.99):.2f} / "
            f"max {max(b.idle):.2f} ms; while another session computes: p50 {statistics.median(b.busy):.2f}"
            f" / p99 {pct(b.busy, 0.99):.2f} / max {max(b.busy):.2f} ms ({len(b.busy)} calls)"
        )
    if res.bystanders and res.bystanders[0].heavy:
        h = res.bystanders[0].heavy
        lines.append(
            f"  the other session: {len(h)} uncached ProdID x Month cubes, median {statistics.median(h):.0f} ms"
        )
    for r in res.runs.values():
        lines.append(
            f"{r.name:15s} {len(r.latencies):6d} dashboards in {r.seconds:.1f} s = {r.rate:8.1f} /s; "
            f"latency p50 {1000 * statistics.median(r.latencies):7.1f} ms, p95 "
            f"{1000 * pct(r.latencies, 0.95):7.1f} ms; engine CPU {1000 * r.engine_cpu / max(1, len(r.latencies)):.1f}"
            f" ms/dashboard, client {1000 * r.client_cpu / max(1, len(r.latencies)):.1f}"
            + (f"; {r.repeats} repeated states" if r.repeats else "")
        )
    if "shared" in res.runs:
        distinct = statistics.mean([res.runs[k].rate for k in ("distinct", "distinct again")])
        lines.append(f"shared / distinct dashboards/s: {res.runs['shared'].rate / distinct:.1f}x")
    return "\n".join(lines)


def figures(res: Results, cmd: str) -> list[Figure]:
    out: list[Figure] = []
    label = f"{res.rows / 1e6:g}M rows"
    if "shared" in res.runs:
        distinct = statistics.mean([res.runs[k].rate for k in ("distinct", "distinct again")])
        out.append(
            figure(
                "dashusers",
                f"{res.users} users replaying 10 shared states vs distinct (dashboards/s), {label}",
                res.runs["shared"].rate,
                "dashboards/s",
                "distinct states",
                distinct,
                command=cmd,
                at_least=10,
            )
        )
    if "think" in res.runs:
        r = res.runs["think"]
        out.append(
            figure(
                "dashusers",
                f"{res.users} distinct users, think 1 s: dashboard p95, {label}",
                1000 * pct(r.latencies, 0.95),
                "ms",
                "1 s",
                1000.0,
                command=cmd,
                at_most=1,
            )
        )
    for b in res.bystanders:
        out.append(
            figure(
                "dashusers",
                f"bystander GetLayout ({b.name}) p99 while a cube computes, {label}",
                pct(b.busy, 0.99),
                "ms",
                "idle engine",
                pct(b.idle, 0.99),
                command=cmd,
                note=f"target: within 5 ms; worst {max(b.busy):.1f} ms",
            )
        )
    if res.parallel:
        a, s = (statistics.median(x) * 1000 for x in res.parallel)
        out.append(
            figure(
                "dashusers",
                f"cold dashboard, 8 layouts at once, {label}",
                a,
                "ms",
                "one after another",
                s,
                command=cmd,
                at_most=1,
            )
        )
    return out


def measure(quick: bool = False) -> list[Figure]:
    args = (
        dict(rows=200_000, seconds=2.0, users=10, think=4.0, rounds=3)
        if quick
        else dict(rows=10_000_000, seconds=20.0, users=50, think=60.0, rounds=7)
    )
    res = run(
        int(args["rows"]), CASES, args["seconds"], int(args["users"]), args["think"], int(args["rounds"])
    )
    print(report(res))
    return figures(res, command("dashusers.py", *(f"--{k}={v:g}" for k, v in args.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument(
        "--seconds", type=float, default=20.0, help="length of each closed-loop and bystander run"
    )
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--think", type=float, default=60.0, help="length of the think-time run (seconds)")
    ap.add_argument("--rounds", type=int, default=7, help="cold dashboards per variant in the parallel case")
    ap.add_argument("--quick", action="store_true", help="200k rows, short runs (CI)")
    args = ap.parse_args()
    if args.quick:
        for f in measure(quick=True):
            print(f"{f.name}: {f.ours:.2f} {f.unit} vs {f.baseline} {f.baseline_value:.2f} -> {f.ratio:.3f}")
        return
    cases = tuple(c for c in args.cases.split(",") if c)
    print(report(run(args.rows, cases, args.seconds, args.users, args.think, args.rounds)))


if __name__ == "__main__":
    main()
