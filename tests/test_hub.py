"""The hub's HTTP side (engine/hub.py) over real sockets: static files, the sign-in routes, the token carried as a
WebSocket subprotocol (same-origin only, through the engine's ordinary JWT check), EnableHub=0, and the
committed bundle matching its sources and the package data. The pages themselves: tests/browser/."""

from __future__ import annotations

import glob
import gzip
import hashlib
import http.client
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from setuptools.config.setupcfg import read_configuration  # type: ignore[import-untyped]
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

from engine import hub
from engine.hub import STATIC_DIR, same_origin
from engine.settings import SettingsError, parse_args
from engine.transport import Request, Response, Router
from tests.harness import REPO
from tests.jwt_keys import SECRET, mint

JWT = ("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")


def token(sub: str) -> str:
    return mint({"sub": sub, "exp": int(time.time()) + 600})


def get(port: int, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def manifest() -> dict:
    return json.loads((STATIC_DIR / "manifest.json").read_text())


def main_chunk() -> str:
    """The path of the bundle's largest file (nebula.js and the charts)."""
    return max(manifest()["files"].items(), key=lambda kv: kv[1])[0]


# -- static files ---------------------------------------------------------------------------------------------
def test_hub_serves_its_pages_compressed_cached_and_locked_down(engine):
    status, headers, _ = get(engine.port, "/hub")
    assert status == 308 and headers["location"] == "/hub/"
    status, headers, body = get(engine.port, "/hub/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'src="main.js"' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"

    zipped_status, zipped_headers, zipped = get(engine.port, "/hub/main.js", {"Accept-Encoding": "gzip, br"})
    plain_status, plain_headers, plain = get(engine.port, "/hub/main.js")
    assert zipped_status == plain_status == 200
    assert zipped_headers["content-encoding"] == "gzip" and "content-encoding" not in plain_headers
    assert gzip.decompress(zipped) == plain and len(plain) == manifest()["files"]["main.js"]
    assert plain_headers["content-type"].startswith("text/javascript")
    refused_status, refused_headers, _ = get(engine.port, "/hub/main.js", {"Accept-Encoding": "gzip;q=0"})
    assert refused_status == 200 and "content-encoding" not in refused_headers

    etag = plain_headers["etag"]
    status, _, body = get(engine.port, "/hub/main.js", {"If-None-Match": etag})
    assert status == 304 and body == b""
    status, headers, body = get(engine.port, f"/hub/{main_chunk()}", {"Accept-Encoding": "gzip"}, method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 100_000


@pytest.mark.parametrize("path", ["/hub/%2e%2e/hub.py", "/hub/..%2fhub.py", "/hub/chunks/../index.html",
                                  "/hub/.hidden", "/hub/missing.js", "/hub/chunks", "/hub/manifest.json.gz"])
def test_nothing_outside_the_bundle_is_served(engine, path):
    status, _, body = get(engine.port, path)
    assert status == 404, body


def test_hub_files_need_no_token_but_whoami_does(engine_factory):
    eng = engine_factory(*JWT)
    assert get(eng.port, "/hub/")[0] == 200
    status, _, body = get(eng.port, "/hub/api/config")
    config = orjson.loads(body)
    assert status == 200 and config["jwt"] == 2 and set(config["rest"]) == {"import", "export"}
    status, headers, body = get(eng.port, "/hub/api/whoami")
    assert status == 401 and b"missing Authorization header" in body and "bearer" in headers["www-authenticate"].lower()
    status, _, body = get(eng.port, "/hub/api/whoami", {"Authorization": f"Bearer {token('jane')}"})
    assert status == 200 and orjson.loads(body)["user"] == "jane"


def test_rest_features_follow_the_routes_the_engine_has():
    """The page shows import/export only for REST routes that exist (the REST API registers them)."""
    async def handler(request: Request) -> Response:  # pragma: no cover - never called
        raise AssertionError

    engine = SimpleNamespace(router=Router())
    assert hub.rest_features(engine) == {"import": None, "export": None}
    engine.router.add("POST", "/v1/apps/import", handler)
    engine.router.add("GET", "/v1/apps/{id}/export", handler)
    engine.router.add("GET", "/v1/apps/{id}", handler)
    assert hub.rest_features(engine) == {"import": "POST", "export": "GET"}


# -- the token as a subprotocol -------------------------------------------------------------------------------
def open_socket(port: int, *, subprotocols: list[str] | None = None, origin: str | None = "same",
                headers: dict[str, str] | None = None) -> ClientConnection:
    if origin == "same":
        origin = f"http://127.0.0.1:{port}"
    return connect(f"ws://127.0.0.1:{port}/app/engineData",
                   subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols is not None else None,
                   origin=Origin(origin) if origin is not None else None,
                   additional_headers=headers or {}, open_timeout=10)


def user_of(ws: ClientConnection) -> str:
    assert orjson.loads(ws.recv(timeout=10))["method"] == "OnConnected"
    ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "GetAuthenticatedUser", "handle": -1,
                          "params": []}).decode())
    return orjson.loads(ws.recv(timeout=10))["result"]["qReturn"].rpartition("UserId=")[2]


def refused(port: int, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as err:
        open_socket(port, **kwargs)
    return err.value.response.status_code


def test_the_hubs_token_travels_as_a_subprotocol_and_passes_the_same_jwt_check(engine_factory):
    eng = engine_factory(*JWT)
    offer = ["qix-hub", f"qix-jwt.{token('us-user')}"]
    with open_socket(eng.port, subprotocols=offer) as ws:
        assert ws.subprotocol == "qix-hub"  # the engine answers the hub's protocol, never the token
        assert user_of(ws) == "us-user"
    assert refused(eng.port, subprotocols=offer, origin=None) == 401  # not a page of this engine
    assert refused(eng.port, subprotocols=offer, origin="http://evil.example:9076") == 401
    assert refused(eng.port, subprotocols=offer, origin=f"http://localhost:{eng.port}") == 401  # another name
    assert refused(eng.port, subprotocols=[f"qix-jwt.{token('us-user')}", "other"]) == 401  # no qix-hub
    bad = mint({"sub": "us-user"}, "HS256", "another-secret-of-enough-length-42")
    assert refused(eng.port, subprotocols=["qix-hub", f"qix-jwt.{bad}"]) == 401
    expired = mint({"sub": "us-user", "exp": int(time.time()) - 10})
    assert refused(eng.port, subprotocols=["qix-hub", f"qix-jwt.{expired}"]) == 401
    # a client that can set headers keeps doing so; the header wins over an offered token
    with open_socket(eng.port, subprotocols=offer, headers={"Authorization": f"Bearer {token('admin')}"}) as ws:
        assert user_of(ws) == "admin"
    # other clients' subprotocol offers are not refused for being unknown
    with open_socket(eng.port, subprotocols=["chat"], headers={"Authorization": f"Bearer {token('admin')}"}) as ws:
        assert ws.subprotocol is None and user_of(ws) == "admin"


def test_enable_hub_0_serves_nothing_and_ignores_the_subprotocol(engine_factory):
    eng = engine_factory(*JWT, "EnableHub=0")
    assert get(eng.port, "/hub/")[0] == 404
    assert get(eng.port, "/hub/main.js")[0] == 404
    assert get(eng.port, "/hub/api/config")[0] == 404
    assert refused(eng.port, subprotocols=["qix-hub", f"qix-jwt.{token('admin')}"]) == 401


@pytest.mark.parametrize(("origin", "host", "same"), [
    ("http://127.0.0.1:9076", "127.0.0.1:9076", True),
    ("https://example.org", "example.org", True),
    ("https://example.org", "example.org:443", True),
    ("http://example.org", "example.org:80", True),
    ("http://[::1]:9076", "[::1]:9076", True),
    ("HTTP://Example.ORG:8080", "example.org:8080", True),
    ("http://example.org:8080", "example.org", False),
    ("https://example.org", "example.org:80", False),
    ("http://evil.example", "example.org", False),
    ("null", "example.org", False),
    ("file://", "example.org", False),
    ("http://example.org:99999", "example.org:99999", False),
    (None, "example.org", False),
    ("http://example.org", None, False),
])
def test_same_origin(origin, host, same):
    assert same_origin(origin, host) is same


def test_enable_hub_setting(tmp_path):
    assert parse_args(["-S", f"DocumentDirectory={tmp_path}"]).enable_hub is True
    assert parse_args(["-S", f"DocumentDirectory={tmp_path}", "-S", "EnableHub=0"]).enable_hub is False
    with pytest.raises(SettingsError, match="EnableHub"):
        parse_args(["-S", f"DocumentDirectory={tmp_path}", "-S", "EnableHub=yes"])


# -- the committed bundle -------------------------------------------------------------------------------------
def input_digest(hub_dir: Path) -> str:
    """hub/build.mjs's inputDigest, recomputed: sha256 over each input's relative path and bytes, sorted."""
    inputs = ["package.json", "package-lock.json", "build.mjs",
              *(p.relative_to(hub_dir).as_posix() for p in (hub_dir / "src").rglob("*") if p.is_file())]
    digest = hashlib.sha256()
    for rel in sorted(inputs):
        digest.update(f"{rel}\0".encode())
        digest.update((hub_dir / rel).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def test_committed_bundle_is_built_from_the_hub_sources():
    assert manifest()["inputs"] == input_digest(REPO / "hub"), \
        "hub/ changed since the bundle was built: run `npm ci && npm run build` in hub/ and commit engine/hub_static"


def test_every_bundle_file_is_package_data():
    patterns = read_configuration(REPO / "setup.cfg")["options"]["package_data"]["engine"]
    stored = {p.relative_to(STATIC_DIR.parent).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()}
    packaged = {Path(f).relative_to(STATIC_DIR.parent).as_posix()
                for pattern in patterns for f in glob.glob(str(STATIC_DIR.parent / pattern)) if Path(f).is_file()}
    assert stored and stored == packaged, (stored - packaged, patterns)
    for name in manifest()["files"]:
        assert (STATIC_DIR / name).is_file() or (STATIC_DIR / f"{name}.gz").is_file(), name
