"""A lean WebSocket load client for the socket benches: an asyncio Protocol (run it under uvloop) that does
the HTTP upgrade and RFC 6455 framing itself.

Why not the ``websockets`` client: it costs about as much CPU per message and per handshake as the
``websockets`` server it would measure, so one load core could not saturate one server core and the
baseline would be the client's speed, not the server's. This client does per frame what the protocol
requires (a masked client frame, parse of the server's unmasked frames, close handshake) and nothing
else, and ``run.py`` reports the load core's use next to each socket figure so a limit shows.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable

from websockets.speedups import apply_mask

_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def frame(payload: bytes, opcode: int = _TEXT) -> bytes:
    """One masked, final client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + apply_mask(payload, mask)


class WsClient(asyncio.Protocol):
    """One client connection. ``on_message(payload)`` sees each data frame once the upgrade is done."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.on_message: Callable[[bytes], None] = lambda payload: None
        self._buf = bytearray()
        self._closing = False
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, host: str, port: int, path: str, headers: dict[str, str] | None = None) -> WsClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(host, port, path, headers), host, port)
        await client.upgraded
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("connection lost before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, payload: bytes) -> None:
        self.transport.write(frame(payload))  # type: ignore[union-attr]

    def close(self) -> None:
        """Start the close handshake; ``closed`` resolves when the server has closed the TCP connection."""
        if not self._closing:
            self._closing = True
            self.transport.write(frame(struct.pack("!H", 1000), _CLOSE))  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:buf.find(b"\r\n")])
            del buf[:end + 4]
            if b" 101 " not in status + b" ":
                self.upgraded.set_exception(ConnectionError(status.decode("latin-1")))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.upgraded.set_result(None)
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            start = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, start = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + n:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[start:start + n])
            del buf[:start + n]
            if opcode == _CLOSE:
                self.close()
            elif opcode == _PING:
                self.transport.write(frame(payload, _PONG))  # type: ignore[union-attr]
            elif opcode != _PONG:
                self.on_message(payload)
