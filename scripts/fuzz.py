"""Fuzz the engine's QIX surface for a while and print figures: the generator of ``tests/test_fuzz.py``,
run for thousands of cases against an engine process of its own on a free loopback port.

First every method on every kind of handle gets a sweep of type-confused parameters, then random cases
(hypothesis) until ``--cases`` or ``--seconds`` run out. A bystander session on another socket loops a
cached GetLayout meanwhile. Printed: cases, methods covered, answers by code, the bystander's worst and
median latency, and every case answered -128 or not answered at all (the exit status is 1 if any).

    python scripts/fuzz.py [--cases 3000] [--seconds 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[0] = str(REPO)  # instead of scripts/, whose token.py would shadow the standard library's

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from tests.fuzzing import (  # noqa: E402
    Bystander,
    Case,
    Tally,
    Target,
    cases,
    check_answer,
    definition_sweep,
    registered_methods,
    sweep,
)
from tests.harness import free_port  # noqa: E402


def spawn_engine(docs: str, log: Any) -> tuple[subprocess.Popen, int]:
    """``python -m engine`` on a free loopback port, its log to ``log`` (a pipe nobody reads would fill
    and stop the engine at its next log line)."""
    port = free_port()
    cmd = [sys.executable, "-m", "engine", "--host", "127.0.0.1", "--port", str(port),
           "-S", f"DocumentDirectory={docs}", "-S", "PrometheusPort=0"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return proc, port
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("engine did not listen in time")


def _bystander(url: str, stop: Any, results: Any) -> None:
    """The bystander in a process of its own: its latencies are the engine's, not this process's GIL."""
    bystander = Bystander(url)
    bystander.start()
    stop.wait()
    bystander.stop()
    results.put((bystander.latencies, bystander.failures))


class Run:
    """One fuzzing run: the target socket (reconnected after a case that was not answered) and figures."""

    def __init__(self, port: int, deadline: float) -> None:
        self.url = f"ws://127.0.0.1:{port}/app/engineData/identity/fuzz"
        self.target = Target(self.url).prepare()
        self.deadline = deadline
        self.tally = Tally()
        self.sessions = 1
        self.slowest: list[tuple[float, str]] = []

    def one(self, case: Case) -> None:
        if time.monotonic() > self.deadline:
            return
        started = time.perf_counter()
        try:
            outcome = check_answer(case, self.target.run(case))
        except AssertionError as failure:
            self.tally.add(case, "-128" if "-128" in str(failure) else "invalid")
            self.tally.failures.append(str(failure)[:600])
        except (TimeoutError, ConnectionClosed) as failure:
            self.tally.add(case, "no answer")
            self.tally.failures.append(f"no answer ({failure!r}): {case.describe()}")
            print(self.tally.failures[-1][:600], file=sys.stderr, flush=True)
            self._reconnect()
            return
        else:
            self.tally.add(case, outcome)
        self.slowest.append((time.perf_counter() - started, case.describe()[:200]))
        self.slowest = sorted(self.slowest, reverse=True)[:5]
        try:
            self.target.restore(case)
        except (AssertionError, TimeoutError, ConnectionClosed) as failure:
            self.tally.failures.append(f"restoring after {case.describe()}: {failure}"[:600])
            self._reconnect()

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            self.target.close()
        self.sessions += 1
        self.url = self.url.rsplit("/", 1)[0] + f"/fuzz{self.sessions}"
        self.target = Target(self.url).prepare()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=3000, help="random cases after the sweep")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long in all")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as docs, open(Path(docs) / "engine.log", "wb") as log:
        proc, port = spawn_engine(str(Path(docs) / "apps"), log)
        try:
            started = time.monotonic()
            stop, results = multiprocessing.Event(), multiprocessing.Queue()
            url = f"ws://127.0.0.1:{port}/app/engineData/identity/bystander"
            bystander = multiprocessing.Process(target=_bystander, args=(url, stop, results))
            bystander.start()
            run = Run(port, started + args.seconds)
            swept = sweep() + definition_sweep()
            for case in swept:
                run.one(case)

            @seed(args.seed)
            @settings(max_examples=args.cases, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(cases())
            def random_case(case: Case) -> None:
                run.one(case)

            random_case()
            elapsed = time.monotonic() - started
            stop.set()
            latencies, bystander_failures = results.get(timeout=60)
            bystander.join(10)
            run.target.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                print("the engine did not stop within 10 s of SIGTERM: killed", file=sys.stderr)
                proc.kill()
                proc.wait(10)

    tally = run.tally
    registered = registered_methods()
    lat = latencies
    print(f"cases: {tally.cases} ({len(swept)} sweep + {tally.cases - len(swept)} random) in {elapsed:.0f} s")
    print(f"methods covered: {len(tally.methods & registered)} of {len(registered)}")
    missing = sorted(registered - tally.methods)
    if missing:
        print("  not covered:", ", ".join(missing))
    print("answers by code:", ", ".join(f"{code}: {n}" for code, n in tally.codes.most_common()))
    if lat:
        print(f"bystander: {len(lat)} GetLayout, worst {max(lat) * 1000:.1f} ms, "
              f"median {statistics.median(lat) * 1000:.2f} ms, failures {len(bystander_failures)}")
    for failure in bystander_failures[:5]:
        print("  bystander:", failure)
    print("slowest cases:")
    for seconds, text in run.slowest:
        print(f"  {seconds * 1000:.0f} ms  {text}")
    print(f"failures: {len(tally.failures)}")
    for failure in tally.failures[:40]:
        print("  ", failure)
    return 1 if tally.failures or bystander_failures or not lat else 0


if __name__ == "__main__":
    sys.exit(main())
