"""The REST API over a real socket: NxApp, change, delete, import, copy, export, metadata, privileges,
media files; each gated by ABAC and section access with the same JWT rules as the WebSocket (401)."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.harness import Client, RunningEngine
from tests.jwt_keys import SECRET, bearer, mint
from tests.test_abac_matrix import USERS, abac_engine, headers, seed

SA_SCRIPT = """section access;
LOAD * inline [
ACCESS, USERID
ADMIN, admin
USER, ed
];
section application;
T: LOAD * INLINE [A, B
1, x
2, y];
"""


def call(eng: RunningEngine, method: str, path: str, user: str | None = "admin", body: bytes | None = None,
         extra: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", eng.port, timeout=30)
    hdrs = dict(headers(user)) if user else {}
    hdrs.update(extra or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def js(raw: bytes) -> Any:
    return orjson.loads(raw)


@pytest.fixture
def eng(engine_factory, tmp_path: Path) -> RunningEngine:
    return abac_engine(engine_factory, tmp_path)


def test_nx_app_attributes_privileges_and_hints(eng: RunningEngine) -> None:
    app_id = asyncio.run(seed(eng))
    status, raw = call(eng, "GET", f"/v1/apps/{app_id}")
    assert status == 200
    app = js(raw)
    attrs = app["attributes"]
    assert attrs["id"] == app_id and attrs["name"] == "sales" and attrs["owner"] == "admin"
    assert attrs["lastReloadTime"] and attrs["hasSectionAccess"] is False
    assert set(app["privileges"]) >= {"read", "update", "delete", "export"}
    assert {"resource": "sheet", "canCreate": True} in app["create"]
    status, raw = call(eng, "GET", f"/v1/apps/{app_id}", "viewer")
    assert status == 200 and js(raw)["privileges"] == ["read"]
    assert {"resource": "sheet", "canCreate": True} in js(raw)["create"]
    assert {"resource": "dimension", "canCreate": False} in js(raw)["create"]


def test_each_endpoint_per_user(eng: RunningEngine) -> None:
    """The REST matrix: who gets 200 and who gets 403, and a 403 changes nothing."""
    app_id = asyncio.run(seed(eng))
    expect = {  # admin, editor, viewer, creator, blocked, nobody
        ("GET", f"/v1/apps/{app_id}"): (200, 200, 200, 403, 403, 403),
        ("GET", f"/v1/apps/{app_id}/data/metadata"): (200, 200, 200, 403, 403, 403),
        ("GET", f"/v1/apps/{app_id}/export"): (200, 403, 403, 403, 403, 403),
        ("GET", f"/v1/apps/{app_id}/media/list"): (200, 200, 200, 403, 403, 403),
        ("PUT", f"/v1/apps/{app_id}/media/files/a.txt"): (200, 200, 403, 403, 403, 403),
    }
    for (method, path), outcome in expect.items():
        for user, want in zip(USERS, outcome, strict=True):
            body = f"by {user}".encode() if method == "PUT" else None
            status, _ = call(eng, method, path, user, body)
            assert status == want, (method, path, user, status)
    assert call(eng, "GET", f"/v1/apps/{app_id}/media/files/a.txt")[1] == b"by editor"
    for user in ("editor", "viewer", "creator", "blocked", "nobody"):
        status, _ = call(eng, "PUT", f"/v1/apps/{app_id}", user, orjson.dumps({"attributes": {"name": user}}))
        assert status == (200 if user == "editor" else 403), user
    assert js(call(eng, "GET", f"/v1/apps/{app_id}")[1])["attributes"]["name"] == "editor"
    for user in ("editor", "viewer", "creator", "blocked", "nobody"):
        assert call(eng, "DELETE", f"/v1/apps/{app_id}", user)[0] == 403
    assert call(eng, "GET", f"/v1/apps/{app_id}")[0] == 200
    assert call(eng, "DELETE", f"/v1/apps/{app_id}")[0] == 200
    assert call(eng, "GET", f"/v1/apps/{app_id}")[0] == 404


def test_401_without_token_and_404_unknown_app(eng: RunningEngine) -> None:
    assert call(eng, "GET", "/v1/apps/nope", user=None)[0] == 401
    assert call(eng, "GET", "/v1/apps/nope")[0] == 404
    assert call(eng, "GET", "/v1/apps/privileges")[0] == 200


def test_export_import_copy_round_trip(eng: RunningEngine) -> None:
    app_id = asyncio.run(seed(eng))
    status, data = call(eng, "GET", f"/v1/apps/{app_id}/export")
    assert status == 200 and len(data) > 0
    status, lean = call(eng, "GET", f"/v1/apps/{app_id}/export?NoData=true")
    assert status == 200 and lean.startswith(b"SQLite format 3")
    # the creator may import (create): the imported app is theirs
    status, raw = call(eng, "POST", "/v1/apps/import?name=imported", "creator", data)
    assert status == 200, raw
    imported = js(raw)["attributes"]
    assert imported["name"] == "imported" and imported["owner"] == "cora" and imported["id"] != app_id
    status, raw = call(eng, "GET", f"/v1/apps/{imported['id']}/data/metadata", "creator")
    meta = js(raw)
    assert status == 200 and meta["has_section_access"] is False
    assert {t["name"]: t["no_of_rows"] for t in meta["tables"]} == {"T": 2}
    fields = {f["name"]: f for f in meta["fields"]}
    assert fields["A"]["cardinal"] == 2 and fields["A"]["byte_size"] > 0
    # a viewer may neither import nor copy
    assert call(eng, "POST", "/v1/apps/import", "viewer", data)[0] == 403
    assert call(eng, "POST", f"/v1/apps/{app_id}/copy", "viewer", b"")[0] == 403
    status, raw = call(eng, "POST", f"/v1/apps/{app_id}/copy", "admin",
                       orjson.dumps({"attributes": {"name": "copy"}}))
    assert status == 200 and js(raw)["attributes"]["name"] == "copy"
    # an app without data imports as one
    status, raw = call(eng, "POST", "/v1/apps/import?name=lean", "admin", lean)
    assert status == 200, raw
    lean_id = js(raw)["attributes"]["id"]
    assert js(call(eng, "GET", f"/v1/apps/{lean_id}/data/metadata")[1])["tables"] == []
    assert js(call(eng, "GET", f"/v1/apps/{lean_id}")[1])["attributes"]["lastReloadTime"]


def test_import_refuses_what_is_not_an_app(eng: RunningEngine) -> None:
    docs = Path(eng.settings.document_directory)
    before = sorted(p.name for p in docs.iterdir())
    for body in (b"", b"hello", b"SQLite format 3\x00" + b"\x00" * 200, orjson.dumps({"app": 1})):
        assert call(eng, "POST", "/v1/apps/import", "admin", body)[0] == 400
    assert call(eng, "POST", "/v1/apps/import?mode=SIDEWAYS", "admin", b"x")[0] == 400
    assert sorted(p.name for p in docs.iterdir()) == before


def test_body_limit_is_413(engine_factory, tmp_path: Path) -> None:
    (tmp_path / "allow.txt").write_text('resource._actions = "*"\n')
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", "EnableABAC=1",
                         f"SystemAllowRulePath={tmp_path / 'allow.txt'}", "MaxRestBodySize=1024")
    assert call(eng, "POST", "/v1/apps/import", "admin", b"x" * 4096)[0] == 413


def test_bad_json_is_400(eng: RunningEngine) -> None:
    app_id = asyncio.run(seed(eng))
    assert call(eng, "PUT", f"/v1/apps/{app_id}", "admin", b"{not json")[0] == 400
    assert call(eng, "PUT", f"/v1/apps/{app_id}", "admin", b'{"attributes": 3}')[0] == 400


def test_media_stays_in_its_folder(eng: RunningEngine, tmp_path: Path) -> None:
    app_id = asyncio.run(seed(eng))
    docs = Path(eng.settings.document_directory)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    assert call(eng, "PUT", f"/v1/apps/{app_id}/media/files/img/logo.png", body=b"PNG")[0] == 200
    assert (docs / f"{app_id}.media" / "img" / "logo.png").read_bytes() == b"PNG"
    assert js(call(eng, "GET", f"/v1/apps/{app_id}/media/list")[1]) == ["img/"] or \
        js(call(eng, "GET", f"/v1/apps/{app_id}/media/list?show=r")[1]) == ["img/logo.png"]
    assert js(call(eng, "GET", f"/v1/apps/{app_id}/media/list?show=r")[1]) == ["img/logo.png"]
    assert js(call(eng, "GET", f"/v1/apps/{app_id}/media/list/img")[1]) == ["logo.png"]
    assert call(eng, "PUT", f"/v1/apps/{app_id}/media/files/thumbnail.png", body=b"T")[0] == 200
    assert call(eng, "GET", f"/v1/apps/{app_id}/media/thumbnail") == (200, b"T")
    # path tricks: never a file outside the folder
    (docs / f"{app_id}.media" / "link").symlink_to(outside)
    (docs / f"{app_id}.media" / "dirlink").symlink_to(tmp_path)
    for method in ("GET", "PUT", "DELETE"):
        for path in ("../../outside.txt", "..%2F..%2Foutside.txt", "img/../../x", "%2Fetc%2Fpasswd",
                     "a%5C..%5Cb", "link", "dirlink/outside.txt", "img/%2E%2E/%2E%2E/x"):
            status, _ = call(eng, method, f"/v1/apps/{app_id}/media/files/{path}", body=b"evil")
            assert status in (400, 404), (method, path, status)
    assert outside.read_text() == "secret"
    assert call(eng, "GET", f"/v1/apps/{app_id}/media/list/..")[0] in (400, 404)
    assert call(eng, "DELETE", f"/v1/apps/{app_id}/media/files/img")[0] == 200
    assert call(eng, "GET", f"/v1/apps/{app_id}/media/files/img/logo.png")[0] == 404
    assert call(eng, "GET", "/v1/apps/nope/media/files/x")[0] == 404


def test_scripts_cannot_reach_the_media_folder(eng: RunningEngine) -> None:
    app_id = asyncio.run(seed(eng))
    assert call(eng, "PUT", f"/v1/apps/{app_id}/media/files/data.csv", body=b"A\n1\n")[0] == 200
    docs = Path(eng.settings.document_directory)

    async def scenario() -> dict:
        async with Client.open(eng.url(), headers("admin")) as c:
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, f"T: LOAD * FROM [{docs / (app_id + '.media') / 'data.csv'}] (txt);")
            return await c.request("DoReload", doc, [])

    resp = asyncio.run(scenario())
    assert "error" in resp or resp["result"]["qReturn"] is False


def test_section_access_admin_for_export(engine_factory, tmp_path: Path) -> None:
    """Both apply: ABAC allows the editor group everything here, section access still wants ADMIN."""
    (tmp_path / "allow.txt").write_text('resource._actions = "*"\n')
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", "EnableABAC=1",
                         f"SystemAllowRulePath={tmp_path / 'allow.txt'}")

    async def make() -> str:
        async with Client.open(eng.url(), {"Authorization": bearer(mint({"sub": "admin"}))}) as c:
            app_id = (await c.call("CreateApp", -1, "sa"))["qAppId"]
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, SA_SCRIPT)
            assert (await c.call("DoReload", doc))["qReturn"] is True
            await c.call("DoSave", doc)
        return app_id

    app_id = asyncio.run(make())
    ed = {"Authorization": bearer(mint({"sub": "ed"}))}
    conn = http.client.HTTPConnection("127.0.0.1", eng.port, timeout=30)
    conn.request("GET", f"/v1/apps/{app_id}/export", headers=ed)
    assert conn.getresponse().status == 403
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", eng.port, timeout=30)
    conn.request("GET", f"/v1/apps/{app_id}", headers=ed)
    resp = conn.getresponse()
    assert resp.status == 200 and orjson.loads(resp.read())["attributes"]["hasSectionAccess"] is True
    conn.close()


def test_rules_reload(engine_factory, tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text('user.roles = "admin" and resource._actions = "*"\n')
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", "EnableABAC=1",
                         f"SystemAllowRulePath={allow}")
    assert call(eng, "POST", "/v1/rules/reload", "nobody", b"")[0] == 403
    status, raw = call(eng, "POST", "/v1/rules/reload", "admin", b"")
    assert status == 200 and js(raw)["reloaded"] is True
    allow.write_text('user.roles = "admin" and resource._actions = "*"\nbroken ((\n')
    assert call(eng, "POST", "/v1/rules/reload", "admin", b"")[0] == 400
    assert call(eng, "GET", "/v1/apps/privileges", "admin")[0] == 200  # the old rules stay in force
