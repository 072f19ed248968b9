"""Apps over the socket: create/open/delete/list, scripts and reloads, persistence, the model views."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.harness import Client, RpcError, RunningEngine

SALES = """
Sales:
LOAD * INLINE [
COUNTRY, PRODUCT, SALES_AMOUNT
US, Electronics, 101
US, Books, 102
US, Toys, 103
UK, Electronics, 201
UK, Books, 202
UK, Toys, 203
DE, Electronics, 301
DE, Books, 302
DE, Toys, 303
];
Countries:
LOAD * INLINE [
COUNTRY, NAME
US, United States
UK, United Kingdom
DE, Germany
];
"""


async def _open_new_app(c: Client, name: str, script: str = SALES) -> int:
    created = await c.call("CreateApp", -1, name)
    assert created == {"qSuccess": True, "qAppId": name}
    doc = (await c.call("OpenDoc", -1, name))["qReturn"]
    h = doc["qHandle"]
    await c.call("SetScript", h, script)
    assert (await c.call("DoReload", h))["qReturn"] is True
    return h


def test_create_open_list_delete(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/crud")) as c:
            h = await _open_new_app(c, "sales")
            with pytest.raises(RpcError) as err:
                await c.call("CreateApp", -1, "sales")
            assert err.value.code == 1000
            await c.call("DoSave", h)
            docs = (await c.call("GetDocList"))["qDocList"]
            entry = next(d for d in docs if d["qDocId"] == "sales")
            assert entry["qDocName"] == "sales.qvf" and entry["qFileSize"] > 0
            assert entry["qLastReloadTime"] and entry["qHasSectionAccess"] is False
            tables = await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False)
            assert {t["qName"]: t["qNoOfRows"] for t in tables["qtr"]} == {"Sales": 9, "Countries": 3}
            assert tables["qk"] == [{"qKeyFields": ["COUNTRY"], "qTables": ["Sales", "Countries"]}]
        async with Client.open(engine.url("/app/engineData/identity/crud2")) as c:
            for name in ("sales", "sales.qvf", str(engine.settings.document_directory / "sales.qvf")):
                doc = (await c.call("OpenDoc", -1, name))["qReturn"]
                assert doc["qGenericId"] == "sales"
            assert (await c.call("DeleteApp", -1, "nope"))["qSuccess"] is False
        async with Client.open(engine.url("/app/engineData/identity/crud3")) as c:
            for bad, code in (("missing-app", 1003), ("/etc/passwd", 5), ("../outside.qvf", 5)):
                resp = await c.request("OpenDoc", -1, [bad])
                assert resp["error"]["code"] == code, bad
            assert (await c.call("DeleteApp", -1, "sales"))["qSuccess"] is True
            resp = await c.request("OpenDoc", -1, ["sales"])
            assert resp["error"]["code"] == 1003

    asyncio.run(scenario())


def test_save_restart_reopen_identical(tmp_path):
    docs = tmp_path / "apps"
    eng = RunningEngine(document_dir=docs)
    try:

        async def first():
            async with Client.open(eng.url("/app/engineData/identity/p1")) as c:
                h = await _open_new_app(c, "persist")
                await c.call("SetAppProperties", h, {"qTitle": "Persisted", "custom": [1, 2]})
                await c.call(
                    "CreateConnection",
                    h,
                    {"qName": "data", "qConnectionString": str(tmp_path / "data"), "qType": "folder"},
                )
                await c.call("DoSave", h)
                return (await c.call("GetTableData", h, -1, 0, False, "Sales"))["qData"]

        before = asyncio.run(first())
    finally:
        eng.stop()
    eng = RunningEngine(document_dir=docs)
    try:

        async def second():
            async with Client.open(eng.url("/app/engineData/identity/p2")) as c:
                h = (await c.call("OpenDoc", -1, "persist"))["qReturn"]["qHandle"]
                props = (await c.call("GetAppProperties", h))["qProp"]
                assert props["qTitle"] == "Persisted" and props["custom"] == [1, 2]
                conns = (await c.call("GetConnections", h))["qConnections"]
                assert [x["qName"] for x in conns] == ["data"]
                assert (await c.call("GetScript", h))["qScript"] == SALES
                return (await c.call("GetTableData", h, -1, 0, False, "Sales"))["qData"]

        after = asyncio.run(second())
    finally:
        eng.stop()
    assert after == before
    assert before[0]["qValue"][0]["qText"] == "COUNTRY" and len(before) == 10


def test_session_app_cannot_be_saved_and_model_views(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/views")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, SALES)
            assert (await c.call("GetScript", h))["qScript"] == SALES
            assert (await c.call("DoReload", h, 0, False, False))["qReturn"] is True
            resp = await c.request("DoSave", h)
            assert resp["error"]["code"] == 9009
            rows = (await c.call("GetTableData", h, 0, 2, False, "Sales"))["qData"]
            assert [v["qText"] for v in rows[0]["qValue"]] == ["US", "Electronics", "101"]
            assert rows[1]["qValue"][2] == {"qText": "102", "qIsNumeric": True, "qNumber": 102}
            desc = (await c.call("GetFieldDescription", h, "COUNTRY"))["qReturn"]
            assert desc["qCardinal"] == 3 and desc["qSrcTables"] == ["Sales", "Countries"]
            assert "$key" in desc["qTags"]
            field = (await c.call("GetField", h, "PRODUCT"))["qReturn"]
            assert field["qType"] == "Field"
            assert (await c.call("GetCardinal", field["qHandle"]))["qReturn"] == 3
            layout = (await c.call("GetAppLayout", h))["qLayout"]
            assert layout["qHasScript"] is True and layout["qHasData"] is True and layout["qLastReloadTime"]

    asyncio.run(scenario())


def test_failed_reload_keeps_previous_model_and_reports(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/fail")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, SALES)
            assert (await c.call("DoReload", h))["qReturn"] is True
            await c.call("SetScript", h, SALES + "T: LOAD nosuchfield RESIDENT Sales;")
            resp = await c.request("DoReload", h, [], request_id=77)
            assert resp["result"]["qReturn"] is False
            progress = (await c.call("GetProgress", -1, 77))["qProgressData"]
            assert progress["qFinished"] is True
            assert "nosuchfield" in progress["qErrorData"][0]["qErrorString"]
            tables = (await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False))["qtr"]
            assert {t["qName"] for t in tables} == {"Sales", "Countries"}
            assert (await c.call("CheckScriptSyntax", h))["qErrors"] == []
            await c.call("SetScript", h, "LOAD * INLINE [a\n1];\nLOAD ( FROM x;")
            errors = (await c.call("CheckScriptSyntax", h))["qErrors"]
            assert errors and errors[0]["qLineInTab"] == 2

    asyncio.run(scenario())


def test_progress_while_reloading_and_cancel(engine):
    slow = (
        "T: LOAD RecNo() AS n AUTOGENERATE 1;\nLET i = 0;\nDO WHILE i < 100000000\n  LET i = i + 1;\nLOOP\n"
    )

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/slow")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, slow)
            reload = asyncio.create_task(c.request("DoReload", h, [], request_id=501))
            await asyncio.sleep(0.5)
            progress = (await c.call("GetProgress", -1, 501))["qProgressData"]
            assert progress["qStarted"] is True and progress["qFinished"] is False
            # other Global calls keep being answered meanwhile
            assert "qVersion" in await c.call("EngineVersion")
            assert await c.call("CancelReload") == {}
            resp = await asyncio.wait_for(reload, 20)
            assert resp["result"]["qReturn"] is False
            tables = (await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False))["qtr"]
            assert tables == []

    asyncio.run(scenario())


def test_connections_and_lib_paths(engine, tmp_path):
    data = tmp_path / "data"  # the default FolderConnectionRoots: beside the apps folder
    data.mkdir(exist_ok=True)
    (data / "movies.csv").write_text("Movie,Year\nAvatar,2009\nCars 2,2011\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("x\n1\n")

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/conn")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            cid = (
                await c.call(
                    "CreateConnection",
                    h,
                    {"qName": "data", "qConnectionString": str(data), "qType": "folder"},
                )
            )["qConnectionId"]
            resp = await c.request(
                "CreateConnection", h, [{"qName": "data", "qConnectionString": "/", "qType": "folder"}]
            )
            assert resp["error"]["code"] == 2000
            conn = (await c.call("GetConnection", h, cid))["qConnection"]
            assert conn["qName"] == "data" and conn["qType"] == "folder"
            await c.call(
                "SetScript",
                h,
                "M: LOAD * FROM [lib://data/movies.csv] (txt, utf8, embedded labels, delimiter is ',');",
            )
            assert (await c.call("DoReload", h))["qReturn"] is True
            rows = (await c.call("GetTableData", h, 0, 10, False, "M"))["qData"]
            assert [r["qValue"][0]["qText"] for r in rows] == ["Avatar", "Cars 2"]
            for escape in ("lib://data/../secret.csv", str(secret)):
                await c.call("SetScript", h, f"S: LOAD * FROM [{escape}] (txt);")
                assert (await c.call("DoReload", h))["qReturn"] is False, escape
            await c.call(
                "ModifyConnection",
                h,
                cid,
                {"qName": "data2", "qConnectionString": str(data), "qType": "folder"},
            )
            names = [x["qName"] for x in (await c.call("GetConnections", h))["qConnections"]]
            assert names == ["data2"]
            await c.call("DeleteConnection", h, cid)
            assert (await c.call("GetConnections", h))["qConnections"] == []
            resp = await c.request("DeleteConnection", h, [cid])
            assert resp["error"]["code"] == 2001

    asyncio.run(scenario())


def test_script_variables_and_shared_model(engine):
    async def scenario():
        async with (
            Client.open(engine.url("/app/engineData/identity/v1")) as a,
            Client.open(engine.url("/app/engineData/identity/v2")) as b,
        ):
            h = await _open_new_app(a, "shared", "SET vText = 'hello';\nLET vNum = 3 + 4;\n" + SALES)
            var = (await a.call("GetVariableByName", h, "vNum"))["qReturn"]
            assert var["qType"] == "GenericVariable"
            layout = (await a.call("GetLayout", var["qHandle"]))["qLayout"]
            assert layout["qText"] == "7" and layout["qNum"] == 7
            missing = (await a.call("GetVariableByName", h, "nope"))["qReturn"]
            assert missing == {"qType": None, "qHandle": None}
            hb = (await b.call("OpenDoc", -1, "shared"))["qReturn"]["qHandle"]
            assert engine.call_soon(lambda: len(engine.engine.apps.open_apps)) == 1
            rows = (await b.call("GetTableData", hb, 0, 1, False, "Countries"))["qData"]
            assert rows[0]["qValue"][1]["qText"] == "United States"

    asyncio.run(scenario())


def test_crash_mid_save_keeps_previous(tmp_path):
    """kill -9 of a real engine process while it saves leaves the previous save intact."""
    from engine.app import store

    docs = tmp_path / "apps"
    eng = RunningEngine(document_dir=docs)
    try:

        async def make():
            async with Client.open(eng.url("/app/engineData/identity/c1")) as c:
                await _open_new_app(c, "crashy")
                h = (await c.call("GetActiveDoc"))["qReturn"]["qHandle"]
                await c.call("DoSave", h)

        asyncio.run(make())
    finally:
        eng.stop()
    before = store.load(docs / "crashy.qvf")
    # a child process rewrites the app with a big model and is killed with SIGKILL mid-save
    code = (
        "import os, signal, numpy as np\n"
        "from pathlib import Path\n"
        "from engine.app import store\n"
        "from engine.model.datamodel import DataModel, TableData\n"
        "from engine.model.symbols import encode\n"
        "n = 3_000_000\n"
        "s, c = encode(np.arange(n, dtype=float), np.full(n, None, dtype=object))\n"
        "doc = store.load(Path(os.environ['APP']))\n"
        "doc.model = DataModel.build([TableData('Big', {'x': (s, c)}, n)])\n"
        "store._stage_hook = lambda stage: os.kill(os.getpid(), signal.SIGKILL) if stage == 'before_replace' else None\n"
        "store.save(Path(os.environ['APP']), doc)\n"
    )
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "APP": str(docs / "crashy.qvf"), "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert proc.returncode == -9
    after = store.load(docs / "crashy.qvf")
    assert list(after.model.tables) == list(before.model.tables) == ["Sales", "Countries"]
    assert [e.app_id for e in store.list_documents(docs)] == ["crashy"]


@pytest.fixture
def tiny_volume(tmp_path):
    """A 2 MiB tmpfs: a real full disk (needs root and mount, as on CI's machine)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=2m tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    os.system(f"umount {mount}")


def test_do_save_on_a_full_disk_answers_an_error_and_keeps_the_previous_file(engine_factory, tiny_volume):
    eng = engine_factory(document_dir=tiny_volume / "apps")
    big = "Big: LOAD RecNo() as id, Hash256(RecNo()) as h AUTOGENERATE 100000;"

    async def scenario():
        async with Client.open(eng.url("/app/engineData/identity/full")) as c:
            h = await _open_new_app(c, "full")
            await c.call("DoSave", h)
            path = tiny_volume / "apps" / "full.qvf"
            saved = path.read_bytes()
            await c.call("SetScript", h, SALES + big)
            assert (await c.call("DoReload", h))["qReturn"] is True
            resp = await c.request("DoSave", h, [])
            assert resp["error"]["code"] == 9001 and "full" in resp["error"]["parameter"], resp
            assert path.read_bytes() == saved
            assert [p.name for p in path.parent.iterdir()] == ["full.qvf"]  # the temp file is gone
            assert (await c.call("GetAppLayout", h))["qLayout"]["qTitle"] == "full"  # the engine goes on

    asyncio.run(scenario())


def test_document_functions_name_the_app_being_reloaded(engine):
    # DocumentTitle() is the app's title, DocumentName() its file name, DocumentPath() the whole path
    script = (
        "LET vTitle = DocumentTitle();\nLET vName = DocumentName();\nLET vPath = DocumentPath();\n" + SALES
    )

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/docfn")) as c:
            h = await _open_new_app(c, "budget-2026", script)
            got = {}
            for name in ("vTitle", "vName", "vPath"):
                var = (await c.call("GetVariableByName", h, name))["qReturn"]
                got[name] = (await c.call("GetLayout", var["qHandle"]))["qLayout"]["qText"]
            assert got["vTitle"] == "budget-2026"
            assert got["vName"] == "budget-2026.qvf"
            assert got["vPath"].endswith(os.sep + "budget-2026.qvf") and os.path.isabs(got["vPath"])

    asyncio.run(scenario())


def test_chart_expressions_use_the_script_number_and_date_conventions(engine):
    # SET DateFormat / MonthNames / DecimalSep of the script are the app's: Evaluate, hypercube
    # measures and GetLocaleInfo follow them (not the en-US defaults)
    script = (
        "SET DecimalSep=',';\nSET ThousandSep='.';\nSET DateFormat='DD/MM/YYYY';\n"
        "SET MonthNames='jan;feb;mar;apr;maj;jun;jul;aug;sep;okt;nov;dec';\nSET FirstWeekDay=0;\n"
        "T: LOAD MakeDate(2024, 5, RecNo()) AS D, RecNo() AS N AUTOGENERATE 3;"
    )

    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/locale")) as c:
            h = await _open_new_app(c, "nordic", script)
            assert (await c.call("Evaluate", h, "Date(Max(D))"))["qReturn"] == "03/05/2024"
            assert (await c.call("Evaluate", h, "Month(Min(D))"))["qReturn"] == "maj"
            props = {
                "qInfo": {"qType": "chart"},
                "qHyperCubeDef": {
                    "qDimensions": [{"qDef": {"qFieldDefs": ["N"]}}],
                    "qMeasures": [{"qDef": {"qDef": "Date(Only(D) + 30)"}}],
                    "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 3}],
                },
            }
            obj = (await c.call("CreateSessionObject", h, props))["qReturn"]["qHandle"]
            cube = (await c.call("GetLayout", obj))["qLayout"]["qHyperCube"]
            assert [row[1]["qText"] for row in cube["qDataPages"][0]["qMatrix"]] == [
                "31/05/2024",
                "01/06/2024",
                "02/06/2024",
            ]
            info = (await c.call("GetLocaleInfo", h))["qReturn"]
            assert (info["qDateFmt"], info["qDecimalSep"], info["qFirstWeekDay"]) == ("DD/MM/YYYY", ",", 0)
            assert info["qCalendarStrings"]["qMonthNames"][4] == "maj"

    asyncio.run(scenario())
