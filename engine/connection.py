"""A websockets server connection that hands every message to a callback as soon as it is parsed.

websockets' ``recv()`` queues each frame, wakes the handler's coroutine, and its ``send()`` awaits a send
context: about 20 µs per small request and answer on this machine, as much as the engine spends on a
cached ``GetLayout``. QIX needs none of that: the session orders requests itself and an answer can be
written the moment it exists. So messages go straight from ``process_event`` to a callback, and answers are
written without awaiting. websockets still does everything else: the opening handshake with its
``process_request`` hook, pings, the closing handshake, size limits and protocol errors.

Backpressure: while the transport's write buffer is above its high-water mark, or the session has too many
of this socket's requests waiting, the socket is not read, so a client that floods or does not read its
answers is slowed down by TCP instead of growing the engine's memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class FrameConnection(ServerConnection):
    """Use :meth:`listen` instead of ``recv()``, and :meth:`write_frame` instead of ``send()``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_message: Callable[[bytes], None] | None = None
        self._early: list[bytes] = []  # messages that arrived before listen()
        self._fragments: list[bytes] | None = None
        self._holds: set[str] = set()  # why reading is paused ("writing", "backlog")

    def listen(self, on_message: Callable[[bytes], None]) -> None:
        """From now on, call ``on_message`` with every complete text or binary message, in order."""
        self._on_message = on_message
        early, self._early = self._early, []
        for message in early:
            on_message(message)

    def process_event(self, event: Any) -> None:
        if self.request is None or not isinstance(event, Frame) or event.opcode not in _DATA:
            super().process_event(event)  # the handshake request, control frames
            return
        if event.opcode is not Opcode.CONT:
            self._fragments = None
        if not event.fin:
            if self._fragments is None:
                self._fragments = []
            self._fragments.append(bytes(event.data))
            return
        if self._fragments is not None:
            self._fragments.append(bytes(event.data))
            message, self._fragments = b"".join(self._fragments), None
        else:
            message = bytes(event.data)
        if self._on_message is None:
            self._early.append(message)
            return
        try:
            self._on_message(message)
        except Exception:  # a bug in serving one message must not break websockets' parsing of the rest
            self.logger.exception("serving a message failed")

    def write_frame(self, message: bytes) -> None:
        """Send ``message`` (UTF-8 JSON) as a text frame now; nothing is sent once the socket is closing."""
        if self.protocol.state is not State.OPEN:
            return
        self.protocol.send_text(message)
        try:
            self.send_data()
        except Exception as exc:  # the transport failed under us: the connection is lost
            self.set_connection_exc(exc)
            self.transport.abort()

    # -- reading pauses -----------------------------------------------------------------------------------
    def hold_reading(self, reason: str) -> None:
        if not self._holds and not self.transport.is_closing():
            self.transport.pause_reading()
        self._holds.add(reason)

    def release_reading(self, reason: str) -> None:
        if reason in self._holds:
            self._holds.discard(reason)
            if not self._holds and not self.transport.is_closing():
                self.transport.resume_reading()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.hold_reading("writing")

    def resume_writing(self) -> None:
        super().resume_writing()
        self.release_reading("writing")
