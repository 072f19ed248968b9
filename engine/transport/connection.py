"""One TCP (or TLS) connection on the engine's port: HTTP/1.1 requests, read with h11, until one becomes a
WebSocket.

Each request head goes to the :class:`Service` (the engine): a path the router knows is served as HTTP by
its async handler (auth first, then the body limit, then the handler); any other path is offered to
``Service.websocket``, which refuses it with a response (401, 404) or accepts it with an *opener*. Then
websockets' ServerProtocol answers the handshake (``engine.transport.websocket``), the opener attaches the
socket, and the bytes that came with the upgrade request are fed to the socket, so requests pipelined
with the handshake are served right after ``OnConnected``.

HTTP requests on one connection are served one at a time (keep-alive and pipelining work; h11 keeps the
framing right). While a handler runs the socket is read only when the handler asks for body bytes, so a
body nobody reads costs nothing and a pipelined request waits in the kernel. A body left unread closes
the connection after the response.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import AsyncIterable, Callable, Coroutine
from dataclasses import replace
from typing import Any, Protocol, cast

import h11

from engine.auth import Identity
from engine.transport.http import Body, Headers, HttpError, Request, Response, http_date
from engine.transport.options import Options
from engine.transport.router import Route, Router
from engine.transport.websocket import GOING_AWAY, INTERNAL_ERROR, WebSocket, handshake

log = logging.getLogger("qix.transport")

#: what ``Service.websocket`` returns to accept: called with the open socket, after the 101 is written
Opener = Callable[[WebSocket], None]


class Service(Protocol):
    """What a connection serves (``engine.server.Engine``)."""

    router: Router
    options: Options

    def authenticate(self, request: Request) -> Identity:
        """Who sent ``request``; raises :class:`HttpError` (a 401 with its WWW-Authenticate) if nobody valid."""

    def websocket(self, request: Request) -> Response | Opener | None:
        """For a path no HTTP route has: None = not ours (404), a response to refuse, or an opener to accept."""


class Connection(asyncio.Protocol):
    """HTTP until an upgrade, then a pipe to the :class:`WebSocket` (``ws``)."""

    def __init__(self, service: Service, registry: set[Connection], on_lost: Callable[[], None]) -> None:
        self.service = service
        self.registry = registry
        self.on_lost = on_lost
        self.ws: WebSocket | None = None
        self.peer = ""
        self.transport: asyncio.Transport | None = None
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=service.options.max_head)
        self._serving = False  # an HTTP request is being answered
        self._body: Body | None = None
        self._closing = False  # the server is shutting down: close after the current response
        self._timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        self.registry.add(self)
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is not None:
            ws.data_received(data)
            return
        self._h11.receive_data(data)
        if self._serving:
            self._feed_body()
        else:
            self._next_request()

    def eof_received(self) -> bool | None:
        if self.ws is not None:
            self.ws.eof_received()
            return None
        self._h11.receive_data(b"")
        if self._serving:
            self._feed_body()
            return True  # keep the transport to write the response
        self._next_request()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self.ws is not None:
            self.ws.connection_lost()
        if self._body is not None:
            self._body.abort(ConnectionError("connection lost"))
        self._wake_drain()
        self.registry.discard(self)
        self.on_lost()

    def pause_writing(self) -> None:
        if self.ws is not None:
            self.ws.pause_writing()
        else:
            self._write_paused = True

    def resume_writing(self) -> None:
        if self.ws is not None:
            self.ws.resume_writing()
        else:
            self._write_paused = False
            self._wake_drain()

    # -- the server's side ---------------------------------------------------------------------------------
    def shutdown(self, code: int = GOING_AWAY) -> None:
        """The server is stopping: close a WebSocket with ``code``, an HTTP connection after its response."""
        self._closing = True
        if self.ws is not None:
            self.ws.close(code)
        elif not self._serving and self.transport is not None:
            self.transport.close()

    # -- requests ------------------------------------------------------------------------------------------
    def _next_request(self) -> None:
        while not self._serving and self.ws is None:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(exc.error_status_hint, str(exc))
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                self._on_request(event)
            else:  # the client closed, or a state we never leave a connection in
                self._close()
                return

    def _on_request(self, event: h11.Request) -> None:
        self._cancel_timer()
        self._serving = True
        transport = self.transport
        assert transport is not None
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        method = event.method.decode("ascii")
        headers = Headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers)
        length = headers.get("content-length")
        options = self.service.options
        self._body = Body(int(length) if length is not None else None, options.max_body, self._pull_body)
        request = Request(method, path, query, headers, self._body, self.peer)
        match = self.service.router.match(method, path)
        if match is not None:
            transport.pause_reading()  # read again only when the handler wants body bytes
            if match.route is None:
                self._spawn(self._send(Response.text("Method Not Allowed\n", 405,
                                                     headers=[("Allow", ", ".join(match.allowed))]), request))
            else:
                self._spawn(self._serve(match.route, match.params, request))
            return
        verdict = self.service.websocket(request)
        if verdict is None or isinstance(verdict, Response) or method != "GET":
            transport.pause_reading()
            if verdict is None:
                response = Response.text("Not Found\n", 404)
            elif isinstance(verdict, Response):
                response = verdict
            else:
                response = Response.text("Method Not Allowed\n", 405, headers=[("Allow", "GET")])
            self._closing = self._closing or verdict is not None  # a refused upgrade ends the connection
            self._spawn(self._send(response, request))
            return
        self._upgrade(event, verdict)

    def _upgrade(self, event: h11.Request, opener: Opener) -> None:
        """Hand the connection to websockets' ServerProtocol; on 101, to the opener."""
        transport = self.transport
        assert transport is not None
        try:
            if not isinstance(self._h11.next_event(), h11.EndOfMessage):
                raise h11.RemoteProtocolError("a WebSocket upgrade request has no body", 400)
        except h11.RemoteProtocolError as exc:
            self._refuse(exc.error_status_hint, str(exc))
            return
        trailing, _ = self._h11.trailing_data
        ws = handshake(transport, _head_bytes(event), self.service.options, self.peer)
        self._body = None
        if ws is None:
            return  # websockets answered why (400, 426) and the connection is closing
        self.ws = ws
        self._serving = False
        try:
            opener(ws)
        except Exception:
            log.exception("opening a websocket failed")
            ws.fail(INTERNAL_ERROR, "internal error")
            return
        if self._closing:
            ws.close(GOING_AWAY)
        if trailing:
            ws.data_received(trailing)

    async def _serve(self, route: Route, params: dict[str, str], request: Request) -> None:
        try:
            response = await self._handle(route, params, request)
        except ConnectionError:  # the client left while the handler read its body: nobody to answer
            log.info("client left during %s %s", request.method, request.path)
            return
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = Response.text("Internal Server Error\n", 500)
        await self._send(response, request)

    async def _handle(self, route: Route, params: dict[str, str], request: Request) -> Response:
        try:
            identity = self.service.authenticate(request) if route.auth else None
            limit = self.service.options.max_body if route.max_body is None else route.max_body
            if request.body.length is not None and request.body.length > limit:
                raise HttpError(413, f"request body over {limit} bytes")
            request.body.limit = limit
            return await route.handler(replace(request, identity=identity, params=params))
        except HttpError as err:
            return err.response()

    # -- the request body ----------------------------------------------------------------------------------
    def _pull_body(self) -> None:
        """The handler waits for body bytes: take what h11 has, else read the socket."""
        h = self._h11
        if h.they_are_waiting_for_100_continue:
            self._write(h.send(h11.InformationalResponse(status_code=100, headers=[])))
        self._feed_body()

    def _feed_body(self) -> None:
        body, transport = self._body, self.transport
        assert transport is not None
        while body is not None and not body.complete and not body.too_large:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                body.abort(HttpError(exc.error_status_hint, str(exc)))
                break
            if event is h11.NEED_DATA:
                if body.wants_data:
                    transport.resume_reading()
                    return
                break
            if isinstance(event, h11.Data):
                body.feed(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                body.finish()
            else:  # the client closed before the end of the body
                body.abort(HttpError(400, "the request body ended early"))
        if not transport.is_closing():
            transport.pause_reading()

    # -- responses -----------------------------------------------------------------------------------------
    async def _send(self, response: Response, request: Request) -> None:
        """Write ``response``, then serve the next request on this connection or close it."""
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            return
        self._feed_body()  # what is already here: a body read to its end allows keep-alive
        body = self._body
        keep = not self._closing and body is not None and body.complete
        head_only = request.method == "HEAD"
        h = self._h11
        try:
            head = h.send(_response_head(response, keep)) or b""
            if isinstance(response.body, bytes):  # one write: head, body and end
                data = h.send(h11.Data(data=response.body)) if response.body and not head_only else b""
                self._write(head + (data or b"") + (h.send(h11.EndOfMessage()) or b""))
            else:
                self._write(head)
                await self._stream(response.body, head_only)
                self._write(h.send(h11.EndOfMessage()))
        except Exception:  # a handler's bad header, a stream that failed half-way: the response is broken
            log.exception("writing the response to %s %s failed", request.method, request.path)
            transport.abort()
            return
        self._end_cycle()

    async def _stream(self, chunks: AsyncIterable[bytes], head_only: bool) -> None:
        transport = self.transport
        assert transport is not None
        async for chunk in chunks:
            if transport.is_closing():
                raise ConnectionError("the client went away")
            if chunk and not head_only:
                self._write(self._h11.send(h11.Data(data=chunk)))
                if self._write_paused:
                    waiter = asyncio.get_running_loop().create_future()
                    self._drain_waiters.append(waiter)
                    await waiter

    def _end_cycle(self) -> None:
        self._serving = False
        self._body = None
        h = self._h11
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            return
        if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
            self._close()
            return
        h.start_next_cycle()
        self._arm_timer()
        transport.resume_reading()
        self._next_request()  # one that came pipelined behind the last

    def _refuse(self, status: int, reason: str) -> None:
        """Answer a request h11 could not read (400, 431, ...) and close."""
        log.info("bad request", extra={"event": "bad_request", "peer": self.peer, "reason": reason})
        try:
            self._write(self._h11.send(_response_head(Response.text(f"{reason}\n", status), keep=False)))
            self._write(self._h11.send(h11.Data(data=f"{reason}\n".encode())))
            self._write(self._h11.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # h11 cannot answer in this state: just close
            pass
        self._close()

    def _write(self, data: bytes | None) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(coro)

    def _wake_drain(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- the request-head timer ----------------------------------------------------------------------------
    def _arm_timer(self) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(self.service.options.head_timeout, self._close)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _response_head(response: Response, keep: bool) -> h11.Response:
    headers: list[tuple[str, str]] = [("Date", http_date()), *response.headers]
    if isinstance(response.body, bytes):
        headers.append(("Content-Length", str(len(response.body))))
    if not keep:
        headers.append(("Connection", "close"))
    try:
        reason = http.HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    return h11.Response(status_code=response.status, headers=headers, reason=reason)


def _head_bytes(event: h11.Request) -> bytes:
    """The request line and headers again, as bytes for websockets' own parser (its documented input)."""
    lines = [b"%s %s HTTP/%s\r\n" % (event.method, event.target, event.http_version)]
    lines += [b"%s: %s\r\n" % (name, value) for name, value in event.headers.raw_items()]
    lines.append(b"\r\n")
    return b"".join(lines)
