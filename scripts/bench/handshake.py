"""Handshakes per second: the engine at ValidateJsonWebTokens=2 with HS256, RS256 and ES256 tokens, each
against the same bare ``websockets`` server, in the same run on the same machine.

Every server runs in its own process pinned to CPU 0 (the bare one under uvloop, like the engine); the
load runs here pinned to CPU 1 (when there are two CPUs) with the lean client of ``wsload.py``. A
handshake is open (HTTP upgrade, JWT check, session attach) + close handshake. Every handshake carries a
token not seen before in the run (a pool larger than the engine's verified-token cache, used round-robin),
so each one pays a signature check; one more HS256 figure uses a few hundred returning users' tokens,
answered from that cache, as reconnecting dashboards are. RS/ES keys are generated at start; the engine reads the public PEM
(``JsonWebTokenPath``). Rounds interleave the servers so machine noise hits them alike. Prints a JSON line
per server and the ratios engine/bare.

    python scripts/bench/handshake.py [--seconds 3] [--concurrency 20] [--rounds 3] [--tokens 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from common import (
    LOAD_CPU,
    Figure,
    command,
    figure,
    free_port,
    medians,
    pin_self,
    start_engine,
    start_python,
    stop,
)
from wsload import WsClient

from tests.jwt_keys import bearer, ec_key, mint, rsa_key

SECRET = "passw0rd"
RETURNING_USERS = 200
ALGS = ("HS256", "RS256", "ES256")

BARE_SERVER = """
import asyncio, sys, uvloop
from websockets.asyncio.server import serve
async def handler(ws):
    async for _ in ws:
        pass
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None):
        await asyncio.Future()
uvloop.run(main())
"""


@dataclass
class Result:
    """Handshakes/s per round for each server, and the load process's CPU use over the timed runs."""

    runs: dict[str, list[float]]
    load_cpu: float  # CPU seconds of this (load) process per wall second while hammering


async def hammer(port: int, path: str, tokens: itertools.cycle | None, seconds: float,
                 concurrency: int) -> float:
    done = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            headers = {"Authorization": bearer(next(tokens))} if tokens is not None else None
            client = await WsClient.open("127.0.0.1", port, path, headers)
            client.close()
            await client.closed
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


def run(seconds: float = 3, concurrency: int = 20, rounds: int = 3, n_tokens: int = 5000) -> Result:
    pin_self(LOAD_CPU)
    keys = {"HS256": SECRET, "RS256": rsa_key(), "ES256": ec_key("P-256")}
    tokens = {alg: [mint({"sub": f"bench-user-{i}"}, alg, keys[alg]) for i in range(n_tokens)] for alg in ALGS}
    runs: dict[str, list[float]] = {f"engine_{alg.lower()}": [] for alg in ALGS} | {
        "engine_hs256_returning": [], "bare_websockets": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "rsa.pem").write_bytes(keys["RS256"].public_pem())
        (folder / "ec.pem").write_bytes(keys["ES256"].public_pem())
        auth = {"HS256": f"JsonWebTokenSecret={SECRET}", "RS256": f"JsonWebTokenPath={folder / 'rsa.pem'}",
                "ES256": f"JsonWebTokenPath={folder / 'ec.pem'}"}
        ports = {alg: free_port() for alg in ALGS}
        engines = {alg: start_engine(ports[alg], folder, "ValidateJsonWebTokens=2", auth[alg]) for alg in ALGS}
        bport = free_port()
        bare = start_python(BARE_SERVER, bport)
        pools = {alg: itertools.cycle(tokens[alg]) for alg in ALGS}
        # returning users: a few hundred tokens seen before, answered from the verified-token cache
        returning = itertools.cycle(tokens["HS256"][:RETURNING_USERS])
        cpu0, wall0 = time.process_time(), time.monotonic()
        try:
            for _ in range(rounds):  # interleave so machine noise hits every server alike
                for alg in ALGS:
                    runs[f"engine_{alg.lower()}"].append(uvloop.run(hammer(
                        ports[alg], "/app/engineData", pools[alg], seconds, concurrency)))
                runs["engine_hs256_returning"].append(uvloop.run(hammer(
                    ports["HS256"], "/app/engineData", returning, seconds, concurrency)))
                runs["bare_websockets"].append(uvloop.run(hammer(bport, "/", None, seconds, concurrency)))
        finally:
            stop(*engines.values(), bare)
        load = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    return Result(runs, load)


def figures(result: Result, args: list[object]) -> list[Figure]:
    med = medians(result.runs)
    bare = med["bare_websockets"]
    note = f"load process used {100 * result.load_cpu:.0f}% of CPU 1 while hammering"
    cmd = command("handshake.py", *args)
    return [figure("handshake", f"handshakes/s, {alg} token", med[f"engine_{alg.lower()}"], "/s",
                   "bare websockets", bare, command=cmd, at_least=0.8 if alg == "HS256" else None,
                   note=note + "; every token new to the engine (signature checked)") for alg in ALGS] + [
        figure("handshake", "handshakes/s, HS256 token of a returning user", med["engine_hs256_returning"], "/s",
               "bare websockets", bare, command=cmd, at_least=0.8,
               note=f"{RETURNING_USERS} users reconnecting: tokens answered from the verified-token cache")]


def measure(quick: bool = False) -> list[Figure]:
    args: dict[str, float] = {"seconds": 0.5, "rounds": 1, "tokens": 2000} if quick else \
        {"seconds": 3, "rounds": 3, "tokens": 5000}
    result = run(args["seconds"], 20, int(args["rounds"]), int(args["tokens"]))
    return figures(result, [f"--{k}={v}" for k, v in args.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=5000, help="distinct tokens per algorithm")
    args = parser.parse_args()
    result = run(args.seconds, args.concurrency, args.rounds, args.tokens)
    med = medians(result.runs)
    for name, runs in result.runs.items():
        print(json.dumps({"server": name, "handshakes_per_s_median": round(med[name]),
                          "runs": [round(r) for r in runs]}))
    print(json.dumps({f"ratio_{name}_over_bare": round(rate / med["bare_websockets"], 3)
                      for name, rate in med.items() if name != "bare_websockets"}
                     | {"load_cpu_share": round(result.load_cpu, 3)}))


if __name__ == "__main__":
    main()
