"""Serving one frame: decode, find the handle's target, bind params, run, answer with change/close.

Requests that change state run one at a time per session in arrival order (the session lock); methods
registered ``concurrent`` (progress, abort, version queries) are answered at once even while a long
request runs. Unexpected exceptions are logged with a traceback and answered as -128; the socket stays up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from engine.errors import ABORTED, INTERNAL, INVALID_PARAMS, QixError
from engine.rpc import dispatch
from engine.rpc.protocol import BadRequest, decode, encode_error, encode_result

# the interface modules register their methods on import
from engine.rpc import doc as _doc  # noqa: F401  isort: skip
from engine.rpc import field as _field  # noqa: F401  isort: skip
from engine.rpc import global_ as _global  # noqa: F401  isort: skip
from engine.rpc import object_data as _object_data  # noqa: F401  isort: skip
from engine.rpc import doc_objects as _doc_objects  # noqa: F401  isort: skip
from engine.rpc import generic_entities as _generic_entities  # noqa: F401  isort: skip
from engine.rpc import generic_object as _generic_object  # noqa: F401  isort: skip

log = logging.getLogger("qix.rpc")

GLOBAL_HANDLE = -1


class GlobalTarget:
    """The static Global interface (handle -1)."""

    def version(self) -> int:
        return 0


GLOBAL = GlobalTarget()


async def serve_frame(session: Any, sock: Any, frame: bytes | str) -> None:
    """Answer one frame on ``sock``; id-less change frames go to the session's other sockets."""
    started = time.perf_counter()
    metrics = session.engine.metrics
    try:
        request = decode(frame)
    except BadRequest as bad:
        await sock.write(encode_error(bad.request_id, bad.error))
        return
    method_label = request.method
    try:
        if request.handle == GLOBAL_HANDLE:
            qtype, target = "Global", GLOBAL
        else:
            entry = session.entry(request.handle)
            if entry is None:
                raise QixError(INVALID_PARAMS, "Invalid handle", "Invalid Params")
            qtype, target = entry.qtype, entry.target
        spec = dispatch.lookup(qtype, request.method)
        method_label = spec.name
    except QixError as err:
        metrics.request(method_label if dispatch.is_method(method_label) else "unknown",
                        time.perf_counter() - started)
        await sock.write(encode_error(request.id, err))
        return

    call = dispatch.Call(session, request, target, request.handle, socket=sock)
    task = asyncio.current_task()
    if task is not None and request.id is not None:
        session.inflight[request.id] = task
    try:
        if spec.concurrent:
            frame_out = await _run(spec, call, request)
        else:
            async with session.lock:
                frame_out = await _run(spec, call, request)
    except asyncio.CancelledError:
        if session.ended:
            raise
        frame_out = encode_error(request.id, QixError(ABORTED, request.method))
    finally:
        if task is not None and session.inflight.get(request.id) is task:
            del session.inflight[request.id]
    session.calls += 1
    metrics.request(spec.name, time.perf_counter() - started)
    await sock.write(frame_out)


async def _run(spec: dispatch.MethodSpec, call: dispatch.Call, request: Any) -> bytes:
    session = call.session
    try:
        doc = session.active_doc
        if call.handle != GLOBAL_HANDLE and doc is not None:
            doc.user_access()  # section access: a user whose access went away gets 5 on any doc call
        kwargs = dispatch.bind(spec, request.params)
        result = spec.fn(call, **kwargs)
        if spec.is_async:
            result = await result
        if result is None:
            result = {}
    except QixError as err:
        change, close = _lists(session, call)
        return encode_error(request.id, err, change=change, close=close)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("internal error in %s.%s (id %r)", spec.qtype, spec.name, request.id)
        change, close = _lists(session, call)
        return encode_error(request.id, QixError(INTERNAL, spec.name), change=change, close=close)
    change, close = _lists(session, call)
    sock = call.socket
    if close:
        sock.delta.forget(close)
    if request.delta:
        result = sock.delta.patches(call.handle, spec.name, result)
    return encode_result(request.id, result, delta=request.delta, change=change, close=close)


def _lists(session: Any, call: dispatch.Call) -> tuple[list[int], list[int]]:
    """This response's change/close lists. Handles that went stale are news for every socket of the
    session; new handles (``call.change``) only for the caller, who is the only one to know them."""
    close = sorted(call.close)
    stale = [h for h in session.collect_changes() if h not in call.close]
    session.push(stale, close, exclude=call.socket)
    if call.shared_change:
        for other in session.manager.peers_of(session):
            other.refresh()
    change = sorted(set(stale) | (call.change - call.close))
    return change, close
