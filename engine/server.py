"""The engine's port: health endpoints, the QIX WebSocket routes, JWT at the handshake, attaching sockets to
sessions.

The transport (``engine.transport``) reads each HTTP request head. Paths in :attr:`Engine.router` are served
as HTTP (``/healthcheck``, ``/health``, and the REST API once it registers there); any other path comes to
:meth:`Engine.websocket`: unknown paths get 404, a failed JWT check 401 before any upgrade, and an accepted
handshake attaches the socket to its session. From then on each message the socket reads goes straight to
the rpc layer (``engine.rpc.handler.receive``) and each answer is written at once.

Behind a proxy (``deploy/haproxy``) an engine is one of several. SIGTERM *drains* it first (:func:`drain`):
``/healthcheck`` answers 503 so the proxy's health check takes it out, new WebSocket handshakes get 503
(the proxy retries them on another engine), the requests already read are answered, and only then are the
sockets closed with 1001 so their clients reconnect (through the proxy, to another engine). With
``EnableFilePolling=1`` the engine also runs the document sync poller (``engine.app.sync``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import resource
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from engine import hub, rest, workers
from engine.app.abac import RuleFiles
from engine.app.calccache import CALC_CACHE
from engine.app.guard import AppGuard
from engine.app.registry import AppRegistry
from engine.app.reload import cancel_orphaned_reloads
from engine.app.sync import DocumentSync
from engine.auth import Authenticator, AuthError, Identity
from engine.connectors import config as connector_config
from engine.expr import limits
from engine.metrics import Metrics
from engine.rpc.handler import receive
from engine.rpc.protocol import encode_notification
from engine.session import Route, Session, SessionManager, Socket, session_key
from engine.settings import Settings
from engine.transport import HttpError, Options, Request, Response, Router
from engine.transport.connection import Opener
from engine.transport.listener import Listener
from engine.transport.websocket import WebSocket

log = logging.getLogger("qix.server")
traffic_log = logging.getLogger("qix.traffic")

#: the first frame on every socket, by whether the socket's session was created (or joined)
ON_CONNECTED = {created: encode_notification("OnConnected", {"qSessionState": state})
                for created, state in ((True, "SESSION_CREATED"), (False, "SESSION_ATTACHED"))}

_WWW_AUTHENTICATE = ("WWW-Authenticate", 'Bearer realm="qix-engine"')


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


class LoopLag:
    """How late the event loop runs a timer. While it is late by ``THRESHOLD`` or more (and for ``HOLD``
    seconds after), every request waits that long too: the engine is *saturated* (``/health`` says 429)."""

    INTERVAL, THRESHOLD, HOLD = 0.25, 0.5, 3.0

    def __init__(self) -> None:
        self.lag = 0.0
        self._late_at = -math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0
        self._running = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._running = loop, True
        self._schedule()

    def stop(self) -> None:
        self._running = False

    @property
    def saturated(self) -> bool:
        return self._loop is not None and self._loop.time() - self._late_at < self.HOLD

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.INTERVAL
        self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        if not self._running or self._loop is None:
            return
        now = self._loop.time()
        self.lag = now - self._due
        if self.lag >= self.THRESHOLD:
            self._late_at = now
        self._schedule()


@dataclass
class Engine:
    """Everything a request may reach: settings, auth, apps, sessions, metrics, the HTTP routes."""

    settings: Settings
    authenticator: Authenticator
    metrics: Metrics = field(default_factory=Metrics)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        # process-wide: one engine per process (in tests the latest engine started wins)
        limits.configure(limits.Limits.from_settings(self.settings))  # string, memory and reload limits
        connector_config.configure(connector_config.ConnectorSettings.from_settings(self.settings))
        settings = self.settings
        CALC_CACHE.configure(settings.calc_cache_memory * 2**20)  # process-wide, like the limits
        workers.configure(settings.worker_thread_nice)
        self.metrics.calc_cache.source = lambda: {**CALC_CACHE.health(), "bytes": CALC_CACHE.bytes}
        self.apps = AppRegistry(settings.document_directory)
        self.guard = AppGuard(RuleFiles.from_settings(settings))
        self.sessions = SessionManager(self)
        self.sessions.on_end.append(self._session_ended)
        self.sync = DocumentSync(self.apps, self.sessions, settings.file_polling_interval)
        #: SIGTERM received: health checks fail, new sockets are refused, open requests finish
        self.draining = False
        self.connections = 0
        self.listener: Listener | None = None
        self.lag = LoopLag()
        self.options = Options(compression=settings.enable_compression, max_body=settings.max_rest_body_size,
                               max_buffer=settings.max_socket_buffer_bytes)
        #: plain HTTP endpoints on the WebSocket port; the REST API registers its routes here
        self.router = Router()
        self.router.add("GET", "/healthcheck", self._healthcheck, auth=False)
        self.router.add("GET", "/health", self._health, auth=False)
        rest.register(self.router, self)
        hub.register(self)  # /hub/ (EnableHub): static files, and its token subprotocol on the upgrade
        self._closing: set[asyncio.Task[None]] = set()
        # read when scraped, so connecting and leaving cost no metric updates
        self.metrics.active_sessions.set_function(lambda: self.sessions.active)
        self.metrics.active_connections.set_function(lambda: self.connections)
        self.metrics.active_documents.set_function(lambda: len(self.apps.loaded))
        self.metrics.websocket_buffered_bytes.set_function(
            lambda: self.listener.buffered() if self.listener is not None else 0)

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
            "cache": CALC_CACHE.health(),
            "saturated": self.lag.saturated,
        }

    async def _healthcheck(self, request: Request) -> Response:
        """The engine's health; 503 while draining, so a proxy's health check stops sending users here."""
        body = self.health()
        if self.draining:
            body["draining"] = True
        return Response(503 if self.draining else 200, orjson.dumps(body) + b"\n",
                        [("Content-Type", "application/json")])

    async def _health(self, request: Request) -> Response:
        """200 while the engine keeps up, 429 while it is saturated (a balancer should send users elsewhere),
        503 while it drains."""
        if self.draining:
            return Response.json({"status": "draining"}, 503)
        if self.lag.saturated:
            return Response.json({"status": "saturated", "lag": round(self.lag.lag, 3)}, 429,
                                 headers=[("Retry-After", str(math.ceil(LoopLag.HOLD)))])
        return Response.json({"status": "ok"})

    def authenticate(self, request: Request) -> Identity:
        """The JWT rules of the handshake, for HTTP routes: 401 with WWW-Authenticate when they fail."""
        try:
            return self.authenticator.authenticate(request.headers.get("authorization"))
        except AuthError as err:
            log.info("request refused", extra={"event": "request_refused", "peer": request.peer,
                                               "path": request.path, "reason": err.reason})
            raise HttpError(401, f"Unauthorized: {err.reason}", headers=[_WWW_AUTHENTICATE]) from None

    # -- WebSocket side ------------------------------------------------------------------------------------
    def websocket(self, request: Request) -> Response | Opener | None:
        """A QIX route: refuse (401) or accept; None for a path that is not one (404)."""
        route = parse_route(request.target)
        if route is None:
            return None
        if self.draining:  # a proxy retries the handshake on another engine
            return Response.text("Service Unavailable: the engine is shutting down\n", 503,
                                 headers=[("Retry-After", "1")])
        try:
            identity = self.authenticator.authenticate(request.headers.get("authorization")
                                                       or self._hub_authorization(request))
        except AuthError as err:
            self.metrics.handshake_rejections.labels(reason=_reason_label(err.reason)).inc()
            log.info("connection refused", extra={"event": "connection_refused", "peer": request.peer,
                                                   "path": request.path, "reason": err.reason})
            return Response.text(f"Unauthorized: {err.reason}\n", 401, headers=[_WWW_AUTHENTICATE])
        return partial(self._open, identity, route, request.headers.get("x-qlik-session"), request.target)

    def _hub_authorization(self, request: Request) -> str | None:
        """The hub page's token, offered as a WebSocket subprotocol (see engine.hub); same JWT rules."""
        return hub.handshake_authorization(request.headers) if self.settings.enable_hub else None

    def _open(self, identity: Identity, route: Route, header: str | None, path: str, ws: WebSocket) -> None:
        """The handshake succeeded: attach the socket to its session, say OnConnected, serve its messages."""
        settings = self.settings
        key = session_key(identity.user, settings.validate_json_web_tokens > 0, route, header)
        sock = Socket(ws, ws.peer)
        session, created = self.sessions.attach(key, identity, route, settings.effective_ttl(route.ttl), sock)
        self.connections += 1
        if created:
            self.metrics.sessions_total.inc()
        log.info("connection accepted", extra={
            "event": "session_created" if created else "session_attached", "peer": ws.peer,
            "user": identity.user, "path": path})
        on_message: Callable[[bytes], None] = partial(receive, session, sock)
        if settings.traffic_log_verbosity:
            sock.trace = partial(_traffic, ws.peer, identity.user)
            on_message = _traced(sock.trace, on_message)
        sock.send(ON_CONNECTED[created])
        ws.listen(on_message, on_drain=sock.drained,
                  on_closed=partial(self._closed, session, sock))

    def _closed(self, session: Session, sock: Socket) -> None:
        self.connections -= 1
        sock.closed = True
        if not sock.pending:
            self.sessions.detach(session, sock)
            return
        # what this socket asked for still happens (a DoSave, say) before it leaves the session; a reload
        # among it ends with the session's TTL unless a socket of the session comes back
        orphan_timer = cancel_orphaned_reloads(session, session.ttl)
        task = asyncio.get_running_loop().create_task(self._detach_when_settled(session, sock, orphan_timer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _detach_when_settled(self, session: Session, sock: Socket,
                                   orphan_timer: asyncio.TimerHandle | None) -> None:
        try:
            await sock.settled()
        finally:
            if orphan_timer is not None:
                orphan_timer.cancel()
            self.sessions.detach(session, sock)


def _traffic(peer: str, user: str, direction: str, frame: bytes) -> None:
    """One line of the traffic log: a frame in or out (secrets masked by the log filter)."""
    traffic_log.info("%s %s", direction, frame.decode("utf-8", "replace"),
                     extra={"event": "traffic", "direction": direction, "peer": peer, "user": user})


def _traced(trace: Callable[[str, bytes], None], on_message: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def traced(frame: bytes) -> None:
        trace("in", frame)
        on_message(frame)

    return traced


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


async def start(engine: Engine) -> Listener:
    """Start listening; the caller owns the returned listener (``close()`` + ``wait_closed()``)."""
    settings = engine.settings
    listener = Listener(engine)
    await listener.listen(settings.host, settings.port, _ssl_context(settings))
    engine.listener = listener
    engine.lag.start(asyncio.get_running_loop())
    if settings.enable_file_polling:
        engine.sync.start()
    engine.metrics.serve(settings.host, settings.prometheus_port)
    port = listener.sockets[0].getsockname()[1]
    log.info("engine listening", extra={"event": "listening", "host": settings.host, "port": port,
                                        "tls": bool(settings.tls_cert), "pid": os.getpid()})
    return listener


#: how long a draining engine waits for the requests it has read (a reload, a save) before closing anyway
DRAIN_TIMEOUT = 30.0
#: how long it keeps failing health checks before closing its sockets, so a proxy (2 failed checks 1 s apart,
#: see deploy/haproxy/haproxy.cfg) takes it out before those clients reconnect
DRAIN_GRACE = 2.5


def open_requests(engine: Engine) -> int:
    """Requests read from the engine's sockets and not answered yet."""
    return sum(sock.pending for session in list(engine.sessions.sessions.values())
               for sock in list(session.sockets))


async def drain(engine: Engine, force: asyncio.Event | None = None, *, grace: float = DRAIN_GRACE,
                timeout: float = DRAIN_TIMEOUT) -> None:
    """Stop taking users and let the open requests finish: health checks and new handshakes get 503 from
    now on; returns once nothing is pending (and ``grace`` has passed), after ``timeout``, or on ``force``."""
    engine.draining = True
    loop = asyncio.get_running_loop()
    started = loop.time()
    if not engine.connections:
        grace = 0.0  # nobody to send elsewhere
    log.info("draining", extra={"event": "draining", "connections": engine.connections,
                                "requests": open_requests(engine)})
    while loop.time() - started < timeout and not (force is not None and force.is_set()):
        if open_requests(engine) == 0 and loop.time() - started >= grace:
            return
        await asyncio.sleep(0.05)
    if open_requests(engine):
        log.warning("closing with requests still open", extra={"requests": open_requests(engine)})


async def main(settings: Settings, authenticator: Authenticator) -> None:
    """Serve until SIGTERM/SIGINT, then drain (a second signal cuts it short), close sockets with 1001 and
    return."""
    engine = Engine(settings, authenticator)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(workers.executor(workers.default_workers(), "qix-worker"))
    listener = await start(engine)
    stop, force = asyncio.Event(), asyncio.Event()

    def signalled() -> None:
        (force if stop.is_set() else stop).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signalled)
    await stop.wait()
    await drain(engine, force)
    log.info("shutting down", extra={"event": "shutdown", "connections": engine.connections})
    await engine.sync.stop()
    listener.close()  # closes every WebSocket with 1001 (going away)
    engine.lag.stop()
    try:
        await asyncio.wait_for(listener.wait_closed(), timeout=4)
    except TimeoutError:
        log.warning("connections did not close in time")
    engine.metrics.close()


def run(settings: Settings, authenticator: Authenticator) -> int:
    """Run the engine on uvloop when available; the process's exit status once it has stopped."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where supported
        asyncio.run(main(settings, authenticator))
    else:
        uvloop.run(main(settings, authenticator))
    return 0
