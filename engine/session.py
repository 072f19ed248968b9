"""Sessions: which sockets share state, the handle table, TTL, and change fan-out.

A session is keyed by who connects and how (see :func:`session_key`). Every socket of a session shares its
handles and its open document. Requests that change state run one at a time per session, in arrival order
(:meth:`Session.submit`): a request is started the moment it arrives when the session is idle, and one that
has to wait (a reload, a worker-thread calculation) continues in a task while later ones queue behind it.
Reads (layouts and data pages, registered ``read``) change nothing: consecutive reads of different handles
run side by side (up to :data:`MAX_READS`), so a dashboard's objects compute on both cores; a second read of
the same handle, and the next request that changes state, wait until they end.
The one exception to arrival order: the queued requests of a socket whose client is not reading its answers
(:attr:`Socket.full`) wait, in their order, until it reads, and the session's other sockets pass them.
After each request the session works out which handles became invalid (their target's version moved since
the client last read it) and tells the calling socket on the response and every other socket with an
id-less frame. Changes that come from another engine (document sync, ``engine.app.sync``) reach every
socket of every session on the app the same way, as id-less frames.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from engine.rpc.delta import DeltaCache
from engine.rpc.protocol import RequestId, encode_push

if TYPE_CHECKING:
    from engine.app.app import App, DocSession
    from engine.app.objects import Entity
    from engine.app.reload import ReloadJob
    from engine.auth import Identity
    from engine.server import Engine

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


def session_key(user: str, jwt_on: bool, route: Route, session_header: str | None) -> SessionKey:
    """With JWT on: (user, X-Qlik-Session) if the header is present, else (user, app, identity).
    With JWT off: (X-Qlik-Session) or (app, identity). A header never lets one user reach another's."""
    if session_header:
        return ("hdr", user if jwt_on else "", session_header)
    return ("url", user if jwt_on else "", route.app or "", route.identity or "")


#: who a session is: ("hdr", user, X-Qlik-Session) or ("url", user, app, identity)
SessionKey = tuple[str, ...]


@dataclass
class HandleEntry:
    qtype: str
    target: object
    #: the target's version when the client last read it; None = not valid (never read or reported)
    seen: object = None


class Link(Protocol):
    """What a session needs of a WebSocket (``engine.transport.websocket.WebSocket``)."""

    #: over its bound of answer bytes waiting: this socket's queued requests wait until the client reads
    full: bool

    def write_frame(self, message: bytes) -> None: ...
    def hold_reading(self, reason: str) -> None: ...
    def release_reading(self, reason: str) -> None: ...


#: a socket with this many requests waiting in its session is not read until it is down to the low mark.
#: Far above what a dashboard queues behind a long reload: a paused socket's pongs are not read either, so
#: keepalive would close it after ping_timeout.
BACKLOG_HIGH, BACKLOG_LOW = 1024, 256
#: reads of one session running side by side at most (a dashboard's objects; each holds a worker thread)
MAX_READS = 8


class Socket:
    """One WebSocket attached to a session: how to write to it, its unanswered requests, its delta cache."""

    def __init__(self, link: Link, remote: str = "") -> None:
        self.link = link
        self.remote = remote
        #: the traffic log (``TrafficLogVerbosity``): called with each frame in and out when set
        self.trace: Callable[[str, bytes], None] | None = None
        self.delta = DeltaCache()
        self.pending = 0  # requests read from this socket and not answered yet
        self.session: Session | None = None  # set when attached
        self.closed = False  # the connection is gone (its requests may still be finishing)
        self._settled: asyncio.Future[None] | None = None

    @property
    def full(self) -> bool:
        """The client is not reading its answers: its queued requests wait (others' go on)."""
        return self.link.full

    def drained(self) -> None:
        """The link is no longer full: run what waited for it."""
        if self.session is not None:
            self.session.resume()

    def send(self, frame: bytes) -> None:
        """Write a frame now (answers, pushes); a closing socket drops it."""
        if self.trace is not None:
            self.trace("out", frame)
        self.link.write_frame(frame)

    def accepted(self) -> None:
        self.pending += 1
        if self.pending == BACKLOG_HIGH:
            self.link.hold_reading("backlog")

    def answered(self) -> None:
        self.pending -= 1
        if self.pending == BACKLOG_LOW:
            self.link.release_reading("backlog")
        if self.pending == 0 and self._settled is not None and not self._settled.done():
            self._settled.set_result(None)

    async def settled(self) -> None:
        """Wait until every request read from this socket is answered (or dropped with its session)."""
        if self.pending:
            self._settled = asyncio.get_running_loop().create_future()
            await self._settled


class Job(Protocol):
    """One request as the session schedules it (``engine.rpc.handler`` makes them)."""

    id: RequestId  # for AbortRequest
    socket: Socket
    #: reads nothing but the session's state: may run beside the reads next to it (see Session.submit)
    read: bool
    handle: int  # the handle it reads

    def start(self) -> Awaitable[None] | None:
        """Run; None when answered already, else an awaitable that answers (and answers "aborted" if
        cancelled)."""

    def abort(self) -> None:
        """Answer "aborted" without running."""


class Session:
    """State shared by every socket of one session."""

    def __init__(
        self, manager: SessionManager, key: SessionKey, identity: Identity, route: Route, ttl: float
    ) -> None:
        self.manager = manager
        self.engine = manager.engine
        self.key = key
        self.identity = identity
        #: this user's document rules (ABAC), compiled once when the session starts
        self.policy = self.engine.guard.policy_for(identity)
        self.route = route
        self.ttl = ttl
        self.sockets: set[Socket] = set()
        self.handles: dict[int, HandleEntry] = {}
        self._next_handle = 1
        self.active_doc: DocSession | None = None  # once a doc is open
        self.created = time.monotonic()
        self.calls = 0
        self._expiry: asyncio.TimerHandle | None = None
        self.ended = False
        #: DoReload request id → progress object (for Global.GetProgress)
        self.reloads: dict[RequestId, ReloadJob] = {}
        #: ConfigureReload's choices (accepted and kept; the reload does not read them yet)
        self.reload_config: dict[str, bool] = {}
        #: requests continuing in a task, by request id (for AbortRequest/CancelRequest)
        self.inflight: dict[RequestId, asyncio.Task[None]] = {}
        self.busy = False  # a state-changing request is running; later ones wait in the backlog
        #: handles with a read running in a task; a state-changing request waits until none is left
        self.reading: set[int] = set()
        self.backlog: deque[Job] = deque()

    # -- running requests ------------------------------------------------------------------------------
    def submit(self, job: Job, *, concurrent: bool = False) -> None:
        """Run ``job`` now if the session is idle or the job is ``concurrent`` (progress, abort), else
        after the jobs ahead of it."""
        job.socket.accepted()
        if concurrent:
            self._start(job, serial=False)
        elif self.busy or self.backlog or job.socket.full or (self.reading and not self._may_read(job)):
            self.backlog.append(job)
            if not self.busy:  # the backlog holds only jobs of full sockets (or one waiting for reads)
                self._run_serial()
        else:
            self.busy = True
            self._run_serial(job)

    def resume(self) -> None:
        """A socket stopped being full: its queued requests may run."""
        if not self.busy and self.backlog and not self.ended:
            self._run_serial()

    def _run_serial(self, job: Job | None = None) -> None:
        """Start jobs in order: reads side by side (each may go on in a task), a state-changing job only
        when no read runs; stop at a job that goes on in a task or has to wait for reads."""
        self.busy = True
        while True:
            if job is None:
                i = self._next_index()
                if i is None:
                    break
                if self.reading and not self._may_read(self.backlog[i]):
                    break  # waits until the reads before it have answered
                job = self.backlog[i]
                del self.backlog[i]
            if job.read:
                if self._start(job, serial=False, read=True):
                    self.reading.add(job.handle)
            elif self._start(job, serial=True):
                return  # it continues in a task, which resumes the backlog when done
            job = None
        self.busy = False

    def _may_read(self, job: Job) -> bool:
        """Whether ``job`` may start beside the reads running now."""
        return job.read and job.handle not in self.reading and len(self.reading) < MAX_READS

    def _next_index(self) -> int | None:
        """Where the first queued job whose socket is not full is. A full socket's jobs keep their order
        and wait for its client to read; the other sockets' jobs pass them."""
        for i, job in enumerate(self.backlog):
            if not job.socket.full:
                return i
        return None

    def _start(self, job: Job, serial: bool, read: bool = False) -> bool:
        """Start ``job``; True when it goes on in a task."""
        try:
            pending = job.start()
        except Exception:  # a job answers its own errors; this is a bug, and must not stall the session
            log.exception("request %r failed outside its handler", job.id)
            pending = None
        if pending is None:
            job.socket.answered()
            return False
        task = asyncio.get_running_loop().create_task(self._finish(job, pending, serial, read))
        if job.id is not None:
            self.inflight[job.id] = task
        return True

    async def _finish(self, job: Job, pending: Awaitable[None], serial: bool, read: bool = False) -> None:
        try:
            await pending
        finally:
            if self.inflight.get(job.id) is asyncio.current_task():
                del self.inflight[job.id]
            job.socket.answered()
            if read:
                self.reading.discard(job.handle)
        if self.ended:
            return
        if serial or (read and not self.busy and self.backlog):
            self._run_serial()

    def cancel(self, request_id: RequestId) -> None:
        """Abort a request: a running one is cancelled (it answers "aborted"), a waiting one answered so."""
        task = self.inflight.get(request_id)
        if task is not None:
            if task is not asyncio.current_task():
                task.cancel()
            return
        for job in [j for j in self.backlog if j.id == request_id]:
            self.backlog.remove(job)
            _abort(job)

    def cancel_all(self) -> None:
        for request_id in list(self.inflight):
            self.cancel(request_id)
        while self.backlog:
            _abort(self.backlog.popleft())

    def orphaned(self) -> bool:
        """Every socket of the session has closed (some may still be finishing their requests)."""
        return all(sock.closed for sock in self.sockets)

    # -- handles -------------------------------------------------------------------------------------
    def new_handle(self, qtype: str, target: object) -> int:
        handle = self._next_handle
        self._next_handle += 1
        self.handles[handle] = HandleEntry(qtype, target)
        return handle

    def handles_of(self, target: object) -> list[int]:
        return [h for h, e in self.handles.items() if e.target is target]

    def drop_target(self, target: object) -> list[int]:
        gone = self.handles_of(target)
        for h in gone:
            del self.handles[h]
        return gone

    def mark_read(self, handle: int) -> object:
        """The client has just read this handle's state: it is valid until the target's version moves.
        Returns that version (callers caching what they read key it by the same value)."""
        entry = self.handles.get(handle)
        if entry is None:
            return None
        entry.seen = _version(entry.target)
        return entry.seen

    def peers(self) -> list[Session]:
        """Other live sessions with the same app open (see ``SessionManager.peers_of``)."""
        return self.manager.peers_of(self)

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


def _abort(job: Job) -> None:
    job.abort()
    job.socket.answered()


def _version(target: object) -> object:
    version = getattr(target, "version", None)
    return version() if callable(version) else 0


class SessionManager:
    """All live sessions; attaching a socket creates or joins one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: dict[SessionKey, Session] = {}
        self.total = 0
        self.on_end: list[Callable[[Session, str], None]] = []

    def attach(
        self, key: SessionKey, identity: Identity, route: Route, ttl: float, sock: Socket
    ) -> tuple[Session, bool]:
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
        sock.session = session
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
        for job in session.backlog:
            job.socket.answered()
        session.backlog.clear()
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
        return [
            s
            for s in self.sessions.values()
            if s is not session and s.active_doc is not None and s.active_doc.app is app
        ]

    # -- document sync (engine.app.sync): another engine changed or deleted an app -------------------------
    def sessions_of(self, app: App) -> list[Session]:
        return [s for s in self.sessions.values() if s.active_doc is not None and s.active_doc.app is app]

    def docs_of(self, app: App) -> list[DocSession]:
        return [s.active_doc for s in self.sessions_of(app) if s.active_doc is not None]

    def app_changed(self, app: App, removed: list[Entity]) -> None:
        """``app`` holds another engine's version: close the handles of the ``removed`` entities and report
        the handles that went stale, on every socket of every session that has the app open."""
        for session in self.sessions_of(app):
            doc = session.active_doc
            if doc is None:  # not reached: sessions_of gives sessions with the app open
                continue
            close: list[int] = []
            for entity in removed:
                view = doc.forget_view(entity)
                if view is not None:
                    close += session.drop_target(view)
            session.push(session.collect_changes(), sorted(close))

    def app_deleted(self, app: App) -> None:
        """``app``'s file is gone: every handle of the sessions on it closes (the Doc handle too) and the
        sessions are left without a document, as after a fresh connect."""
        for session in self.sessions_of(app):
            close = sorted(session.handles)
            session.handles.clear()
            session.active_doc = None
            session.push([], close)

    @property
    def active(self) -> int:
        return len(self.sessions)
