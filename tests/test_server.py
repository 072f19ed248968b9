"""Routing, HTTP endpoints, OnConnected and the JSON-RPC envelope, over real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.error
import urllib.request
import uuid

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine.server import parse_route
from engine.session import Route
from tests.harness import Client, RpcError


@pytest.mark.parametrize("path, route", [
    ("/", Route(None)),
    ("", Route(None)),
    ("/app", Route(None)),
    ("/app/", Route(None)),
    ("/app/engineData", Route(None)),
    ("/app/my-app.qvf", Route("my-app.qvf")),
    ("/app/%2Fdoc%2Fx.qvf", Route("/doc/x.qvf")),
    ("/app/engineData/identity/abc", Route(None, identity="abc")),
    ("/app/engineData/ttl/5/identity/x1", Route(None, identity="x1", ttl=5)),
    ("/app/a/identity/x1/ttl/30?reloadUri=z", Route("a", identity="x1", ttl=30, query="reloadUri=z")),
    ("/app/SessionApp_ab12/ttl/0", Route("SessionApp_ab12", ttl=0)),
    ("/app/engineData-17", Route("engineData-17")),
    ("/identity/q", Route(None, identity="q")),
])
def test_accepted_routes(path, route):
    assert parse_route(path) == route


@pytest.mark.parametrize("path", ["/foo", "/app/a/b", "/app/a/ttl/x", "/app/a/ttl/1/ttl/2", "/v1/apps",
                                  "/app/a/identity"])
def test_rejected_routes(path):
    assert parse_route(path) is None


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_healthcheck_shape_without_token(engine_factory):
    eng = engine_factory("ValidateJsonWebTokens=2", "JsonWebTokenSecret=passw0rd")
    status, body = _http_get(f"http://127.0.0.1:{eng.port}/healthcheck")
    assert status == 200
    health = orjson.loads(body)
    assert set(health) >= {"version", "started", "mem", "cpu", "session", "apps", "users", "saturated"}
    assert health["session"] == {"active": 0, "total": 0}
    assert health["version"] == eng.settings.engine_version
    assert health["saturated"] is False
    assert {"committed", "allocated", "free"} <= set(health["mem"])


def test_unknown_http_path_is_404(engine):
    status, _ = _http_get(f"http://127.0.0.1:{engine.port}/nope")
    assert status == 404


def test_websocket_to_unknown_path_is_refused(engine):
    async def scenario():
        with pytest.raises(InvalidStatus) as info:
            async with connect(engine.url("/not/a/route")):
                pass
        assert info.value.response.status_code == 404

    asyncio.run(scenario())


def test_first_frame_is_on_connected(engine):
    async def scenario():
        async with connect(engine.url("/app/engineData/identity/first")) as ws:
            first = orjson.loads(await ws.recv())
        assert first == {"jsonrpc": "2.0", "method": "OnConnected",
                         "params": {"qSessionState": "SESSION_CREATED"}}

    asyncio.run(scenario())


def test_envelope_errors_and_params_forms(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/envelope")) as c:
            # parse error: id null
            resp = await c.send_raw("{not json", None)
            assert resp["error"]["code"] == -32700 and resp["id"] is None
            # invalid request: no method
            resp = await c.send_raw({"jsonrpc": "2.0", "id": 4, "handle": -1}, 4)
            assert resp["error"]["code"] == -32600
            # unknown method on Global
            resp = await c.request("NoSuchMethod", -1)
            assert resp["error"] == {"code": -32601, "parameter": "NoSuchMethod",
                                     "message": "Method does not exist"}
            # unknown handle
            resp = await c.request("GetLayout", 42)
            assert resp["error"]["code"] == -32602 and resp["error"]["parameter"] == "Invalid handle"
            # GetActiveDoc with nothing open
            resp = await c.request("GetActiveDoc", -1)
            assert resp["error"] == {"code": 1007, "parameter": "No active document", "message": "App invalid"}
            # params: missing, null, {}, array, object — and id 0 echoed every time
            for params in (None, {}, []):
                msg = {"jsonrpc": "2.0", "id": 0, "method": "EngineVersion", "handle": -1, "x-extra": 1}
                if params is not None:
                    msg["params"] = params
                resp = await c.send_raw(msg, 0)
                assert resp["id"] == 0 and "qComponentVersion" in resp["result"]["qVersion"]
            resp = await c.send_raw({"jsonrpc": "2.0", "id": "s1", "method": "GetBNF", "handle": -1,
                                     "params": {"qBnfType": None}}, "s1")
            assert resp["result"] == {"qBnfDefs": []}
            # a method of another interface on Global
            resp = await c.request("GetAppLayout", -1)
            assert resp["error"]["code"] == -32601

    asyncio.run(scenario())


def test_pipelined_requests_all_answered(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/pipe")) as c:
            methods = ("EngineVersion", "ProductVersion", "OSName", "GetUniqueID", "IsDesktopMode",
                       "AllowCreateApp") * 5
            calls = [c.request(m) for m in methods]
            results = await asyncio.gather(*calls)
            assert all("result" in r for r in results)
            assert len({r["id"] for r in results}) == 30

    asyncio.run(scenario())


GLOBAL_TYPES = {
    "AbortAll": dict, "AllowCreateApp": bool, "GetDocList": list, "GetSupportedCodePages": list,
    "GetCustomConnectors": list, "GetBNF": list, "GetDefaultAppFolder": str, "IsDesktopMode": bool,
    "IsPersonalMode": bool, "OSName": str, "OSVersion": str, "ProductVersion": str, "QTProduct": str,
    "QvVersion": str, "ReloadExtensionList": dict, "GetOdbcDsns": list, "GetOleDbProviders": list,
}


def _value(result: dict):
    """What enigma.js hands the caller: qReturn, else the single out-param, else the whole result."""
    if "qReturn" in result:
        return result["qReturn"]
    if len(result) == 1:
        return next(iter(result.values()))
    return result


def test_global_method_result_types(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/types")) as c:
            for method, kind in GLOBAL_TYPES.items():
                value = _value(await c.call(method))
                assert isinstance(value, kind), (method, value)
            for method in ("AbortRequest", "CancelRequest", "CancelReload", "ConfigureReload"):
                assert await c.call(method) == {}
            uid = (await c.call("GetUniqueID"))["qUniqueID"]
            assert str(uuid.UUID(uid)) == uid
            progress = (await c.call("GetProgress", -1, 0))["qProgressData"]
            assert progress["qErrorData"] == [] and progress["qFinished"] is False

    asyncio.run(scenario())


def test_session_app_doc_and_properties(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/sa")) as c:
            created = await c.call("CreateSessionApp")
            app_id = created["qSessionAppId"]
            assert app_id.startswith("SessionApp_")
            doc = created["qReturn"]
            assert doc["qType"] == "Doc" and doc["qHandle"] >= 1 and doc["qGenericId"] == app_id
            h = doc["qHandle"]
            layout = (await c.call("GetAppLayout", h))["qLayout"]
            assert layout["qIsSessionApp"] is True and layout["qTitle"] == app_id
            resp = await c.request("SetAppProperties", h, [{"qTitle": "Renamed", "custom": {"a": 1}}])
            assert resp["result"] == {} and resp["change"] == [h]
            props = (await c.call("GetAppProperties", h))["qProp"]
            assert props["qTitle"] == "Renamed" and props["custom"] == {"a": 1}
            again = (await c.call("GetActiveDoc"))["qReturn"]
            assert again["qHandle"] == h
            with pytest.raises(RpcError) as err:
                await c.call("CreateSessionApp")
            assert err.value.code == 1002

    asyncio.run(scenario())


def test_cloud_style_session_app_url(engine):
    async def scenario():
        async with Client.open(engine.url("/app/SessionApp_cafe01/ttl/0")) as c:
            doc = (await c.call("GetActiveDoc"))["qReturn"]
            assert doc["qGenericId"] == "SessionApp_cafe01"
            layout = (await c.call("GetAppLayout", doc["qHandle"]))["qLayout"]
            assert layout["qIsSessionApp"] is True

    asyncio.run(scenario())


def test_internal_error_keeps_socket_up(engine, monkeypatch):
    from engine.rpc import dispatch

    def boom(call):
        raise RuntimeError("deliberate")

    spec = dispatch.REGISTRY["Global"]["OSName"]
    monkeypatch.setitem(dispatch.REGISTRY["Global"], "OSName", dataclasses.replace(spec, fn=boom))

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/boom")) as c:
            resp = await c.request("OSName")
            assert resp["error"]["code"] == -128 and resp["error"]["message"] == "Internal error"
            assert "qVersion" in await c.call("EngineVersion")

    asyncio.run(scenario())


def test_internal_error_after_waiting_keeps_the_session_going(engine, monkeypatch):
    """A handler that fails after an await: -128, and the requests queued behind it still run."""
    from engine.rpc import dispatch

    async def boom_later(call):
        await asyncio.sleep(0.05)
        raise RuntimeError("deliberate")

    spec = dispatch.REGISTRY["Global"]["OSName"]
    monkeypatch.setitem(dispatch.REGISTRY["Global"], "OSName", dataclasses.replace(spec, fn=boom_later))

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/boomlater")) as c:
            failing = asyncio.create_task(c.request("OSName"))
            queued = asyncio.create_task(c.request("EngineVersion"))
            resp = await failing
            assert resp["error"]["code"] == -128 and resp["error"]["parameter"] == "OSName"
            assert "qVersion" in (await queued)["result"]

    asyncio.run(scenario())
