"""JWT verification rate: the engine's Authenticator against plain joserfc decode + claims validation,
interleaved in one run (unique HS256 tokens, so the Authenticator's cache never hits).

    python scripts/bench/jwt.py [--tokens 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from joserfc import jwt  # noqa: E402
from joserfc.jwk import OctKey  # noqa: E402
from joserfc.jwt import JWTClaimsRegistry  # noqa: E402

from engine.auth import Authenticator  # noqa: E402
from engine.settings import parse_args  # noqa: E402
from tests.jwt_keys import mint  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"


def rate(fn, items) -> float:
    started = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    exp = int(time.time()) + 3600
    tokens = [mint({"sub": f"user{i}", "exp": exp, "groups": ["g"]}, "HS256", SECRET) for i in range(args.tokens)]
    key = OctKey.import_key(SECRET.encode())
    registry = JWTClaimsRegistry(sub={"essential": True})

    def library(token: str) -> None:
        registry.validate(jwt.decode(token, key, algorithms=["HS256"]).claims)

    ours, lib = [], []
    with tempfile.TemporaryDirectory() as tmp:
        settings = parse_args(["-S", "ValidateJsonWebTokens=2", "-S", f"JsonWebTokenSecret={SECRET}",
                               "-S", f"DocumentDirectory={tmp}"])
        for _ in range(args.rounds):
            lib.append(rate(library, tokens))
            ours.append(rate(Authenticator(settings).verify_token, tokens))  # fresh: no cache hits
    print(json.dumps({"engine_tokens_per_s": round(statistics.median(ours)),
                      "joserfc_tokens_per_s": round(statistics.median(lib)),
                      "ratio_engine_over_joserfc": round(statistics.median(ours) / statistics.median(lib), 3)}))


if __name__ == "__main__":
    main()
