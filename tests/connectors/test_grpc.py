"""Qlik gRPC connectors over the socket: the engine calls a connector process (written for these tests, it
serves rows from the session's PostgreSQL) as Qlik Core does, with the connection types, the chunk
format, a connector that dies mid-stream, a slow one, and TLS."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from engine.connectors import config as connector_config
from tests.connectors.conftest import TYPES_ROWS, connection, reload, rows, session_app, tables
from tests.harness import REPO, Client, self_signed_cert, spawn_engine
from tests.pgserver import PASSWORD, USER


def _plugins(conn, ident: str = "pgtest", tls: bool = False) -> tuple[str, str]:
    address = f"tls://{conn.address}" if tls else conn.address
    return "EnableGrpcCustomConnectors=1", f"GrpcConnectorPlugins={ident},{address}"


def test_connection_of_a_connector_type_streams_types_strings_numbers_duals_dates_nulls(
        sql_engine, connector_factory):
    conn = connector_factory()
    eng = sql_engine(*_plugins(conn))

    async def scenario():
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            created = await connection(c, doc, "pgc", 'CUSTOM CONNECT TO "provider=pgtest;chunk_rows=2;"', "pgtest",
                                       qUserName=USER, qPassword=PASSWORD)
            assert "result" in created, created
            r = await reload(c, doc, "SET DateFormat='DD.MM.YYYY';\nSET TimestampFormat='YYYY-MM-DD hh:mm:ss';\n"
                                     "LIB CONNECT TO 'pgc';\n"
                                     "T: LOAD *, amount * 10 AS tenfold;\n"
                                     "SQL SELECT id, name, amount, day, ts, flag, code, note, dual_val, split_txt "
                                     "FROM types_t ORDER BY id;\n")
            assert r.ok, r.errors
            assert "6 lines fetched" in r.log.lower()
            got = await rows(c, doc, "T")
            assert len(got) == TYPES_ROWS
            a, b, third, d = got[0], got[1], got[2], got[3]
            assert a["id"] == ("1", 1.0) and a["name"] == ("alpha", None) and third["name"] == ("", None)
            assert a["amount"] == ("1.5", 1.5) and a["tenfold"] == ("15", 15.0) and b["amount"] == ("-2.25", -2.25)
            # dates arrive as seconds since 1970 (DATE), timestamps as ISO texts (TIMESTAMP)
            assert a["day"] == ("31.01.2024", 45322.0) and d["day"] == ("31.12.1999", 36525.0)
            assert a["ts"][0] == "2024-01-31 13:45:10" and abs(a["ts"][1] - 45322.57303240741) < 1e-9
            assert a["flag"] == ("1", 1.0) and third["flag"] is None
            # strings are interpreted: '007' is 7 with its text; NULLs are NULL
            assert a["code"] == ("007", 7.0) and d["code"] == ("x", None) and b["note"] is None
            # duals: the connector sent a text and a number for each value
            assert a["dual_val"] == ("12.50", 12.5) and got[4]["dual_val"] == ("12.50", 12.5)
            assert b["dual_val"] == ("x", None) and third["dual_val"] is None
            # strings sent in two pieces (number code -3) arrive whole
            assert [x["split_txt"] and x["split_txt"][0] for x in got] == ["abcdef", "gh", None, "ij", "klmno", "p"]

    asyncio.run(scenario())


def test_corectl_test_connector_scenario(sql_engine, connector_factory):
    """corectl's using-entities project: two SELECTs through one connector, values sent as strings;
    golden: TableA and TableB of 5 rows associated through the numeric field ``numbers``."""
    conn = connector_factory()
    eng = sql_engine(*_plugins(conn, "testconnector"))
    script = (REPO.parent / "shared" / "scripts-corpus" / "qlik-oss__corectl__test__projects__using-entities__script.qvs")
    text = script.read_text() if script.is_file() else (
        "LIB CONNECT TO myconnection;\n\nTableA:\nSELECT A;\n\nTableB:\nSELECT B;\n")

    async def scenario():
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            await connection(c, doc, "myconnection", 'CUSTOM CONNECT TO "provider=testconnector;mode=corectl"',
                             "testconnector")
            r = await reload(c, doc, text)
            assert r.ok, r.errors
            assert await tables(c, doc) == {"TableA": 5, "TableB": 5}
            a = await rows(c, doc, "TableA")
            assert [x["numbers"] for x in a] == [(str(i), float(i)) for i in range(1, 6)]
            assert [x["abcs"][0] for x in a] == ["a", "b", "b", "b", "c"]
            cube = await c.call("CreateSessionObject", doc, {
                "qInfo": {"qType": "t"}, "qHyperCubeDef": {
                    "qDimensions": [{"qDef": {"qFieldDefs": ["xyz"]}}],
                    "qMeasures": [{"qDef": {"qDef": "Count(numbers)"}}],
                    "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}]}})
            layout = await c.call("GetLayout", cube["qReturn"]["qHandle"])
            matrix = layout["qLayout"]["qHyperCube"]["qDataPages"][0]["qMatrix"]
            assert [(r[0]["qText"], r[1]["qNum"]) for r in matrix] == [("x", 1), ("y", 3), ("z", 1)]

    asyncio.run(scenario())


def test_a_million_rows_in_many_chunks(sql_engine, connector_factory):
    conn = connector_factory()
    eng = sql_engine(*_plugins(conn))

    async def scenario():
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            await connection(c, doc, "pgc", "provider=pgtest;chunk_rows=5000", "pgtest", qUserName=USER,
                             qPassword=PASSWORD)
            r = await reload(c, doc, "LIB CONNECT TO 'pgc';\nBig: SQL SELECT id, grp, val, tag FROM big ORDER BY id;")
            assert r.ok, r.errors
            assert await tables(c, doc) == {"Big": 1_000_000}
            got = [(await c.call("Evaluate", doc, x))["qReturn"]
                   for x in ("Sum(id)", "Count(DISTINCT grp)", "Count(DISTINCT tag)", "Sum(val)")]
            assert got[:3] == ["500000500000", "1000", "50"]
            assert float(got[3]) == sum((g % 997) * 0.5 for g in range(1, 1_000_001))

    asyncio.run(scenario())


def test_custom_connect_in_the_script(sql_engine, connector_factory, pg):
    conn = connector_factory()
    eng = sql_engine(*_plugins(conn))

    async def scenario():
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            # the connector gets the user and password from the connection; here the string carries none:
            # it fails with the connector's own message
            r = await reload(c, doc, 'CUSTOM CONNECT TO "provider=pgtest;";\nT: SQL SELECT id FROM types_t;')
            assert not r.ok and "UNAUTHENTICATED" in r.errors and "cannot connect to PostgreSQL" in r.errors
            await connection(c, doc, "pgc", 'CUSTOM CONNECT TO "provider=pgtest;"', "pgtest", qUserName=USER,
                             qPassword=PASSWORD)
            r = await reload(c, doc, "LIB CONNECT TO 'pgc';\nT: SQL SELECT id FROM types_t;\nDISCONNECT;\n"
                                     "U: SQL SELECT 1 AS one;")
            assert not r.ok and "needs a connection" in r.errors
            assert PASSWORD not in r.errors

    asyncio.run(scenario())


def test_connector_dying_mid_stream_fails_the_reload_and_keeps_the_model(sql_engine, connector_factory):
    conn = connector_factory()
    eng = sql_engine(*_plugins(conn))

    async def scenario():
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            await connection(c, doc, "ok", "provider=pgtest", "pgtest", qUserName=USER, qPassword=PASSWORD)
            await connection(c, doc, "dies", "provider=pgtest;chunk_rows=1000;die_after=5", "pgtest",
                             qUserName=USER, qPassword=PASSWORD)
            r = await reload(c, doc, "LIB CONNECT TO 'ok';\nOld: SQL SELECT id FROM types_t;")
            assert r.ok, r.errors
            r = await reload(c, doc, "LIB CONNECT TO 'dies';\nNew: SQL SELECT * FROM big;")
            assert not r.ok and "Connector 'pgtest' failed: UNAVAILABLE" in r.errors, r.errors
            assert await tables(c, doc) == {"Old": TYPES_ROWS}
            assert conn.proc.wait(10) == 3     # it really died

    asyncio.run(scenario())


def test_slow_connector_times_out(sql_engine, connector_factory):
    conn = connector_factory()
    eng = sql_engine(*_plugins(conn), "GrpcConnectorTimeoutSeconds=1")

    async def scenario():
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            await connection(c, doc, "slow", "provider=pgtest;delay=30", "pgtest", qUserName=USER,
                             qPassword=PASSWORD)
            started = time.monotonic()
            r = await reload(c, doc, "LIB CONNECT TO 'slow';\nT: SQL SELECT id FROM types_t;")
            assert not r.ok and "sent nothing for 1 seconds (GrpcConnectorTimeoutSeconds)" in r.errors, r.errors
            assert time.monotonic() - started < 10

    asyncio.run(scenario())


def test_tls_connector_with_the_operators_root_certificate(sql_engine, connector_factory, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    conn = connector_factory(tls=(cert, key))
    (tmp_path / "other").mkdir()
    other_cert, _ = self_signed_cert(tmp_path / "other")

    async def load(eng) -> tuple[bool, str]:
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            await connection(c, doc, "sec", "provider=pgtest", "pgtest", qUserName=USER, qPassword=PASSWORD)
            r = await reload(c, doc, "LIB CONNECT TO 'sec';\nT: SQL SELECT id, name FROM types_t;")
            return r.ok, r.errors

    eng = sql_engine(*_plugins(conn, tls=True), f"GrpcConnectorTlsRootCerts={cert}")
    ok, errors = asyncio.run(load(eng))
    assert ok, errors
    # a certificate the engine does not trust: the handshake fails, so does the reload
    eng2 = sql_engine(*_plugins(conn, tls=True), f"GrpcConnectorTlsRootCerts={other_cert}")
    ok, errors = asyncio.run(load(eng2))
    assert not ok and "UNAVAILABLE" in errors
    # plaintext to a TLS connector fails too
    eng3 = sql_engine(*_plugins(conn))
    ok, errors = asyncio.run(load(eng3))
    assert not ok and "Connector 'pgtest' failed" in errors


def test_connectors_off_or_unknown_are_not_available(sql_engine, connector_factory):
    conn = connector_factory()

    async def attempt(eng) -> str:
        async with Client.open(eng.url()) as c:
            doc = await session_app(c)
            await connection(c, doc, "pgc", "provider=pgtest", "pgtest")
            r = await reload(c, doc, "LIB CONNECT TO 'pgc';\nT: SQL SELECT 1;")
            assert not r.ok
            return r.errors

    off = sql_engine(f"GrpcConnectorPlugins=pgtest,{conn.address}")
    assert "gRPC connectors are off" in asyncio.run(attempt(off))
    other = sql_engine("EnableGrpcCustomConnectors=1", f"GrpcConnectorPlugins=jdbc,{conn.address}")
    assert "no gRPC connector 'pgtest' is configured (GrpcConnectorPlugins: jdbc)" in asyncio.run(attempt(other))


@pytest.mark.timeout(90)
def test_engine_process_takes_connector_settings_from_its_command_line(tmp_path, connector_factory):
    """``python -m engine -S EnableGrpcCustomConnectors=1 -S GrpcConnectorPlugins=…`` as in Qlik Core's
    docker-compose examples: the real process wiring (engine.cli → engine.connectors.config)."""
    conn = connector_factory()
    proc, port = spawn_engine("-S", f"DocumentDirectory={tmp_path / 'apps'}", "-S", "PrometheusPort=0",
                              "-S", "EnableGrpcCustomConnectors=1", "-S", f'GrpcConnectorPlugins="pgtest,{conn.address}"')

    async def scenario():
        async with Client.open(f"ws://127.0.0.1:{port}/app/engineData") as c:
            doc = await session_app(c)
            await connection(c, doc, "pgc", 'CUSTOM CONNECT TO "provider=pgtest"', "pgtest", qUserName=USER,
                             qPassword=PASSWORD)
            r = await reload(c, doc, "LIB CONNECT TO 'pgc';\nT: SQL SELECT id FROM types_t;")
            assert r.ok, r.errors
            assert await tables(c, doc) == {"T": TYPES_ROWS}

    try:
        asyncio.run(scenario())
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert connector_config.current() == connector_config.ConnectorSettings()  # this process: untouched
