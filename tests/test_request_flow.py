"""How frames become requests and answers, over real sockets: fragmented messages, requests pipelined before
``OnConnected``, arrival order across requests that wait (a reload), aborting a queued request, a socket
closing with work queued, and backpressure on clients that flood or do not read."""

from __future__ import annotations

import asyncio
import socket
import time

import orjson
from prometheus_client import generate_latest
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from engine.session import BACKLOG_HIGH
from engine.transport.websocket import WebSocket
from tests.harness import Client
from tests.rawws import RawClient
from tests.rawws import rpc as raw_rpc

SLOW = "T: LOAD RecNo() AS X, Mod(RecNo(), 7919) AS K AUTOGENERATE 600000;"
SLOW_EXPRESSION = "Count(DISTINCT X) + Sum(X*K)"


def _rpc(rid: int, method: str, handle: int = -1, *params: object) -> str:
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle,
                         "params": list(params)}).decode()


async def _answers(ws, count: int, timeout: float = 60) -> list[dict]:
    """The next ``count`` frames that carry an id, in the order they arrived."""
    out = []
    while len(out) < count:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if "id" in msg:
            out.append(msg)
    return out


async def _slow_doc(ws) -> int:
    """A session app of 600k rows on which SLOW_EXPRESSION takes a while (in a worker thread)."""
    await ws.send(_rpc(1, "CreateSessionApp"))
    doc = (await _answers(ws, 1))[0]["result"]["qReturn"]["qHandle"]
    await ws.send(_rpc(2, "SetScript", doc, SLOW))
    await ws.send(_rpc(3, "DoReload", doc))
    assert (await _answers(ws, 2))[1]["result"]["qReturn"] is True
    return doc


async def _slow_then_queued(ws) -> int:
    """After OnConnected: a slow doc, SLOW_EXPRESSION running as request 900 and "1+1" (901) queued behind."""
    await ws.recv()
    doc = await _slow_doc(ws)
    await ws.send(_rpc(900, "Evaluate", doc, SLOW_EXPRESSION))
    await ws.send(_rpc(901, "Evaluate", doc, "1+1"))
    return doc


def test_fragmented_request_is_answered(engine):
    async def scenario():
        async with connect(engine.url("/app/engineData/identity/fragments")) as ws:
            assert orjson.loads(await ws.recv())["method"] == "OnConnected"
            body = _rpc(7, "EngineVersion")
            await ws.send([body[:5], body[5:30], body[30:]])  # one message in three frames
            (answer,) = await _answers(ws, 1)
            assert answer["id"] == 7 and answer["result"]["qVersion"]["qComponentVersion"]

    asyncio.run(scenario())


def test_pipelined_requests_are_answered_in_arrival_order(engine):
    """Everything is sent at once, before OnConnected is read: a reload (which waits in a worker thread)
    sits among quick calls, and every later call sees the reloaded data."""
    script = "T: LOAD RecNo() AS X AUTOGENERATE 5000;"

    async def scenario():
        async with connect(engine.url("/app/engineData/identity/pipeline")) as ws:
            frames = [_rpc(1, "CreateSessionApp"), _rpc(2, "SetScript", 1, script), _rpc(3, "DoReload", 1)]
            frames += [_rpc(rid, "Evaluate", 1, f"Count(X) + {rid}") for rid in range(4, 60)]
            for frame in frames:
                await ws.send(frame)
            assert orjson.loads(await ws.recv())["method"] == "OnConnected"
            answers = await _answers(ws, len(frames))
            assert [a["id"] for a in answers] == list(range(1, 60))
            assert answers[0]["result"]["qReturn"]["qHandle"] == 1
            assert answers[2]["result"]["qReturn"] is True
            assert [a["result"]["qReturn"] for a in answers[3:]] == [str(5000 + rid) for rid in range(4, 60)]

    asyncio.run(scenario())


def test_requests_in_the_same_packet_as_the_handshake(engine):
    """Requests that arrive with the upgrade request itself are parsed before the session exists; they are
    kept and answered, in order, after OnConnected."""
    client = ClientProtocol(parse_uri(engine.url("/app/engineData/identity/eager")))
    client.send_request(client.connect())
    frames = b"".join(Frame(Opcode.TEXT, _rpc(rid, "EngineVersion").encode()).serialize(mask=True)
                      for rid in (1, 2, 3))
    with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as sock:
        sock.sendall(b"".join(client.data_to_send()) + frames)
        messages: list[dict] = []
        while len(messages) < 4:
            data = sock.recv(65536)
            assert data, "connection closed early"
            client.receive_data(data)
            messages += [orjson.loads(e.data) for e in client.events_received() if isinstance(e, Frame)]
    assert messages[0]["method"] == "OnConnected"
    assert [m["id"] for m in messages[1:]] == [1, 2, 3]
    assert all("qVersion" in m["result"] for m in messages[1:])


def test_aborting_a_queued_request_answers_it_at_once(engine):
    async def scenario():
        async with connect(engine.url("/app/engineData/identity/queued")) as ws:
            doc = await _slow_then_queued(ws)
            await ws.send(_rpc(902, "Evaluate", doc, "2+2"))  # waits behind 901
            await ws.send(_rpc(903, "AbortRequest", -1, 901))  # concurrent: answered at once
            answers = await _answers(ws, 4)
            order = [a["id"] for a in answers]
            assert set(order[:2]) == {901, 903} and order[2:] == [900, 902], order
            by_id = {a["id"]: a for a in answers}
            assert by_id[901]["error"]["code"] == 15 and by_id[901]["error"]["parameter"] == "Evaluate"
            assert "error" not in by_id[900] and by_id[902]["result"]["qReturn"] == "4"

    asyncio.run(scenario())


def test_abort_all_reaches_running_and_queued_requests(engine):
    async def scenario():
        async with connect(engine.url("/app/engineData/identity/abortall")) as ws:
            doc = await _slow_then_queued(ws)
            await asyncio.sleep(0.05)
            await ws.send(_rpc(902, "AbortAll"))
            by_id = {a["id"]: a for a in await _answers(ws, 3)}
            assert by_id[900]["error"]["code"] == 15 and by_id[901]["error"]["code"] == 15
            await ws.send(_rpc(904, "Evaluate", doc, "Count(K)"))  # the session goes on
            assert (await _answers(ws, 1))[0]["result"]["qReturn"] == "600000"

    asyncio.run(scenario())


def test_work_queued_by_a_closing_socket_still_happens(engine):
    """The socket closes while a request waits behind a slow one: it still runs, and a socket that joins the
    session (it has a TTL) sees its effect."""
    url = engine.url("/app/engineData/identity/closing/ttl/30")

    async def scenario():
        async with connect(url) as ws:
            await ws.recv()
            doc = await _slow_doc(ws)
            await ws.send(_rpc(900, "Evaluate", doc, SLOW_EXPRESSION))
            await ws.send(_rpc(901, "CreateSessionObject", doc, {"qInfo": {"qId": "kept", "qType": "t"}}))
        async with connect(url) as ws:
            assert orjson.loads(await ws.recv())["params"]["qSessionState"] == "SESSION_ATTACHED"
            await ws.send(_rpc(5, "GetObject", doc, "kept"))
            (answer,) = await _answers(ws, 1)
            assert answer["result"]["qReturn"]["qGenericId"] == "kept"

    asyncio.run(scenario())


def test_a_client_that_does_not_read_is_not_read_either(engine, monkeypatch):
    """Large answers pile up unread: the engine stops reading that socket (instead of buffering without
    bound) and resumes when the client reads; every answer arrives, whole and in order."""
    holds: list[str] = []
    hold = WebSocket.hold_reading
    monkeypatch.setattr(WebSocket, "hold_reading", lambda self, reason: (holds.append(reason),
                                                                           hold(self, reason)))
    text = "x" * 100_000

    async def scenario():
        async with connect(engine.url("/app/engineData/identity/slowreader"), max_size=None) as ws:
            await ws.recv()
            await ws.send(_rpc(1, "CreateSessionApp"))
            await ws.send(_rpc(2, "CreateSessionObject", 1, {"qInfo": {"qType": "t"}, "text": text}))
            obj = (await _answers(ws, 2))[1]["result"]["qReturn"]["qHandle"]
            for rid in range(100, 400):  # 30 MB of answers
                await ws.send(_rpc(rid, "GetLayout", obj))
            await asyncio.sleep(0.5)  # let the unread answers fill the socket buffers
            answers = await _answers(ws, 300)
            assert [a["id"] for a in answers] == list(range(100, 400))
            assert all(a["result"]["qLayout"]["text"] == text for a in answers)

    asyncio.run(scenario())
    assert "writing" in holds


def test_requests_queued_behind_a_slow_one_pause_reading(engine, monkeypatch):
    holds: list[str] = []
    hold = WebSocket.hold_reading
    monkeypatch.setattr(WebSocket, "hold_reading", lambda self, reason: (holds.append(reason),
                                                                           hold(self, reason)))

    async def scenario():
        async with connect(engine.url("/app/engineData/identity/backlog")) as ws:
            await ws.recv()
            doc = await _slow_doc(ws)
            await ws.send(_rpc(900, "Evaluate", doc, SLOW_EXPRESSION))
            quick = range(1000, 1000 + 2 * BACKLOG_HIGH)
            for rid in quick:
                await ws.send(_rpc(rid, "Evaluate", doc, f"{rid} + 0"))
            answers = await _answers(ws, 1 + len(quick))
            assert [a["id"] for a in answers] == [900, *quick]
            assert [a["result"]["qReturn"] for a in answers[1:]] == [str(rid) for rid in quick]

    asyncio.run(scenario())
    assert "backlog" in holds


def test_compressed_messages_are_read_and_answered(engine_factory):
    eng = engine_factory("EnableCompression=1")

    async def scenario():
        async with connect(eng.url("/app/engineData/identity/deflate"), compression="deflate") as ws:
            await ws.recv()
            await ws.send(_rpc(3, "EngineVersion"))
            (answer,) = await _answers(ws, 1)
            assert answer["id"] == 3 and "qVersion" in answer["result"]

    asyncio.run(scenario())


def test_a_failure_serving_one_message_leaves_the_socket_working(engine, monkeypatch, caplog):
    """A bug outside any handler (here: in the rpc layer's entry point) is logged; the socket and its
    session go on serving the next messages."""
    from engine import server

    real = server.receive
    calls = []

    def failing_once(session, sock, frame):
        calls.append(frame)
        if len(calls) == 1:
            raise RuntimeError("deliberate")
        real(session, sock, frame)

    monkeypatch.setattr(server, "receive", failing_once)

    async def scenario():
        async with connect(engine.url("/app/engineData/identity/crash")) as ws:
            await ws.recv()
            await ws.send(_rpc(1, "EngineVersion"))
            await ws.send(_rpc(2, "EngineVersion"))
            (answer,) = await _answers(ws, 1)
            assert answer["id"] == 2 and "qVersion" in answer["result"]

    asyncio.run(scenario())
    assert "serving a message failed" in caplog.text


# -- a bound on the answers waiting for a client ------------------------------------------------------

BOUND = 4 * 2**20
LAYOUT_TEXT = "x" * 100_000


def _socket_stats(eng, identity: str) -> dict:
    """What the engine holds for the one socket of the session ``/identity/<identity>``."""

    def read() -> dict:
        session = eng.engine.sessions.sessions[("url", "", "", identity)]
        sock = next(iter(session.sockets))
        link = sock.link
        return {"peak": link.peak_buffered, "buffered": link.buffered, "full": link.full,
                "calls": session.calls, "waiting": len(session.backlog)}

    return eng.call_soon(read)


def _big_object(client: RawClient, text: str = LAYOUT_TEXT) -> tuple[int, int]:
    """A session app and a session object whose layout carries ``text``: (doc handle, object handle)."""
    client.read(1)  # OnConnected
    client.send_text(raw_rpc(1, "CreateSessionApp"))
    client.send_text(raw_rpc(2, "CreateSessionObject", 1, {"qInfo": {"qType": "t"}, "text": text}))
    answers = client.answers(2)
    return answers[0]["result"]["qReturn"]["qHandle"], answers[1]["result"]["qReturn"]["qHandle"]


def test_a_client_that_stops_reading_costs_at_most_the_bound(engine_factory):
    """2,000 GetLayouts of a 100 KB layout (200 MB of answers) from a client that does not read: the engine
    holds at most the bound plus one answer for it and computes no more until it reads; another session
    is answered meanwhile; then every answer arrives, whole and in order."""
    eng = engine_factory(f"MaxSocketBufferBytes={BOUND}")
    flood = RawClient(eng.port, "/app/engineData/identity/flood", rcvbuf=16384)
    try:
        _, obj = _big_object(flood)
        flood.send_text(raw_rpc(3, "GetLayout", obj))
        answer_size = len(orjson.dumps(flood.answers(1)[0]))
        flood.send_in_background([raw_rpc(rid, "GetLayout", obj) for rid in range(1000, 3000)])

        async def bystander() -> list[str]:
            async with Client.open(eng.url("/app/engineData/identity/bystander")) as c:
                doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
                return [(await c.call("Evaluate", doc, f"{i} + 1"))["qReturn"] for i in range(20)]

        time.sleep(1.0)  # the engine answers what it may, then waits for the client
        assert asyncio.run(bystander()) == [str(i + 1) for i in range(20)]
        stats = _socket_stats(eng, "flood")
        assert stats["full"], stats
        assert stats["peak"] < BOUND + answer_size + 1024, stats
        assert stats["calls"] < 3 + 1000, stats  # most of the 2,000 wait, uncomputed
        gauge = generate_latest(eng.engine.metrics.registry).decode()
        buffered = float(next(line.split()[1] for line in gauge.splitlines()
                              if line.startswith("qix_websocket_buffered_bytes ")))
        assert BOUND <= buffered < BOUND + answer_size + 1024

        answers = flood.answers(2000, timeout=120)
        assert [a["id"] for a in answers] == list(range(1000, 3000))
        assert all(a["result"]["qLayout"]["text"] == LAYOUT_TEXT for a in answers)
        assert _socket_stats(eng, "flood")["peak"] < BOUND + answer_size + 1024
    finally:
        flood.shutdown()


def test_queued_requests_of_a_full_socket_wait_and_its_sessions_other_socket_goes_on(engine_factory):
    """A's GetLayouts queue in the session behind a reload; once it ends they run until A is full, then wait
    for A to read, while B, another socket of the same session, is answered."""
    eng = engine_factory(f"MaxSocketBufferBytes={BOUND}")
    url = "/app/engineData/identity/sharedfull"
    a = RawClient(eng.port, url, rcvbuf=16384)
    try:
        doc, obj = _big_object(a)
        a.send_text(raw_rpc(3, "SetScript", doc, SLOW))
        a.answers(1)
        a.send_in_background([raw_rpc(4, "DoReload", doc)] + [raw_rpc(rid, "GetLayout", obj)
                                                            for rid in range(100, 400)])

        async def other_socket() -> str:
            async with Client.open(eng.url(url)) as b:
                await asyncio.sleep(0.3)  # behind A's queue
                return (await b.call("Evaluate", doc, "6 * 7"))["qReturn"]

        assert asyncio.run(other_socket()) == "42"
        stats = _socket_stats_of(eng, "sharedfull")
        assert stats["full"] and stats["calls"] < 300 and stats["waiting"] > 0, stats
        answers = a.answers(301, timeout=120)
        assert [x["id"] for x in answers] == [4, *range(100, 400)]
        assert all(x["result"]["qLayout"]["text"] == LAYOUT_TEXT for x in answers[1:])
    finally:
        a.shutdown()


def _socket_stats_of(eng, identity: str) -> dict:
    """Like :func:`_socket_stats`, for a session with several sockets: the full one's figures."""

    def read() -> dict:
        session = eng.engine.sessions.sessions[("url", "", "", identity)]
        link = max((s.link for s in session.sockets), key=lambda link: link.peak_buffered)
        return {"full": link.full, "calls": session.calls, "waiting": len(session.backlog)}

    return eng.call_soon(read)


def test_past_four_times_the_bound_the_socket_is_closed_with_1008(engine_factory):
    """One answer of 12 MB to a client that does not read, with a bound of 256 KiB: closed with 1008 after the
    answer (which still arrives whole if the client reads)."""
    eng = engine_factory("MaxSocketBufferBytes=262144")
    big = "y" * 12_000_000
    client = RawClient(eng.port, "/app/engineData/identity/toobig", rcvbuf=8192)
    try:
        _, obj = _big_object(client, big)
        client.send_text(raw_rpc(3, "GetLayout", obj))
        time.sleep(0.5)
        close = client.read_until_closed(timeout=60)
        assert close is not None and close.code == 1008 and "not read" in close.reason
        (answer,) = [orjson.loads(m) for m in client.messages]
        assert answer["id"] == 3 and answer["result"]["qLayout"]["text"] == big
    finally:
        client.shutdown()
