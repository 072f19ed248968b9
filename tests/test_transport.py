"""Transport options: permessage-deflate off by default and on with EnableCompression=1; TLS (wss://); the
RFC 6455 duties the engine's own WebSocket layer has: UTF-8 (1007), keepalive (1011), closing timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time

import orjson
from websockets.asyncio.client import connect

from tests.harness import self_signed_cert
from tests.rawws import RawClient


async def _extensions(url: str, **kwargs) -> list[str]:
    async with connect(url, compression="deflate", **kwargs) as ws:
        assert orjson.loads(await ws.recv())["method"] == "OnConnected"
        return [type(e).__name__ for e in ws.protocol.extensions]


def test_compression_off_by_default(engine):
    assert asyncio.run(_extensions(engine.url())) == []


def test_compression_on_when_enabled(engine_factory):
    eng = engine_factory("EnableCompression=1")
    assert asyncio.run(_extensions(eng.url())) == ["PerMessageDeflate"]


def test_tls_listener(engine_factory, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    eng = engine_factory(extra_args=("--tls-cert", str(cert), "--tls-key", str(key)))
    ctx = ssl.create_default_context(cafile=str(cert))

    async def scenario():
        async with connect(eng.url("/app/SessionApp_tls01", scheme="wss"), ssl=ctx) as ws:
            assert orjson.loads(await ws.recv())["params"]["qSessionState"] == "SESSION_CREATED"
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "GetActiveDoc", "handle": -1,
                                        "params": []}).decode())
            resp = orjson.loads(await ws.recv())
            assert resp["result"]["qReturn"]["qGenericId"] == "SessionApp_tls01"

    asyncio.run(scenario())


# -- RFC 6455 details the engine now does itself -------------------------------------------------------


def _tune(eng, **options) -> None:
    """Shorter timers for this engine (what ``Options`` defaults to is websockets' 20 s / 10 s)."""
    eng.call_soon(lambda: setattr(eng.engine, "options", dataclasses.replace(eng.engine.options, **options)))


def test_invalid_utf8_in_a_text_message_closes_with_1007(engine):
    client = RawClient(engine.port, "/app/engineData/identity/utf8")
    try:
        assert client.read(1)[0]["method"] == "OnConnected"
        client.send_text(b'{"jsonrpc":"2.0","id":1,"method":"EngineVersion","handle":-1,"x":"\xff\xfe"}')
        assert client.read_until_closed().code == 1007
        assert client.messages == []  # nothing was served
    finally:
        client.shutdown()


def test_invalid_utf8_split_across_fragments_closes_with_1007(engine):
    client = RawClient(engine.port, "/app/engineData/identity/utf8frag")
    try:
        client.read(1)
        client.send_text(b'{"jsonrpc":"2.0","id":"\xc3', fin=False)
        client.send_text(b'\xc3","method":"EngineVersion","handle":-1}', continuation=True)
        assert client.read_until_closed().code == 1007
    finally:
        client.shutdown()


def test_a_character_split_across_fragments_is_fine(engine):
    client = RawClient(engine.port, "/app/engineData/identity/utf8ok")
    try:
        client.read(1)
        client.send_text(b'{"jsonrpc":"2.0","id":"caf\xc3', fin=False)
        client.send_text(b'\xa9","method":"EngineVersion","handle":-1}', continuation=True)
        (answer,) = client.answers(1)
        assert answer["id"] == "café" and "qVersion" in answer["result"]
    finally:
        client.shutdown()


def test_a_peer_that_does_not_answer_pings_is_closed_with_1011(engine):
    _tune(engine, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3)
    client = RawClient(engine.port, "/app/engineData/identity/deaf", pong=False)
    try:
        started = time.monotonic()
        close = client.read_until_closed(timeout=10)
        assert close is not None and close.code == 1011 and close.reason == "keepalive ping timeout"
        assert time.monotonic() - started < 5
    finally:
        client.shutdown()
    # the engine lets the socket go once the TCP connection is gone, a moment after the close frame
    deadline = time.monotonic() + 5
    while engine.call_soon(lambda: engine.engine.connections) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.call_soon(lambda: engine.engine.connections) == 0


def test_a_peer_that_answers_pings_stays(engine):
    _tune(engine, ping_interval=0.1, ping_timeout=0.3)

    async def scenario():
        async with connect(engine.url("/app/engineData/identity/polite")) as ws:
            await ws.recv()
            await asyncio.sleep(1.0)  # ten pings, each answered by the client library
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "EngineVersion", "handle": -1,
                                        "params": []}).decode())
            assert orjson.loads(await ws.recv())["id"] == 1

    asyncio.run(scenario())


def test_shutdown_does_not_wait_for_a_peer_that_never_closes(engine):
    _tune(engine, close_timeout=0.3)
    client = RawClient(engine.port, "/app/engineData/identity/stubborn", pong=False)

    async def close_listener() -> float:
        started = time.monotonic()
        listener = engine.engine.listener
        listener.close()
        await listener.wait_closed()
        return time.monotonic() - started

    try:
        client.read(1)
        took = asyncio.run_coroutine_threadsafe(close_listener(), engine._loop).result(10)
        assert took < 3
        assert client.read_until_closed().code == 1001
    finally:
        client.shutdown()
