"""The listening socket (``loop.create_server``, TLS through its ``ssl=``) and the connections it accepted.

Closing it stops accepting, closes every WebSocket with 1001 (going away) and every idle HTTP connection,
lets a response in progress finish, and :meth:`Listener.wait_closed` returns once all are gone.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from engine.transport.connection import Connection, Service
from engine.transport.websocket import GOING_AWAY


class Listener:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._all_gone: asyncio.Event | None = None

    async def listen(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._all_gone = asyncio.Event()
        self._server = await loop.create_server(
            lambda: Connection(self.service, self.connections, self._lost), host, port, ssl=ssl_context)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    def buffered(self) -> int:
        """Answer bytes waiting to be sent, over every WebSocket (a scrape thread may ask: copy first)."""
        connections = list(self.connections)
        return sum(c.ws.buffered for c in connections if c.ws is not None)

    def close(self, code: int = GOING_AWAY) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.shutdown(code)
        self._lost()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        if self._all_gone is not None:
            await self._all_gone.wait()

    def _lost(self) -> None:
        if not self.connections and self._all_gone is not None and self._server is not None \
                and not self._server.is_serving():
            self._all_gone.set()
