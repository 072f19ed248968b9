"""Handshakes per second: the engine at ValidateJsonWebTokens=2 with an HS256 token, against a bare
``websockets`` server, in the same run on the same machine.

Each server runs in its own process pinned to CPU 0; the load runs here pinned to CPU 1 (when there are
two CPUs). A handshake is open (HTTP upgrade, JWT check, session attach) + close. Prints a JSON line per
server and the ratio engine/bare.

    python scripts/bench/handshake.py [--seconds 5] [--concurrency 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.jwt_keys import bearer, mint  # noqa: E402

SECRET = "passw0rd"

BARE_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve
async def handler(ws):
    async for _ in ws:
        pass
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None):
        await asyncio.Future()
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if os.cpu_count() and os.cpu_count() >= 2 else []


def start_engine(port: int, doc_dir: Path) -> subprocess.Popen:
    cmd = [*_pin(0), sys.executable, "-m", "engine", "--host", "127.0.0.1", "--port", str(port),
           "-S", "ValidateJsonWebTokens=2", "-S", f"JsonWebTokenSecret={SECRET}",
           "-S", f"DocumentDirectory={doc_dir}", "-S", "PrometheusPort=0", "-S", "SystemLogVerbosity=2"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_listening(port, proc)
    return proc


def start_bare(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([*_pin(0), sys.executable, "-c", BARE_SERVER, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_listening(port, proc)
    return proc


async def hammer(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with connect(url, additional_headers=headers, compression=None):
                pass
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.cpu_count() and os.cpu_count() >= 2:
        os.sched_setaffinity(0, {1})
    import tempfile

    token = mint({"sub": "bench-user"}, "HS256", SECRET)
    results: dict[str, list[float]] = {"engine_hs256": [], "bare_websockets": []}
    with tempfile.TemporaryDirectory() as tmp:
        eport, bport = _free_port(), _free_port()
        engine, bare = start_engine(eport, Path(tmp)), start_bare(bport)
        try:
            for _ in range(args.rounds):  # interleave so machine noise hits both alike
                results["engine_hs256"].append(asyncio.run(hammer(
                    f"ws://127.0.0.1:{eport}/app/engineData", {"Authorization": bearer(token)},
                    args.seconds, args.concurrency)))
                results["bare_websockets"].append(asyncio.run(hammer(
                    f"ws://127.0.0.1:{bport}/", {}, args.seconds, args.concurrency)))
        finally:
            for proc in (engine, bare):
                proc.terminate()
                proc.wait(10)
    medians = {k: statistics.median(v) for k, v in results.items()}
    for name, runs in results.items():
        print(json.dumps({"server": name, "handshakes_per_s_median": round(medians[name]),
                          "runs": [round(r) for r in runs]}))
    print(json.dumps({"ratio_engine_over_bare": round(medians["engine_hs256"] / medians["bare_websockets"], 3)}))


if __name__ == "__main__":
    main()
