"""Transport options: permessage-deflate off by default and on with EnableCompression=1; TLS (wss://)."""

from __future__ import annotations

import asyncio
import ssl

import orjson
from websockets.asyncio.client import connect

from tests.harness import self_signed_cert


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
