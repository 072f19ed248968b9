"""What an HTTP handler sees and returns: :class:`Request` (with a streaming, size-bounded body), :class:`Response`
and :class:`HttpError`. No I/O here: the connection (``engine.transport.connection``) feeds the body and writes
the response, so these types can be built and read in tests without a socket.

A body is never read into memory behind the handler's back: a ``Content-Length`` over the limit is refused
with 413 before the handler runs, and a chunked body is counted as it streams, so a handler that reads it
gets ``HttpError(413)`` at the first chunk past the limit.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs

import orjson

from engine.auth import Identity


class Headers:
    """Request headers: case-insensitive names, repeated names kept in order (a read-only view)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = tuple((name.lower(), value) for name, value in items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        name = name.lower()
        for key, value in self._items:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self._items if key == name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(lower-case name, value)`` pairs in the order received."""
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


class HttpError(Exception):
    """Raise from a handler (or a body read) to answer ``status`` with a short plain-text ``message``."""

    def __init__(self, status: int, message: str = "", *, headers: Iterable[tuple[str, str]] = ()) -> None:
        phrase = http.HTTPStatus(status).phrase
        super().__init__(f"{status} {message or phrase}")
        self.status = status
        self.message = message or phrase
        self.headers = tuple(headers)

    def response(self) -> Response:
        return Response.text(f"{self.message}\n", self.status, headers=self.headers)


class Body:
    """A request body as it arrives: read it whole (:meth:`read`) or chunk by chunk (:meth:`chunks`).

    The connection calls :meth:`feed` / :meth:`finish` / :meth:`abort`; ``pull`` asks it for more data (it
    reads the socket only while a handler waits for body bytes, so an unread body costs nothing).
    """

    def __init__(self, length: int | None, limit: int, pull: Callable[[], None] = lambda: None) -> None:
        self.length = length  # the Content-Length, None for a chunked body
        self.limit = limit
        self.received = 0
        self.complete = False  # the end of the body was read
        self._pull = pull
        self._chunks: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    # -- the connection's side ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.limit:
            self.abort(HttpError(413, f"request body over {self.limit} bytes"))
            return
        self._chunks.append(data)
        self._wake()

    def finish(self) -> None:
        self.complete = True
        self._wake()

    def abort(self, error: BaseException) -> None:
        """No more data will come: the next read raises ``error``."""
        if self._error is None:
            self._error = error
        self._chunks.clear()
        self._wake()

    @property
    def too_large(self) -> bool:
        return isinstance(self._error, HttpError) and self._error.status == 413

    @property
    def wants_data(self) -> bool:
        """A handler is waiting for body bytes."""
        return self._waiter is not None and not self._waiter.done()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- the handler's side ------------------------------------------------------------------------------
    async def next_chunk(self) -> bytes:
        """The next piece of the body; ``b""`` once it is all read."""
        while True:
            if self._chunks:
                return self._chunks.popleft()
            if self._error is not None:
                raise self._error
            if self.complete:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            self._pull()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.next_chunk():
            yield chunk

    async def read(self) -> bytes:
        """The whole body (at most ``limit`` bytes: past that, HttpError(413))."""
        parts = [chunk async for chunk in self.chunks()]
        return b"".join(parts)


@dataclass(frozen=True, eq=False)
class Request:
    """One HTTP request as a handler sees it.

    ``path`` is the request target's path, still percent-encoded (``params`` hold the decoded values of the
    route's ``{name}`` segments); ``query`` is the raw query string (:meth:`query_params` parses it).
    ``identity`` is who the token says (``Personal\\Me`` with validation off); None on routes registered
    with ``auth=False``.
    """

    method: str
    path: str
    query: str
    headers: Headers
    body: Body
    peer: str = ""
    identity: Identity | None = None
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    async def read(self) -> bytes:
        """The whole body, bounded by ``MaxRestBodySize``."""
        return await self.body.read()

    def stream(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk as it arrives (for bodies better not held whole, such as an app import)."""
        return self.body.chunks()

    async def json(self) -> Any:
        """The body parsed as JSON; 400 when it is not."""
        try:
            return orjson.loads(await self.read())
        except orjson.JSONDecodeError as err:
            raise HttpError(400, f"body is not JSON: {err}") from None


@dataclass
class Response:
    """What a handler returns. ``body`` is bytes (sent with a Content-Length) or an async iterable of bytes
    (sent chunked as it is produced, at the pace the client reads)."""

    status: int = 200
    body: bytes | AsyncIterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, value: Any, status: int = 200, *, headers: Iterable[tuple[str, str]] = ()) -> Response:
        return cls(status, orjson.dumps(value), [("Content-Type", "application/json"), *headers])

    @classmethod
    def text(cls, text: str, status: int = 200, *, headers: Iterable[tuple[str, str]] = ()) -> Response:
        return cls(status, text.encode(), [("Content-Type", "text/plain; charset=utf-8"), *headers])


def http_date() -> str:
    return email.utils.formatdate(usegmt=True)
