"""Sessions: which sockets share state, the handle table, TTL, and change fan-out.

A session is keyed by who connects and how (see :func:`session_key`). Every socket of a session shares its
handles and its open document. After each request the session works out which handles became invalid
(their target's version moved since the client last read it) and tells the calling socket on the response
and every other socket with an id-less frame.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from engine.rpc.delta import DeltaCache
from engine.rpc.protocol import encode_push

log = logging.getLogger("qix.session")


@dataclass(frozen=True)
class Route:
    """What the WebSocket URL says: the app part, ``/identity/<x>`` and ``/ttl/<n>``."""

    app: str | None  # None = no app ("/", "/app", "/app/engineData")
    identity: str | None = None
    ttl: int | None = None
    query: str = ""

    @property
    def session_app_id(self) -> str | None:
        """``/app/SessionApp_<x>`` names a session app created on first attach (Qlik Cloud form)."""
        return self.app if self.app and self.app.startswith("SessionApp_") else None


def session_key(user: str, jwt_on: bool, route: Route, session_header: str | None) -> tuple:
    """With JWT on: (user, X-Qlik-Session) if the header is present, else (user, app, identity).
    With JWT off: (X-Qlik-Session) or (app, identity). A header never lets one user reach another's."""
    if session_header:
        return ("hdr", user if jwt_on else "", session_header)
    return ("url", user if jwt_on else "", route.app or "", route.identity or "")


@dataclass
class HandleEntry:
    qtype: str
    target: Any
    #: the target's version when the client last read it; None = not valid (never read or reported)
    seen: Any = None


class Socket:
    """One WebSocket attached to a session: how to write to it, and its own delta cache."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]], remote: str = "") -> None:
        self.write = write  # awaited by the task that answers a request (backpressure applies)
        self.remote = remote
        self.delta = DeltaCache()

    def send(self, frame: bytes) -> None:
        """Queue a frame without waiting: pushes to other sockets are sent from plain callbacks."""
        asyncio.ensure_future(self.write(frame))


class Session:
    """State shared by every socket of one session."""

    def __init__(self, manager: SessionManager, key: tuple, identity: Any, route: Route, ttl: float) -> None:
        self.manager = manager
        self.engine = manager.engine
        self.key = key
        self.identity = identity
        self.route = route
        self.ttl = ttl
        self.sockets: set[Socket] = set()
        self.handles: dict[int, HandleEntry] = {}
        self._next_handle = 1
        self.active_doc: Any = None  # engine.app.DocSession once a doc is open
        self.lock = asyncio.Lock()
        self.created = time.monotonic()
        self.calls = 0
        self._expiry: asyncio.TimerHandle | None = None
        self.ended = False
        #: DoReload request id → progress object (for Global.GetProgress)
        self.reloads: dict[Any, Any] = {}
        #: in-flight request tasks by request id (for AbortRequest/CancelRequest)
        self.inflight: dict[Any, asyncio.Task] = {}

    # -- handles -------------------------------------------------------------------------------------
    def new_handle(self, qtype: str, target: Any) -> int:
        handle = self._next_handle
        self._next_handle += 1
        self.handles[handle] = HandleEntry(qtype, target)
        return handle

    def entry(self, handle: int) -> HandleEntry | None:
        return self.handles.get(handle)

    def handles_of(self, target: Any) -> list[int]:
        return [h for h, e in self.handles.items() if e.target is target]

    def drop_target(self, target: Any) -> list[int]:
        gone = self.handles_of(target)
        for h in gone:
            del self.handles[h]
        return gone

    def mark_read(self, handle: int) -> Any:
        """The client has just read this handle's state: it is valid until the target's version moves.
        Returns that version (callers caching what they read key it by the same value)."""
        entry = self.handles.get(handle)
        if entry is None:
            return None
        entry.seen = _version(entry.target)
        return entry.seen

    def collect_changes(self) -> list[int]:
        """Handles that went valid → invalid since the client last read them (each reported once)."""
        out = []
        for h, e in self.handles.items():
            if e.seen is not None and _version(e.target) != e.seen:
                e.seen = None
                out.append(h)
        return out

    # -- sockets and fan-out ---------------------------------------------------------------------------
    def push(self, change: list[int], close: list[int], exclude: Socket | None = None) -> None:
        """Send an id-less change/close frame to every socket of the session but ``exclude``."""
        if not change and not close:
            return
        frame = encode_push(change, close)
        for sock in list(self.sockets):
            if sock is exclude:
                continue
            if close:
                sock.delta.forget(close)
            try:
                sock.send(frame)
            except Exception:  # a socket closing under us is not the session's problem
                log.debug("push to a closing socket failed", exc_info=True)

    def refresh(self, exclude: Socket | None = None) -> None:
        """Check for invalidated handles caused elsewhere (another session's reload) and push them."""
        self.push(self.collect_changes(), [], exclude)

    def cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def schedule_expiry(self) -> None:
        self.cancel_expiry()
        if self.ttl <= 0:
            self.manager.end(self, "Last socket closed")
        elif math.isfinite(self.ttl):
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_later(self.ttl, self.manager.end, self, "Session expired")


def _version(target: Any) -> Any:
    version = getattr(target, "version", None)
    return version() if callable(version) else 0


class SessionManager:
    """All live sessions; attaching a socket creates or joins one."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.sessions: dict[tuple, Session] = {}
        self.total = 0
        self.on_end: list[Callable[[Session, str], None]] = []

    def attach(self, key: tuple, identity: Any, route: Route, ttl: float, sock: Socket) -> tuple[Session, bool]:
        """Attach ``sock``; returns the session and whether it was newly created."""
        session = self.sessions.get(key)
        created = session is None
        if session is None:
            session = Session(self, key, identity, route, ttl)
            self.sessions[key] = session
            self.total += 1
        else:
            session.cancel_expiry()
            session.ttl = ttl  # the latest TTL given is the one in force
        session.sockets.add(sock)
        return session, created

    def detach(self, session: Session, sock: Socket) -> None:
        session.sockets.discard(sock)
        if not session.sockets and not session.ended:
            session.schedule_expiry()

    def end(self, session: Session, reason: str) -> None:
        if session.ended:
            return
        session.ended = True
        session.cancel_expiry()
        if self.sessions.get(session.key) is session:
            del self.sessions[session.key]
        for task in session.inflight.values():
            task.cancel()
        for callback in self.on_end:
            try:
                callback(session, reason)
            except Exception:
                log.exception("session end callback failed")

    def peers_of(self, session: Session) -> list[Session]:
        """Other live sessions with the same app open (they see shared changes such as a reload)."""
        doc = session.active_doc
        if doc is None:
            return []
        app = doc.app
        return [s for s in self.sessions.values()
                if s is not session and s.active_doc is not None and s.active_doc.app is app]

    @property
    def active(self) -> int:
        return len(self.sessions)
