"""Session sharing, isolation, TTL reattach and change fan-out, over real sockets."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness import Client, RpcError
from tests.jwt_keys import bearer, mint

SECRET = "passw0rd"


def token(sub: str, **claims) -> dict[str, str]:
    return {"Authorization": bearer(mint({"sub": sub, **claims}, "HS256", SECRET))}


async def _state(client: Client) -> str:
    return (await client.wait_notification())["params"]["qSessionState"]


def test_same_url_without_jwt_shares_session(engine):
    async def scenario():
        url = engine.url("/app/shared-doc")
        async with Client.open(url) as a, Client.open(url) as b:
            assert await _state(a) == "SESSION_CREATED"
            assert await _state(b) == "SESSION_ATTACHED"
            doc = (await a.call("CreateSessionApp"))["qReturn"]
            # b sees a's open document: same session
            assert (await b.call("GetActiveDoc"))["qReturn"]["qHandle"] == doc["qHandle"]

    asyncio.run(scenario())


def test_identity_and_header_split_sessions(engine):
    async def scenario():
        async with Client.open(engine.url("/app/d/identity/one")) as a, \
                Client.open(engine.url("/app/d/identity/two")) as b, \
                Client.open(engine.url("/app/d"), {"X-Qlik-Session": "s-1"}) as c, \
                Client.open(engine.url("/app/other"), {"X-Qlik-Session": "s-1"}) as d:
            assert await _state(a) == "SESSION_CREATED"
            assert await _state(b) == "SESSION_CREATED"
            assert await _state(c) == "SESSION_CREATED"
            # the header picks the session whatever the URL says
            assert await _state(d) == "SESSION_ATTACHED"
            await a.call("CreateSessionApp")
            with pytest.raises(RpcError) as err:
                await b.call("GetActiveDoc")
            assert err.value.code == 1007

    asyncio.run(scenario())


def test_jwt_users_never_share(engine_factory):
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")

    async def scenario():
        hdr = {"X-Qlik-Session": "same-id"}
        async with Client.open(eng.url("/app/"), {**token("alice"), **hdr}) as a1, \
                Client.open(eng.url("/app/"), {**token("alice"), **hdr}) as a2, \
                Client.open(eng.url("/app/"), {**token("bob"), **hdr}) as b1:
            assert await _state(a1) == "SESSION_CREATED"
            assert await _state(a2) == "SESSION_ATTACHED"
            assert await _state(b1) == "SESSION_CREATED"  # same header, other user: other session
            await a1.call("CreateSessionApp")
            assert "qReturn" in await a2.call("GetActiveDoc")
            with pytest.raises(RpcError):
                await b1.call("GetActiveDoc")
            who = (await b1.call("GetAuthenticatedUser"))["qReturn"]
            assert who == "UserDirectory=; UserId=bob"
        # same user, same URL, no header: shared
        async with Client.open(eng.url("/app/x"), token("carol")) as c1, \
                Client.open(eng.url("/app/x"), token("carol")) as c2:
            assert await _state(c1) == "SESSION_CREATED"
            assert await _state(c2) == "SESSION_ATTACHED"

    asyncio.run(scenario())


def test_ttl_reattach_keeps_doc_and_ttl0_ends(engine):
    async def scenario():
        url = engine.url("/app/engineData/identity/ttl-test/ttl/5")
        async with Client.open(url) as a:
            doc = (await a.call("CreateSessionApp"))["qReturn"]
            await a.call("SetAppProperties", doc["qHandle"], {"keep": 1})
        await asyncio.sleep(0.2)
        async with Client.open(url) as b:
            assert await _state(b) == "SESSION_ATTACHED"
            again = (await b.call("GetActiveDoc"))["qReturn"]
            props = (await b.call("GetAppProperties", again["qHandle"]))["qProp"]
            assert props["keep"] == 1
        url0 = engine.url("/app/engineData/identity/ttl-zero/ttl/0")
        async with Client.open(url0) as c:
            await c.call("CreateSessionApp")
        await asyncio.sleep(0.2)
        async with Client.open(url0) as d:
            assert await _state(d) == "SESSION_CREATED"
            with pytest.raises(RpcError) as err:
                await d.call("GetActiveDoc")
            assert err.value.code == 1007

    asyncio.run(scenario())


def test_ttl_expires(engine_factory):
    eng = engine_factory("MaxSessionTTL=1")

    async def scenario():
        url = eng.url("/app/engineData/identity/short/ttl/30")  # capped to 1 s
        async with Client.open(url) as a:
            await a.call("CreateSessionApp")
        await asyncio.sleep(1.5)
        async with Client.open(url) as b:
            assert await _state(b) == "SESSION_CREATED"
        assert eng.call_soon(lambda: eng.engine.sessions.total) == 2

    asyncio.run(scenario())


def test_change_fan_out_to_other_sockets_only(engine):
    async def scenario():
        url = engine.url("/app/engineData/identity/fan")
        async with Client.open(url) as a, Client.open(url) as b:
            doc = (await a.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await b.call("GetAppLayout", doc)  # b's read makes the handle valid
            resp = await a.request("SetAppProperties", doc, [{"qTitle": "t2"}])
            assert resp["change"] == [doc]
            push = await b.wait_push()
            assert push == {"jsonrpc": "2.0", "change": [doc]}
            # the caller got its change on the response only, never as an extra frame
            await asyncio.sleep(0.1)
            assert a.pushes == []
            # not re-reported until read again
            resp = await a.request("SetAppProperties", doc, [{"qTitle": "t3"}])
            assert "change" not in resp
            await asyncio.sleep(0.1)
            assert b.pushes == []
            # a read makes it valid again; the next change is news again
            await a.call("GetAppLayout", doc)
            resp = await a.request("SetAppProperties", doc, [{"qTitle": "t4"}])
            assert resp["change"] == [doc]
            assert (await b.wait_push())["change"] == [doc]

    asyncio.run(scenario())


def test_session_app_url_is_private_per_user(engine_factory):
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")

    async def scenario():
        url = eng.url("/app/SessionApp_0f0f/ttl/30")
        async with Client.open(url, token("alice")) as a, Client.open(url, token("bob")) as b:
            doc_a = (await a.call("GetActiveDoc"))["qReturn"]["qHandle"]
            await a.call("SetAppProperties", doc_a, {"secret": "alice's"})
            doc_b = (await b.call("GetActiveDoc"))["qReturn"]
            assert doc_b["qGenericId"] == "SessionApp_0f0f"
            props = (await b.call("GetAppProperties", doc_b["qHandle"]))["qProp"]
            assert "secret" not in props

    asyncio.run(scenario())
