"""The QIX JSON-RPC envelope: decoding requests, encoding responses, errors and notifications.

Clients differ in what they send (see qix-protocol.md §2): ``params`` may be an array, an object, ``{}``,
missing or ``null``; ``id`` is echoed (qe-api-client sends ``0`` on every call) when it is what JSON-RPC
allows (a number, a string or null); unknown top-level keys are ignored. Every frame gets an answer: one
that is not a usable request raises :class:`BadRequest`, which carries the error in the protocol's form.

One encoder (:func:`dumps`) writes every frame and every value the delta cache compares, so a value that
can be answered plain can be answered as patches too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import orjson

from engine.errors import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, QixError
from engine.rpc.validate import MAX_DEPTH

__all__ = ["Request", "decode", "dumps", "encode_result", "encode_error", "encode_push", "QixError"]

#: the handle of the static Global interface
GLOBAL_HANDLE = -1
#: a handle no session ever hands out: what an unusable handle value decodes to (answered "Invalid handle")
UNKNOWN_HANDLE = -2
#: a frame with at most this many "[" and "{" cannot carry params nested deeper than the params' limit
#: (the envelope and the params list take two)
_SHALLOW = MAX_DEPTH
#: digits of the longest handle string read as a number (handles are small positive ints)
_MAX_HANDLE_DIGITS = 18


#: a JSON-RPC id: a number, a string or null (echoed as the client sent it)
RequestId: TypeAlias = int | float | str | None
#: a request's params as decoded (client JSON: checked against the handler's annotations by ``bind``)
Params: TypeAlias = "list[Any] | dict[str, Any] | None"


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a microsecond per request
class Request:
    """One decoded request. ``params`` is a list, a dict, or None (= no params / all defaults)."""

    id: RequestId
    method: str
    handle: int
    params: Params
    delta: bool
    #: the frame has too few brackets to nest anything deeper than the params' limit (the usual case):
    #: binding skips the depth check
    shallow: bool = False


class BadRequest(Exception):
    """A frame that is not a usable request; carries the id (if one could be read) and the error."""

    def __init__(self, request_id: RequestId, error: QixError) -> None:
        super().__init__(error.message)
        self.request_id = request_id
        self.error = error


def decode(frame: bytes | str) -> Request:
    """Parse one text frame into a :class:`Request` or raise :class:`BadRequest`."""
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(None, QixError(PARSE_ERROR, str(exc).split(":")[0])) from None
    if type(msg) is not dict:
        raise BadRequest(None, QixError(INVALID_REQUEST, "Request must be a JSON object"))
    request_id = msg.get("id")
    if type(request_id) is not int and not _usable_id(request_id):
        raise BadRequest(None, QixError(INVALID_REQUEST, "Invalid id"))
    method = msg.get("method")
    if type(method) is not str or not method:
        raise BadRequest(request_id, QixError(INVALID_REQUEST, "Missing method"))
    handle = msg.get("handle", GLOBAL_HANDLE)
    if type(handle) is not int:  # (a bool is not an int here)
        handle = _handle(handle)
    params = msg.get("params")
    if params is not None and type(params) is not list and type(params) is not dict:
        raise BadRequest(request_id, QixError(INVALID_PARAMS, "params: expected an array or an object"))
    if params is None:
        shallow = True
    elif type(frame) is bytes:
        shallow = frame.count(b"[") + frame.count(b"{") <= _SHALLOW
    else:
        shallow = frame.count("[") + frame.count("{") <= _SHALLOW  # type: ignore[arg-type]
    return Request(request_id, method, handle, params, msg.get("delta") is True, shallow)


def _usable_id(request_id: object) -> bool:
    """JSON-RPC ids are numbers, strings or null; an object or array cannot be echoed as one."""
    return request_id is None or type(request_id) in (str, float)


def _handle(handle: object) -> int:
    """A handle that is not a plain int: null means Global, a string of ASCII digits is read as its number,
    anything else is no handle of any session (answered "Invalid handle" once the method is known)."""
    if handle is None:
        return GLOBAL_HANDLE
    if (
        type(handle) is str
        and 0 < len(handle) <= _MAX_HANDLE_DIGITS
        and handle.isascii()
        and (handle[1:] if handle[:1] == "-" else handle).isdigit()
    ):
        return int(handle)
    return UNKNOWN_HANDLE


def _numpy_scalar(value: object) -> object:
    """orjson's ``default``: numpy scalars it does not write itself (longdouble, ...), with NaN and
    infinities as the engine writes them. Anything else is a handler's bug (TypeError, answered -128)."""
    if isinstance(value, np.floating):
        num = float(value)
        if not math.isfinite(num):
            return "NaN" if num != num else ("Infinity" if num > 0 else "-Infinity")
        return num
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps(obj: object, *, sort_keys: bool = False) -> bytes:
    """The one JSON encoder for answers and for the delta cache. numpy arrays and scalars are written by
    orjson itself; handlers send NaN as the string ``"NaN"`` (the engine's form), as orjson writes a float
    NaN as ``null``."""
    return orjson.dumps(
        obj, default=_numpy_scalar, option=_OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _OPTIONS
    )


def encode_result(
    request_id: RequestId,
    result: Mapping[str, object],
    *,
    delta: bool = False,
    change: list[int] | None = None,
    close: list[int] | None = None,
) -> bytes:
    msg: dict[str, object] = {"jsonrpc": "2.0", "id": request_id}
    if delta:
        msg["delta"] = True
    msg["result"] = result
    if change:
        msg["change"] = change
    if close:
        msg["close"] = close
    return dumps(msg)


def encode_error(
    request_id: RequestId, error: QixError, *, change: list[int] | None = None, close: list[int] | None = None
) -> bytes:
    msg: dict[str, object] = {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
    if change:
        msg["change"] = change
    if close:
        msg["close"] = close
    return dumps(msg)


def encode_push(change: list[int] | None = None, close: list[int] | None = None) -> bytes:
    """An id-less frame carrying change/close lists caused by another socket of the session."""
    msg: dict[str, object] = {"jsonrpc": "2.0"}
    if change:
        msg["change"] = change
    if close:
        msg["close"] = close
    return dumps(msg)


def encode_notification(method: str, params: Mapping[str, object]) -> bytes:
    return dumps({"jsonrpc": "2.0", "method": method, "params": params})
