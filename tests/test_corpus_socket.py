"""The whole script corpus through the socket, as a client would reload it.

For each corpus script: a session app, one folder connection per corpus data folder the script names,
SetScript, DoReload. The outcome must be the one the runner gives in-process on the same inputs (the
value-level expectations are checked there, in tests/script/test_corpus.py): the same success or
failure, the same tables with the same row counts and fields, and for a failure the error in
GetProgress.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.script.errors import ScriptError
from engine.script.paths import Connection
from engine.script.runner import ScriptEnv, run_script
from tests.harness import Client, RunningEngine
from tests.script.test_corpus import CORPUS, _index, _script_bytes

ENTRIES = _index()
pytestmark = pytest.mark.skipif(not ENTRIES, reason="script corpus not available")


def _folders(entry: dict) -> dict[str, Path]:
    """Connection name → corpus folder, for the connections the corpus can serve as folders."""
    out = {}
    for name, where in entry["connections"].items():
        if where.startswith("data/") and not name.startswith("/"):
            out[name] = CORPUS / where.split(" (")[0].strip()
    return out


def _in_process(entry: dict, script: str, tmp: Path) -> tuple[dict[str, tuple[int, list[str]]], bool] | None:
    """(table → (rows, fields), has section access) from the runner, or None when the reload fails."""
    env = ScriptEnv(document_dir=tmp, max_rows=5_000_000,
                    connections={n: Connection(n, str(p), "folder") for n, p in _folders(entry).items()})
    try:
        result = run_script(script, env)
    except ScriptError:
        return None
    tables = {t.name: (t.nrows, list(t.columns)) for t in result.model.tables.values()}
    return tables, result.section_access is not None


@pytest.fixture(scope="module")
def corpus_engine(tmp_path_factory):
    eng = RunningEngine(f"FolderConnectionRoots={CORPUS}", document_dir=tmp_path_factory.mktemp("corpus-apps"))
    yield eng
    eng.stop()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"][:60] for e in ENTRIES])
def test_corpus_script_over_the_socket(corpus_engine, entry, tmp_path):
    raw = _script_bytes(entry)
    script = raw.decode("utf-8") if not raw.startswith(b"\xef\xbb\xbf") else raw[3:].decode("utf-8")
    try:
        script.encode("utf-8")
    except UnicodeEncodeError:  # pragma: no cover - corpus files are text
        pytest.skip("not text")
    expected = _in_process(entry, script, tmp_path)

    async def scenario():
        async with Client.open(corpus_engine.url(f"/app/engineData/identity/{entry['file'][:40]}")) as c:
            doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            for name, folder in _folders(entry).items():
                await c.call("CreateConnection", doc, {"qName": name, "qConnectionString": str(folder),
                                                       "qType": "folder"})
            await c.call("SetScript", doc, script)
            resp = await c.request("DoReload", doc, [], request_id=4242)
            ok = resp["result"]["qReturn"]
            progress = (await c.call("GetProgress", -1, 4242))["qProgressData"]
            if expected is None:
                assert ok is False
                assert progress["qErrorData"] and progress["qErrorData"][0]["qErrorString"]
                return
            assert ok is True, progress["qErrorData"]
            tables, section_access = expected
            resp = await c.request("GetTablesAndKeys", doc, [{}, {}, 0, True, False])
            if section_access:
                # this engine runs without JWT validation: an app with section access does not open
                assert resp["error"]["code"] == 12002
                return
            got = {t["qName"]: (t["qNoOfRows"], [f["qName"] for f in t["qFields"]]) for t in resp["result"]["qtr"]}
            if "rand(" in script.lower():  # random row counts: compare the tables and their fields
                got = {k: v[1] for k, v in got.items()}
                tables = {k: v[1] for k, v in tables.items()}
            assert got == tables

    asyncio.run(scenario())
