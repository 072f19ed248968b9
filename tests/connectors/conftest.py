"""Fixtures for the connector tests: one PostgreSQL server per session (the distribution's binaries, see
``tests/pgserver.py``), engines whose gRPC connector settings are in force, the test connector as a
process, and small socket helpers (reload, read a table)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.connectors import config as connector_config
from tests.harness import REPO, Client, RunningEngine, free_port
from tests.pgserver import PostgresServer

TYPES_ROWS = 6

TYPES_SQL = (
    "CREATE TABLE types_t (id int8, name text, amount float8, price numeric(10,2), day date, ts timestamp, "
    "flag bool, code text, note text, dual_val text, split_txt text)",
    "INSERT INTO types_t VALUES "
    "(1, 'alpha', 1.5, 10.25, DATE '2024-01-31', TIMESTAMP '2024-01-31 13:45:10', true, '007', 'n1', '12.50', "
    "'abcdef'),"
    "(2, 'beta', -2.25, 0.10, DATE '2023-12-01', TIMESTAMP '2023-12-01 00:00:00', false, '7', NULL, 'x', 'gh'),"
    "(3, '', 3, 99999.99, NULL, NULL, NULL, '1e3', 'n3', NULL, NULL),"
    "(4, NULL, NULL, NULL, DATE '1999-12-31', TIMESTAMP '1999-12-31 23:59:59', true, 'x', 'n4', '3', 'ij'),"
    "(5, 'alpha', 1.5, 10.25, DATE '2024-01-31', TIMESTAMP '2024-01-31 13:45:10', false, '007', 'n5', '12.5', "
    "'klmno'),"
    "(6, 'gamma', 0.1, 1, DATE '2000-02-29', TIMESTAMP '2000-02-29 06:07:08', true, 'gamma', 'n6', '-1', 'p')",
    "CREATE TABLE big AS SELECT g AS id, g % 1000 AS grp, (g % 997) * 0.5 AS val, 'k' || (g % 50) AS tag "
    "FROM generate_series(1, 1000000) g",
)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        server.execute(*TYPES_SQL)
        yield server
    finally:
        server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def sql_engine(engine_factory, data_dir) -> Callable[..., RunningEngine]:
    """Start an engine with FolderConnectionRoots = ``data_dir`` and these ``-S`` settings (the engine makes
    its connector settings the process's); the defaults come back after the test."""

    def make(*settings: str) -> RunningEngine:
        return engine_factory(f"FolderConnectionRoots={data_dir}", *settings)

    yield make
    connector_config.configure(connector_config.ConnectorSettings())


@pytest.fixture
def on_session_app(sql_engine) -> Callable[..., None]:
    """Run ``scenario(client, doc)`` on a new session app of an engine started with these ``-S`` settings:
    the set-up every database test shares."""

    def run(scenario: Callable[[Client, int], Awaitable[None]], *settings: str) -> None:
        eng = sql_engine(*settings)

        async def main() -> None:
            async with Client.open(eng.url()) as c:
                await scenario(c, await session_app(c))

        asyncio.run(main())

    return run


@dataclass
class Reload:
    ok: bool
    errors: str
    log: str


async def session_app(c: Client) -> int:
    return (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]


async def reload(c: Client, doc: int, script: str, request_id: int = 4711) -> Reload:
    await c.call("SetScript", doc, script)
    resp = await c.request("DoReload", doc, [], request_id=request_id)
    progress = (await c.call("GetProgress", -1, request_id))["qProgressData"]
    errors = " ".join(e["qErrorString"] for e in progress["qErrorData"])
    return Reload(resp["result"]["qReturn"], errors, progress["qPersistentProgress"])


async def rows(c: Client, doc: int, table: str) -> list[dict[str, Any]]:
    """A table's rows as {field: (text, number or None)} (NULL: None)."""
    data = (await c.call("GetTableData", doc, -1, 0, False, table))["qData"]
    names = [v["qText"] for v in data[0]["qValue"]]
    out = []
    for row in data[1:]:
        rec: dict[str, Any] = {}
        for n, v in zip(names, row["qValue"], strict=True):
            if v["qText"] == "-" and v["qNumber"] == "NaN":
                rec[n] = None
            else:
                rec[n] = (v["qText"], v["qNumber"] if v["qIsNumeric"] else None)
        out.append(rec)
    return out


async def tables(c: Client, doc: int) -> dict[str, int]:
    """Table name → row count of the current model."""
    got = (await c.call("GetTablesAndKeys", doc, {}, {}, 0, False, False))["qtr"]
    return {t["qName"]: t["qNoOfRows"] for t in got}


async def connection(c: Client, doc: int, name: str, text: str, qtype: str, **extra: str) -> dict:
    return await c.request(
        "CreateConnection", doc, [{"qName": name, "qConnectionString": text, "qType": qtype, **extra}]
    )


class TestConnector:
    """The test connector (``tests/connectors/qlik_test_connector.py``) as a process on a free port."""

    def __init__(self, pg: PostgresServer, tls: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "tests.connectors.qlik_test_connector",
            "--port",
            str(self.port),
            "--pg",
            f"127.0.0.1:{pg.port}/qix",
        ]
        if tls:
            cmd += ["--tls", str(tls[0]), str(tls[1])]
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        line = self.proc.stdout.readline() if self.proc.stdout else b""
        if b"ready" not in line:
            raise RuntimeError(
                f"test connector did not start: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def connector_factory(pg) -> Iterator[Callable[..., TestConnector]]:
    started: list[TestConnector] = []

    def make(tls: tuple[Path, Path] | None = None) -> TestConnector:
        conn = TestConnector(pg, tls)
        started.append(conn)
        return conn

    yield make
    for conn in started:
        conn.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
