"""File isolation and app-level access, tried as an attacker would: real JWTs, real sockets.

A user with no rights on a section-access app must not reach its file through a script (read or STORE),
whatever the path form (plain, lib://, symlink, case, temp file); folder connections stay inside the
operator's roots; DeleteApp and every other app-level operation goes through the same access check; and
connection secrets are shown only to users who may change the app.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from tests.harness import Client
from tests.jwt_keys import SECRET
from tests.test_section_access import MATRIX_SCRIPT, create_app, open_doc, run, token

VICTIM_SECRET_ROW = "limited-admin"  # only in the victim's admin-only section access


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _engine(engine_factory, tmp_path: Path, *settings: str):
    return engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", *settings,
                          document_dir=tmp_path / "apps")


async def _reload(c: Client, doc: int, script: str) -> tuple[bool, str]:
    await c.call("SetScript", doc, script)
    resp = await c.request("DoReload", doc, [], request_id=777)
    progress = (await c.call("GetProgress", -1, 777))["qProgressData"]
    errors = " ".join(e["qErrorString"] for e in progress["qErrorData"])
    return resp["result"]["qReturn"], errors


async def _session_app(c: Client) -> int:
    return (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]


async def _folder(c: Client, doc: int, name: str, folder: Path | str) -> dict:
    return await c.request("CreateConnection", doc, [{"qName": name, "qConnectionString": str(folder),
                                                      "qType": "folder"}])


def _attempts(app_file: str) -> list[str]:
    """Script lines that try to read the victim's app file through every path form."""
    upper = app_file.upper()
    return [f"LOAD * FROM [{app_file}] (txt);", f"LOAD * FROM [./{upper}] (txt);",
            f"LOAD * FROM [lib://all/apps/{app_file}] (txt);", f"LOAD * FROM [lib://all/apps/{upper}] (txt);",
            "LOAD * FROM [lib://data/link.csv] (txt);", "LOAD * FROM [lib://data/../apps/" + app_file + "] (txt);"]


@pytest.mark.parametrize("legacy", [False, True], ids=["standard", "legacy"])
def test_scripts_never_read_or_overwrite_an_app_file(engine_factory, tmp_path, legacy):
    # the operator allows the whole tmp folder, which holds the apps folder: the store's files stay closed
    eng = _engine(engine_factory, tmp_path, f"FolderConnectionRoots={tmp_path}",
                  f"StandardReload={0 if legacy else 1}")

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT, "victim")
        victim = tmp_path / "apps" / f"{app_id}.qvf"
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        os.symlink(victim, data / "link.csv")
        before = _digest(victim)
        async with Client.open(eng.url(), token("mallory")) as c:
            doc = await _session_app(c)
            assert "error" not in await _folder(c, doc, "all", tmp_path)
            assert "error" not in await _folder(c, doc, "data", data)
            for line in _attempts(victim.name):
                ok, errors = await _reload(c, doc, f"T: {line}")
                assert ok is False, line
                assert "Access denied" in errors, (line, errors)
            for target in (victim.name, f"lib://all/apps/{victim.name}", "lib://data/link.csv",
                           f"lib://all/apps/{victim.name}.tmp-1-abc"):
                ok, errors = await _reload(c, doc, f"T: LOAD 1 as x AUTOGENERATE 1;\nSTORE T INTO [{target}] (txt);")
                assert ok is False and "Access denied" in errors, (target, errors)
        assert _digest(victim) == before
        assert not list((tmp_path / "apps").glob("*.tmp-*"))
        async with Client.open(eng.url(), token("admin")) as c:  # the app still opens and holds its data
            doc = await open_doc(c, app_id)
            assert VICTIM_SECRET_ROW in (await c.call("GetScript", doc))["qScript"]

    run(scenario())


def test_standard_mode_allows_only_lib_paths_and_legacy_mode_stays_in_its_roots(engine_factory, tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "plain.csv").write_text("a\n1\n2\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lib.csv").write_text("b\n3\n")

    async def scenario(eng, legacy: bool):
        async with Client.open(eng.url(), token("someone")) as c:
            doc = await _session_app(c)
            assert "error" not in await _folder(c, doc, "data", tmp_path / "data")
            ok, errors = await _reload(c, doc, "T: LOAD * FROM [lib://data/lib.csv] (txt, embedded labels);")
            assert ok is True, errors
            ok, errors = await _reload(c, doc, "T: LOAD * FROM [plain.csv] (txt, embedded labels);")
            assert ok is legacy, errors
            if not legacy:
                assert "lib://" in errors and "standard mode" in errors
            for escape in ("/etc/passwd", "../../../../../etc/passwd", str(tmp_path / "outside.csv")):
                ok, errors = await _reload(c, doc, f"T: LOAD * FROM [{escape}] (txt);")
                assert ok is False and "Access denied" in errors, (escape, errors)

    run(scenario(_engine(engine_factory, tmp_path), legacy=False))
    run(scenario(_engine(engine_factory, tmp_path, "StandardReload=0"), legacy=True))


def test_folder_connections_stay_inside_the_allowed_roots(engine_factory, tmp_path):
    eng = _engine(engine_factory, tmp_path)  # default root: <tmp>/data, beside the apps folder
    data = tmp_path / "data"
    assert data.is_dir()  # created on start
    (data / "inner").mkdir()
    os.symlink("/etc", data / "etc-link")

    async def scenario():
        async with Client.open(eng.url(), token("mallory")) as c:
            doc = await _session_app(c)
            for folder in ("/", "/etc", tmp_path, tmp_path / "apps", data / "etc-link", data / ".." / "apps", ""):
                resp = await _folder(c, doc, f"c{abs(hash(str(folder)))}", folder)
                assert resp["error"]["code"] == 5, folder
            ok_resp = await _folder(c, doc, "inner", data / "inner")
            cid = ok_resp["result"]["qConnectionId"]
            bad = await c.request("ModifyConnection", doc, [cid, {"qName": "inner", "qConnectionString": "/",
                                                                  "qType": "folder"}])
            assert bad["error"]["code"] == 5
            assert (await c.call("GetConnection", doc, cid))["qConnection"]["qConnectionString"] == str(
                data / "inner")
            # a symlink inside the connection that leads out is caught on the resolved path
            ok, errors = await _reload(c, doc, "T: LOAD * FROM [lib://inner/../etc-link/passwd] (txt);")
            assert ok is False and "Access denied" in errors

    run(scenario())


def test_delete_app_goes_through_the_access_check(engine_factory, tmp_path):
    eng = _engine(engine_factory, tmp_path)

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT, "keep")
        path = tmp_path / "apps" / f"{app_id}.qvf"
        for user in ("mallory", "us-user"):  # no row at all; a USER row
            async with Client.open(eng.url(), token(user)) as c:
                resp = await c.request("DeleteApp", -1, [app_id])
                assert resp["error"]["code"] == 5, user
                doc = await _session_app(c)  # an app-level change of another app is refused the same way
                resp = await c.request("CreateSessionAppFromApp", -1, [app_id])
                assert user == "us-user" or resp["error"]["code"] == 5
                assert doc
        assert path.is_file()
        async with Client.open(eng.url(), token("us-user")) as c:
            doc = await open_doc(c, app_id)
            for method, params in [("SetAppProperties", [{"qTitle": "pwned"}]), ("GetScript", [])]:
                assert (await c.request(method, doc, params))["error"]["code"] == 5, method
        async with Client.open(eng.url(), token("admin")) as c:
            assert (await c.call("DeleteApp", -1, app_id))["qSuccess"] is True
        assert not path.exists()

    run(scenario())


def test_delete_app_of_a_section_access_app_without_jwt_is_refused(engine_factory, tmp_path):
    jwt = _engine(engine_factory, tmp_path)
    app_id = run(create_app(jwt, MATRIX_SCRIPT, "sa"))
    jwt.stop()
    plain = engine_factory(document_dir=tmp_path / "apps")

    async def scenario():
        async with Client.open(plain.url()) as c:
            assert (await c.request("DeleteApp", -1, [app_id]))["error"]["code"] == 12002
            assert (await c.call("DeleteApp", -1, "no-such-app"))["qSuccess"] is False

    run(scenario())
    assert (tmp_path / "apps" / f"{app_id}.qvf").is_file()


def test_connection_secrets_are_shown_only_to_users_who_may_change_the_app(engine_factory, tmp_path, caplog):
    eng = _engine(engine_factory, tmp_path)
    secrets = {"pg": "postgresql://etl:S3cr3t-pw@db:5432/sales",
               "odbc": "Driver={PostgreSQL};Server=db;Uid=etl;Pwd=S3cr3t-pw;",
               "custom": 'provider=qlik-postgres;host=db;user=etl;password="S3cr3t-pw";'}

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT, "conns")
        async with Client.open(eng.url(), token("admin")) as c:
            doc = await open_doc(c, app_id)
            for name, text in secrets.items():
                await c.call("CreateConnection", doc, {"qName": name, "qConnectionString": text, "qType": name})
            shown = {x["qName"]: x["qConnectionString"] for x in (await c.call("GetConnections", doc))["qConnections"]}
            assert shown == secrets  # the admin may change the app: sees them whole
            ok, errors = await _reload(c, doc, "LIB CONNECT TO 'pg';\nT: SQL SELECT 1;")
            assert ok is False and "S3cr3t" not in errors
            await c.call("DoSave", doc)
        async with Client.open(eng.url(), token("us-user")) as c:
            doc = await open_doc(c, app_id)
            listed = (await c.call("GetConnections", doc))["qConnections"]
            assert len(listed) == 3
            for conn in listed:
                assert "S3cr3t" not in conn["qConnectionString"] and "***" in conn["qConnectionString"]
                one = (await c.call("GetConnection", doc, conn["qId"]))["qConnection"]
                assert "S3cr3t" not in one["qConnectionString"]

    with caplog.at_level(logging.DEBUG):
        run(scenario())
    assert "S3cr3t" not in caplog.text
