"""Real load scripts from public repositories, reloaded over a socket the way a user meets them.

Each file in ``scripts/`` is our own rewrite of a public script (source named in its header) that keeps
the original's statements, prefixes, functions and shape; data the original read from a database or a
file we cannot have is given inline or as a small file in ``data/``. The expected outcome is written in
the script's ``//#`` lines, worked out from the Qlik script reference, not from this engine:

``//# table <name> = <rows> rows: <field>, <field>, ...``
    a table of the data model (the set of tables must be exactly the listed ones; fields are compared as a
    set: with synthetic keys Qlik's field order in the source-table view is not documented); ``? rows``
    for a table of random size (Rand() in a WHILE);
``//# optional table <name>``
    a table the reference does not say whether the engine lists (the fields a DERIVE makes): not checked;
``//# eval <expression> == <text>``
    ``Doc.Evaluate`` of a chart expression after the reload;
``//# reloads <n>``
    reload the same app n times (incremental scripts) and check after the last one.

Every app gets a folder connection ``data`` over a fresh copy of ``data/`` (scripts may STORE into it).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import Client, RunningEngine

HERE = Path(__file__).parent
SCRIPTS = sorted((HERE / "scripts").glob("*.qvs"))

_TABLE = re.compile(r"^//#\s*table\s+(?P<name>.+?)\s*=\s*(?P<rows>\d+|\?)\s+rows?:\s*(?P<fields>.*)$")
_EVAL = re.compile(r"^//#\s*eval\s+(?P<expr>.+?)\s+==\s?(?P<text>.*)$")
_RELOADS = re.compile(r"^//#\s*reloads\s+(?P<n>\d+)\s*$")
_OPTIONAL = re.compile(r"^//#\s*optional table\s+(?P<name>.+?)\s*$")


@dataclass
class Expected:
    """What the Qlik reference says the reload gives."""

    tables: dict[str, tuple[int | None, list[str]]] = field(default_factory=dict)
    evals: list[tuple[str, str]] = field(default_factory=list)
    reloads: int = 1
    optional: set[str] = field(default_factory=set)


def expected_of(text: str) -> Expected:
    """The ``//#`` lines of a script; a ``//#`` line of no known form is an error in the test data."""
    exp = Expected()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("//#"):
            continue
        if m := _TABLE.match(line):
            fields = [f.strip() for f in m["fields"].split(", ")] if m["fields"].strip() else []
            exp.tables[m["name"]] = (None if m["rows"] == "?" else int(m["rows"]), fields)
        elif m := _EVAL.match(line):
            exp.evals.append((m["expr"], m["text"]))
        elif m := _RELOADS.match(line):
            exp.reloads = int(m["n"])
        elif m := _OPTIONAL.match(line):
            exp.optional.add(m["name"])
        else:
            raise ValueError(f"unknown expectation line: {line}")
    if not exp.tables:
        raise ValueError("a real-world script must state the tables it gives")
    return exp


@pytest.fixture(scope="module")
def realworld_engine(tmp_path_factory):
    roots = tmp_path_factory.mktemp("realworld-data")
    eng = RunningEngine(
        f"FolderConnectionRoots={roots}", document_dir=tmp_path_factory.mktemp("realworld-apps")
    )
    eng.data_roots = roots  # type: ignore[attr-defined]
    yield eng
    eng.stop()


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_real_script_over_the_socket(realworld_engine, path: Path):
    script = path.read_text(encoding="utf-8")
    exp = expected_of(script)
    folder = realworld_engine.data_roots / path.stem
    shutil.copytree(HERE / "data", folder)

    async def scenario():
        async with Client.open(realworld_engine.url(f"/app/engineData/identity/{path.stem[:40]}")) as c:
            doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call(
                "CreateConnection",
                doc,
                {"qName": "data", "qConnectionString": str(folder), "qType": "folder"},
            )
            await c.call("SetScript", doc, script)
            for n in range(exp.reloads):
                rid = 7000 + n
                resp = await c.request("DoReload", doc, [], request_id=rid)
                progress = (await c.call("GetProgress", -1, rid))["qProgressData"]
                assert resp["result"]["qReturn"] is True, progress["qErrorData"]
            tables = (await c.call("GetTablesAndKeys", doc, {}, {}, 0, False, False))["qtr"]
            got = {t["qName"]: (t["qNoOfRows"], sorted(f["qName"] for f in t["qFields"])) for t in tables}
            wrong = [
                f"table {name}: {got.get(name)} != {want}"
                for name, want in exp.tables.items()
                if name not in got
                or (want[0] is not None and got[name][0] != want[0])
                or got[name][1] != sorted(want[1])
            ]
            wrong += [
                f"unexpected table {name}: {got[name]}"
                for name in got
                if name not in exp.tables and name not in exp.optional
            ]
            for expr, text in exp.evals:
                value = (await c.call("Evaluate", doc, expr))["qReturn"]
                if value != text:
                    wrong.append(f"{expr} gave {value!r}, expected {text!r}")
            assert not wrong, "\n".join(wrong)

    asyncio.run(scenario())
