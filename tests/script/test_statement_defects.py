"""Regression tests for statement-level defects of issue 12 (values from the Qlik script reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.script.errors import ScriptError
from engine.script.runner import ReloadResult, ScriptEnv, run_script


def run(script: str, tmp_path: Path | None = None) -> ReloadResult:
    return run_script(script, ScriptEnv(document_dir=tmp_path or Path("/nonexistent-doc-dir")))


def col(r: ReloadResult, table: str, field: str) -> list:
    t = r.model.tables[table]
    sym = r.model.fields[field].symbols
    out: list = []
    for c in t.columns[field]:
        if c < 0:
            out.append(None)
            continue
        num = float(sym.num[c])
        out.append((int(num) if num.is_integer() else num) if num == num else str(sym.text[c]))
    return out


def test_undefined_variable_is_null_outside_a_load():
    r = run("IF IsNull(vNever) THEN\n  LET seen = 'null';\nEND IF\nLET y = vNever;\nLET z = Alt(vNever, 7);")
    assert r.variables["seen"] == "null"
    assert "y" not in r.variables          # LET of NULL leaves the variable without a value
    assert r.variables["z"] == "7"


def test_unknown_field_inside_a_load_still_fails():
    with pytest.raises(ScriptError) as e:
        run("T: LOAD nosuch AUTOGENERATE 1;")
    assert "nosuch" in e.value.message


def test_exists_reads_a_field_of_an_earlier_table():
    r = run("A: LOAD * INLINE [x\n1\n2];\n"
            "B: LOAD * INLINE [y\n1\n3\n2] WHERE Exists(x, y);\n"
            "C: NOCONCATENATE LOAD x AS z INLINE [x\n2\n5] WHERE Exists(x);")
    assert col(r, "B", "y") == [1, 2]
    assert col(r, "C", "z") == [2]


def test_where_may_name_a_field_renamed_in_the_same_load():
    r = run("T: LOAD RecNo() AS A, RecNo() * 10 AS B AUTOGENERATE 5 WHERE A > 2;")
    assert col(r, "T", "A") == [3, 4, 5]
    assert col(r, "T", "B") == [30, 40, 50]


def test_autonumber_statement_renumbers_fields():
    r = run("T: LOAD * INLINE [Region, Year, Sales\nNorth, 2020, 5\nSouth, 2021, 6\nNorth, 2021, 7];\n"
            "AutoNumber Region, Year;")
    assert col(r, "T", "Region") == [1, 2, 1]
    assert col(r, "T", "Year") == [1, 2, 2]
    assert col(r, "T", "Sales") == [5, 6, 7]


def test_autonumber_across_tables_and_shared_namespace():
    r = run("A: LOAD * INLINE [K, V\nx, 1\ny, 2];\nB: LOAD * INLINE [K, W\ny, 3\nz, 4];\n"
            "C: LOAD * INLINE [P\nq\nx];\nAutoNumber K, P Using ns;")
    assert col(r, "A", "K") == [1, 2]
    assert col(r, "B", "K") == [2, 3]
    assert col(r, "C", "P") == [4, 1]


def test_errormode_zero_continues_and_fills_the_error_variables():
    r = run("SET ErrorMode = 0;\nT: LOAD * FROM [lib://nowhere/none.csv];\nLET code = ScriptError;\n"
            "LET after = ScriptError;\nU: LOAD * RESIDENT Missing;\nSET ErrorMode = 1;")
    assert r.variables["code"] == "8"            # File not found, read by the next statement
    assert r.variables["after"] == "0"           # reset once a statement succeeds
    assert r.variables["ScriptErrorCount"] == "2"
    assert len(r.variables["ScriptErrorList"].split("\n")) == 2
    assert "Missing" in r.variables["ScriptErrorList"]


def test_errormode_one_stops_at_the_failing_line():
    with pytest.raises(ScriptError) as e:
        run("LET a = 1;\nU: LOAD * RESIDENT Missing;")
    assert e.value.line == 2 and "Missing" in e.value.message
