"""The WebSocket server: HTTP endpoints, URL routing, JWT at the handshake, attaching sockets to sessions.

``process_request`` runs during the opening handshake: ``/healthcheck`` is answered there, unknown paths
get 404, and a failed JWT check gets 401 before any upgrade. An accepted connection carries its
``Identity`` and ``Route`` to the handler, which attaches it to a session; from then on each message the
connection parses goes straight to the rpc layer (``engine.connection``).
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
import resource
import signal
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from engine.app.registry import AppRegistry
from engine.app.reload import cancel_orphaned_reloads
from engine.auth import Authenticator, AuthError
from engine.connection import FrameConnection
from engine.expr import limits
from engine.metrics import Metrics
from engine.rpc.handler import receive
from engine.rpc.protocol import encode_notification
from engine.session import Route, Session, SessionManager, Socket, session_key
from engine.settings import Settings

log = logging.getLogger("qix.server")

#: the first frame on every socket, by whether the socket's session was created (or joined)
ON_CONNECTED = {created: encode_notification("OnConnected", {"qSessionState": state})
                for created, state in ((True, "SESSION_CREATED"), (False, "SESSION_ATTACHED"))}


def parse_route(path: str) -> Route | None:
    """Map a WebSocket URL path (with any query string) to a :class:`Route`; None = not ours (404).

    Accepted: ``/``, ``/app``, ``/app/``, ``/app/<id>``, ``/app/engineData`` (= no app), each optionally
    followed by ``/identity/<x>`` and ``/ttl/<n>`` in either order. Segments are split before being
    unquoted, so an app id may carry an encoded ``/``.
    """
    parts = urlsplit(path)
    segments = [s for s in parts.path.split("/") if s]
    app: str | None = None
    if segments and segments[0] == "app":
        segments = segments[1:]
        if segments and segments[0] not in ("identity", "ttl"):
            app = unquote(segments[0])
            segments = segments[1:]
    if len(segments) % 2:
        return None
    tail: dict[str, str] = {}
    for kind, value in zip(segments[::2], segments[1::2], strict=True):
        if kind not in ("identity", "ttl") or kind in tail:
            return None
        tail[kind] = unquote(value)
    ttl = None
    if "ttl" in tail:
        try:
            ttl = int(tail["ttl"])
        except ValueError:
            return None
    if app == "engineData":
        app = None
    return Route(app=app, identity=tail.get("identity"), ttl=ttl, query=parts.query)


@dataclass
class Engine:
    """Everything a request may reach: settings, auth, apps, sessions, metrics."""

    settings: Settings
    authenticator: Authenticator
    metrics: Metrics = field(default_factory=Metrics)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        limits.configure(limits.Limits.from_settings(self.settings))  # string, memory and reload limits
        self.apps = AppRegistry(self.settings.document_directory)
        self.sessions = SessionManager(self)
        self.sessions.on_end.append(self._session_ended)
        self.connections = 0
        # read when scraped, so connecting and leaving cost no metric updates
        self.metrics.active_sessions.set_function(lambda: self.sessions.active)
        self.metrics.active_connections.set_function(lambda: self.connections)
        self.metrics.active_documents.set_function(lambda: len(self.apps.loaded))

    def _session_ended(self, session: Session, reason: str) -> None:
        doc = session.active_doc
        if doc is not None:
            session.active_doc = None
            self.apps.release(doc.app)
        log.info("session ended", extra={
            "event": "session_ended", "user": session.identity.user, "reason": reason,
            "duration": round(time.monotonic() - session.created, 3), "calls": session.calls})

    # -- HTTP side ----------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        rss_mb = usage.ru_maxrss / 1024
        users = {s.identity.user for s in self.sessions.sessions.values()}
        return {
            "version": self.settings.engine_version,
            "started": time.strftime("%Y%m%dT%H%M%S.000Z", time.gmtime(self.started)),
            "mem": {"committed": round(rss_mb, 4), "allocated": round(rss_mb, 4), "free": _free_mb()},
            "cpu": {"total": round(usage.ru_utime + usage.ru_stime, 3)},
            "session": {"active": self.sessions.active, "total": self.sessions.total},
            "apps": {"active_docs": sorted({s.active_doc.app.app_id for s in self.sessions.sessions.values()
                                            if s.active_doc is not None}),
                     "loaded_docs": sorted(self.apps.loaded), "in_memory_docs": sorted(self.apps.loaded),
                     "calls": sum(s.calls for s in self.sessions.sessions.values()), "selections": 0},
            "users": {"active": len(users), "total": len(users)},
            "cache": {"hits": 0, "lookups": 0, "added": 0, "replaced": 0, "bytes_added": 0},
            "saturated": False,
        }

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path.rstrip("/") == "/healthcheck":
            response = connection.respond(http.HTTPStatus.OK, orjson.dumps(self.health()).decode() + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        route = parse_route(request.path)
        if route is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        peer = _peer(connection)
        try:
            identity = self.authenticator.authenticate(request.headers.get("Authorization"))
        except AuthError as err:
            self.metrics.handshake_rejections.labels(reason=_reason_label(err.reason)).inc()
            log.info("connection refused", extra={"event": "connection_refused", "peer": peer,
                                                   "path": path, "reason": err.reason})
            response = connection.respond(http.HTTPStatus.UNAUTHORIZED, f"Unauthorized: {err.reason}\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="qix-engine"'
            return response
        connection.qix_identity = identity  # type: ignore[attr-defined]
        connection.qix_route = route  # type: ignore[attr-defined]
        connection.qix_session_header = request.headers.get("X-Qlik-Session")  # type: ignore[attr-defined]
        return None

    # -- WebSocket side ------------------------------------------------------------------------------------
    async def handler(self, ws: FrameConnection) -> None:
        identity = ws.qix_identity  # type: ignore[attr-defined]
        route: Route = ws.qix_route  # type: ignore[attr-defined]
        header = ws.qix_session_header  # type: ignore[attr-defined]
        settings = self.settings
        jwt_on = settings.validate_json_web_tokens > 0
        key = session_key(identity.user, jwt_on, route, header)
        peer = _peer(ws)
        sock = Socket(ws, peer)
        session, created = self.sessions.attach(key, identity, route, settings.effective_ttl(route.ttl), sock)
        self.connections += 1
        if created:
            self.metrics.sessions_total.inc()
        log.info("connection accepted", extra={
            "event": "session_created" if created else "session_attached", "peer": peer,
            "user": identity.user, "path": ws.request.path if ws.request else ""})
        sock.send(ON_CONNECTED[created])
        try:
            ws.listen(lambda frame: receive(session, sock, frame))
            await ws.wait_closed()
        finally:
            self.connections -= 1
            sock.closed = True
            orphan_timer = cancel_orphaned_reloads(session, session.ttl)  # a reload left running ends with the TTL
            await sock.settled()  # what this socket asked for still happens (a DoSave, say)
            if orphan_timer is not None:
                orphan_timer.cancel()
            self.sessions.detach(session, sock)


def _peer(connection: ServerConnection) -> str:
    addr = connection.remote_address
    return f"{addr[0]}:{addr[1]}" if addr else ""


def _reason_label(reason: str) -> str:
    """A small fixed vocabulary for the metric label (the free text goes to the log)."""
    r = reason.lower()
    for label in ("missing", "expired", "signature", "algorithm", "sub", "malformed", "scheme", "key",
                  "audience", "issuer", "groups", "not yet valid"):
        if label in r:
            return label.replace(" ", "_")
    return "invalid"


def _free_mb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return round(int(line.split()[1]) / 1024, 4)
    except OSError:
        pass
    return 0.0


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(settings.tls_cert), str(settings.tls_key) if settings.tls_key else None)
    return ctx


async def start(engine: Engine) -> Server:
    """Start listening; the caller owns the returned server (``close()`` + ``wait_closed()``)."""
    settings = engine.settings
    server = await serve(
        engine.handler, settings.host, settings.port,
        process_request=engine.process_request,
        create_connection=FrameConnection,
        compression="deflate" if settings.enable_compression else None,
        max_size=16 * 2**20,
        server_header=None,
        ssl=_ssl_context(settings),
        logger=logging.getLogger("qix.websockets"),
    )
    engine.metrics.serve(settings.host, settings.prometheus_port)
    port = next(iter(server.sockets)).getsockname()[1]
    log.info("engine listening", extra={"event": "listening", "host": settings.host, "port": port,
                                        "tls": bool(settings.tls_cert), "pid": os.getpid()})
    return server


async def main(settings: Settings, authenticator: Authenticator) -> None:
    """Serve until SIGTERM/SIGINT, then stop accepting, close sockets with 1001 and return."""
    engine = Engine(settings, authenticator)
    server = await start(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"event": "shutdown", "connections": engine.connections})
    server.close()  # closes every connection with 1001 (going away)
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=4)
    except TimeoutError:
        log.warning("connections did not close in time")
    engine.metrics.close()


def run(settings: Settings, authenticator: Authenticator) -> None:
    """Run the engine on uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where supported
        asyncio.run(main(settings, authenticator))
    else:
        uvloop.run(main(settings, authenticator))
