"""The QIX JSON-RPC envelope: decoding requests, encoding responses, errors and notifications.

Clients differ in what they send (see qix-protocol.md §2): ``params`` may be an array, an object, ``{}``,
missing or ``null``; ``id`` is echoed whatever it is (qe-api-client sends ``0`` on every call); unknown
top-level keys are ignored. Frames are text frames of orjson bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from engine.errors import INVALID_REQUEST, PARSE_ERROR, QixError

__all__ = ["Request", "decode", "encode_result", "encode_error", "encode_push", "QixError"]


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a microsecond per request
class Request:
    """One decoded request. ``params`` is a list, a dict, or None (= no params / all defaults)."""

    id: Any
    method: str
    handle: int
    params: list | dict | None
    delta: bool


class BadRequest(Exception):
    """A frame that is not a usable request; carries the id (if one could be read) and the error."""

    def __init__(self, request_id: Any, error: QixError) -> None:
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
    method = msg.get("method")
    if type(method) is not str or not method:
        raise BadRequest(request_id, QixError(INVALID_REQUEST, "Missing method"))
    handle = msg.get("handle", -1)
    if type(handle) is not int:  # (a bool is not an int here)
        handle = _handle(handle, request_id)
    params = msg.get("params")
    if params is not None and type(params) is not list and type(params) is not dict:
        raise BadRequest(request_id, QixError(INVALID_REQUEST, "Params must be an array or an object"))
    return Request(request_id, method, handle, params, msg.get("delta") is True)


def _handle(handle: Any, request_id: Any) -> int:
    """A handle that is not a plain int: null means Global, a numeric string is read as its number."""
    if handle is None:
        return -1
    if isinstance(handle, str) and handle.lstrip("-").isdigit():
        return int(handle)
    raise BadRequest(request_id, QixError(INVALID_REQUEST, "Invalid handle"))


def _dumps(obj: dict) -> bytes:
    """Handlers send NaN as the string ``"NaN"`` themselves: orjson would write a float NaN as ``null``."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_result(request_id: Any, result: dict, *, delta: bool = False, change: list[int] | None = None,
                  close: list[int] | None = None) -> bytes:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if delta:
        msg["delta"] = True
    msg["result"] = result
    if change:
        msg["change"] = change
    if close:
        msg["close"] = close
    return _dumps(msg)


def encode_error(request_id: Any, error: QixError, *, change: list[int] | None = None,
                 close: list[int] | None = None) -> bytes:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
    if change:
        msg["change"] = change
    if close:
        msg["close"] = close
    return _dumps(msg)


def encode_push(change: list[int] | None = None, close: list[int] | None = None) -> bytes:
    """An id-less frame carrying change/close lists caused by another socket of the session."""
    msg: dict[str, Any] = {"jsonrpc": "2.0"}
    if change:
        msg["change"] = change
    if close:
        msg["close"] = close
    return _dumps(msg)


def encode_notification(method: str, params: dict) -> bytes:
    return _dumps({"jsonrpc": "2.0", "method": method, "params": params})
