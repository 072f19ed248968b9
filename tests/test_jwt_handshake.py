"""The JWT matrix through real WebSocket handshakes: accepted connections get OnConnected and the
token's user; refused ones get HTTP 401 with a plain reason before any upgrade."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.harness import Client
from tests.jwt_keys import (
    CORECTL_SECRET,
    CORECTL_TOKEN,
    SECRET,
    KeyFiles,
    bearer,
    confusion_token,
    expired,
    mint,
    rsa_key,
    unsigned,
    valid_for,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> KeyFiles:
    return KeyFiles.create(tmp_path_factory.mktemp("keys"))


async def _user_or_status(url: str, authorization: str | None) -> str | int:
    headers = {"Authorization": authorization} if authorization is not None else {}
    try:
        async with Client.open(url, headers) as c:
            state = (await c.wait_notification())["params"]["qSessionState"]
            assert state == "SESSION_CREATED"
            return (await c.call("GetAuthenticatedUser"))["qReturn"]
    except InvalidStatus as err:
        assert err.response.status_code == 401
        body = err.response.body.decode()
        assert body.startswith("Unauthorized: ") and len(body) < 200
        return 401


def _run_matrix(url: str, cases: list[tuple[str, str | None, str | int]]) -> None:
    async def scenario():
        for name, auth, expected in cases:
            got = await _user_or_status(url, auth)
            assert got == expected, name

    asyncio.run(scenario())


def user(sub: str) -> str:
    return f"UserDirectory=; UserId={sub}"


def test_level2_hmac_matrix(engine_factory):
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")
    cases = [
        ("HS256 valid", bearer(mint({"sub": "alice"}, "HS256", SECRET)), user("alice")),
        ("HS384 valid", bearer(mint({"sub": "bob"}, "HS384", SECRET)), user("bob")),
        ("HS512 with exp", bearer(mint(valid_for("carol"), "HS512", SECRET)), user("carol")),
        ("string exp in the future", bearer(mint(valid_for("dan", as_string=True), "HS256", SECRET)), user("dan")),
        ("scheme is case-insensitive", "bearer " + mint({"sub": "eve"}, "HS256", SECRET), user("eve")),
        ("wrong secret", bearer(mint({"sub": "x"}, "HS256", "not-the-secret")), 401),
        ("expired", bearer(mint(expired(), "HS256", SECRET)), 401),
        ("expired string exp", bearer(mint(expired(as_string=True), "HS256", SECRET)), 401),
        ("alg none at level 2", bearer(unsigned({"sub": "x"})), 401),
        ("missing sub", bearer(mint({"name": "x"}, "HS256", SECRET)), 401),
        ("non-string sub", bearer(mint({"sub": 12}, "HS256", SECRET)), 401),
        ("malformed", "Bearer not.a.token", 401),
        ("two segments", "Bearer abc.def", 401),
        ("wrong scheme", "Basic " + mint({"sub": "x"}, "HS256", SECRET), 401),
        ("no header", None, 401),
        ("groups not a list", bearer(mint({"sub": "x", "groups": "admins"}, "HS256", SECRET)), 401),
    ]
    _run_matrix(eng.url("/app/engineData"), cases)


def test_corectl_token_accepted(engine_factory):
    """The token corectl's integration tests sent to a real engine with secret passw0rd."""
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={CORECTL_SECRET}")
    _run_matrix(eng.url("/app/engineData"), [("corectl", bearer(CORECTL_TOKEN), user("folke"))])


def test_level1_accepts_unsigned_but_verifies_signed(engine_factory):
    eng = engine_factory("ValidateJsonWebTokens=1", f"JsonWebTokenSecret={SECRET}")
    cases = [
        ("alg none", bearer(unsigned({"sub": "anon"})), user("anon")),
        ("alg none still needs sub", bearer(unsigned({"x": 1})), 401),
        ("alg none still checks exp", bearer(unsigned(expired())), 401),
        ("signed valid", bearer(mint({"sub": "s"}, "HS256", SECRET)), user("s")),
        ("claims HS256 with a bad signature", bearer(mint({"sub": "s"}, "HS256", "wrong")), 401),
        ("no header", None, 401),
    ]
    _run_matrix(eng.url("/app/engineData"), cases)


def test_level0_ignores_header(engine):
    cases = [
        ("garbage header", "Bearer garbage", "UserDirectory=Personal; UserId=Me"),
        ("no header", None, "UserDirectory=Personal; UserId=Me"),
    ]
    _run_matrix(engine.url("/app/engineData"), cases)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_level2_rsa_pem(engine_factory, keys, alg):
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenPath={keys.rsa_public_pem}")
    other = rsa_key(index=1)
    cases = [
        ("valid", bearer(mint(valid_for("r1"), alg, keys.rsa)), user("r1")),
        ("wrong key", bearer(mint({"sub": "r1"}, alg, other)), 401),
        ("algorithm confusion", bearer(confusion_token(keys.rsa_public_pem.read_bytes(), {"sub": "r1"})), 401),
        ("PS256 refused", bearer(mint({"sub": "r1"}, "PS256", keys.rsa)), 401),
        ("HS256 with no secret configured", bearer(mint({"sub": "r1"}, "HS256", SECRET)), 401),
    ]
    _run_matrix(eng.url("/app/engineData"), cases)


@pytest.mark.parametrize("alg, attr", [("ES256", "ec256"), ("ES384", "ec384"), ("ES512", "ec521")])
def test_level2_ec_pem(engine_factory, keys, alg, attr):
    pem = getattr(keys, f"{attr}_public_pem")
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenPath={pem}")
    cases = [
        ("valid", bearer(mint(valid_for("e1"), alg, getattr(keys, attr))), user("e1")),
        ("expired", bearer(mint(expired("e1"), alg, getattr(keys, attr))), 401),
        ("RSA token against EC key", bearer(mint({"sub": "e1"}, "RS256", keys.rsa)), 401),
    ]
    _run_matrix(eng.url("/app/engineData"), cases)


def test_level2_certificate_pem(engine_factory, keys):
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenPath={keys.rsa_cert_pem}")
    _run_matrix(eng.url("/"), [("cert key", bearer(mint({"sub": "c"}, "RS256", keys.rsa)), user("c"))])


def test_level2_jwks_kid(engine_factory, keys):
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenJwksPath={keys.jwks}")
    cases = [
        ("kid hit RSA", bearer(mint({"sub": "k1"}, "RS256", keys.rsa, kid="rsa-1")), user("k1")),
        ("kid hit EC", bearer(mint({"sub": "k2"}, "ES256", keys.ec256, kid="ec256-1")), user("k2")),
        ("kid miss", bearer(mint({"sub": "k3"}, "RS256", keys.rsa, kid="nope")), 401),
        ("kid of the wrong key", bearer(mint({"sub": "k4"}, "RS256", keys.rsa, kid="ec256-1")), 401),
    ]
    _run_matrix(eng.url("/"), cases)


def test_rejections_are_counted_and_never_logged_with_the_token(engine_factory, caplog):
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", "PrometheusPort=0")
    token = mint(expired(), "HS256", SECRET)

    async def scenario():
        with pytest.raises(InvalidStatus):
            async with connect(eng.url("/"), additional_headers={"Authorization": bearer(token)}):
                pass

    with caplog.at_level("INFO", logger="qix"):
        asyncio.run(scenario())
    assert token not in caplog.text and SECRET not in caplog.text
    refused = [r for r in caplog.records if getattr(r, "event", "") == "connection_refused"]
    assert refused and "expired" in refused[0].reason.lower()
    from prometheus_client import generate_latest

    text = generate_latest(eng.engine.metrics.registry).decode()
    assert 'qix_handshake_rejections_total{reason="expired"} 1.0' in text


def test_metrics_endpoint(engine_factory):
    from tests.harness import free_port

    port = free_port()
    eng = engine_factory(f"PrometheusPort={port}")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    async def scenario():
        async with Client.open(eng.url("/app/engineData/identity/m")) as c:
            await c.call("EngineVersion")
            await c.call("EngineVersion")
            async with Client.open(eng.url("/app/engineData/identity/m")), \
                    Client.open(eng.url("/app/engineData/identity/other")):
                live = await asyncio.to_thread(scrape)
        assert "qix_active_connections 3.0" in live and "qix_active_sessions 2.0" in live

    asyncio.run(scenario())
    text = scrape()
    assert "qix_active_connections 0.0" in text and "qix_sessions_total 2.0" in text
    assert 'qix_requests_total{method="EngineVersion"} 2.0' in text
    assert 'qix_request_duration_seconds_bucket{le="+Inf"} 2.0' in text
    assert "qix_request_duration_seconds_count 2.0" in text
    for name in ("qix_active_sessions", "qix_sessions_total", "qix_active_connections",
                 "qix_request_duration_seconds_bucket", "qix_handshake_rejections"):
        assert name in text
