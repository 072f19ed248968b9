"""BINARY over the socket: a reload starts from another app's data model, read through the app
registry with OpenDoc's access checks (an app with section access needs an authenticated ADMIN)."""

from __future__ import annotations

import asyncio

from tests.harness import Client

SOURCE = "Sales: LOAD * INLINE [Region, Amount\nNorth, 10\nSouth, 20];\nCOMMENT FIELD Amount WITH 'in EUR';"
SECURED = ("SECTION ACCESS;\nLOAD * INLINE [ACCESS, USERID\nADMIN, someone];\nSECTION APPLICATION;\n" + SOURCE)


async def _make(url: str, name: str, script: str) -> None:
    async with Client.open(url) as c:
        await c.call("CreateApp", -1, name)
        h = (await c.call("OpenDoc", -1, name))["qReturn"]["qHandle"]
        await c.call("SetScript", h, script)
        assert (await c.call("DoReload", h))["qReturn"] is True
        await c.call("DoSave", h)


def test_binary_loads_another_apps_model(engine):
    async def scenario():
        await _make(engine.url("/app/engineData/identity/b1"), "source", SOURCE)
        async with Client.open(engine.url("/app/engineData/identity/b2")) as c:
            await c.call("CreateApp", -1, "target")
            h = (await c.call("OpenDoc", -1, "target"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, "Binary [source.qvf];\nExtra: LOAD * INLINE [Region, Manager\nNorth, Ann];")
            assert (await c.call("DoReload", h))["qReturn"] is True
            tables = await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False)
            assert {t["qName"]: t["qNoOfRows"] for t in tables["qtr"]} == {"Sales": 2, "Extra": 1}
            field = await c.call("GetFieldDescription", h, "Amount")
            assert field["qReturn"]["qComment"] == "in EUR"

    asyncio.run(scenario())


def test_binary_refuses_what_opendoc_would_refuse(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/b3")) as owner:
            await owner.call("CreateApp", -1, "secured")
            h0 = (await owner.call("OpenDoc", -1, "secured"))["qReturn"]["qHandle"]
            await owner.call("SetScript", h0, SECURED)
            await owner.request("DoReload", h0, [], request_id=5)    # the app now has section access
            async with Client.open(engine.url("/app/engineData/identity/b4")) as c:
                await c.call("CreateApp", -1, "thief")
                h = (await c.call("OpenDoc", -1, "thief"))["qReturn"]["qHandle"]
                with_error = []
                for k, target in enumerate(("secured.qvf", "../secured.qvf", "nosuchapp")):
                    await c.call("SetScript", h, f"Binary [{target}];")
                    resp = await c.request("DoReload", h, [], request_id=90 + k)
                    assert resp["result"]["qReturn"] is False
                    progress = (await c.call("GetProgress", -1, 90 + k))["qProgressData"]
                    with_error.append(progress["qErrorData"][0]["qErrorString"])
                assert all("BINARY" in m for m in with_error), with_error
                # a folder part is dropped: only apps of DocumentDirectory, by name
                assert "Section access" in with_error[0] and "Section access" in with_error[1]
                assert "nosuchapp" in with_error[2]
                tables = await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False)
                assert tables["qtr"] == []

    asyncio.run(scenario())
