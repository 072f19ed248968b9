"""Section access walkthrough against a running engine: the Qlik Core authorization tutorial's app.

Start an engine that validates JWTs, then run the demo with the same secret::

    ./scripts/start.sh -S AcceptEULA=yes -S ValidateJsonWebTokens=2 -S JsonWebTokenSecret=passw0rd
    .venv/bin/python scripts/demo.py --secret passw0rd

As ``admin`` it creates (or resets) the app ``section-access-demo`` with the script below, reloads and
saves it; then it connects as each user and prints the ``Sales`` table that user sees, or the error the
engine answered. Tokens are HS256 JWTs whose ``sub`` is the user (``scripts/token.py`` mints the same).
"""

from __future__ import annotations

import os
import sys

# Run as ``python scripts/demo.py``, this directory heads sys.path and its token.py would shadow the
# standard library's ``token`` module (see scripts/token.py); drop that entry before other imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from joserfc import jwt  # noqa: E402
from joserfc.errors import SecurityWarning  # noqa: E402
from joserfc.jwk import OctKey  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

APP = "section-access-demo"
USERS = ("admin", "us-user", "fr-user")

#: The Qlik Core authorization tutorial's app (core-website docs/tutorials/authorization.md), exactly.
SCRIPT = (Path(__file__).with_name("section-access-seed.qvs")).read_text()


class EngineError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(json.dumps(error))
        self.error = error


def mint(sub: str, secret: str, groups: Sequence[str] = ()) -> str:
    claims: dict[str, Any] = {"sub": sub, "exp": int(time.time()) + 3600}
    if groups:
        claims["groups"] = list(groups)
    with warnings.catch_warnings():  # a short demo secret such as passw0rd is fine here
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, OctKey.import_key(secret))


class Rpc:
    """Just enough JSON-RPC over one socket: send a request, wait for its answer, skip pushes."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, handle: int = -1, *params: Any) -> dict[str, Any]:
        rid = next(self.ids)
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle,
                                       "params": list(params)}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == rid:
                if "error" in msg:
                    raise EngineError(msg["error"])
                return msg["result"]


def session(url: str, user: str, secret: str):
    return connect(f"{url}/app/engineData", additional_headers={"Authorization": f"Bearer {mint(user, secret)}"},
                   max_size=None)


async def install_app(url: str, secret: str, app: str = APP) -> str:
    """Create or reset the demo app as ``admin``; returns its id."""
    async with session(url, "admin", secret) as ws:
        rpc = Rpc(ws)
        try:
            app_id = (await rpc.call("CreateApp", -1, app))["qAppId"]
        except EngineError as err:
            if err.error.get("code") != 1000:  # 1000: it exists from an earlier run; reset it below
                raise
            app_id = app
        doc = (await rpc.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
        await rpc.call("SetScript", doc, SCRIPT)
        if not (await rpc.call("DoReload", doc))["qReturn"]:
            raise RuntimeError("the reload failed")
        await rpc.call("DoSave", doc)
        return app_id


def format_table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


async def show_user(url: str, secret: str, app_id: str, user: str) -> list[str]:
    """What ``user`` sees of the app: the Sales table, or the error OpenDoc answered."""
    async with session(url, user, secret) as ws:
        rpc = Rpc(ws)
        try:
            doc = (await rpc.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
        except EngineError as err:
            return [f"== {user}: OpenDoc failed: {json.dumps(err.error)}"]
        data = (await rpc.call("GetTableData", doc, -1, 1000, False, "Sales"))["qData"]
        rows = [[cell["qText"] for cell in row["qValue"]] for row in data]
        return [f"== {user}: {len(rows) - 1} rows of Sales", *format_table(rows)]


async def run_demo(url: str, secret: str, users: Sequence[str] = USERS, app: str = APP) -> list[str]:
    app_id = await install_app(url, secret, app)
    lines = [f"app {app_id!r} loaded with section access"]
    for user in users:
        lines += await show_user(url, secret, app_id, user)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://localhost:9076", help="engine address (default %(default)s)")
    parser.add_argument("--secret", default="passw0rd", help="the engine's JsonWebTokenSecret")
    parser.add_argument("--users", default=",".join(USERS), help="comma-separated users (default %(default)s)")
    parser.add_argument("--app", default=APP, help="app name (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        lines = asyncio.run(run_demo(args.url.rstrip("/"), args.secret, args.users.split(","), args.app))
    except (OSError, EngineError, RuntimeError) as err:
        print(f"demo failed: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
