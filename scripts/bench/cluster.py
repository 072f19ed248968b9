"""Scaling out: the calc-heavy load scenario through HAProxy with 2 engines against 1 engine behind the same
proxy, side by side in one run (rounds alternate 1, 2, 1, 2, ... so slow drifts of a shared machine hit
both sides alike).

The scenario is ``scripts/loadtest.py``'s ``full`` one with no think time on one shared app holding a
large model (``--rows``): every request is a list object, a selection, a hypercube or a page of it, so the
engines' CPU is what limits, not the client's. Engine i is pinned to CPU i (the baseline's one engine to
CPU 0); the load client and HAProxy run unpinned. Beside requests/s and p99 it reports each engine's share
of a core, the client's, and the rest of the machine's (other processes), so a missed target says why.

    python scripts/bench/cluster.py [--rows 2000000] [--users 24] [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import REPO, Figure, command, cpu_seconds, figure, machine_busy_seconds

# scripts/ itself must not go on sys.path (its token.py would shadow the standard library's)
_spec = importlib.util.spec_from_file_location("qix_cluster_script", REPO / "scripts" / "cluster.py")
assert _spec is not None and _spec.loader is not None
_cluster = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _cluster
_spec.loader.exec_module(_cluster)
Cluster = _cluster.Cluster

SCRIPT = """Facts:
LOAD RecNo() as Id,
     Pick(Mod(RecNo(), 4) + 1, 'North', 'South', 'East', 'West') as Region,
     'P' & Mod(RecNo() * 7, 211) as Product,
     Mod(RecNo() * 13, 997) / 10 as Amount
AUTOGENERATE {rows};
"""


@dataclass
class Side:
    rps: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    engine_share: list[list[float]] = field(default_factory=list)  # per round, per engine: cores used
    client_share: list[float] = field(default_factory=list)
    other_share: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load average at the end of each round


def one_round(engines: int, doc_dir: Path, rows: int, users: int, seconds: float, side: Side,
              script_path: Path) -> None:
    with Cluster(engines=engines, document_dir=doc_dir, cpus=list(range(engines)), polling_interval=10) as cluster:
        pids = [m.proc.pid for m in cluster.members if m.proc is not None]
        # warm: every engine loads the app's model once (a user per engine opens it)
        warm = subprocess.run([sys.executable, str(REPO / "scripts" / "loadtest.py"), "--url", cluster.url,
                               "--app", "bench", "--users", str(4 * engines), "--duration", "4", "--ramp-up", "0",
                               "--think", "0", "--fields", "Region,Product", "--measure", "Sum(Amount)",
                               "--json", "--quiet", "--timeout", "120"], cwd=REPO, capture_output=True, text=True)
        if warm.returncode not in (0, 1):
            raise RuntimeError(f"warm-up failed: {warm.stderr[-500:]}")
        cpu0 = [cpu_seconds(p) for p in pids]
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "loadtest.py"), "--url", cluster.url,
                                 "--app", "bench", "--users", str(users), "--duration", str(seconds),
                                 "--ramp-up", "1", "--think", "0", "--fields", "Region,Product",
                                 "--measure", "Sum(Amount)", "--json", "--quiet", "--timeout", "60"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # the load client's own CPU time
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - t0
        engine_cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
        busy = machine_busy_seconds() - busy0
        if not out.strip():
            raise RuntimeError(f"loadtest failed: {proc.stderr.read()[-800:]}")
        summary = json.loads(out)
    client = usage.ru_utime + usage.ru_stime
    side.rps.append(summary["throughput_rps"])
    side.p99.append(summary["latency"]["p99_ms"])
    side.p50.append(summary["latency"]["p50_ms"])
    side.errors.append(sum(summary["errors"].values()) + sum(summary["handshakes"]["refused"].values()))
    side.engine_share.append([c / elapsed for c in engine_cpu])
    side.client_share.append(client / elapsed)
    side.other_share.append(max(0.0, busy - sum(engine_cpu) - client) / elapsed)
    side.load.append(os.getloadavg()[0])


def prepare(doc_dir: Path, rows: int, script_path: Path) -> None:
    """Create the shared app once (reloaded and saved by one engine)."""
    with Cluster(engines=1, document_dir=doc_dir, proxy=True) as cluster:
        subprocess.run([sys.executable, str(REPO / "scripts" / "loadtest.py"), "--url", cluster.url,
                        "--app", "bench", "--script", str(script_path), "--users", "1", "--duration", "1",
                        "--think", "0", "--json", "--quiet", "--timeout", "600"],
                       cwd=REPO, capture_output=True, text=True, check=False)


def run(rows: int, users: int, seconds: float, rounds: int) -> dict[int, Side]:
    sides = {1: Side(), 2: Side()}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        doc_dir = Path(tmp) / "apps"
        doc_dir.mkdir()
        script_path = Path(tmp) / "script.qvs"
        script_path.write_text(SCRIPT.format(rows=rows))
        prepare(doc_dir, rows, script_path)
        for _ in range(rounds):
            for engines in (1, 2):
                one_round(engines, doc_dir, rows, users, seconds, sides[engines], script_path)
    return sides


def summary(sides: dict[int, Side]) -> dict:
    out: dict = {}
    for n, side in sides.items():
        out[f"{n}_engine"] = {
            "rps": side.rps, "p50_ms": side.p50, "p99_ms": side.p99, "errors": side.errors,
            "engine_cores": [[round(x, 2) for x in r] for r in side.engine_share],
            "client_cores": [round(x, 2) for x in side.client_share],
            "other_cores": [round(x, 2) for x in side.other_share], "load_avg": side.load}
    one, two = sides[1], sides[2]
    out["rps_ratio"] = round(statistics.median(two.rps) / statistics.median(one.rps), 3)
    out["p99_ratio"] = round(statistics.median(two.p99) / statistics.median(one.p99), 3)
    out["requests_per_engine_core_second"] = {"1_engine": round(efficiency(one), 1), "2_engine": round(efficiency(two), 1)}
    out["efficiency_ratio"] = round(efficiency(two) / efficiency(one), 3)
    return out


def efficiency(side: Side) -> float:
    """Requests per second of engine CPU (median over rounds): what a core gives, whatever else runs on
    the machine. Equal on both sides = nothing lost to the split; the throughput ratio then follows the
    cores the engines get."""
    return statistics.median(r / sum(cores) for r, cores in zip(side.rps, side.engine_share, strict=True))


def figures(sides: dict[int, Side], args: list[str]) -> list[Figure]:
    one, two = sides[1], sides[2]
    cmd = command("cluster.py", *args)
    cores = [round(sum(r), 2) for r in two.engine_share]
    note = (f"2 engines used {cores} cores by round, 1 engine {[round(r[0], 2) for r in one.engine_share]}; "
            f"load client {[round(x, 2) for x in two.client_share]} cores; other processes "
            f"{[round(x, 2) for x in two.other_share]} cores; load average {[round(x, 1) for x in two.load]}")
    return [
        figure("cluster", "requests/s, calc-heavy scenario through HAProxy, 2 engines", statistics.median(two.rps),
               "req/s", "1 engine behind the same proxy", statistics.median(one.rps), command=cmd, at_least=1.7,
               note=note),
        figure("cluster", "p99 latency, 2 engines", statistics.median(two.p99), "ms",
               "1 engine behind the same proxy", statistics.median(one.p99), command=cmd, at_most=1.0),
        figure("cluster", "requests per engine CPU-second, 2 engines", efficiency(two), "req/s",
               "1 engine behind the same proxy", efficiency(one), command=cmd),
    ]


def measure(quick: bool = False) -> list[Figure]:
    args = {"rows": 200_000, "users": 8, "seconds": 4, "rounds": 1} if quick else \
        {"rows": 2_000_000, "users": 24, "seconds": 20, "rounds": 2}
    sides = run(int(args["rows"]), int(args["users"]), float(args["seconds"]), int(args["rounds"]))
    return figures(sides, [f"--{k}={v}" for k, v in args.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    sides = run(args.rows, args.users, args.seconds, args.rounds)
    print(json.dumps(summary(sides), indent=2))


if __name__ == "__main__":
    main()
