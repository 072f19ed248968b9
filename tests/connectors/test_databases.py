"""Database connections over the socket: CreateConnection, LIB CONNECT + SQL SELECT into the model, the
catalog statements, the file policy for SQLite/DuckDB files, and every failure leaving the previous model.

PostgreSQL is a real server (``tests/pgserver.py``); SQLite and DuckDB are files in the engine's folder
root. Values are read back with GetTableData, so what is checked is what a client sees.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time

import duckdb
import pytest

from tests.connectors.conftest import TYPES_ROWS, connection, reload, rows, tables
from tests.harness import Client
from tests.pgserver import PASSWORD, USER


def engine_log(caplog) -> str:
    """Every line the engine logged (its ``qix.*`` loggers; the test client logs its own frames too)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("qix"))


def _pg_url_without_password(pg) -> str:
    return f"postgresql://127.0.0.1:{pg.port}/qix"


def test_postgres_select_with_preceding_load_types_and_nulls(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        created = await connection(
            c, doc, "pg", _pg_url_without_password(pg), "postgresql", qUserName=USER, qPassword=PASSWORD
        )
        assert "result" in created, created
        r = await reload(
            c,
            doc,
            "SET DateFormat='YYYY-MM-DD';\nLIB CONNECT TO 'pg';\n"
            "T: LOAD id, name, amount * 2 AS twice, price, day, ts, flag, code, note;\n"
            "SQL SELECT * FROM types_t ORDER BY id;\n",
        )
        assert r.ok, r.errors
        got = await rows(c, doc, "T")
        assert len(got) == TYPES_ROWS
        first, second, third, fourth = got[0], got[1], got[2], got[3]
        assert first["id"] == ("1", 1.0) and first["name"] == ("alpha", None)
        assert first["twice"] == ("3", 3.0) and second["twice"] == ("-4.5", -4.5)
        assert first["price"] == ("10.25", 10.25) and second["price"] == ("0.1", 0.1)
        # dates are duals: the serial number and the script's DateFormat
        assert first["day"] == ("2024-01-31", 45322.0)
        assert first["ts"][0] == "1/31/2024 1:45:10 PM" and abs(first["ts"][1] - 45322.57303240741) < 1e-9
        assert first["flag"] == ("1", 1.0) and second["flag"] == ("0", 0.0)
        # text from the database is interpreted like file text: '007' is the number 7 with its own text
        assert first["code"] == ("007", 7.0) and second["code"] == ("007", 7.0)
        assert third["code"] == ("1e3", 1000.0) and fourth["code"] == ("x", None)
        # NULLs stay NULL; an empty string is a value
        assert second["note"] is None and fourth["name"] is None and fourth["twice"] is None
        assert third["name"] == ("", None) and third["day"] is None and third["flag"] is None

    on_session_app(scenario)


def test_unlabelled_select_is_named_after_its_table_and_disconnect_ends_the_connection(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        await connection(c, doc, "pg", pg.url, "database")
        r = await reload(
            c, doc, "LIB CONNECT TO 'pg';\nSQL SELECT id, name FROM public.types_t;\nDISCONNECT;\n"
        )
        assert r.ok, r.errors
        assert await tables(c, doc) == {"types_t": TYPES_ROWS}
        r = await reload(c, doc, "LIB CONNECT TO 'pg';\nDISCONNECT;\nT: SQL SELECT 1 AS one;\n")
        assert not r.ok and "needs a connection" in r.errors
        assert await tables(c, doc) == {"types_t": TYPES_ROWS}  # the failed reload kept the model

    on_session_app(scenario)


def test_catalog_statements_have_the_documented_fields(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        await connection(c, doc, "pg", pg.url, "postgresql")
        got: dict[str, list] = {}
        for statement in ("SQLTables", "SQLColumns", "SQLTypes"):  # one per reload: no synthetic keys
            r = await reload(c, doc, f"LIB CONNECT TO 'pg';\n{statement[3:]}: {statement};\n")
            assert r.ok, r.errors
            got[statement] = await rows(c, doc, statement[3:])
        tabs = got["SQLTables"]
        assert list(tabs[0]) == ["TABLE_QUALIFIER", "TABLE_OWNER", "TABLE_NAME", "TABLE_TYPE", "REMARKS"]
        assert {t["TABLE_NAME"][0] for t in tabs} >= {"types_t", "big"}
        assert {t["TABLE_TYPE"][0] for t in tabs} == {"TABLE"}
        cols = got["SQLColumns"]
        assert list(cols[0]) == [
            "TABLE_QUALIFIER",
            "TABLE_OWNER",
            "TABLE_NAME",
            "COLUMN_NAME",
            "DATA_TYPE",
            "TYPE_NAME",
            "PRECISION",
            "LENGTH",
            "SCALE",
            "RADIX",
            "NULLABLE",
            "REMARKS",
        ]
        ids = [x for x in cols if x["TABLE_NAME"][0] == "types_t" and x["COLUMN_NAME"][0] == "id"]
        assert ids and ids[0]["DATA_TYPE"][1] == -5 and ids[0]["TYPE_NAME"][0] == "bigint"
        types = got["SQLTypes"]
        assert len(types[0]) == 15 and "LITERAL_PREFIX" in types[0] and "MAXIMUM_SCALE" in types[0]
        assert any(t["TYPE_NAME"][0] == "int4" and t["DATA_TYPE"][1] == 4 for t in types)

    on_session_app(scenario)


def test_sqlite_and_duckdb_files_inside_the_roots(on_session_app, data_dir):
    with sqlite3.connect(data_dir / "shop.db") as db:
        db.execute("CREATE TABLE orders (id INTEGER, item TEXT, qty REAL)")
        db.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)", [(1, "pen", 2.5), (2, "ink", None), (3, "pen", 1)]
        )
    duck = duckdb.connect(str(data_dir / "stock.duckdb"))
    duck.execute(
        "CREATE TABLE stock AS SELECT range AS sid, 'item ' || range AS article, DATE '2024-03-01' + "
        "CAST(range AS INTEGER) AS day, CAST(range * 1.25 AS DECIMAL(8,2)) AS price FROM range(4)"
    )
    duck.close()
    (data_dir / "secret.csv").write_text("a\n1\n")

    async def scenario(c: Client, doc: int) -> None:
        assert "result" in await connection(c, doc, "lite", "sqlite:///shop.db", "sqlite")
        assert "result" in await connection(c, doc, "duck", f"duckdb:////{data_dir}/stock.duckdb", "duckdb")
        r = await reload(
            c,
            doc,
            "LIB CONNECT TO 'lite';\nO: SQL SELECT * FROM orders;\n"
            "LIB CONNECT TO 'duck';\nS: SQL SELECT * FROM stock ORDER BY sid;\n",
        )
        assert r.ok, r.errors
        o = await rows(c, doc, "O")
        assert [x["item"] for x in o] == [("pen", None), ("ink", None), ("pen", None)]
        assert o[0]["qty"] == ("2.5", 2.5) and o[1]["qty"] is None and o[2]["qty"] == ("1", 1.0)
        s = await rows(c, doc, "S")
        assert s[1]["day"] == ("3/2/2024", 45353.0) and s[3]["price"] == ("3.75", 3.75)
        # DuckDB may not reach other files, SQLite may not ATTACH any: both fail, the model stays
        r = await reload(
            c, doc, f"LIB CONNECT TO 'duck';\nX: SQL SELECT * FROM read_csv('{data_dir}/secret.csv');"
        )
        assert not r.ok and "file system operations are disabled" in r.errors
        r = await reload(c, doc, "LIB CONNECT TO 'lite';\nSQL ATTACH DATABASE '/tmp/x.db' AS x;")
        assert not r.ok and "only queries" in r.errors
        assert await tables(c, doc) == {"O": 3, "S": 4}

    on_session_app(scenario)


def test_database_files_outside_the_roots_or_owned_by_the_engine_are_refused(engine_factory, tmp_path):
    root = tmp_path
    apps = tmp_path / "apps"
    outside = tmp_path.parent / f"{tmp_path.name}-outside.db"
    with sqlite3.connect(outside) as db:
        db.execute("CREATE TABLE t (a INTEGER)")
    eng = engine_factory(f"FolderConnectionRoots={root / 'data'};{apps}", document_dir=apps)

    async def scenario():
        async with Client.open(eng.url()) as c:
            app = (await c.call("CreateApp", -1, "victim"))["qAppId"]
            doc = (await c.call("OpenDoc", -1, app))["qReturn"]["qHandle"]
            bad = await connection(c, doc, "out", f"sqlite:////{outside}", "sqlite")
            assert bad["error"]["code"] == 5, bad
            link = root / "data" / "link.db"
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(outside)
            bad = await connection(c, doc, "link", "sqlite:///link.db", "database")
            assert bad["error"]["code"] == 5, bad
            # the apps folder is a root here, but an app file is the engine's own: refused at reload
            app_file = next(apps.glob("victim*"))
            assert "result" in await connection(c, doc, "own", f"sqlite:////{app_file}", "sqlite")
            r = await reload(c, doc, "LIB CONNECT TO 'own';\nSQL SELECT 1;")
            assert not r.ok and "file the engine owns" in r.errors

    asyncio.run(scenario())
    outside.unlink()


def test_sqlalchemy_url_reaches_postgres_through_its_dialect(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        url = f"postgresql+psycopg://127.0.0.1:{pg.port}/qix"
        await connection(c, doc, "alchemy", url, "sqlalchemy", qUserName=USER, qPassword=PASSWORD)
        r = await reload(
            c,
            doc,
            "LIB CONNECT TO 'alchemy';\nT: SQL SELECT id, name, price, day FROM types_t "
            "ORDER BY id;\nC: SQLColumns;",
        )
        assert r.ok, r.errors
        got = await rows(c, doc, "T")
        assert got[0] == {
            "id": ("1", 1.0),
            "name": ("alpha", None),
            "price": ("10.25", 10.25),
            "day": ("1/31/2024", 45322.0),
        }
        assert any(x["COLUMN_NAME"] == ("price", None) for x in await rows(c, doc, "C"))

    on_session_app(scenario)


def test_bad_sql_and_wrong_password_fail_with_the_database_message_and_keep_the_model(
    on_session_app, pg, caplog
):
    wrong = "not-the-pw-4242"

    async def scenario(c: Client, doc: int) -> None:
        await connection(c, doc, "pg", pg.url, "postgresql")
        await connection(
            c, doc, "nope", _pg_url_without_password(pg), "postgresql", qUserName=USER, qPassword=wrong
        )
        r = await reload(c, doc, "LIB CONNECT TO 'pg';\nT: SQL SELECT id FROM types_t;")
        assert r.ok, r.errors
        r = await reload(c, doc, "LIB CONNECT TO 'pg';\nT: SQL SELEC id FROM types_t;")
        assert not r.ok and 'syntax error at or near "SELEC"' in r.errors
        r = await reload(c, doc, "LIB CONNECT TO 'pg';\nT: SQL SELECT nosuch FROM types_t;")
        assert not r.ok and 'column "nosuch" does not exist' in r.errors
        r = await reload(c, doc, "LIB CONNECT TO 'nope';\nT: SQL SELECT id FROM types_t;")
        assert not r.ok and "password authentication failed" in r.errors
        assert wrong not in r.errors and wrong not in r.log
        assert await tables(c, doc) == {"T": TYPES_ROWS}
        listed = (await c.call("GetConnections", doc))["qConnections"]
        assert all("qPassword" not in x for x in listed) and wrong not in str(listed)

    with caplog.at_level(logging.DEBUG):
        on_session_app(scenario, "TrafficLogVerbosity=5")  # every frame logged: they must come out masked
    logged = engine_log(caplog)
    assert "CreateConnection" in logged  # the traffic log was on: the frames were logged, masked
    assert wrong not in logged and PASSWORD not in logged


def test_connection_dropped_mid_stream_fails_the_reload_and_keeps_the_model(on_session_app, pg):
    """Another session terminates the backend (pg_terminate_backend) while the engine reads a long result."""
    big = "T: SQL SELECT b.id AS qix_drop_marker, b.tag FROM big b, generate_series(1, 40) s;"
    stop = threading.Event()

    def killer() -> None:
        import adbc_driver_postgresql.dbapi as driver

        with driver.connect(pg.url, autocommit=True) as conn, conn.cursor() as cur:
            while not stop.is_set():
                cur.execute(
                    "SELECT pid FROM pg_stat_activity WHERE query LIKE '%qix_drop_marker%' "
                    "AND pid <> pg_backend_pid() AND state = 'active'"
                )
                pids = [r[0] for r in cur.fetchall()]
                if pids:
                    time.sleep(1.5)  # rows are streaming by now
                    for pid in pids:
                        cur.execute(f"SELECT pg_terminate_backend({pid})")
                        cur.fetchall()
                    return
                time.sleep(0.05)

    async def scenario(c: Client, doc: int) -> None:
        await connection(c, doc, "pg", pg.url, "postgresql")
        r = await reload(c, doc, "LIB CONNECT TO 'pg';\nOld: SQL SELECT id FROM types_t;")
        assert r.ok, r.errors
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        r = await reload(c, doc, "LIB CONNECT TO 'pg';\n" + big)
        stop.set()
        thread.join(10)
        assert not r.ok
        assert "while reading the result" in r.errors, r.errors
        # libpq reports the server's FATAL message, or (when the socket closes first) the closed connection
        assert (
            "terminating connection due to administrator command" in r.errors
            or "server closed the connection unexpectedly" in r.errors
        ), r.errors
        assert await tables(c, doc) == {"Old": TYPES_ROWS}

    on_session_app(scenario)


def test_row_limit_stops_reading(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        await connection(c, doc, "pg", pg.url, "postgresql")
        r = await reload(c, doc, "LIB CONNECT TO 'pg';\nT: SQL SELECT * FROM big;")
        assert not r.ok and "Row limit exceeded: more than 200000 rows" in r.errors

    on_session_app(scenario, "ScriptMaxRows=200000")


def test_cancel_reload_stops_a_streaming_result(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        await connection(c, doc, "pg", pg.url, "postgresql")
        await c.call(
            "SetScript", doc, "LIB CONNECT TO 'pg';\nT: SQL SELECT b.id FROM big b, generate_series(1, 60) s;"
        )
        pending = asyncio.create_task(c.request("DoReload", doc, [], request_id=99))
        await asyncio.sleep(2)
        started = time.monotonic()
        await c.call("CancelReload")
        resp = await asyncio.wait_for(pending, 30)
        assert resp["result"]["qReturn"] is False
        assert time.monotonic() - started < 10
        progress = (await c.call("GetProgress", -1, 99))["qProgressData"]
        assert "cancelled" in str(progress["qErrorData"]).lower()

    on_session_app(scenario)


def test_connect_statements_never_show_credentials(on_session_app, pg, caplog):
    secret = "Pa55-in-script"

    async def scenario(c: Client, doc: int) -> None:
        r = await reload(
            c, doc, f'CUSTOM CONNECT TO "provider=nosuch;host=h;password={secret};";\nSQL SELECT 1;'
        )
        assert not r.ok and "no gRPC connector 'nosuch'" in r.errors
        progress = (await c.call("GetProgress", -1, 4711))["qProgressData"]
        assert secret not in str(progress) and "password=***" in str(progress)
        r = await reload(c, doc, "ODBC CONNECT TO 'dsn;UID=u;PWD=" + secret + "';")
        assert not r.ok and "Connector not available" in r.errors and secret not in r.errors + r.log

    with caplog.at_level(logging.DEBUG):
        on_session_app(scenario, "EnableGrpcCustomConnectors=1", "TrafficLogVerbosity=5")
    logged = engine_log(caplog)
    assert "SetScript" in logged and secret not in logged


@pytest.mark.parametrize("qtype", ["folder", "web", ""])
def test_non_database_connections_are_not_connected_to(on_session_app, data_dir, qtype):
    async def scenario(c: Client, doc: int) -> None:
        await connection(
            c, doc, "x", str(data_dir) if qtype == "folder" else "https://example.invalid/x", qtype
        )
        r = await reload(c, doc, "LIB CONNECT TO 'x';\nSQL SELECT 1;")
        assert not r.ok and "Connector not available" in r.errors

    on_session_app(scenario)


def test_statements_without_a_result_run_on_the_same_connection(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        await connection(c, doc, "pg", pg.url, "postgresql")
        r = await reload(
            c,
            doc,
            "LIB CONNECT TO 'pg';\nSQL CREATE TEMP TABLE scratch AS SELECT id * 10 AS tens "
            "FROM types_t;\nT: SQL SELECT * FROM scratch ORDER BY tens;",
        )
        assert r.ok, r.errors
        assert [x["tens"][1] for x in await rows(c, doc, "T")] == [10, 20, 30, 40, 50, 60]
        assert await tables(c, doc) == {"T": TYPES_ROWS}

    on_session_app(scenario)


def test_modify_connection_keeps_the_stored_password_unless_told_to_override(on_session_app, pg):
    async def scenario(c: Client, doc: int) -> None:
        created = await connection(
            c, doc, "pg", _pg_url_without_password(pg), "postgresql", qUserName=USER, qPassword=PASSWORD
        )
        cid = created["result"]["qConnectionId"]
        renamed = {"qName": "pg2", "qConnectionString": _pg_url_without_password(pg), "qType": "postgresql"}
        await c.call("ModifyConnection", doc, cid, renamed, False)
        r = await reload(c, doc, "LIB CONNECT TO 'pg2';\nT: SQL SELECT id FROM types_t;")
        assert r.ok, r.errors
        await c.call("ModifyConnection", doc, cid, {**renamed, "qUserName": USER, "qPassword": "wrong"}, True)
        r = await reload(c, doc, "LIB CONNECT TO 'pg2';\nT: SQL SELECT id FROM types_t;")
        assert not r.ok and "password authentication failed" in r.errors

    on_session_app(scenario)
