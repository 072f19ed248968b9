"""The request memory budget (``-S MaxRequestMemoryMB``) over real sockets: a chart that would
materialise too much fails with the engine's calculation error before allocating it: the cartesian
product of unlinked tables, a 50-dimension cube, an Aggr table, and one call's pages together."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from engine.expr import limits
from tests.harness import Client, RpcError

FIELDS = ", ".join(["R AS F1"] + [f"Mod(R, {k + 1}) AS F{k}" for k in range(2, 51)])
SCRIPT = f"""T: LOAD {FIELDS};
LOAD RecNo() AS R AUTOGENERATE 20000;
A: LOAD RecNo() AS a AUTOGENERATE 3000;
B: LOAD RecNo() AS b AUTOGENERATE 3000;
"""


@pytest.fixture(autouse=True)
def _default_limits() -> Iterator[None]:
    yield
    limits.configure(limits.Limits())


def _cube(dims: list[str], measures: list[str], fetch: int = 10) -> dict:
    return {"qInfo": {"qType": "t"}, "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": [d]}} for d in dims],
        "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": len(dims) + len(measures), "qHeight": fetch}]}}


def test_large_materialisations_answer_calculation_errors(engine_factory) -> None:
    eng = engine_factory("MaxRequestMemoryMB=1")

    async def scenario() -> None:
        async with Client.open(eng.url("/app/engineData/identity/budget")) as c:
            doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, SCRIPT)
            assert (await c.call("DoReload", doc))["qReturn"] is True

            # two unlinked 3000-row tables: 9M joined rows
            cross = (await c.call("Evaluate", doc, "Count(a) * Count(b)"))["qReturn"]
            assert cross.startswith("Error: The cartesian product of unlinked tables would make 9,000,000 rows")
            assert "MaxRequestMemoryMB" in cross
            assert (await c.call("Evaluate", doc, "Count(a)"))["qReturn"] == "3000"
            obj = (await c.call("CreateSessionObject", doc, _cube(["a", "b"], ["Count(a)"])))["qReturn"]["qHandle"]
            err = (await c.call("GetLayout", obj))["qLayout"]["qHyperCube"]["qError"]
            assert err["qErrorCode"] == 19 and "MaxRequestMemoryMB" in err["qExtendedMessage"]

            # 50 dimensions x 20000 rows
            dims = [f"F{k}" for k in range(1, 51)]
            obj = (await c.call("CreateSessionObject", doc, _cube(dims, ["Sum(R)"])))["qReturn"]["qHandle"]
            err = (await c.call("GetLayout", obj))["qLayout"]["qHyperCube"]["qError"]
            assert err["qErrorCode"] == 6001 and "The hypercube" in err["qExtendedMessage"]

            # an Aggr table of 20000 groups over ten dimensions
            aggr = "Sum(Aggr(Sum(F1), " + ", ".join(dims[:10]) + "))"
            assert (await c.call("Evaluate", doc, aggr))["qReturn"].startswith("Error: The Aggr table")
            assert (await c.call("Evaluate", doc, "Sum(Aggr(Sum(F1), F50))")) == {"qReturn": "200010000"}

            # one call's pages together: three pages of 2000 cells are 6000 cell objects
            obj = (await c.call("CreateSessionObject", doc, _cube(["a"], ["Count(a)"])))["qReturn"]["qHandle"]
            await c.call("GetLayout", obj)
            page = {"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 1000}
            with pytest.raises(RpcError) as too_many:
                await c.call("GetHyperCubeData", obj, "/qHyperCubeDef", [page, page, page])
            assert too_many.value.code == 7009
            one = (await c.call("GetHyperCubeData", obj, "/qHyperCubeDef", [page]))["qDataPages"]
            assert len(one[0]["qMatrix"]) == 1000

    asyncio.run(scenario())
