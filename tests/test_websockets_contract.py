"""The part of websockets' public sans-I/O API that ``engine.transport.websocket`` relies on, without sockets.

setup.cfg pins websockets to a tested range; a release that changes any of this fails here, by name,
before it can fail in production as a hung or mis-framed socket.
"""

from __future__ import annotations

import base64
import logging

import pytest
import websockets
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

KEY = base64.b64encode(b"sixteen byte key").decode()
HEAD = (b"GET /app/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n")


def _server(**kwargs) -> ServerProtocol:
    kwargs.setdefault("max_size", 2**20)
    return ServerProtocol(logger=logging.getLogger("contract"), **kwargs)


def _open(head: bytes = HEAD + b"\r\n", **kwargs) -> tuple[ServerProtocol, Response]:
    """receive_data(head) → events_received() = [Request] → accept → send_response → data_to_send."""
    server = _server(**kwargs)
    server.receive_data(head)
    (request,) = server.events_received()
    assert isinstance(request, Request) and request.path == "/app/x"
    response = server.accept(request)
    server.send_response(response)
    raw = b"".join(server.data_to_send())
    assert raw.startswith(b"HTTP/1.1 %d " % response.status_code)
    return server, response


def _client_frames(*frames: Frame) -> bytes:
    return b"".join(f.serialize(mask=True) for f in frames)


def _server_frames(data: list[bytes]) -> list[Frame]:
    """Parse what the server wrote, as a client would."""
    client = ClientProtocol(parse_uri("ws://localhost/"), state=State.OPEN)
    client.receive_data(b"".join(d for d in data if d))
    return [e for e in client.events_received() if isinstance(e, Frame)]


def test_version_is_in_the_pinned_range():
    major = int(websockets.__version__.split(".")[0])
    assert 17 <= major < 18, websockets.__version__


def test_handshake_accepts_with_101_and_no_server_header():
    server, response = _open()
    assert response.status_code == 101 and server.state is State.OPEN
    assert response.headers["Sec-WebSocket-Accept"]
    assert "Server" not in response.headers


def test_a_request_that_is_no_upgrade_gets_426():
    server, response = _open(b"GET /app/x HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.status_code == 426 and server.state is not State.OPEN
    assert server.data_to_send() == []  # the EOF marker went with the response
    assert server.close_expected()


def test_frames_arrive_as_events_with_opcode_data_and_fin():
    server, _ = _open()
    server.receive_data(_client_frames(Frame(Opcode.TEXT, b'{"a"', fin=False), Frame(Opcode.CONT, b":1}"),
                                       Frame(Opcode.BINARY, b"\x00\x01")))
    events = server.events_received()
    assert [(e.opcode, bytes(e.data), e.fin) for e in events] == [
        (Opcode.TEXT, b'{"a"', False), (Opcode.CONT, b":1}", True), (Opcode.BINARY, b"\x00\x01", True)]
    assert all(isinstance(e.data, bytes) for e in events)


def test_send_text_is_written_at_once_unmasked():
    server, _ = _open()
    server.send_text(b'{"jsonrpc":"2.0"}')
    (frame,) = _server_frames(server.data_to_send())
    assert frame.opcode is Opcode.TEXT and frame.data == b'{"jsonrpc":"2.0"}'


def test_ping_is_answered_by_the_protocol_and_our_ping_gets_its_pong_back_as_an_event():
    server, _ = _open()
    server.receive_data(_client_frames(Frame(Opcode.PING, b"hi")))
    assert [e.opcode for e in server.events_received()] == [Opcode.PING]
    (pong,) = _server_frames(server.data_to_send())
    assert pong.opcode is Opcode.PONG and pong.data == b"hi"
    server.send_ping(b"1234")
    (ping,) = _server_frames(server.data_to_send())
    assert ping.opcode is Opcode.PING and ping.data == b"1234"
    server.receive_data(_client_frames(Frame(Opcode.PONG, b"1234")))
    (event,) = server.events_received()
    assert event.opcode is Opcode.PONG and event.data == b"1234"


def test_fail_sends_the_close_code_then_the_eof_marker():
    server, _ = _open()
    server.fail(1007, "invalid UTF-8")
    data = server.data_to_send()
    assert data[-1] == b""  # SEND_EOF: half-close the TCP connection
    (frame,) = _server_frames(data)
    assert Close.parse(frame.data) == Close(1007, "invalid UTF-8")
    assert server.state is State.CLOSING and server.close_expected()


def test_closing_handshake_from_the_server():
    server, _ = _open()
    server.send_close(1001, "")
    (frame,) = _server_frames(server.data_to_send())
    assert Close.parse(frame.data).code == 1001 and server.close_expected()
    server.receive_data(_client_frames(Frame(Opcode.CLOSE, Close(1001, "").serialize())))
    assert [e.opcode for e in server.events_received()] == [Opcode.CLOSE]
    assert server.data_to_send() == [b""]
    server.receive_eof()
    assert server.state is State.CLOSED


def test_closing_handshake_from_the_client_is_answered_and_ends_with_eof():
    server, _ = _open()
    server.receive_data(_client_frames(Frame(Opcode.CLOSE, Close(1000, "bye").serialize())))
    server.events_received()
    data = server.data_to_send()
    assert data[-1] == b"" and Close.parse(_server_frames(data)[0].data).code == 1000
    assert server.close_expected()


def test_max_size_fails_with_1009():
    server, _ = _open(max_size=10)
    server.receive_data(_client_frames(Frame(Opcode.TEXT, b"x" * 11)))
    assert server.events_received() == []
    (frame,) = _server_frames(server.data_to_send())
    assert Close.parse(frame.data).code == 1009


def test_receive_eof_closes():
    server, _ = _open()
    server.receive_eof()
    assert server.state is State.CLOSED and not server.close_expected()


@pytest.mark.parametrize("offered", [True, False])
def test_permessage_deflate_is_negotiated_only_when_offered(offered):
    factory = ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12,
                                             compress_settings={"memLevel": 5})
    offer = ClientPerMessageDeflateFactory(client_max_window_bits=True).get_request_params()
    ext = b"Sec-WebSocket-Extensions: permessage-deflate; " + "; ".join(
        f"{k}" if v is None else f"{k}={v}" for k, v in offer).encode() + b"\r\n"
    server, response = _open(HEAD + (ext if offered else b"") + b"\r\n", extensions=[factory])
    assert ("permessage-deflate" in response.headers.get("Sec-WebSocket-Extensions", "")) is offered
    server.send_text(b"x" * 1000)
    raw = b"".join(server.data_to_send())
    assert bool(raw[0] & 0x40) is offered and (len(raw) < 100) is offered  # RSV1: a compressed message
