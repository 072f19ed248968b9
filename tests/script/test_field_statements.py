"""Statements that change how later loads store fields (Alias, Map…Using/Unmap, NullAsValue/NullAsNull,
Force), Comment/Tag … Using, Directory, and the statements refused by name (Execute by default,
Direct Query) or failing naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.script.errors import ScriptError
from engine.script.runner import ReloadResult, ScriptEnv, run_script
from engine.script.syntax import check_syntax


def run(script: str, doc: Path | None = None, **kw) -> ReloadResult:
    return run_script(script, ScriptEnv(document_dir=doc or Path("/nonexistent-doc-dir"), **kw))


def texts(r: ReloadResult, table: str, field: str) -> list:
    t = r.model.tables[table]
    sym = r.model.fields[field].symbols
    return [None if c < 0 else str(sym.text[c]) for c in t.columns[field]]


COUNTRIES = "M: MAPPING LOAD * INLINE [k, v\nSw, Sweden\nDk, Denmark];\n"


def test_map_using_replaces_values_of_later_loads_and_unmap_stops_it():
    r = run(COUNTRIES + "Map Country USING M;\nT: LOAD * INLINE [Country, n\nSw, 1\nNo, 2];\n"
            "Unmap Country;\nU: LOAD * INLINE [Country, m\nDk, 1];")
    assert texts(r, "T", "Country") == ["Sweden", "No"]       # an unmapped value stays as it was
    assert texts(r, "U", "Country") == ["Dk"]


def test_map_using_an_unknown_mapping_fails_naming_it():
    with pytest.raises(ScriptError) as e:
        run("Map Country USING Nope;")
    assert "Nope" in e.value.message


def test_alias_renames_fields_of_later_loads():
    r = run("Alias ID_N as NameID, A as Name;\nT: LOAD * INLINE [ID_N, A\n1, x];")
    assert r.model.tables["T"].field_names == ["NameID", "Name"]


def test_nullasvalue_uses_nullvalue_and_nullasnull_turns_it_off():
    r = run("NullAsValue Region;\nSET NullValue = '<NULL>';\n"
            "T: LOAD RecNo() AS n, If(RecNo() = 2, Null(), 'north') AS Region AUTOGENERATE 2;\n"
            "NullAsNull Region;\n"
            "U: LOAD RecNo() AS m, If(RecNo() = 2, Null(), 'south') AS Region AUTOGENERATE 2;")
    assert texts(r, "T", "Region") == ["north", "<NULL>"]
    assert texts(r, "U", "Region") == ["south", None]


def test_force_case():
    r = run("Force Case Upper;\nT: LOAD * INLINE [a\nMixed Text];\nForce Case Mixed;\n"
            "U: LOAD * INLINE [b\nMixed Text];\nForce Capitalization;\nV: LOAD * INLINE [c\nhello world];")
    assert texts(r, "T", "a") == ["MIXED TEXT"]
    assert texts(r, "U", "b") == ["Mixed Text"]
    assert texts(r, "V", "c") == ["Hello World"]


def test_comment_and_tag_fields_using_a_mapping():
    r = run("T: LOAD * INLINE [a, b\n1, 2];\nC: MAPPING LOAD * INLINE [f, c\na, first field];\n"
            "G: MAPPING LOAD * INLINE [f, t\nb, MyTag];\nComment Fields Using C;\nTag Fields Using G;")
    assert r.model.fields["a"].comment == "first field"
    assert "MyTag" in r.model.fields["b"].tags


def test_directory_sets_the_base_of_relative_paths(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.csv").write_text("x\n7\n")
    r = run("Directory sub;\nT: LOAD * FROM d.csv (txt, embedded labels, delimiter is ',');", tmp_path)
    assert texts(r, "T", "x") == ["7"]


def test_execute_is_refused_by_default():
    with pytest.raises(ScriptError) as e:
        run("LET a = 1;\nExecute /bin/true;")
    assert "EXECUTE" in e.value.message and e.value.line == 2


@pytest.mark.parametrize("stmt, word", [("Direct Query Dimension a From t;", "DIRECT QUERY"),
                                        ("Declare Field Definition Fields 1 as x;", "DECLARE"),
                                        ("Loosen Table Nope;", "Nope"),
                                        ("Semantic LOAD * INLINE [a, b\n1, 2];", "SEMANTIC")])
def test_statements_not_done_fail_naming_themselves(stmt: str, word: str):
    with pytest.raises(ScriptError) as e:
        run("T: LOAD 1 AS a AUTOGENERATE 1;\n" + stmt)
    assert word in e.value.message and e.value.line == 2


def test_binary_must_come_first():
    with pytest.raises(ScriptError) as e:
        run("LET a = 1;\nBinary other.qvf;", binary=lambda name: pytest.fail("not reached"))
    assert "BINARY must be the first statement" in e.value.message and e.value.line == 2


def test_check_syntax_reports_bad_statement_syntax_with_position():
    errs = check_syntax("LET a = 1;\nAlias x y;\nMap f Using;\nForce Case Sideways;")
    assert [(e.qLineInTab, e.qColInLine) for e in errs] == [(1, 8), (2, 11), (3, 11)]
    assert check_syntax("Alias x as y;\nMap f, g Using M;\nUnmap *;\nNullAsValue *;\nForce Case Lower;") == []


CALENDAR = """Orders: LOAD Date(MakeDate(2024, RecNo() * 2, 15)) AS OrderDate, RecNo() AS Amount AUTOGENERATE 3;
[cal]:
  DECLARE FIELD DEFINITION Tagged ('$date')
  Parameters shift = 0
FIELDS
  Dual(Year($1), YearStart($1)) AS [Year] Tagged ('$axis', '$year'),
  Dual('Q'&Num(Ceil(Num(Month($1))/3)),Num(Ceil(NUM(Month($1))/3),00)) AS [Quarter] Tagged ('$quarter', '$cyclic'),
  Month($1) + shift AS [MonthNo];
"""


def test_declare_and_derive_make_the_calendar_fields():
    r = run(CALENDAR + "DERIVE FIELDS FROM FIELDS [OrderDate] USING [cal];")
    t = "OrderDate.cal"
    assert r.model.tables[t].field_names == ["OrderDate", "OrderDate.cal.Year", "OrderDate.cal.Quarter",
                                             "OrderDate.cal.MonthNo"]
    assert texts(r, t, "OrderDate.cal.Year") == ["2024", "2024", "2024"]
    assert texts(r, t, "OrderDate.cal.Quarter") == ["Q1", "Q2", "Q2"]
    assert texts(r, t, "OrderDate.cal.MonthNo") == ["2", "4", "6"]


def test_derive_from_explicit_tags_and_unknown_definition():
    r = run(CALENDAR + "TAG FIELD OrderDate WITH '$date';\nDERIVE FIELDS FROM EXPLICIT TAGS ('$date') USING cal;")
    assert "OrderDate.cal" in r.model.tables
    with pytest.raises(ScriptError) as e:
        run(CALENDAR + "DERIVE FIELDS FROM FIELDS OrderDate USING nocal;")
    assert "nocal" in e.value.message and e.value.line == 9


def test_check_syntax_reports_an_unknown_statement_with_its_position():
    errs = check_syntax("LET a = 1;\n  Frobnicate x;\nIntervalMatch (T LOAD a, b RESIDENT X;")
    assert [(e.qLineInTab, e.qColInLine) for e in errs] == [(1, 2), (2, 17)]
    assert "Frobnicate" in errs[0].message
