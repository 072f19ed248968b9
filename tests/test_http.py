"""Plain HTTP on the WebSocket port: the router, auth, body limits, keep-alive, /health, over real sockets
(http.client and raw sockets), with throwaway routes registered the way the REST API will register its own."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import socket
import time
from collections.abc import Iterable

import orjson
import pytest

from engine.transport import HttpError, Request, Response, Router
from tests.jwt_keys import bearer, mint

SECRET = "passw0rd"


# -- the router alone ----------------------------------------------------------------------------------

async def _ok(request: Request) -> Response:
    return Response.text("ok")


def test_router_params_methods_and_precedence():
    router = Router()
    router.add("GET", "/v1/apps/{app_id}", _ok)
    router.add("DELETE", "/v1/apps/{app_id}", _ok)
    router.add("POST", "/v1/apps/import", _ok)
    router.add("GET", "/v1/apps/{app_id}/media/files/{path:path}", _ok)
    match = router.match("GET", "/v1/apps/a%2Fb.qvf")
    assert match is not None and match.route is not None and match.params == {"app_id": "a/b.qvf"}
    match = router.match("POST", "/v1/apps/import")
    assert match is not None and match.route is not None and match.route.pattern == "/v1/apps/import"
    match = router.match("GET", "/v1/apps/import")  # the literal has no GET; the pattern does
    assert match is not None and match.route is not None and match.params == {"app_id": "import"}
    match = router.match("PUT", "/v1/apps/x")
    assert match is not None and match.route is None and match.allowed == ("DELETE", "GET")
    match = router.match("GET", "/v1/apps/x/media/files/img/logo.png")
    assert match is not None and match.params == {"app_id": "x", "path": "img/logo.png"}
    assert router.match("GET", "/v1/apps/x/y") is None
    assert router.match("GET", "/v2") is None
    with pytest.raises(ValueError):
        router.add("GET", "/v1/apps/{other}", _ok)  # same shape, same method
    with pytest.raises(ValueError):
        router.add("GET", "/a/{rest:path}/b", _ok)


def test_trailing_slash_is_the_same_path():
    router = Router()
    router.add("GET", "/healthcheck", _ok)
    assert router.match("GET", "/healthcheck/") is not None


# -- over sockets --------------------------------------------------------------------------------------

def _request(port: int, method: str, path: str, body: bytes | Iterable[bytes] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {},
                     encode_chunked="Transfer-Encoding" in (headers or {}))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _register(eng, method: str, pattern: str, handler, *, auth: bool = True) -> None:
    eng.call_soon(lambda: eng.engine.router.add(method, pattern, handler, auth=auth))


async def _whoami(request: Request) -> Response:
    assert request.identity is not None
    return Response.json({"user": request.identity.user, "params": dict(request.params),
                          "query": request.query_params()})


async def _digest(request: Request) -> Response:
    """Reads the body as a stream, the way an import would."""
    sha, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        sha.update(chunk)
        size += len(chunk)
    return Response.json({"size": size, "sha256": sha.hexdigest()})


async def _ignores_body(request: Request) -> Response:
    return Response.text("did not read it")


async def _refuses(request: Request) -> Response:
    raise HttpError(409, "already there")


async def _streams(request: Request) -> Response:
    async def chunks():
        for i in range(3):
            yield f"part {i};".encode()
    return Response(200, chunks(), [("Content-Type", "text/plain")])


@pytest.fixture
def rest(engine_factory):
    """An engine with JWT validation on and a few routes, as the REST API will add them."""
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", "MaxRestBodySize=100000")
    _register(eng, "GET", "/v1/test/who/{name}", _whoami)
    _register(eng, "POST", "/v1/test/digest", _digest)
    _register(eng, "PUT", "/v1/test/ignore", _ignores_body)
    _register(eng, "DELETE", "/v1/test/conflict", _refuses)
    _register(eng, "GET", "/v1/test/stream", _streams)
    return eng


def _auth(sub: str = "alice") -> dict[str, str]:
    return {"Authorization": bearer(mint({"sub": sub}, "HS256", SECRET))}


def test_routes_need_the_token_health_does_not(rest):
    status, headers, body = _request(rest.port, "GET", "/v1/test/who/x")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert body.startswith(b"Unauthorized: ")
    status, _, _ = _request(rest.port, "GET", "/v1/test/who/x", headers={"Authorization": "Bearer nope"})
    assert status == 401
    status, _, body = _request(rest.port, "GET", "/v1/test/who/a%20b?x=1&x=2", headers=_auth())
    assert status == 200
    assert orjson.loads(body) == {"user": "alice", "params": {"name": "a b"},
                                  "query": {"x": ["1", "2"]}}
    assert _request(rest.port, "GET", "/healthcheck")[0] == 200
    assert _request(rest.port, "GET", "/health")[0] == 200


def test_unknown_path_404_wrong_method_405(rest):
    assert _request(rest.port, "GET", "/v1/nothing", headers=_auth())[0] == 404
    status, headers, _ = _request(rest.port, "POST", "/healthcheck")
    assert status == 405 and headers["allow"] == "GET"
    status, headers, _ = _request(rest.port, "GET", "/v1/test/digest", headers=_auth())
    assert status == 405 and headers["allow"] == "POST"


def test_handler_errors_are_statuses(rest):
    status, _, body = _request(rest.port, "DELETE", "/v1/test/conflict", headers=_auth())
    assert status == 409 and body == b"already there\n"


def test_a_body_is_streamed_to_the_handler(rest):
    payload = bytes(range(256)) * 300  # 76,800 bytes: under the limit
    status, _, body = _request(rest.port, "POST", "/v1/test/digest", payload, _auth())
    assert status == 200
    assert orjson.loads(body) == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def test_a_chunked_body_is_streamed_too(rest):
    payload = b"abc" * 20000
    status, _, body = _request(rest.port, "POST", "/v1/test/digest", iter([payload[:1000], payload[1000:]]),
                               {**_auth(), "Transfer-Encoding": "chunked"})
    assert status == 200 and orjson.loads(body)["size"] == len(payload)


def _raw_exchange(port: int, data: bytes, *, read_timeout: float = 5) -> bytes:
    """Send ``data`` and read until the engine closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            pass
        return out


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(rest):
    """Only the head is sent: the 413 comes without the engine waiting for (or reading) the body."""
    token = _auth()["Authorization"]
    head = (f"POST /v1/test/digest HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
            f"Content-Length: 100001\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw_exchange(rest.port, head)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower()
    assert time.monotonic() - started < 3


def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(rest):
    token = _auth()["Authorization"]
    head = (f"POST /v1/test/digest HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"%x\r\n%s\r\n" % (30000, b"z" * 30000)
    answer = _raw_exchange(rest.port, head + chunk * 4)  # 120,000 bytes, never terminated
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_an_unauthenticated_body_is_not_read(rest):
    head = b"POST /v1/test/digest HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n"
    assert _raw_exchange(rest.port, head).startswith(b"HTTP/1.1 401 ")


def test_keep_alive_and_an_unread_body(rest):
    conn = http.client.HTTPConnection("127.0.0.1", rest.port, timeout=10)
    try:
        for _ in range(3):  # one connection, three requests
            conn.request("GET", "/v1/test/who/k", headers=_auth())
            resp = conn.getresponse()
            assert resp.status == 200 and resp.getheader("Connection") is None
            resp.read()
        # a body the handler ignores but that is all here already: the connection goes on
        conn.request("PUT", "/v1/test/ignore", body=b"x" * 5000, headers=_auth())
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"did not read it" and resp.getheader("Connection") is None
        conn.request("GET", "/healthcheck")  # /health may say 429 on a loaded machine
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    # a body that has not all come when the handler answers: the connection ends after the answer
    token = _auth()["Authorization"]
    head = (f"PUT /v1/test/ignore HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
            f"Content-Length: 50000\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw_exchange(rest.port, head + b"only a little")
    assert answer.startswith(b"HTTP/1.1 200 ") and b"connection: close" in answer.lower()
    assert answer.endswith(b"did not read it") and time.monotonic() - started < 3


def test_pipelined_requests_are_answered_in_order(rest):
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = _raw_exchange(rest.port, request * 2 + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 ") == 3


def test_a_streamed_response_is_chunked(rest):
    status, headers, body = _request(rest.port, "GET", "/v1/test/stream", headers=_auth())
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert body == b"part 0;part 1;part 2;"


def test_expect_100_continue(rest):
    token = _auth()["Authorization"]
    with socket.create_connection(("127.0.0.1", rest.port), timeout=5) as sock:
        sock.sendall((f"POST /v1/test/digest HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
                      f"Content-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"abc")
        answer = b""
        while chunk := sock.recv(1000):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"size":3' in answer


def test_garbage_gets_400(engine):
    assert _raw_exchange(engine.port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_a_head_that_never_ends_is_cut(engine):
    engine.call_soon(lambda: setattr(engine.engine, "options",
                                     dataclasses.replace(engine.engine.options, head_timeout=0.3)))
    started = time.monotonic()
    assert _raw_exchange(engine.port, b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n") == b""
    assert time.monotonic() - started < 3


def test_plain_get_on_a_websocket_route_is_426(engine_factory):
    eng = engine_factory()
    status, headers, _ = _request(eng.port, "GET", "/app/engineData")
    assert status == 426 and headers["upgrade"].lower() == "websocket"
    status, headers, _ = _request(eng.port, "POST", "/app/engineData")
    assert status == 405 and headers["allow"] == "GET"
    jwt = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")
    assert _request(jwt.port, "GET", "/app/engineData")[0] == 401


def test_health_is_429_while_the_engine_is_saturated(engine):
    assert _request(engine.port, "GET", "/health")[0] == 200
    engine.call_soon(lambda: engine._loop.call_soon(time.sleep, 1.0))  # the loop blocked for a second
    time.sleep(1.2)
    status, headers, body = _request(engine.port, "GET", "/health")
    assert status == 429 and orjson.loads(body)["status"] == "saturated" and "retry-after" in headers
    status, _, body = _request(engine.port, "GET", "/healthcheck")
    assert status == 200 and orjson.loads(body)["saturated"] is True


def test_head_is_served_by_the_get_route_without_a_body(engine):
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as sock:
        sock.sendall(b"HEAD /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: " in head.lower() and body == b""


def test_a_route_can_have_its_own_body_limit(rest):
    _register(rest, "POST", "/v1/test/small", _digest)
    rest.call_soon(lambda: rest.engine.router.add("POST", "/v1/test/tiny", _digest, max_body=10))
    assert _request(rest.port, "POST", "/v1/test/tiny", b"x" * 10, _auth())[0] == 200
    assert _request(rest.port, "POST", "/v1/test/tiny", b"x" * 11, _auth())[0] == 413
    assert _request(rest.port, "POST", "/v1/test/small", b"x" * 11, _auth())[0] == 200
