"""The transport's limits and timers, in one frozen value (the engine builds it from its settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """Limits and timers of the WebSocket/HTTP port. The timer defaults are websockets' own."""

    compression: bool = False  # permessage-deflate offered to clients that ask for it
    max_message: int = 16 * 2**20  # bytes of one incoming WebSocket message (more: close 1009)
    max_body: int = 256 * 2**20  # bytes of one HTTP request body (more: 413)
    max_head: int = 64 * 2**10  # bytes of one HTTP request line + headers (more: 431)
    #: answer bytes a WebSocket may have waiting before its further requests wait for the client to read;
    #: four times that and the socket is closed (1008)
    max_buffer: int = 64 * 2**20
    ping_interval: float = 20.0  # seconds between keepalive pings
    ping_timeout: float = 20.0  # seconds a pong may take before the socket is closed (1011)
    close_timeout: float = 10.0  # seconds the closing handshake may take before the TCP connection is cut
    head_timeout: float = 10.0  # seconds a connection may take to send a request head (also idle keep-alive)
    #: the WebSocket subprotocol answered when a client offers it (the hub's); offers of others are ignored
    subprotocol: str | None = None

    @property
    def max_buffer_hard(self) -> int:
        return 4 * self.max_buffer
