"""Big files over the socket: a CSV and a Parquet file reloaded in many small batches give, as a client
sees it, the model the same script gives with the files read whole; GetProgress tells the rows read while
a file streams."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.sources import parquet, text
from tests.harness import Client
from tests.streaming import batches_of, read_whole, write_files

ROWS = 2500
SCRIPT = """SET DateFormat='YYYY-MM-DD';
Csv: LOAD * FROM [lib://data/orders.csv] (txt, utf8, embedded labels, delimiter is ';');
Pq: LOAD Id AS PqId, Amount AS PqAmount, Code AS PqCode, Name AS PqName, Day AS PqDay, Key AS PqKey
FROM [lib://data/orders.parquet] (parquet);
Calc: LOAD *, RowNo() AS Row, Twice - Amount AS Back;
LOAD Id AS CalcId, Amount, Amount * 2 AS Twice, Upper(Trim(Name)) AS Upper, Year(Day) AS Year, Code & '/' & Key AS Both
FROM [lib://data/orders.csv] (txt, utf8, embedded labels, delimiter is ';') WHERE Mod(Id, 4) <> 1;
"""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The engine's default FolderConnectionRoots is <apps>/../data: the files go there."""
    folder = tmp_path / "data"
    folder.mkdir()
    write_files(folder, ROWS)
    return folder


async def _app(c: Client, data: Path) -> int:
    doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
    await c.call(
        "CreateConnection", doc, {"qName": "data", "qConnectionString": str(data), "qType": "folder"}
    )
    await c.call("SetScript", doc, SCRIPT)
    return doc


async def _reload(c: Client, doc: int, request_id: int) -> dict[str, Any]:
    resp = await c.request("DoReload", doc, [], request_id=request_id)
    progress = (await c.call("GetProgress", -1, request_id))["qProgressData"]
    assert resp["result"]["qReturn"] is True, progress["qErrorData"]
    return progress


async def _seen(c: Client, doc: int) -> dict[str, Any]:
    """Tables, keys and every row as the client reads them; every field's values in load order with
    their numbers and tags."""
    tables = (await c.call("GetTablesAndKeys", doc, {}, {}, 0, False, False))["qtr"]
    out: dict[str, Any] = {
        "tables": sorted((t["qName"], t["qNoOfRows"], [f["qName"] for f in t["qFields"]]) for t in tables)
    }
    for t in tables:
        rows = (await c.call("GetTableData", doc, -1, 0, False, t["qName"]))["qData"]
        out[t["qName"]] = [[(v["qText"], v["qNumber"], v["qIsNumeric"]) for v in r["qValue"]] for r in rows]
        for f in t["qFields"]:
            props = {
                "qInfo": {"qType": "lb"},
                "qListObjectDef": {
                    "qDef": {"qFieldDefs": [f["qName"]], "qSortCriterias": [{"qSortByLoadOrder": 1}]},
                    "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 10_000}],
                },
            }
            h = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
            lo = (await c.call("GetLayout", h))["qLayout"]["qListObject"]
            cells = [row[0] for row in lo["qDataPages"][0]["qMatrix"]]
            desc = (await c.call("GetFieldDescription", doc, f["qName"]))["qReturn"]
            out[f"field {f['qName']}"] = (
                [(x["qText"], x["qNum"], x["qElemNumber"]) for x in cells],
                lo["qSize"]["qcy"],
                sorted(desc["qTags"]),
            )
    return out


def test_streamed_reload_equals_the_whole_file_over_the_socket(engine_factory, data, monkeypatch) -> None:
    eng = engine_factory()
    pieces: list[int] = []
    real = text._pieces

    def counted(f, size):
        for piece in real(f, size):
            pieces.append(len(piece))
            yield piece

    monkeypatch.setattr(text, "_pieces", counted)
    parquet_batches: list[int] = []
    real_parquet = parquet._batches

    def counted_parquet(pf, req):
        for batch in real_parquet(pf, req):
            parquet_batches.append(batch.nrows)
            yield batch

    monkeypatch.setattr(parquet, "_batches", counted_parquet)

    async def scenario() -> None:
        async with Client.open(eng.url("/app/engineData/identity/stream")) as c:
            doc = await _app(c, data)
            with batches_of(monkeypatch):
                progress = await _reload(c, doc, 900)
                streamed = await _seen(c, doc)
            batches = len(pieces)
            with read_whole(monkeypatch):
                await _reload(c, doc, 901)
                whole = await _seen(c, doc)
            assert (
                batches > 2 * 20 and len(pieces) == batches
            )  # both CSV loads streamed, the reference did not
            assert (
                len(parquet_batches) == -(-ROWS // 97) + 1 and parquet_batches[-1] == ROWS
            )  # then one batch
            assert streamed == whole
            rows = {name: n for name, n, _ in streamed["tables"]}
            assert (
                rows == {"Csv": ROWS, "Pq": ROWS, "Calc": ROWS - ROWS // 4}
                and len(streamed["field PqKey"][0]) > 1000
            )
            assert f"Csv << {ROWS} Lines fetched" in progress["qPersistentProgress"]

    asyncio.run(scenario())


def test_progress_tells_the_rows_read_while_a_file_streams(engine_factory, data, monkeypatch) -> None:
    """The reload is held after its fourth batch until the client has seen GetProgress report it."""
    eng = engine_factory()
    held, seen = threading.Event(), threading.Event()
    real = text._pieces

    def slow(f, size):
        for i, piece in enumerate(real(f, size)):
            if i == 4:
                held.set()
                seen.wait(20)
            yield piece

    monkeypatch.setattr(text, "_pieces", slow)

    async def scenario() -> None:
        async with Client.open(eng.url("/app/engineData/identity/progress")) as c:
            with batches_of(monkeypatch):
                doc = await _app(c, data)
                reload = asyncio.create_task(c.request("DoReload", doc, [], request_id=77))
                assert await asyncio.to_thread(held.wait, 20)
                progress = (await c.call("GetProgress", -1, 77))["qProgressData"]
                seen.set()
                assert (await asyncio.wait_for(reload, 30))["result"]["qReturn"] is True
            assert progress["qStarted"] is True and progress["qFinished"] is False
            fetched = re.fullmatch(r"orders << (\d+) Lines fetched", progress["qTransientProgress"])
            assert fetched, progress["qTransientProgress"]
            assert 0 < int(fetched.group(1)) < ROWS  # rows read so far: four pieces' worth
            assert progress["qTransientProgressMessage"]["qMessageParameters"] == [
                progress["qTransientProgress"]
            ]
            done = (await c.call("GetProgress", -1, 77))["qProgressData"]
            assert done["qFinished"] is True and f"Csv << {ROWS} Lines fetched" in done["qPersistentProgress"]

    asyncio.run(scenario())
