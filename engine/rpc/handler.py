"""Serving one frame: decode, find the handle's target, bind params, run, answer with change/close.

A frame becomes a :class:`Request` job that the session runs in arrival order (``Session.submit``);
methods registered ``concurrent`` (progress, abort, version queries) run at once even while a long request
runs. A handler answers by returning its result, or an awaitable of it when it has to wait (a worker
thread, a reload): only then does the request cost a task. Every frame is answered: one that is not a
usable request gets the JSON-RPC error :func:`~engine.rpc.protocol.decode` names, a handle that is no
handle of the session gets -32602 "Invalid handle", params of the wrong type get -32602 naming the
parameter (checked in :func:`~engine.rpc.dispatch.bind`). Unexpected exceptions, in the handler or in
encoding its answer, are logged with a traceback and answered as -128; the socket stays up.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING

from engine.errors import ABORTED, INTERNAL, INVALID_PARAMS, QixError
from engine.rpc import dispatch
from engine.rpc.protocol import GLOBAL_HANDLE, BadRequest, decode, encode_error, encode_result

# the interface modules register their methods on import
from engine.rpc import doc as _doc  # noqa: F401  isort: skip
from engine.rpc import field as _field  # noqa: F401  isort: skip
from engine.rpc import global_ as _global  # noqa: F401  isort: skip
from engine.rpc import object_data as _object_data  # noqa: F401  isort: skip
from engine.rpc import doc_objects as _doc_objects  # noqa: F401  isort: skip
from engine.rpc import generic_entities as _generic_entities  # noqa: F401  isort: skip
from engine.rpc import generic_object as _generic_object  # noqa: F401  isort: skip

if TYPE_CHECKING:
    from engine.session import Session, Socket

log = logging.getLogger("qix.rpc")


class GlobalTarget:
    """The static Global interface (handle -1)."""

    def version(self) -> int:
        return 0


GLOBAL = GlobalTarget()

#: methods whose answer ABAC adjusts: listings leave out what the user may not read, layouts say what the
#: user may do (``qMeta.privileges``)
_LISTINGS = frozenset({"GetDocList", "GetObjects", "GetAllInfos", "GetLayout", "GetAppLayout"})


def receive(session: Session, sock: Socket, frame: bytes) -> None:
    """Serve one frame read from ``sock``; id-less change frames go to the session's other sockets."""
    started = time.perf_counter()
    try:
        request = decode(frame)
    except BadRequest as bad:
        sock.send(encode_error(bad.request_id, bad.error))
        return
    except Exception as exc:  # a bug of ours: the frame is still answered
        log.error("internal error decoding a frame", exc_info=exc)
        sock.send(encode_error(None, QixError(INTERNAL, "decode")))
        return
    try:
        target: object
        if request.handle == GLOBAL_HANDLE:
            qtype, target = "Global", GLOBAL
        else:
            entry = session.handles.get(request.handle)
            if entry is None:
                raise QixError(INVALID_PARAMS, "Invalid handle", "Invalid Params")
            qtype, target = entry.qtype, entry.target
        spec = dispatch.lookup(qtype, request.method)
    except QixError as err:
        label = request.method if dispatch.is_method(request.method) else "unknown"
        session.engine.metrics.request(label, time.perf_counter() - started)
        sock.send(encode_error(request.id, err))
        return
    call = dispatch.Call(session, request, target, request.handle, socket=sock)
    session.submit(Job(spec, call, started, session, sock), concurrent=spec.concurrent)


class Job:
    """One decoded request, as the session schedules it."""

    __slots__ = ("spec", "call", "started", "id", "session", "socket", "read", "handle")

    def __init__(
        self, spec: dispatch.MethodSpec, call: dispatch.Call, started: float, session: Session, socket: Socket
    ) -> None:
        self.spec, self.call, self.started = spec, call, started
        self.id = call.request.id
        self.session = session  # the call's, with what only the transport uses (counters, pushes)
        self.socket = socket
        self.read = spec.read
        self.handle = call.handle

    def start(self) -> Awaitable[None] | None:
        spec, call = self.spec, self.call
        try:
            doc = call.session.active_doc
            if call.handle != GLOBAL_HANDLE and doc is not None:
                doc.user_access()  # section access: a user whose access went away gets 5 on any doc call
            request = call.request
            kwargs = dispatch.bind(spec, request.params, request.shallow) if spec.params else {}
            guard = call.session.engine.guard
            if guard.enabled:  # ABAC: after the params are valid, before the handler can change anything
                guard.check_call(call, spec.qtype, spec.name, kwargs)
            result = spec.fn(call, **kwargs) if spec.params else spec.fn(call)
            if result is not None and type(result) is not dict and inspect.isawaitable(result):
                return self._answer_later(result)
            frame = self._success(result)
        except Exception as exc:
            frame = self._failure(exc)
        self.answer(frame)
        return None

    async def _answer_later(self, result: Awaitable[dict[str, object]]) -> None:
        try:
            frame = self._success(await result)
        except asyncio.CancelledError:
            if self.session.ended:
                raise
            frame = encode_error(self.id, QixError(ABORTED, self.spec.name))
        except Exception as exc:
            frame = self._failure(exc)
        self.answer(frame)

    def abort(self) -> None:
        self.answer(encode_error(self.id, QixError(ABORTED, self.spec.name)))

    def answer(self, frame: bytes) -> None:
        session = self.session
        session.calls += 1
        session.engine.metrics.request(self.spec.name, time.perf_counter() - self.started)
        self.socket.send(frame)

    def _success(self, result: Mapping[str, object] | None) -> bytes:
        call = self.call
        if self.spec.name in _LISTINGS and call.session.engine.guard.enabled:
            result = call.session.engine.guard.visible(call, self.spec.name, result)
        change, close = _lists(self.session, call)
        if close:
            self.socket.delta.forget(close)
        request = call.request
        if request.delta:
            result = self.socket.delta.patches(call.handle, self.spec.name, result or {})
        return encode_result(request.id, result or {}, delta=request.delta, change=change, close=close)

    def _failure(self, exc: Exception) -> bytes:
        if not isinstance(exc, QixError):
            log.error(
                "internal error in %s.%s (id %r)", self.spec.qtype, self.spec.name, self.id, exc_info=exc
            )
            exc = QixError(INTERNAL, self.spec.name)
        change, close = _lists(self.session, self.call)
        return encode_error(self.id, exc, change=change, close=close)


def _lists(session: Session, call: dispatch.Call) -> tuple[list[int], list[int]]:
    """This response's change/close lists. Handles that went stale are news for every socket of the
    session; new handles (``call.change``) only for the caller, who is the only one to know them."""
    stale = session.collect_changes()
    if not (stale or call.change or call.close or call.shared_change):
        return [], []  # most calls: nothing to tell anyone
    close = sorted(call.close)
    stale = [h for h in stale if h not in call.close]
    session.push(stale, close, exclude=call.socket)
    if call.shared_change:
        for other in session.manager.peers_of(session):
            other.refresh()
    change = sorted(set(stale) | (call.change - call.close))
    return change, close
