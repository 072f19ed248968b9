"""Server CPU per request of the load test's ``full`` scenario: this engine against an older commit's, in one
run, rounds interleaved.

The older engine runs from ``--base``'s ``engine`` package (default: the commit before the issue-15 work,
``898bcdb^1``), extracted with ``git archive`` into the temp directory when missing. Each round starts one engine pinned to CPU 0
with a fresh DocumentDirectory, loads a ``--rows``-row copy of the load test's built-in script into one app
(not measured), then runs ``scripts/loadtest.py --scenario full --app <it>`` pinned to CPU 1 and divides
the engine's CPU time over the run (``/proc/<pid>/stat``) by the requests the load test counted. Rounds
alternate old, new, old, new, ...

    python scripts/bench/fullcpu.py [--rows 200000] [--users 50] [--think 0.5] [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bystander import Rpc
from common import (
    LOAD_CPU,
    REPO,
    Figure,
    command,
    cpu_seconds,
    figure,
    free_port,
    pin_cmd,
    start_engine,
    stop,
)
from websockets.asyncio.client import connect

BASE_REV = "898bcdb^1"  # main just before "Merge perf" (the shared calculation cache), issue 15's start
APP = "fullcpu"
SCRIPT = """
Orders:
Load RecNo() as OrderId, Mod(RecNo(), 200) as CustomerId,
     Pick(Mod(RecNo(), 4) + 1, 'North', 'South', 'East', 'West') as Region,
     Mod(RecNo() * 7, 1000) / 10 as Amount
AutoGenerate {rows};
Customers:
Load RecNo() - 1 as CustomerId, 'Customer ' & (RecNo() - 1) as Customer,
     Pick(Mod(RecNo(), 3) + 1, 'Gold', 'Silver', 'Bronze') as Tier
AutoGenerate 200;
"""


def base_tree(rev: str) -> Path:
    """The ``engine`` package of ``rev`` extracted under the temp directory (``git archive``: nothing is
    registered in the repository; reused while it holds that commit)."""
    commit = subprocess.run(["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True, check=True)
    sha = commit.stdout.strip()
    path = Path(tempfile.gettempdir()) / f"qix-base-{sha[:10]}"
    if not (path / "engine" / "__main__.py").is_file():
        path.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "engine"], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(path)], input=archive.stdout, check=True)
    return path


async def prepare(port: int, rows: int) -> None:
    async with connect(f"ws://127.0.0.1:{port}/app/engineData/identity/owner", max_size=None) as ws:
        rpc = Rpc(ws)
        await rpc.call("CreateApp", -1, APP)
        doc = (await rpc.call("OpenDoc", -1, APP))["qReturn"]["qHandle"]
        await rpc.call("SetScript", doc, SCRIPT.format(rows=rows))
        if not (await rpc.call("DoReload", doc))["qReturn"]:
            raise RuntimeError("reload failed")
        await rpc.call("DoSave", doc)
        rpc.reader.cancel()


@dataclass
class Round:
    engine: str
    cpu_ms_per_request: float
    requests: int
    rps: float
    p99_ms: float
    errors: int
    load: float


def one_round(name: str, tree: Path, rows: int, users: int, think: float, seconds: float) -> Round:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        engine = start_engine(port, Path(tmp), cpu=0, cwd=tree)
        try:
            asyncio.run(prepare(port, rows))
            load = os.getloadavg()[0]
            cpu0 = cpu_seconds(engine.pid)
            out = subprocess.run(
                [
                    *pin_cmd(LOAD_CPU),
                    sys.executable,
                    str(REPO / "scripts" / "loadtest.py"),
                    "--url",
                    f"ws://127.0.0.1:{port}",
                    "--users",
                    str(users),
                    "--duration",
                    str(seconds),
                    "--ramp-up",
                    "2",
                    "--think",
                    str(think),
                    "--scenario",
                    "full",
                    "--app",
                    APP,
                    "--json",
                    "--quiet",
                ],
                capture_output=True,
                text=True,
                cwd=REPO,
                timeout=seconds + 300,
            )
            cpu = cpu_seconds(engine.pid) - cpu0
        finally:
            stop(engine)
    try:
        summary = json.loads(out.stdout)
    except ValueError:
        raise RuntimeError(f"loadtest.py failed: {(out.stderr or out.stdout).strip()[-500:]}") from None
    requests = int(summary["requests"])
    return Round(
        name,
        1000 * cpu / max(1, requests),
        requests,
        float(summary["throughput_rps"]),
        float(summary["latency"]["p99_ms"]),
        sum(summary["errors"].values()),
        load,
    )


def run(rev: str, rows: int, users: int, think: float, seconds: float, rounds: int) -> list[Round]:
    trees = {"old": base_tree(rev), "new": REPO}
    out = []
    for _ in range(rounds):
        for name, tree in trees.items():
            out.append(one_round(name, tree, rows, users, think, seconds))
            print(f"  {out[-1]}", file=sys.stderr, flush=True)
            time.sleep(1)
    return out


def report(rounds: list[Round], rev: str) -> tuple[float, float, str]:
    old = statistics.median(r.cpu_ms_per_request for r in rounds if r.engine == "old")
    new = statistics.median(r.cpu_ms_per_request for r in rounds if r.engine == "new")
    lines = [
        f"{'round':>5} {'engine':>6} {'CPU ms/request':>14} {'requests':>9} {'req/s':>7} {'p99 ms':>8} "
        f"{'errors':>6} {'load':>5}"
    ]
    for i, r in enumerate(rounds):
        lines.append(
            f"{i:>5} {r.engine:>6} {r.cpu_ms_per_request:>14.3f} {r.requests:>9} {r.rps:>7.1f} "
            f"{r.p99_ms:>8.1f} {r.errors:>6} {r.load:>5.2f}"
        )
    lines.append(f"median CPU per request: {rev} {old:.3f} ms, this tree {new:.3f} ms, ratio {new / old:.3f}")
    return old, new, "\n".join(lines)


def measure(quick: bool = False) -> list[Figure]:
    args = (
        dict(rows=20_000, users=10, think=0.2, seconds=4.0, rounds=1)
        if quick
        else dict(rows=200_000, users=50, think=0.5, seconds=20.0, rounds=2)
    )
    rounds = run(
        BASE_REV, int(args["rows"]), int(args["users"]), args["think"], args["seconds"], int(args["rounds"])
    )
    old, new, text = report(rounds, BASE_REV)
    print(text, file=sys.stderr)
    cmd = command("fullcpu.py", *(f"--{k}={v:g}" for k, v in args.items()))
    return [
        figure(
            "fullcpu",
            f"engine CPU per request, full scenario, {int(args['rows']):,} rows",
            new,
            "ms",
            f"engine at {BASE_REV}",
            old,
            command=cmd,
            at_most=0.25,
            note=f"errors: {sum(r.errors for r in rounds)}",
        )
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=BASE_REV, help="the older commit (default: %(default)s)")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--think", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}")
    rounds = run(args.base, args.rows, args.users, args.think, args.seconds, args.rounds)
    print(report(rounds, args.base)[2])


if __name__ == "__main__":
    main()
