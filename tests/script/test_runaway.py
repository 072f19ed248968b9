"""Runaway and oversized reloads over real sockets: DO/LOOP conditions are expanded on every pass,
``WHILE IterNo()`` runs in batches up to ScriptMaxRows, row-multiplying statements and texts are sized
first, and CancelReload, ReloadTimeoutSeconds and the end of the session stop a reload promptly, with
an error naming the line it was on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.expr import limits
from engine.script.runner import ScriptEnv, run_script
from tests.harness import Client

#: a statement that runs for seconds in Python (a hash per row), to be cancelled inside
LONG_STATEMENT = "T: LOAD Hash256(Mod(RecNo(), 1000)) AS H AUTOGENERATE 4000000;"


@pytest.fixture(autouse=True)
def _default_limits() -> Iterator[None]:
    yield
    limits.configure(limits.Limits())


async def _doc(c: Client) -> int:
    return (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]


async def _reload(c: Client, doc: int, script: str) -> tuple[bool, list[dict[str, Any]]]:
    """DoReload ``script``: success, and the reload's qErrorData."""
    await c.call("SetScript", doc, script)
    resp = await c.request("DoReload", doc, [])
    progress = (await c.call("GetProgress", -1, resp["id"]))["qProgressData"]
    return resp["result"]["qReturn"], progress["qErrorData"]


def _run(eng: Any, scenario: Any) -> None:
    async def main() -> None:
        async with Client.open(eng.url("/app/engineData/identity/runaway")) as c:
            await scenario(c)

    asyncio.run(main())


def test_loop_conditions_are_expanded_on_every_pass(engine) -> None:
    async def scenario(c: Client) -> None:
        doc = await _doc(c)
        ok, errors = await _reload(c, doc, "LET i=0; DO WHILE $(i) < 3; LET i=i+1; LOOP\n"
                                           "LET j=0;\nDO\nLET j=j+1;\nLOOP UNTIL $(j) >= 4\n"
                                           "T: LOAD $(i) * 10 + $(j) AS X AUTOGENERATE 1;")
        assert ok and not errors
        assert (await c.call("Evaluate", doc, "Sum(X)"))["qReturn"] == "34"

    _run(engine, scenario)


@pytest.mark.timeout(90)
def test_while_iterno_runs_in_batches_up_to_the_row_limit(engine_factory) -> None:
    eng = engine_factory("ScriptMaxRows=2000000")

    async def scenario(c: Client) -> None:
        doc = await _doc(c)
        ok, errors = await _reload(c, doc, "TRACE start;\nT: LOAD IterNo() AS I AUTOGENERATE 1 WHILE IterNo() <= 1e9;")
        assert not ok
        assert errors[0]["qErrorString"] == "Row limit exceeded: WHILE produced more than 2000000 rows"
        assert errors[0]["qLineNumber"] == 2
        ok, errors = await _reload(c, doc, "T: LOAD RecNo() AS R, IterNo() AS I AUTOGENERATE 3 WHILE IterNo() <= RecNo();\n"
                                           "U: LOAD IterNo() AS J AUTOGENERATE 1 WHILE IterNo() <= 70000;")
        assert ok and not errors
        assert (await c.call("Evaluate", doc, "Sum(I) & '/' & Count(R)"))["qReturn"] == "10/6"
        assert (await c.call("Evaluate", doc, "Count(J) & '/' & Max(J)"))["qReturn"] == "70000/70000"

    _run(eng, scenario)


def test_row_multiplying_statements_are_sized_first(engine_factory) -> None:
    eng = engine_factory("ScriptMaxRows=1000000", "MaxRequestMemoryMB=4")

    async def scenario(c: Client) -> None:
        doc = await _doc(c)
        ok, errors = await _reload(c, doc, "A: LOAD RecNo() AS a AUTOGENERATE 3000;\n"
                                           "JOIN (A) LOAD RecNo() AS b AUTOGENERATE 3000;")
        assert not ok and errors[0]["qLineNumber"] == 2
        assert errors[0]["qErrorString"].startswith("Row limit exceeded: JOIN would make 9000000 rows")
        ok, errors = await _reload(c, doc, "TRACE x;\nT: LOAD RecNo() AS a, RecNo() AS b AUTOGENERATE 100000;")
        assert not ok and errors[0]["qLineNumber"] == 2
        assert "AUTOGENERATE 100000 would make" in errors[0]["qErrorString"]
        assert "MaxRequestMemoryMB" in errors[0]["qErrorString"]

    _run(eng, scenario)


def test_texts_over_the_limit_fail_the_reload_at_their_line(engine_factory) -> None:
    eng = engine_factory("MaxStringLength=1000")

    async def scenario(c: Client) -> None:
        doc = await _doc(c)
        ok, errors = await _reload(c, doc, "LET a = Repeat('x', 1000);\nLET b = Repeat('x', 1001);")
        assert not ok and errors[0]["qLineNumber"] == 2
        assert errors[0]["qErrorString"].startswith("Repeat would build a text of 1,001 characters")
        ok, errors = await _reload(c, doc, "SET a = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';\nSET b = $(a)$(a);\n"
                                           "SET c = $(b)$(b);\nSET d = $(c)$(c);\nSET e = $(d)$(d);\nSET f = $(e)$(e);")
        assert not ok and errors[0]["qLineNumber"] == 6
        assert errors[0]["qErrorString"].startswith("Dollar-sign expansion would build a text")
        ok, errors = await _reload(c, doc, "T: LOAD Mod(RecNo(), 2) AS G, RecNo() AS N AUTOGENERATE 1000;\n"
                                           "U: LOAD G, Concat(N, ',') AS C RESIDENT T GROUP BY G;")
        assert not ok and errors[0]["qLineNumber"] == 2 and errors[0]["qErrorString"].startswith("Concat would")

    _run(eng, scenario)


def test_cancel_reload_stops_inside_a_long_statement(engine) -> None:
    async def scenario(c: Client) -> None:
        doc = await _doc(c)
        await c.call("SetScript", doc, LONG_STATEMENT + "\nTRACE after;")
        reload = asyncio.ensure_future(c.request("DoReload", doc, [], request_id=77))
        await asyncio.sleep(0.5)
        await c.call("CancelReload")
        resp = await reload
        assert resp["result"]["qReturn"] is False
        errors = (await c.call("GetProgress", -1, 77))["qProgressData"]["qErrorData"]
        assert errors[0]["qErrorString"] == "Reload cancelled at line 1"
        assert errors[0]["qLineNumber"] == 1 and errors[0]["qLine"].startswith("T: LOAD Hash256")

    _run(engine, scenario)


@pytest.mark.timeout(60)
def test_reload_timeout_cancels_a_runaway_loop(engine_factory) -> None:
    eng = engine_factory("ReloadTimeoutSeconds=1")

    async def scenario(c: Client) -> None:
        doc = await _doc(c)
        ok, errors = await _reload(c, doc, "LET i = 0;\nDO WHILE 1 = 1\nLET i = i + 1;\nLOOP")
        assert not ok
        message = errors[0]["qErrorString"]
        assert message.startswith("Reload cancelled: it ran longer than 1 seconds (ReloadTimeoutSeconds) at line")
        assert errors[0]["qLineNumber"] in (2, 3, 4)
        assert (await c.call("Evaluate", doc, "1+1"))["qReturn"] == "2"  # the session goes on

    _run(eng, scenario)


@pytest.mark.timeout(60)
def test_a_reload_ends_when_its_session_does(engine, caplog) -> None:
    """The last socket closes; the session's TTL (1 s) ends; its runaway reload is cancelled."""
    caplog.set_level(logging.INFO, logger="qix.reload")

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/leaving/ttl/1")) as c:
            doc = await _doc(c)
            await c.call("SetScript", doc, "DO WHILE 1 = 1\nLET i = 1;\nLOOP")
            await c.ws.send(f'{{"jsonrpc":"2.0","id":5,"method":"DoReload","handle":{doc},"params":[]}}')
            await asyncio.sleep(0.3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(r.getMessage() == "reload cancelled" for r in caplog.records):
                break
            await asyncio.sleep(0.1)

    asyncio.run(scenario())
    cancelled = [r for r in caplog.records if r.getMessage() == "reload cancelled"]
    assert cancelled and cancelled[0].error.startswith("Reload cancelled at line")  # type: ignore[attr-defined]


def test_for_reads_its_counter_back_and_while_keeps_row_order(tmp_path: Path) -> None:
    script = ("FOR k = 1 TO 10\nLET k = k + 4;\nLET last = k;\nNEXT k\n"
              "T: LOAD RecNo() AS R, IterNo() AS I AUTOGENERATE 3 WHILE IterNo() <= 4 - RecNo();")
    result = run_script(script, ScriptEnv(tmp_path))
    assert result.variables["last"] == "10"
    model = result.model
    rows = list(zip(*(model.fields[f].symbols.texts(model.tables["T"].columns.raw(f)).tolist() for f in ("R", "I")),
                    strict=True))
    assert rows == [("1", "1"), ("1", "2"), ("1", "3"), ("2", "1"), ("2", "2"), ("3", "1")]
