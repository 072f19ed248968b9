"""One WebSocket: websockets' public sans-I/O ``ServerProtocol`` driven from the asyncio transport's callbacks.

websockets' asyncio layer queues each message, wakes a coroutine per ``recv()`` and awaits a send context
per ``send()``: about 20 µs per small request and answer here, as much as a cached ``GetLayout`` costs.
QIX needs none of it: the session orders requests itself and an answer can be written the moment it
exists. So the transport's ``data_received`` feeds the protocol, each complete message goes straight to a
callback, and :meth:`WebSocket.write_frame` writes at once. websockets still does the handshake response,
framing, masking, permessage-deflate, size limits, ping answers and the close frames; this module does
what its asyncio layer would: joining fragments, checking text is UTF-8 (1007), keepalive pings (1011 when
a pong is late) and cutting the TCP connection when a closing handshake does not finish in time.

Backpressure. Reading stops while the transport's write buffer is over its high-water mark (and while
the session has too many of this socket's requests waiting), so a client that floods or does not read is
slowed by TCP. Past ``Options.max_buffer`` bytes waiting, the socket is *full*: messages already read wait
here and the session does not start this socket's queued requests (:attr:`WebSocket.full`), until the
transport drains; past four times that, the socket is closed with 1008. A client that stops reading thus
costs at most about ``max_buffer`` plus one answer, not every answer to what it had sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as HandshakeRequest
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from engine.transport.options import Options

log = logging.getLogger("qix.transport")
_ws_log = logging.getLogger("qix.websockets")

#: websockets' own defaults for permessage-deflate (small windows, little memory per connection)
_DEFLATE = (ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12,
                                           compress_settings={"memLevel": 5}),)

TEXT, BINARY, CONT, PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG
OPEN = State.OPEN

#: close codes (RFC 6455 7.4.1)
GOING_AWAY, INVALID_DATA, POLICY_VIOLATION, INTERNAL_ERROR = 1001, 1007, 1008, 1011


def _nothing() -> None:
    pass


def _bytes(data: bytes | bytearray | memoryview) -> bytes:
    """A frame's payload as bytes (what websockets' parser makes already)."""
    return data if isinstance(data, bytes) else bytes(data)


def _subprotocol_selector(ours: str | None) -> Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | None]:
    """Select ``ours`` when the client offers it, else none (never a refusal: other offers are not ours)."""

    def select(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        return Subprotocol(ours) if ours is not None and ours in offered else None

    return select


def handshake(transport: asyncio.Transport, head: bytes, options: Options, peer: str = "") -> WebSocket | None:
    """Answer the opening handshake whose request line and headers are ``head``; write the response.

    Returns the open WebSocket on 101; None when websockets refused the request (a 400, 426, ...: the
    response says why and the connection is closing).
    """
    protocol = ServerProtocol(extensions=_DEFLATE if options.compression else None,
                              max_size=options.max_message, logger=_ws_log,
                              select_subprotocol=_subprotocol_selector(options.subprotocol))
    protocol.receive_data(head)
    events = protocol.events_received()
    if events and isinstance(events[0], HandshakeRequest):
        protocol.send_response(protocol.accept(events[0]))
    ws = WebSocket(transport, protocol, options, peer)
    ws.send_pending()
    if protocol.state is not OPEN:
        transport.close()
        return None
    return ws


class WebSocket:
    """An open WebSocket on its transport; the connection forwards the transport's callbacks to it.

    Implements what a session needs of a socket (``engine.session.Link``): :meth:`write_frame`,
    :meth:`hold_reading` / :meth:`release_reading` and :attr:`full`.
    """

    def __init__(self, transport: asyncio.Transport, protocol: ServerProtocol, options: Options,
                 peer: str = "") -> None:
        self.transport = transport
        self.protocol = protocol
        self.options = options
        self.peer = peer
        #: over ``max_buffer`` bytes of answers waiting: this socket's requests wait until the client reads
        self.full = False
        #: the most answer bytes seen waiting in the transport (sampled at each write past its high-water)
        self.peak_buffered = 0
        self.closed = False
        self._on_message: Callable[[bytes], None] | None = None
        self._on_drain: Callable[[], None] = _nothing
        self._on_closed: Callable[[], None] = _nothing
        self._held: deque[bytes] = deque()  # messages read while full (or before listen)
        self._fragments: list[bytes] | None = None
        self._fragmented_text = True
        self._holds: set[str] = set()  # why reading is paused
        self._writing_paused = False
        self._failed = False
        self._loop = asyncio.get_running_loop()
        self._ping_payload: bytes | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- the owner's side ----------------------------------------------------------------------------------
    def listen(self, on_message: Callable[[bytes], None], *, on_drain: Callable[[], None] = _nothing,
               on_closed: Callable[[], None] = _nothing) -> None:
        """From now on call ``on_message`` with each complete message in order, ``on_drain`` when the
        socket stops being :attr:`full`, and ``on_closed`` once when the connection is gone."""
        self._on_message, self._on_drain, self._on_closed = on_message, on_drain, on_closed
        self._arm_ping()
        self._deliver_held()

    @property
    def buffered(self) -> int:
        """Bytes written and not yet taken by the kernel."""
        return 0 if self.closed else self.transport.get_write_buffer_size()

    def write_frame(self, message: bytes) -> None:
        """Send ``message`` (UTF-8 JSON) as a text frame now; nothing is sent once the socket is closing."""
        protocol = self.protocol
        if protocol.state is not OPEN:
            return
        protocol.send_text(message)
        transport = self.transport
        try:
            for data in protocol.data_to_send():
                transport.write(data)
        except Exception:  # the transport failed under us: the connection is lost
            log.debug("write failed", exc_info=True)
            transport.abort()
            return
        if self._writing_paused:
            self._check_buffer()

    def hold_reading(self, reason: str) -> None:
        if not self._holds and not self.transport.is_closing():
            self.transport.pause_reading()
        self._holds.add(reason)

    def release_reading(self, reason: str) -> None:
        if reason in self._holds:
            self._holds.discard(reason)
            if not self._holds and not self.transport.is_closing():
                self.transport.resume_reading()

    def close(self, code: int = GOING_AWAY, reason: str = "") -> None:
        """Start the closing handshake (the TCP connection is cut if it does not finish in time)."""
        if self.protocol.state is OPEN:
            self.protocol.send_close(code, reason)
            self.send_pending()
            self._expect_close()

    def fail(self, code: int, reason: str) -> None:
        """Close at once with ``code``: no further message of this socket is served."""
        log.info("websocket failed", extra={"event": "websocket_failed", "peer": self.peer, "code": code,
                                           "reason": reason})
        self._failed = True
        self.protocol.fail(code, reason)
        self.send_pending()
        self._expect_close()

    def send_pending(self) -> None:
        """Write what the protocol has to send; its end-of-data marker half-closes (or closes, on TLS)."""
        transport = self.transport
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                try:
                    transport.write_eof()
                except Exception:  # a transport closing under us
                    log.debug("write_eof failed", exc_info=True)
            else:
                transport.close()

    # -- transport callbacks (forwarded by the connection) ------------------------------------------------
    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self.send_pending()  # pongs, the answer to a close frame
        for event in events:
            if self._failed:
                break
            if not isinstance(event, Frame):  # once open, websockets parses nothing but frames
                continue
            opcode = event.opcode
            if opcode is TEXT and event.fin and self._fragments is None:
                self._message(_bytes(event.data), True)  # the usual case: one request, one frame
            elif opcode is TEXT or opcode is BINARY or opcode is CONT:
                self._fragment(event)
            elif opcode is PONG:
                self._pong(_bytes(event.data))
        self._expect_close()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self.protocol.events_received()
        self.send_pending()

    def connection_lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.protocol.receive_eof()
        for timer in (self._ping_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        self._holds.clear()
        # what this socket asked for still happens (a DoSave, say); the answers go nowhere
        self.full = False
        self._on_drain()
        self._deliver_held()
        self._on_closed()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self.hold_reading("writing")

    def resume_writing(self) -> None:
        self._writing_paused = False
        self.release_reading("writing")
        if self.full:
            self.full = False
            self.release_reading("full")
            self._on_drain()  # the session's requests from this socket first: they were read first
            self._deliver_held()

    # -- messages ----------------------------------------------------------------------------------------
    def _fragment(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is CONT:
            parts = self._fragments
            if parts is None:  # websockets refuses a continuation out of place before it gets here
                return
            parts.append(_bytes(frame.data))
            if frame.fin:
                self._fragments = None
                self._message(b"".join(parts), self._fragmented_text)
        elif frame.fin:
            self._message(_bytes(frame.data), opcode is TEXT)
        else:
            self._fragments = [_bytes(frame.data)]
            self._fragmented_text = opcode is TEXT

    def _message(self, data: bytes, text: bool) -> None:
        if text and not data.isascii():
            try:
                data.decode()
            except UnicodeDecodeError:
                self.fail(INVALID_DATA, "invalid UTF-8 in a text message")
                return
        on_message = self._on_message
        if on_message is None or self.full or self._held:
            self._held.append(data)
            return
        try:
            on_message(data)
        except Exception:  # a bug serving one message must not stop the messages after it
            log.exception("serving a message failed")

    def _deliver_held(self) -> None:
        held, on_message = self._held, self._on_message
        while held and on_message is not None and not self.full:
            try:
                on_message(held.popleft())
            except Exception:
                log.exception("serving a message failed")

    # -- bounds and timers -------------------------------------------------------------------------------
    def _check_buffer(self) -> None:
        size = self.transport.get_write_buffer_size()
        if size > self.peak_buffered:
            self.peak_buffered = size
        if size >= self.options.max_buffer and not self.full:
            self.full = True
            self.hold_reading("full")
        if size >= self.options.max_buffer_hard and not self._failed:
            self.fail(POLICY_VIOLATION, f"answers not read: {size} bytes waiting")

    def _arm_ping(self) -> None:
        if self.options.ping_interval and not self.closed:
            self._ping_timer = self._loop.call_later(self.options.ping_interval, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        if self.protocol.state is not OPEN:
            return
        self._ping_payload = os.urandom(4)
        self.protocol.send_ping(self._ping_payload)
        self.send_pending()
        self._ping_timer = self._loop.call_later(self.options.ping_timeout, self._ping_timed_out)

    def _pong(self, data: bytes) -> None:
        if self._ping_payload is not None and data == self._ping_payload:
            self._ping_payload = None
            if self._ping_timer is not None:
                self._ping_timer.cancel()
            self._arm_ping()

    def _ping_timed_out(self) -> None:
        self._ping_timer = None
        self.fail(INTERNAL_ERROR, "keepalive ping timeout")

    def _expect_close(self) -> None:
        if self._close_timer is None and not self.closed and self.protocol.close_expected():
            self._close_timer = self._loop.call_later(self.options.close_timeout, self.transport.abort)
