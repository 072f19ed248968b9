"""Transport options: permessage-deflate off by default and on with EnableCompression=1; TLS (wss://)."""

from __future__ import annotations

import asyncio
import datetime
import ssl

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect


async def _extensions(url: str, **kwargs) -> list[str]:
    async with connect(url, compression="deflate", **kwargs) as ws:
        assert orjson.loads(await ws.recv())["method"] == "OnConnected"
        return [type(e).__name__ for e in ws.protocol.extensions]


def test_compression_off_by_default(engine):
    assert asyncio.run(_extensions(engine.url())) == []


def test_compression_on_when_enabled(engine_factory):
    eng = engine_factory("EnableCompression=1")
    assert asyncio.run(_extensions(eng.url())) == ["PerMessageDeflate"]


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address(
                "127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_listener(engine_factory, tmp_path):
    cert, key = _self_signed(tmp_path)
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
