"""What the load tool itself costs: CPU per simulated request of scripts/loadtest.py (Locust) against the
hand-written asyncio runner it replaced, both driving the same engine in the same run.

The engine (JWT on) runs pinned to CPU 0; each tool run is pinned to CPU 1, master and workers alike, so
"does 1,000 users fit on one core" is what is measured. The baseline is the old runner's source taken from
git history (``--baseline-rev``; or ``--baseline-file``). Runs interleave: old, new, new with ``--workers``,
then again. Each run ramps up, then a steady window is measured between two samples: the CPU time of the
tool's whole process tree (psutil) over the requests the engine answered in that window (its
``qix_requests_total``), which leaves imports and ramp-up out. p99 and errors come from the tools' own
summaries of the whole run.

    python scripts/bench/loadtool.py [--users 1000] [--think 1] [--window 20] [--rounds 2] [--workers 2]

``--soak``: does the engine's memory settle under a long run? A fresh engine (pinned to CPU 0) takes 300
``full`` users (think 1 s) for 5 minutes from the tool (pinned to CPU 1); its RSS and the calculation
cache's bytes (``qix_calc_cache_bytes``) are read from ``/metrics`` every 10 s, and the least-squares slope
of RSS after warm-up is printed, over all those samples and their second half, with and without the
cache's own bytes (a cache filling up to its bound is not a leak). ``--cache-mib 512,16`` soaks once per
``CalcCacheMemory``, each on a fresh engine, so the cache's share shows against a small one in the same run.

    python scripts/bench/loadtool.py --soak [--users 300] [--minutes 5] [--cache-mib 512] [--html report.html]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
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
from prometheus_client.parser import text_string_to_metric_families

sys.path.append(str(REPO / "scripts"))  # appended: scripts/token.py must not shadow the standard library
from qixload.server_figures import MIB, slope_per_min  # noqa: E402

SECRET = "loadtool-bench-secret-0123456789"
BASELINE_REV = "c7a955e"  # the last commit with the hand-written asyncio runner


@dataclass
class RunResult:
    tool: str
    cpu_us_per_request: float
    core_share: float  # CPU seconds of the tool per wall second in the window
    window_rps: float
    engine_cpu_us_per_request: float
    p99_ms: float
    errors: int
    requests: int
    load_average: tuple[float, float, float]
    notes: list[str] = field(default_factory=list)


def metrics(url: str) -> tuple[float, float, float]:
    """(requests answered, active sessions, process CPU seconds) from the engine's /metrics."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    requests = sessions = cpu = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "qix_requests_total":
                requests += s.value
            elif s.name == "qix_active_sessions":
                sessions = s.value
            elif s.name == "process_cpu_seconds_total":
                cpu = s.value
    return requests, sessions, cpu


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants alive now."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def baseline_source(rev: str, path: str | None) -> Path:
    if path:
        return Path(path)
    text = subprocess.run(["git", "show", f"{rev}:scripts/loadtest.py"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout
    out = Path(tempfile.mkdtemp(prefix="loadtool-")) / "loadtest_asyncio.py"
    out.write_text(text)
    return out


def run_tool(name: str, cmd: list[str], users: int, metrics_url: str, ramp: float, window: float) -> RunResult:
    """Start a tool run, measure its steady window, wait for its summary."""
    load_average = os.getloadavg()
    proc = subprocess.Popen([*pin_cmd(LOAD_CPU), *cmd], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    notes = []
    deadline = time.monotonic() + ramp + 60
    while time.monotonic() < deadline and metrics(metrics_url)[1] < users and proc.poll() is None:
        time.sleep(0.5)
    time.sleep(3)  # the last users' first calls
    cpu_a, (req_a, _, eng_a), at_a = tree_cpu(proc.pid), metrics(metrics_url), time.monotonic()
    time.sleep(window)
    cpu_b, (req_b, sessions_b, eng_b), at_b = tree_cpu(proc.pid), metrics(metrics_url), time.monotonic()
    if sessions_b < users:
        notes.append(f"only {sessions_b:.0f} sessions at the end of the window")
    out, err = proc.communicate(timeout=ramp + window + 120)
    try:
        summary = json.loads(out)
    except ValueError:
        raise RuntimeError(f"{name}: no summary (exit {proc.returncode}): {err[-500:]}") from None
    requests = max(req_b - req_a, 1.0)
    errors = sum(summary["errors"].values()) + sum(summary["handshakes"]["refused"].values())
    return RunResult(name, 1e6 * (cpu_b - cpu_a) / requests, (cpu_b - cpu_a) / (at_b - at_a),
                     requests / (at_b - at_a), 1e6 * (eng_b - eng_a) / requests, summary["latency"]["p99_ms"],
                     errors, summary["requests"], load_average, notes)


def run(users: int, think: float, ramp: float, window: float, rounds: int, workers: int, baseline: Path,
        ) -> list[RunResult]:
    port, mport = free_port(), free_port()
    docs = Path(tempfile.mkdtemp(prefix="loadtool-docs-"))
    engine = start_engine(port, docs, "ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}",
                          f"PrometheusPort={mport}")
    metrics_url = f"http://127.0.0.1:{mport}/metrics"
    duration = ramp + window + 25
    common = ["--url", f"ws://127.0.0.1:{port}", "--users", str(users), "--scenario", "light", "--think",
              f"{think:g}", "--duration", f"{duration:g}", "--ramp-up", f"{ramp:g}", "--secret", SECRET, "--json"]
    tools = [("asyncio runner (old)", [sys.executable, str(baseline), *common, "--quiet"]),
             ("locust, 1 process", [sys.executable, "scripts/loadtest.py", *common, "--metrics-url", "off"])]
    if workers:
        tools.append((f"locust, master + {workers} workers",
                      [sys.executable, "scripts/loadtest.py", *common, "--metrics-url", "off", "--workers",
                       str(workers)]))
    results = []
    try:
        time.sleep(1)
        for _ in range(rounds):
            for name, cmd in tools:
                result = run_tool(name, cmd, users, metrics_url, ramp, window)
                print(f"  {name:32s} {result.cpu_us_per_request:7.1f} µs CPU/request  "
                      f"{100 * result.core_share:5.1f}% of a core  {result.window_rps:6.0f} req/s  "
                      f"p99 {result.p99_ms} ms  errors {result.errors}  load {result.load_average[0]:.2f}"
                      + (f"  ({'; '.join(result.notes)})" if result.notes else ""), flush=True)
                results.append(result)
    finally:
        print(f"  engine CPU over the bench: {cpu_seconds(engine.pid):.1f} s", flush=True)
        stop(engine)
    return results


def figures(results: list[RunResult], args: list[str]) -> list[Figure]:
    by_tool: dict[str, list[RunResult]] = {}
    for r in results:
        by_tool.setdefault(r.tool, []).append(r)
    base = statistics.median(r.cpu_us_per_request for r in by_tool["asyncio runner (old)"])
    out = []
    for tool, runs in by_tool.items():
        if tool.startswith("asyncio"):
            continue
        ours = statistics.median(r.cpu_us_per_request for r in runs)
        share = statistics.median(r.core_share for r in runs)
        p99 = max(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        loads = ", ".join(f"{r.load_average[0]:.1f}" for r in results)
        out.append(figure("loadtool", f"load tool CPU per request, light, {tool}", ours, "µs",
                          "asyncio runner (old)", base, command=command("loadtool.py", *args),
                          note=f"{100 * share:.0f}% of one core; p99 {p99} ms, {errors} errors; "
                               f"load average at run starts {loads}"))
    return out


def measure(quick: bool = False) -> list[Figure]:
    args = {"users": 100, "window": 5, "rounds": 1} if quick else {"users": 1000, "window": 20, "rounds": 2}
    source = baseline_source(BASELINE_REV, None)
    results = run(int(args["users"]), 1.0, 10.0 if quick else 20.0, float(args["window"]), int(args["rounds"]), 2,
                  source)
    return figures(results, [f"--{k}={v}" for k, v in args.items()])


# ---------------------------------------------------------------------------------------------- soak

def memory(url: str) -> tuple[float, float]:
    """(RSS bytes, calculation cache bytes) from the engine's /metrics."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    values = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
    return values.get("process_resident_memory_bytes", 0.0), values.get("qix_calc_cache_bytes", 0.0)


def soak(users: int, minutes: float, ramp: float, every: float, cache_mib: int, html: Path | None,
         warmup: float = 60.0) -> dict[str, float]:
    """One soak on a fresh engine; prints the samples and returns the figures."""
    port, mport = free_port(), free_port()
    docs = Path(tempfile.mkdtemp(prefix="loadtool-soak-"))
    engine = start_engine(port, docs, "ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}",
                          f"PrometheusPort={mport}", f"CalcCacheMemory={cache_mib}")
    metrics_url = f"http://127.0.0.1:{mport}/metrics"
    samples: list[tuple[float, float, float, float]] = []  # (seconds since start, RSS, cache bytes, load)
    done = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not done.is_set():
            rss_bytes, cache_bytes = memory(metrics_url)
            samples.append((time.monotonic() - started, rss_bytes, cache_bytes, os.getloadavg()[0]))
            done.wait(every)

    sampler = threading.Thread(target=sample, daemon=True)
    cmd = [*pin_cmd(LOAD_CPU), sys.executable, "scripts/loadtest.py", "--url", f"ws://127.0.0.1:{port}",
           "--users", str(users), "--scenario", "full", "--think", "1", "--duration", f"{60 * minutes:g}",
           "--ramp-up", f"{ramp:g}", "--secret", SECRET, "--metrics-url", metrics_url,
           "--sample-every", f"{every:g}", "--json", *(["--html", str(html)] if html else [])]
    load_start = os.getloadavg()
    try:
        sampler.start()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60 * minutes + 180)
    finally:
        done.set()
        sampler.join(10)
        stop(engine)
    summary = json.loads(proc.stdout)
    if html:  # the summary beside its report, so the report can be drawn again (qixload.report.render_html)
        html.with_suffix(".json").write_text(proc.stdout)
    for at, rss_bytes, cache_bytes, load in samples:
        print(f"    {at:6.1f} s  RSS {rss_bytes / MIB:7.1f} MiB  cache {cache_bytes / MIB:6.1f} MiB  "
              f"RSS - cache {(rss_bytes - cache_bytes) / MIB:7.1f} MiB  load {load:.2f}", flush=True)
    after = [(at, rss_bytes / MIB, (rss_bytes - cache_bytes) / MIB) for at, rss_bytes, cache_bytes, _ in samples
             if at >= ramp + warmup]
    out = {"cache_mib": float(cache_mib), "requests": float(summary["requests"]),
           "rps": summary["throughput_rps"], "p99_ms": summary["latency"]["p99_ms"],
           "errors": float(sum(summary["errors"].values()) + sum(summary["handshakes"]["refused"].values())),
           "users_failed": float(summary["users_failed"]), "load_start": load_start[0],
           "load_max": max(load for *_, load in samples)}
    server = summary["server"]
    for key in ("cpu_ms_per_request", "cache_hit_rate", "rss_peak_mib", "rss_end_mib"):
        if key in server:
            out[key] = server[key]
    halves = (("", after), ("_late", after[len(after) // 2:]))
    for suffix, points in halves:
        for name, index in (("rss", 1), ("rss_less_cache", 2)):
            slope = slope_per_min([(p[0], p[index]) for p in points])
            if slope is not None:
                out[f"{name}{suffix}_mib_per_min"] = slope
    if after:
        out["rss_after_warmup_first_mib"], out["rss_after_warmup_last_mib"] = after[0][1], after[-1][1]
    return out


def soak_main(args: argparse.Namespace) -> None:
    for mib in (int(m) for m in args.cache_mib.split(",")):
        html = None
        if args.html:
            html = Path(args.html) if "," not in args.cache_mib else Path(args.html).with_suffix(f".{mib}.html")
        print(f"soak: {args.users} users, full, {args.minutes:g} min, CalcCacheMemory={mib}", flush=True)
        result = soak(args.users, args.minutes, args.ramp, args.every, mib, html)
        print("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, help="simulated users (default 1000; --soak: 300)")
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--ramp", type=float, help="ramp-up seconds (default 20; --soak: 30)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of steady load measured")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="also run Locust with this many workers (0: not)")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--baseline-file", help="the old runner's source, instead of git history")
    soaking = parser.add_argument_group("--soak")
    soaking.add_argument("--soak", action="store_true", help="a long full-scenario run: does engine RSS settle?")
    soaking.add_argument("--minutes", type=float, default=5.0)
    soaking.add_argument("--every", type=float, default=10.0, help="seconds between memory samples")
    soaking.add_argument("--cache-mib", default="512", help="CalcCacheMemory of each soak, comma-separated")
    soaking.add_argument("--html", help="the HTML report of the (each) soak; its JSON summary goes beside it")
    args = parser.parse_args()
    if args.soak:
        args.users, args.ramp = args.users or 300, 30.0 if args.ramp is None else args.ramp
        soak_main(args)
        return
    args.users, args.ramp = args.users or 1000, 20.0 if args.ramp is None else args.ramp
    results = run(args.users, args.think, args.ramp, args.window, args.rounds, args.workers,
                  baseline_source(args.baseline_rev, args.baseline_file))
    for f in figures(results, [f"--users={args.users}", f"--window={args.window:g}", f"--rounds={args.rounds}"]):
        print(f"{f.name}: {f.ours:.1f} {f.unit} vs {f.baseline} {f.baseline_value:.1f} {f.unit} "
              f"(ratio {f.ratio:.2f}); {f.note}")


if __name__ == "__main__":
    main()
