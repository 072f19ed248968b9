"""A blocking WebSocket client on a plain socket with websockets' sans-I/O ClientProtocol, for tests that need
what a polite client never does: stop reading, send bytes that are not UTF-8, never answer a ping.

A small receive buffer (``rcvbuf``) keeps the kernel from absorbing what the engine would otherwise have
to hold, so a test sees the engine's own buffering.
"""

from __future__ import annotations

import socket
import threading
import time

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


def rpc(rid: int, method: str, handle: int = -1, *params: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle, "params": list(params)})


class RawClient:
    def __init__(self, port: int, path: str, *, rcvbuf: int | None = None, pong: bool = True,
                 timeout: float = 30) -> None:
        self.protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"), max_size=None)
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connect, so the TCP window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.pong = pong
        self.messages: list[bytes] = []
        self.close: Close | None = None
        self.eof = False
        self._senders: list[threading.Thread] = []
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        self.response: Response | None = None
        while self.response is None:
            self._read_once()

    # -- sending -------------------------------------------------------------------------------------------
    def send_text(self, payload: bytes, *, fin: bool = True, continuation: bool = False) -> None:
        if continuation:
            self.protocol.send_continuation(payload, fin=fin)
        else:
            self.protocol.send_text(payload, fin=fin)
        self._flush()

    def send_in_background(self, payloads: list[bytes]) -> None:
        """Send many messages from a thread, so a test goes on even when the engine stops reading."""
        for payload in payloads:
            self.protocol.send_text(payload)
        data = b"".join(self.protocol.data_to_send())
        sender = threading.Thread(target=self.sock.sendall, args=(data,), daemon=True)
        sender.start()
        self._senders.append(sender)

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    # -- reading -------------------------------------------------------------------------------------------
    def _read_once(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = True
            self.protocol.receive_eof()
        else:
            self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.response = event
            elif isinstance(event, Frame):
                if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                    self.messages.append(bytes(event.data))
                elif event.opcode is Opcode.CLOSE:
                    self.close = Close.parse(event.data)
        if self.pong:
            self._flush()  # pongs, the answer to a close frame
        if self.eof and self.response is None:
            raise ConnectionError("closed during the handshake")

    def read(self, count: int, timeout: float = 60) -> list[dict]:
        """The next ``count`` messages, parsed."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if self.eof:
                raise ConnectionError(f"closed after {len(self.messages)} of {count} messages")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} of {count} messages")
            self._read_once()
        out, self.messages = self.messages[:count], self.messages[count:]
        return [orjson.loads(m) for m in out]

    def answers(self, count: int, timeout: float = 60) -> list[dict]:
        """The next ``count`` messages that carry an id (notifications and pushes skipped)."""
        out: list[dict] = []
        while len(out) < count:
            out += [m for m in self.read(1, timeout) if "id" in m]
        return out

    def read_until_closed(self, timeout: float = 30) -> Close | None:
        """Read (and keep) everything until the engine closes the TCP connection; its close frame."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() > deadline:
                raise TimeoutError("still open")
            try:
                self._read_once()
            except ConnectionResetError:
                self.eof = True
        return self.close

    def shutdown(self) -> None:
        for sender in self._senders:
            sender.join(5)
        self.sock.close()
