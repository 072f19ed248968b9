"""The hub: a single-page web app at ``/hub/``, served as static files from this package (``hub_static/``).

The page talks to the engine only through the public QIX API (enigma.js over the WebSocket) and the public
REST routes; nothing here answers data. Its sources live in the repository's ``hub/`` folder and are
bundled with esbuild into ``engine/hub_static`` (committed, gzip-compressed, so ``pip install .`` serves
a working hub without Node). ``-S EnableHub=0`` registers none of this.

Tokens. A browser cannot set ``Authorization`` on a WebSocket upgrade, so the hub offers two WebSocket
subprotocols instead: ``qix-hub`` and ``qix-jwt.<token>``. :func:`handshake_authorization` turns that offer
into the ``Bearer <token>`` the engine's ordinary JWT check (``engine.auth``) then validates exactly as it
would the header; the server answers the subprotocol ``qix-hub`` (never the token). The offer counts only
when the hub is on, no ``Authorization`` header came, and the upgrade's ``Origin`` is the engine's own
address (the ``Host`` it was asked under): a page served by this engine, not another site's. A token in a
subprotocol never reaches a log line (paths are logged, headers are not), unlike one in a query string.

Costs: each file is read once and kept in memory (the bundle is a few MB compressed) until its mtime
changes; an answer is a dict lookup plus one ``stat``.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from engine.transport import Headers, HttpError, Request, Response

if TYPE_CHECKING:
    from engine.server import Engine

#: where the built bundle lives (package data)
STATIC_DIR = Path(__file__).resolve().with_name("hub_static")
#: the subprotocol the engine answers to the hub, and the prefix of the one carrying the token
SUBPROTOCOL = "qix-hub"
TOKEN_PREFIX = "qix-jwt."

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".json": "application/json", ".png": "image/png",
          ".svg": "image/svg+xml", ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
          ".ico": "image/x-icon", ".map": "application/json"}
#: what the page may load and reach: itself, its own engine's WebSocket; inline styles for the charts' CSS-in-JS
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "font-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'")
_COMMON = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]


# -- the token on the upgrade ---------------------------------------------------------------------------------
def handshake_authorization(headers: Headers) -> str | None:
    """``Bearer <token>`` from the hub's subprotocol offer on a same-origin upgrade, else None."""
    if "authorization" in headers:
        return None
    offered = [p.strip() for value in headers.get_all("sec-websocket-protocol") for p in value.split(",")]
    tokens = [p[len(TOKEN_PREFIX):] for p in offered if p.startswith(TOKEN_PREFIX)]
    if SUBPROTOCOL not in offered or len(tokens) != 1:
        return None
    if not same_origin(headers.get("origin"), headers.get("host")):
        return None
    return f"Bearer {tokens[0]}"


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a browser's ``Origin`` names the address the request was sent to (default ports folded)."""
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    default = "80" if parts.scheme == "http" else "443"
    try:
        origin_port = str(parts.port) if parts.port is not None else default
    except ValueError:
        return False
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1]:9076
        end = host.find("]")
        name, rest = host[1:end], host[end + 1:]
        port = rest[1:] if rest.startswith(":") else default
    else:
        name, sep, port = host.partition(":")
        port = port if sep else default
    return name == parts.hostname.lower() and port == origin_port


# -- static files -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _File:
    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from
    gzipped: bytes | None  # the body as stored (``.gz``), when it is stored compressed
    plain: bytes | None  # decompressed on first need (a client without gzip), or the plain file
    etag: str
    content_type: str


class StaticFiles:
    """The files of one directory, each read once (again when it changes on disk)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[str, _File] = {}

    def find(self, rel: str) -> _File | None:
        """The file at ``rel`` (either stored plain or as ``rel.gz``); None when absent or outside the root."""
        if not rel or any(seg in ("", ".", "..") or seg.startswith(".") for seg in rel.split("/")):
            return None
        for name, compressed in ((rel, False), (rel + ".gz", True)):
            path = self.root / name
            try:
                st = path.stat()
            except (OSError, ValueError):
                continue
            if not path.is_file() or not path.resolve().is_relative_to(self.root):
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._files.get(rel)
            if cached is not None and cached.stamp == stamp:
                return cached
            data = path.read_bytes()
            suffix = os.path.splitext(rel)[1].lower()
            content_type = _TYPES.get(suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"
            entry = _File(stamp, data if compressed else None, None if compressed else data,
                          '"' + hashlib.sha256(data).hexdigest()[:32] + '"', content_type)
            self._files[rel] = entry
            return entry
        return None

    def response(self, request: Request, rel: str, *, cache: str = "no-cache") -> Response:
        entry = self.find(rel)
        if entry is None:
            raise HttpError(404, "no such file in the hub")
        headers = [("Content-Type", entry.content_type), ("ETag", entry.etag), ("Cache-Control", cache),
                   ("Vary", "Accept-Encoding"), *_COMMON]
        if entry.content_type.startswith("text/html"):
            headers += [("Content-Security-Policy", _CSP), ("X-Frame-Options", "DENY")]
        if request.headers.get("if-none-match") == entry.etag:
            return Response(304, b"", headers)
        if entry.gzipped is not None and _accepts_gzip(request.headers.get("accept-encoding")):
            return Response(200, entry.gzipped, [*headers, ("Content-Encoding", "gzip")])
        plain = entry.plain
        if plain is None:
            assert entry.gzipped is not None
            plain = gzip.decompress(entry.gzipped)
            self._files[rel] = replace(entry, plain=plain)
        return Response(200, plain, headers)


def _accepts_gzip(value: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (a ``;q=0`` refuses it)."""
    for item in (value or "").lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and _q_zero(q[2:]))
    return False


def _q_zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


# -- routes ---------------------------------------------------------------------------------------------------
class Hub:
    """The hub's HTTP routes on one engine."""

    def __init__(self, engine: Engine, root: Path = STATIC_DIR) -> None:
        self.engine = engine
        self.files = StaticFiles(root)

    async def index(self, request: Request) -> Response:
        if not request.path.endswith("/"):  # relative asset URLs need the slash
            location = "/hub/" + (f"?{request.query}" if request.query else "")
            return Response(308, b"", [("Location", location), *_COMMON])
        return self.files.response(request, "index.html")

    async def asset(self, request: Request) -> Response:
        return self.files.response(request, request.params["path"])

    async def config(self, request: Request) -> Response:
        """What the page needs before it signs in: whether a token is needed, which REST routes exist."""
        return Response.json({"jwt": self.engine.settings.validate_json_web_tokens,
                              "version": self.engine.settings.engine_version,
                              "rest": rest_features(self.engine)},
                             headers=[("Cache-Control", "no-store"), *_COMMON])

    async def whoami(self, request: Request) -> Response:
        """Who the page's token says (401 with the reason when it does not pass the JWT rules)."""
        identity = request.identity
        assert identity is not None
        return Response.json({"user": identity.user, "groups": list(identity.groups),
                              "authenticated": identity.authenticated},
                             headers=[("Cache-Control", "no-store"), *_COMMON])


def rest_features(engine: Engine) -> dict[str, str | None]:
    """The REST routes the hub's buttons use, by the method each is registered with (None: absent)."""
    found: dict[str, str | None] = {"import": None, "export": None}
    for route in engine.router.routes():
        segs = route.segments
        if segs == ("v1", "apps", "import") and route.method == "POST":
            found["import"] = "POST"
        elif len(segs) == 4 and segs[:2] == ("v1", "apps") and segs[3] == "export" and segs[2].startswith("{"):
            found["export"] = route.method
    return found


def register(engine: Engine) -> Hub | None:
    """Serve the hub on ``engine`` (nothing when ``EnableHub=0``); the upgrade answers its subprotocol."""
    if not engine.settings.enable_hub:
        return None
    hub = Hub(engine)
    router = engine.router
    router.add("GET", "/hub", hub.index, auth=False)
    router.add("GET", "/hub/api/config", hub.config, auth=False)
    router.add("GET", "/hub/api/whoami", hub.whoami)
    router.add("GET", "/hub/{path:path}", hub.asset, auth=False)
    engine.options = replace(engine.options, subprotocol=SUBPROTOCOL)
    return hub
