"""JWT verification rate: the engine's Authenticator against plain joserfc decode + claims validation,
interleaved in one run (unique HS256 tokens, so the Authenticator's cache never hits).

    python scripts/bench/jwt.py [--tokens 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from common import Figure, command, figure
from joserfc import jwt
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from engine.auth import Authenticator
from engine.settings import parse_args
from tests.jwt_keys import mint

SECRET = "bench-secret-0123456789abcdef"


def rate(fn, items) -> float:
    started = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - started)


def run(n_tokens: int = 2000, rounds: int = 5) -> tuple[float, float]:
    """Median tokens/s of (the engine's Authenticator, plain joserfc)."""
    exp = int(time.time()) + 3600
    tokens = [mint({"sub": f"user{i}", "exp": exp, "groups": ["g"]}, "HS256", SECRET) for i in range(n_tokens)]
    key = OctKey.import_key(SECRET.encode())
    registry = JWTClaimsRegistry(sub={"essential": True})

    def library(token: str) -> None:
        registry.validate(jwt.decode(token, key, algorithms=["HS256"]).claims)

    ours, lib = [], []
    with tempfile.TemporaryDirectory() as tmp:
        settings = parse_args(["-S", "ValidateJsonWebTokens=2", "-S", f"JsonWebTokenSecret={SECRET}",
                               "-S", f"DocumentDirectory={tmp}"])
        for _ in range(rounds):
            lib.append(rate(library, tokens))
            ours.append(rate(Authenticator(settings).verify_token, tokens))  # fresh: no cache hits
    return statistics.median(ours), statistics.median(lib)


def measure(quick: bool = False) -> list[Figure]:
    args = {"tokens": 500, "rounds": 1} if quick else {"tokens": 2000, "rounds": 5}
    ours, lib = run(args["tokens"], args["rounds"])
    return [figure("jwt", "HS256 token verifications/s", ours, "/s", "joserfc decode+validate", lib,
                   command=command("jwt.py", *(f"--{k}={v}" for k, v in args.items())))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ours, lib = run(args.tokens, args.rounds)
    print(json.dumps({"engine_tokens_per_s": round(ours), "joserfc_tokens_per_s": round(lib),
                      "ratio_engine_over_joserfc": round(ours / lib, 3)}))


if __name__ == "__main__":
    main()
