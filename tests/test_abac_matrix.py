"""ABAC over real sockets and real JWTs: six users × the mapped method families × app and object resources.

Each cell is one call: allowed (and its effect visible afterwards) or code 5 "Access denied" (and nothing
changed, as the admin sees it). The rules exercise roles, groups, nested custom claims, ownership, a deny
file that wins over an admin role, and a user with no claims at all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Client, RunningEngine
from tests.jwt_keys import SECRET, bearer, mint

ALLOW = """# admins: everything
user.roles = "admin" and resource._actions = "*"
# editors (a group): work on the app and its objects, but neither delete it nor take data out
user.groups = "editors" and resource._resourcetype = "App" and resource._actions = {"read", "update", "reload"}
user.groups = "editors" and resource._resourcetype = "App.Object" and resource._actions = {"read", "create", "update", "delete"}
# Swedish viewers (a nested claim): read everything, create sheets only
user.custom.country = "SE" and resource._actions = {"read"}
user.custom.country = "SE" and resource._resourcetype = "App.Object" and resource._objecttype = "sheet" and resource._actions = {"create"}
# creators make apps, and may do what they like with the ones they own
user.roles = "creator" and resource._resourcetype = "App" and resource._actions = {"create", "import"}
# (not "*": a new app's owner is its creator, so "*" would let everyone create apps)
resource._resourcetype = "App" and resource.owner = user and resource._actions = {"read", "update", "reload", "delete", "export", "export data"}
resource._resourcetype = "App.Object" and resource.app.owner = user and resource._actions = "*"
"""

DENY = """# one country is shut out, whatever its roles
user.custom.country = "NO" and resource._actions = "*"
# secret objects are for admins only
resource._objecttype = "secret" and !(user.roles = "admin") and resource._actions = {"read"}
"""

SCRIPT = "T: LOAD * INLINE [A, B\n1, x\n2, y];\nLET v = 1;"

USERS: dict[str, dict[str, Any]] = {
    "admin": {"sub": "admin", "roles": ["admin"]},
    "editor": {"sub": "ed", "groups": ["editors"]},
    "viewer": {"sub": "sven", "custom": {"country": "SE", "level": 2}},
    "creator": {"sub": "cora", "roles": ["creator"]},
    "blocked": {"sub": "ola", "roles": ["admin"], "custom": {"country": "NO"}},
    "nobody": {"sub": "nemo"},
}

A, D = True, False
#: family -> expected outcome per user (admin, editor, viewer, creator, blocked, nobody)
EXPECT: dict[str, tuple[bool, ...]] = {
    "OpenDoc": (A, A, A, D, D, D),
    "GetAppLayout": (A, A, A, D, D, D),
    "GetObject+GetLayout": (A, A, A, D, D, D),
    "GetObject secret": (A, D, D, D, D, D),
    "CreateObject sheet": (A, A, A, D, D, D),
    "CreateObject chart": (A, A, D, D, D, D),
    "SetProperties": (A, A, D, D, D, D),
    "DestroyObject": (A, A, D, D, D, D),
    "CreateDimension": (A, A, D, D, D, D),
    "SetScript": (A, A, D, D, D, D),
    "DoReload": (A, A, D, D, D, D),
    "GetTableData": (A, D, D, D, D, D),
    "CreateApp": (A, D, D, A, D, D),
    "AllowCreateApp": (A, D, D, A, D, D),
    "DeleteApp": (A, D, D, D, D, D),
}
NAMES = list(USERS)


def headers(user: str) -> dict[str, str]:
    return {"Authorization": bearer(mint(USERS[user]))}


def abac_engine(engine_factory, tmp_path: Path, allow: str = ALLOW, deny: str = DENY) -> RunningEngine:
    (tmp_path / "allow.txt").write_text(allow)
    (tmp_path / "deny.txt").write_text(deny)
    return engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", "EnableABAC=1",
                          f"SystemAllowRulePath={tmp_path / 'allow.txt'}",
                          f"SystemDenyRulePath={tmp_path / 'deny.txt'}")


async def seed(eng: RunningEngine, name: str = "sales") -> str:
    """The admin's app: loaded data, a sheet, a secret object, a chart to destroy."""
    async with Client.open(eng.url(), headers("admin")) as c:
        app_id = (await c.call("CreateApp", -1, name))["qAppId"]
        doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
        await c.call("SetScript", doc, SCRIPT)
        assert (await c.call("DoReload", doc))["qReturn"] is True
        for oid, otype in (("s1", "sheet"), ("x1", "secret"), ("c1", "chart")):
            await c.call("CreateObject", doc, {"qInfo": {"qId": oid, "qType": otype}, "title": oid})
        await c.call("DoSave", doc)
    return app_id


def denied(resp: dict) -> bool:
    err = resp.get("error")
    if err is None:
        return False
    assert err["code"] == 5 and err["message"] == "Access denied", err
    assert err["parameter"].startswith("Access denied to "), err
    return True


async def admin_view(eng: RunningEngine, app_id: str) -> dict[str, Any]:
    async with Client.open(eng.url(), headers("admin")) as c:
        doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
        infos = sorted(i["qId"] for i in (await c.call("GetAllInfos", doc))["qInfos"])
        script = (await c.call("GetScript", doc))["qScript"]
        s1 = (await c.call("GetObject", doc, "s1"))["qReturn"]["qHandle"]
        title = (await c.call("GetProperties", s1))["qProp"].get("title")
        reload_time = (await c.call("GetAppLayout", doc))["qLayout"]["qLastReloadTime"]
        docs = sorted(d["qDocId"] for d in (await c.call("GetDocList", -1))["qDocList"])
    return {"infos": infos, "script": script, "title": title, "reload": reload_time, "docs": docs}


async def cells(eng: RunningEngine, app_id: str, user: str) -> dict[str, bool]:
    """Run every family as ``user``; True where allowed."""
    got: dict[str, bool] = {}
    async with Client.open(eng.url(), headers(user)) as c:
        got["AllowCreateApp"] = (await c.call("AllowCreateApp", -1))["qReturn"]
        resp = await c.request("CreateApp", -1, [f"new-{user}"])
        got["CreateApp"] = not denied(resp)
        resp = await c.request("OpenDoc", -1, [app_id])
        got["OpenDoc"] = not denied(resp)
        listed = [d["qDocId"] for d in (await c.call("GetDocList", -1))["qDocList"]]
        assert (app_id in listed) == got["OpenDoc"], (user, listed)  # what can't be read isn't listed
        if got["OpenDoc"]:
            doc = resp["result"]["qReturn"]["qHandle"]
            resp = await c.request("GetAppLayout", doc, [])
            got["GetAppLayout"] = not denied(resp)
            if got["GetAppLayout"]:
                privileges = resp["result"]["qLayout"]["qMeta"]["privileges"]
                assert ("update" in privileges) == EXPECT["SetScript"][NAMES.index(user)], (user, privileges)
            resp = await c.request("GetObject", doc, ["s1"])
            ok = not denied(resp)
            if ok:
                layout = await c.request("GetLayout", resp["result"]["qReturn"]["qHandle"], [])
                ok = not denied(layout)
                if ok:
                    assert "read" in layout["result"]["qLayout"]["qMeta"]["privileges"]
            got["GetObject+GetLayout"] = ok
            got["GetObject secret"] = not denied(await c.request("GetObject", doc, ["x1"]))
            infos = [i["qId"] for i in (await c.call("GetAllInfos", doc))["qInfos"]]
            assert ("x1" in infos) == got["GetObject secret"], (user, infos)
            listed_objs = [e["qInfo"]["qId"] for e in (await c.call("GetObjects", doc, {}))["qList"]]
            assert ("x1" in listed_objs) == got["GetObject secret"], (user, listed_objs)
            for family, otype in (("CreateObject sheet", "sheet"), ("CreateObject chart", "chart")):
                got[family] = not denied(await c.request(
                    "CreateObject", doc, [{"qInfo": {"qId": f"{user}-{otype}", "qType": otype}}]))
                made = (await c.call("GetObject", doc, f"{user}-{otype}"))["qReturn"]["qHandle"]
                assert (made is not None) == got[family], (user, family)
            if got["GetObject+GetLayout"]:
                s1 = (await c.call("GetObject", doc, "s1"))["qReturn"]["qHandle"]
                got["SetProperties"] = not denied(await c.request(
                    "SetProperties", s1, [{"qInfo": {"qId": "s1", "qType": "sheet"}, "title": f"by {user}"}]))
            else:
                got["SetProperties"] = False
            got["DestroyObject"] = not denied(await c.request("DestroyObject", doc, ["c1"]))
            got["CreateDimension"] = not denied(await c.request(
                "CreateDimension", doc, [{"qInfo": {"qId": f"{user}-dim", "qType": "dimension"},
                                          "qDim": {"qFieldDefs": ["A"]}}]))
            got["SetScript"] = not denied(await c.request("SetScript", doc, [SCRIPT + f"\n// {user}"]))
            got["DoReload"] = not denied(await c.request("DoReload", doc, []))
            got["GetTableData"] = not denied(await c.request("GetTableData", doc, [0, 10, False, "T"]))
            got["saved"] = not denied(await c.request("DoSave", doc, []))
            assert got.pop("saved") == got["SetScript"]  # saving is updating the app
        else:
            for family in EXPECT:
                got.setdefault(family, False)
        got["DeleteApp"] = False  # asked last, on a copy of its own (see test)
    return got


@pytest.mark.parametrize("user", NAMES)
def test_decision_matrix(engine_factory, tmp_path: Path, user: str) -> None:
    eng = abac_engine(engine_factory, tmp_path)

    async def scenario() -> None:
        app_id = await seed(eng)
        before = await admin_view(eng, app_id)
        got = await cells(eng, app_id, user)
        victim = await seed(eng, "victim")
        async with Client.open(eng.url(), headers(user)) as c:
            got["DeleteApp"] = not denied(await c.request("DeleteApp", -1, [victim]))
        expected = {family: outcome[NAMES.index(user)] for family, outcome in EXPECT.items()}
        assert got == expected
        after = await admin_view(eng, app_id)
        # effective when allowed, nothing changed when denied
        assert (after["title"] == f"by {user}") == got["SetProperties"]
        assert ("c1" not in after["infos"]) == got["DestroyObject"]
        # created objects last past the session only when the user could also save the app
        assert (f"{user}-sheet" in after["infos"]) == (got["CreateObject sheet"] and got["SetScript"])
        assert (f"{user}-chart" in after["infos"]) == (got["CreateObject chart"] and got["SetScript"])
        assert (after["script"] != before["script"]) == got["SetScript"]
        assert (after["reload"] != before["reload"]) == got["DoReload"]
        assert (victim in after["docs"]) != got["DeleteApp"]
        assert (f"new-{user}" in after["docs"]) == got["CreateApp"]

    asyncio.run(scenario())


def test_owner_may_use_their_own_app(engine_factory, tmp_path: Path) -> None:
    """``resource.owner = user``: the creator owns what they create, and only that."""
    eng = abac_engine(engine_factory, tmp_path)

    async def scenario() -> None:
        other = await seed(eng)
        async with Client.open(eng.url(), headers("creator")) as c:
            mine = (await c.call("CreateApp", -1, "mine"))["qAppId"]
            doc = (await c.call("OpenDoc", -1, mine))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, SCRIPT)
            assert (await c.call("DoReload", doc))["qReturn"] is True
            await c.call("CreateObject", doc, {"qInfo": {"qId": "o", "qType": "chart"}})
            await c.call("DoSave", doc)
            assert [d["qDocId"] for d in (await c.call("GetDocList", -1))["qDocList"]] == [mine]
            assert denied(await c.request("OpenDoc", -1, [other]))

    asyncio.run(scenario())


CORE_EMPTY_ALLOW = """user.roles = {"admin"} && resource._actions = "*"
resource._resourcetype = {"app", "app.object"} and resource._actions = {"read"}
"""
CORE_RELOAD_ALLOW = """user.allowCreate && resource._actions = {"read", "update", "create"}
user.allowReload && resource._resourcetype = {"app"} and resource._actions = {"read", "reload", "update"}
user.allowReload && resource._resourcetype = {"app.object"} and resource._actions = {"read", "create", "reload", "update"}
user.allowView && resource._resourcetype = {"app", "app.object"} and resource._actions = {"read"}
"""


def test_core_authorization_empty_engine(engine_factory, tmp_path: Path) -> None:
    """qlik-oss/core-authorization's first engine: admins do anything, everybody else reads."""
    eng = abac_engine(engine_factory, tmp_path, CORE_EMPTY_ALLOW, "")
    admin = {"Authorization": bearer(mint({"sub": "someAdminUser", "roles": ["admin"]}))}
    other = {"Authorization": bearer(mint({"sub": "someNonAdminUser"}))}

    async def scenario() -> None:
        async with Client.open(eng.url(), admin) as c:
            app_id = (await c.call("CreateApp", -1, "movies"))["qAppId"]
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            await c.call("CreateObject", doc, {"qInfo": {"qId": "o1", "qType": "sheet"}})
            await c.call("DoSave", doc)
        async with Client.open(eng.url(), other) as c:
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            obj = (await c.call("GetObject", doc, "o1"))["qReturn"]["qHandle"]
            assert (await c.call("GetLayout", obj))["qLayout"]["qInfo"]["qId"] == "o1"
            assert denied(await c.request("CreateObject", doc, [{"qInfo": {"qType": "sheet"}}]))
            assert denied(await c.request("CreateApp", -1, ["theirs"]))

    asyncio.run(scenario())


def test_core_authorization_reload_engine(engine_factory, tmp_path: Path) -> None:
    """Its second engine: creators create but can't reload, reloaders reload but can't create apps."""
    eng = abac_engine(engine_factory, tmp_path, CORE_RELOAD_ALLOW, "")
    creator = {"Authorization": bearer(mint({"sub": "someCreateUser", "allowCreate": True}))}
    reloader = {"Authorization": bearer(mint({"sub": "someReloadUser", "allowReload": True}))}
    viewer = {"Authorization": bearer(mint({"sub": "someViewUser", "allowView": True}))}

    async def scenario() -> None:
        async with Client.open(eng.url(), creator) as c:
            app_id = (await c.call("CreateApp", -1, "movies"))["qAppId"]
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, SCRIPT)
            assert denied(await c.request("DoReload", doc, []))
            await c.call("CreateObject", doc, {"qInfo": {"qId": "m1", "qType": "movies"}})
            await c.call("DoSave", doc)
        async with Client.open(eng.url(), reloader) as c:
            assert denied(await c.request("CreateApp", -1, ["other"]))
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            assert (await c.call("DoReload", doc))["qReturn"] is True
            await c.call("DoSave", doc)
        async with Client.open(eng.url(), viewer) as c:
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            obj = (await c.call("GetObject", doc, "m1"))["qReturn"]["qHandle"]
            await c.call("GetLayout", obj)
            assert denied(await c.request("CreateObject", doc, [{"qInfo": {"qType": "movies"}}]))
            assert denied(await c.request("SetScript", doc, ["x"]))
            assert denied(await c.request("DoReload", doc, []))
            assert denied(await c.request("GetTableData", doc, [0, 10, False, "T"]))  # reading isn't exporting

    asyncio.run(scenario())


def test_abac_off_allows_everything(engine_factory) -> None:
    """EnableABAC=0 (the default): the same users and calls are all allowed."""
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")

    async def scenario() -> None:
        app_id = await seed(eng)
        async with Client.open(eng.url(), headers("nobody")) as c:
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            await c.call("GetObject", doc, "x1")
            assert (await c.call("AllowCreateApp", -1))["qReturn"] is True

    asyncio.run(scenario())


def test_script_variables_need_create_on_variable_objects(engine_factory, tmp_path: Path) -> None:
    """A reload whose script makes variables fails, clearly, for a user who may not create them; the
    old data stays. Without variables the same user's reload succeeds."""
    allow = ALLOW + 'user.reloader and resource._resourcetype = "App" and resource._actions = {"read", "reload"}\n'
    eng = abac_engine(engine_factory, tmp_path, allow, DENY)
    reloader = {"Authorization": bearer(mint({"sub": "rita", "reloader": True}))}

    async def scenario() -> None:
        app_id = await seed(eng)  # its script makes the variable v
        before = await admin_view(eng, app_id)
        async with Client.open(eng.url(), reloader) as c:
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            assert (await c.call("DoReloadEx", doc))["qResult"]["qSuccess"] is False
        assert (await admin_view(eng, app_id))["reload"] == before["reload"]
        async with Client.open(eng.url(), headers("admin")) as c:
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, "T: LOAD * INLINE [A\n1];")
            await c.call("DoSave", doc)
        async with Client.open(eng.url(), reloader) as c:
            doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            assert (await c.call("DoReload", doc))["qReturn"] is True

    asyncio.run(scenario())


def test_an_open_handle_follows_the_object_and_the_app_it_belongs_to(engine_factory, tmp_path: Path) -> None:
    """Decisions are remembered per handle; renaming the object or its app must still change them."""
    allow = ('user.roles = "admin" and resource._actions = "*"\n'
             'resource._resourcetype = "App" and resource.name like "open*" and resource._actions = {"read"}\n'
             'resource.name like "public*" and resource.app.name like "open*" and resource._actions = {"read"}\n')
    eng = abac_engine(engine_factory, tmp_path, allow=allow, deny="")

    async def scenario() -> None:
        async with Client.open(eng.url(), headers("admin")) as admin:
            app_id = (await admin.call("CreateApp", -1, "open-sales"))["qAppId"]
            adoc = (await admin.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
            await admin.call("CreateObject", adoc, {"qInfo": {"qId": "o1", "qType": "chart"},
                                                    "qMetaDef": {"title": "public chart"}})
            await admin.call("DoSave", adoc)
            async with Client.open(eng.url(), headers("viewer")) as viewer:
                vdoc = (await viewer.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
                obj = (await viewer.call("GetObject", vdoc, "o1"))["qReturn"]["qHandle"]
                for _ in range(3):  # the remembered answer
                    assert (await viewer.call("GetLayout", obj))["qLayout"]["qMeta"]["privileges"] == ["read"]
                aobj = (await admin.call("GetObject", adoc, "o1"))["qReturn"]["qHandle"]
                await admin.call("SetProperties", aobj, {"qInfo": {"qId": "o1", "qType": "chart"},
                                                         "qMetaDef": {"title": "internal chart"}})
                assert denied(await viewer.request("GetLayout", obj, []))
                await admin.call("SetProperties", aobj, {"qInfo": {"qId": "o1", "qType": "chart"},
                                                         "qMetaDef": {"title": "public again"}})
                assert "qLayout" in await viewer.call("GetLayout", obj)
                await admin.call("SetAppProperties", adoc, {"qTitle": "closed-sales"})
                assert denied(await viewer.request("GetLayout", obj, []))

    asyncio.run(scenario())
