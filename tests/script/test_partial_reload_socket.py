"""Partial reload over the socket: DoReload qPartial and DoReloadEx qParams.qPartial keep the tables of
the last reload and run only ADD/REPLACE loads."""

from __future__ import annotations

import asyncio

from tests.harness import Client

SCRIPT = """Tab1: LOAD * INLINE [Name, Number
Ann, 1
Bo, 2];
Add Only LOAD * INLINE [Name, Number
Cy, 3];
Tab2: Replace LOAD RecNo() + $(vRun) AS Code AUTOGENERATE 1;
"""


async def _rows(c: Client, h: int) -> dict[str, int]:
    tables = await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False)
    return {t["qName"]: t["qNoOfRows"] for t in tables["qtr"]}


async def _codes(c: Client, h: int) -> list[str]:
    data = await c.call("GetTableData", h, 0, 10, False, "Tab2")
    return [row["qValue"][0]["qText"] for row in data["qData"]]


def test_partial_reload_over_the_socket(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/partial")) as c:
            await c.call("CreateApp", -1, "partial")
            h = (await c.call("OpenDoc", -1, "partial"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, "LET vRun = 10;\n" + SCRIPT)
            assert (await c.call("DoReload", h))["qReturn"] is True
            assert await _rows(c, h) == {"Tab1": 2, "Tab2": 1}
            assert await _codes(c, h) == ["11"]
            await c.call("SetScript", h, "LET vRun = 20;\n" + SCRIPT)
            # DoReload(qMode, qPartial, qDebug): the plain load is skipped, ADD ONLY appends, REPLACE reloads
            assert (await c.call("DoReload", h, 0, True, False))["qReturn"] is True
            assert await _rows(c, h) == {"Tab1": 3, "Tab2": 1}
            assert await _codes(c, h) == ["21"]
            await c.call("SetScript", h, "LET vRun = 30;\n" + SCRIPT)
            res = await c.call("DoReloadEx", h, {"qPartial": True})
            assert res["qResult"]["qSuccess"] is True
            assert await _rows(c, h) == {"Tab1": 4, "Tab2": 1}
            assert await _codes(c, h) == ["31"]
            # a full reload starts again from nothing
            assert (await c.call("DoReloadEx", h, {}))["qResult"]["qSuccess"] is True
            assert await _rows(c, h) == {"Tab1": 2, "Tab2": 1}

    asyncio.run(scenario())
