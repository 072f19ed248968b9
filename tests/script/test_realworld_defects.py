"""Regression tests for the defect classes the real-world scripts (tests/script/realworld) found, one
test per class; the expected values follow the Qlik script reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.expr import Duals
from engine.expr.aggregations import reduce_values
from engine.expr.formatting import DEFAULT_LOCALE
from engine.script.errors import ScriptError
from engine.script.runner import ReloadResult, ScriptEnv, run_script
from tests.script.test_statement_defects import col


def run(script: str, tmp_path: Path | None = None) -> ReloadResult:
    return run_script(script, ScriptEnv(document_dir=tmp_path or Path("/nonexistent-doc-dir")))


def test_include_without_semicolon_ends_at_its_parenthesis(tmp_path):
    # $(Include=...) is text put in place of the expansion: the next statement is not swallowed
    (tmp_path / "part.qvs").write_text("B: LOAD 2 AS y AUTOGENERATE 1;")
    r = run(
        "$(Include=missing.qvs)\nA: LOAD 1 AS x AUTOGENERATE 1;\n"
        "$(Include=part.qvs)\n// a comment\nC: LOAD 3 AS z AUTOGENERATE 1;",
        tmp_path,
    )
    assert sorted(r.model.tables) == ["A", "B", "C"]


def test_expansion_with_a_semicolon_completes_a_preceding_load():
    # a variable holding ';LOAD ... AUTOGENERATE n' gives the LOAD before it its source
    r = run(
        'SET src = ";LOAD RecNo() * 10 as v AUTOGENERATE 3";\n'
        "T: LOAD max(v) as top, min(v) as low\n$(src);\nSET msg = 'a;b';\nTRACE $(msg);"
    )
    assert col(r, "T", "top") == [30]
    assert col(r, "T", "low") == [10]


def test_a_variable_used_by_name_gives_its_value():
    # a direct reference uses the variable's value (not its text parsed again as an expression)
    r = run(
        "SET vT = Tab;\nTab: LOAD 1 AS A, 2 AS B AUTOGENERATE 3;\n"
        "LET nf = NoOfFields(vT);\nLET nr = NoOfRows(vT);\nLET f1 = FieldName(1, vT);\n"
        "SET DateFormat = 'M/D/YYYY';\nLET vD = MakeDate(2013, 1, 31);\nLET d = Day(vD);\n"
        "SET vF = '=1+1';\nLET two = vF * 10;\n"
        "SET vRegion = 'US';\nSWITCH vRegion\nCASE 'UK'\n  LET hit = 'uk';\nCASE 'US'\n  LET hit = 'us';\n"
        "ENDSWITCH"
    )
    assert (r.variables["nf"], r.variables["nr"], r.variables["f1"]) == ("2", "3", "A")
    assert r.variables["d"] == "31"
    assert r.variables["two"] == "20"
    assert r.variables["hit"] == "us"


def test_system_functions_real_scripts_log():
    r = run(
        "LET host = ComputerName();\nLET who = OSUser();\nLET loc = GetCollationLocale();\n"
        "SET CollationLocale = 'sv-SE';\nLET loc2 = GetCollationLocale();\nLET pv = ProductVersion();"
    )
    assert r.variables["host"]
    assert r.variables["who"].startswith("UserDirectory=")
    assert (r.variables["loc"], r.variables["loc2"]) == ("en-US", "sv-SE")
    assert r.variables["pv"] == run("LET v = EngineVersion();").variables["v"]


def test_inputfield_of_a_qlikview_script_is_skipped_with_a_warning():
    r = run("INPUTFIELD Budget;\nT: LOAD 1 AS Budget AUTOGENERATE 2;")
    assert r.model.tables["T"].nrows == 2
    assert any("INPUTFIELD" in w for w in r.warnings)


def test_peek_inside_a_load_reads_the_rows_being_loaded():
    # Qlik loads record by record: Peek() without a table is the table being built (running totals),
    # a bracketed name is the field's name, and Previous() skips records the WHERE dropped
    r = run(
        "T: LOAD *, RangeSum(Peek('Cum'), Amount) AS Cum, RowNo() AS R;\n"
        "LOAD * INLINE [Key, Amount\nA, 1\nA, 2\nB, 5\nB, 1];\n"
        "U: LOAD Key AS K, Amount AS Amt, If(Key = Previous(Key), Peek([Run], -1) + Amount, Amount) AS Run\n"
        "RESIDENT T WHERE Amount > 1;\n"
        "V: LOAD Peek('Cum', 0, 'T') AS FirstCum, Peek('Amt', -1, 'U') AS LastAmt AUTOGENERATE 1;"
    )
    assert col(r, "T", "Cum") == [1, 3, 8, 9]
    assert col(r, "T", "R") == [1, 2, 3, 4]
    assert col(r, "U", "Run") == [2, 5]
    assert (col(r, "V", "FirstCum"), col(r, "V", "LastAmt")) == ([1], [5])


def test_rows_a_where_drops_leave_no_field_values():
    # Exists/FieldValueCount see the values loaded into the field, not the dropped source rows' values
    r = run(
        "New: LOAD * INLINE [Id, Amt\n2, 25\n3, 30\n4, 40] WHERE Amt > 30 OR Id = 2;\n"
        "LET n = FieldValueCount('Id');\n"
        "Concatenate (New) LOAD * INLINE [Id, Amt\n1, 10\n2, 20\n3, 30] WHERE NOT Exists(Id);"
    )
    assert r.variables["n"] == "2"
    assert col(r, "New", "Id") == [2, 4, 1, 3]


def test_a_loop_of_tables_gets_a_loosely_coupled_table():
    # Qlik breaks a circular reference by loosening a table of the loop (the longest one) with a
    # warning; synthetic keys of three tables sharing one field make such a loop too
    r = run(
        "NationalTeams: LOAD * INLINE [Country, Team\nGermany, DM\nItaly, Azzurri];\n"
        "Clubs: LOAD * INLINE [City, Team\nRome, Lazio\nMilano, Milan\nHamburg, HSV];\n"
        "CountryCities: LOAD * INLINE [Country, City\nItaly, Rome\nItaly, Milano];"
    )
    assert r.model.loose_tables == frozenset({"Clubs"})
    assert any("Circular reference" in w for w in r.warnings)
    r = run(
        "DC: LOAD * INLINE [CK, E, CName\n1, e1, Acme];\nDP: LOAD * INLINE [PK, E, PName\n1, e2, Runner];\n"
        "F: LOAD * INLINE [OK, CK, PK, E, Amt\n1, 1, 1, e3, 100\n2, 1, 1, e3, 300];"
    )
    assert r.model.loose_tables == frozenset({"F"})
    assert (
        run("A: LOAD * INLINE [k, a\n1, 2];\nB: LOAD * INLINE [k, b\n1, 3];").model.loose_tables
        == frozenset()
    )


@pytest.mark.parametrize("name", ["ONLY", "MODE", "MINSTRING", "MAXSTRING", "FIRSTVALUE", "LASTVALUE"])
def test_picking_aggregations_over_no_rows_are_null(name):
    # Only({<Amount={300}>} Date) when nothing is possible: NULL, not an internal error
    empty = Duals(np.empty(0), np.empty(0, dtype=object))
    got = reduce_values(name, np.empty(0, dtype=np.int64), 1, empty, DEFAULT_LOCALE)
    assert got.is_null().tolist() == [True]


def test_first_sorted_value_over_no_rows_is_null():
    empty = Duals(np.empty(0), np.empty(0, dtype=object))
    got = reduce_values("FIRSTSORTEDVALUE", np.empty(0, dtype=np.int64), 1, empty, DEFAULT_LOCALE, [empty])
    assert got.is_null().tolist() == [True]


def test_filters_fill_empty_cells_and_refuse_other_steps(tmp_path):
    (tmp_path / "b.csv").write_text("Office,Emp,Amt\n1,1,10\n,2,20\n2,3,30\n,4,40\n")
    r = run(
        "T: LOAD Office & '-' & Emp AS Key, Amt FROM b.csv\n"
        "(txt, embedded labels, delimiter is ',', filters(Replace(1, top, StrCnd(null))));",
        tmp_path,
    )
    assert col(r, "T", "Key") == ["1-1", "1-2", "2-3", "2-4"]
    with pytest.raises(ScriptError) as e:
        run("T: LOAD * FROM b.csv (txt, filters(Remove(Row, Pos(Top, 2))));", tmp_path)
    assert "Remove(Row,Pos(Top,2))" in e.value.message


def test_count_star_counts_records():
    r = run(
        "T: LOAD * INLINE [K, V\na, 1\na, \nb, 3];\n"
        "C: LOAD K, Count(*) AS N, Count(V) AS NV RESIDENT T GROUP BY K ORDER BY K;"
    )
    assert col(r, "C", "N") == [2, 1]
    assert col(r, "C", "NV") == [2, 1]


def test_a_wildcard_file_name_loads_every_matching_file(tmp_path):
    for month, amount in (("201701", 100), ("201702", 200), ("201611", 999)):
        (tmp_path / f"Orders_{month}.csv").write_text(f"Month,Amount\n{month},{amount}\n")
    r = run(
        "T: LOAD *, FileBaseName() AS Src FROM [Orders_2017*.csv] (txt, embedded labels, delimiter is ',');",
        tmp_path,
    )
    assert col(r, "T", "Amount") == [100, 200]
    assert col(r, "T", "Src") == ["Orders_201701", "Orders_201702"]


def test_store_of_an_empty_table_writes_a_qvd_of_no_rows(tmp_path):
    r = run(
        "T: LOAD 1 AS A, 'x' AS B AUTOGENERATE 0;\nSTORE T INTO empty.qvd (qvd);\nDROP TABLE T;\n"
        "R: LOAD * FROM empty.qvd (qvd);\nLET n = NoOfRows('R');\nLET f = QvdNoOfFields('empty.qvd');",
        tmp_path,
    )
    assert (r.variables["n"], r.variables["f"]) == ("0", "2")


def test_hierarchy_gives_a_row_per_path_under_a_node_with_several_parents():
    # Bolt (4) is used by Frame and Wheel: its child Washer gets a row per path; the 8-9 cycle is
    # no root's descendant and is not loaded
    data = "Id, Parent, Name\n1, , Bike\n2, 1, Frame\n3, 1, Wheel\n4, 2, Bolt\n4, 3, Bolt\n5, 4, Washer\n8, 9, A\n9, 8, B"
    r = run(
        f"H: Hierarchy(Id, Parent, Name, ParentName, Name, Path, '/', Depth) LOAD * INLINE [\n{data}\n];\n"
        "Deep: Hierarchy(Id2, Parent2, Name2) LOAD RecNo() AS Id2, RecNo() - 1 AS Parent2, 'n' AS Name2\n"
        "AUTOGENERATE 3000;"
    )
    assert col(r, "H", "Path") == [
        "Bike", "Bike/Frame", "Bike/Wheel", "Bike/Frame/Bolt", "Bike/Wheel/Bolt",
        "Bike/Frame/Bolt/Washer", "Bike/Wheel/Bolt/Washer",
    ]  # fmt: skip
    assert col(r, "H", "Depth") == [1, 2, 2, 3, 3, 4, 4]
    assert col(r, "H", "ParentName") == [None, "Bike", "Bike", "Frame", "Wheel", "Bolt", "Bolt"]
    assert r.model.tables["Deep"].nrows == 3000
    # the ancestors of Washer: each once per distance, though two paths reach Bike
    b = run(f"B: HierarchyBelongsTo(Id, Parent, Name, AncId, AncName, Diff) LOAD * INLINE [\n{data}\n];")
    rows = zip(col(b, "B", "Id"), col(b, "B", "AncName"), col(b, "B", "Diff"), strict=True)
    assert sorted((d, a) for n, a, d in rows if n == 5) == [
        (0, "Washer"),
        (1, "Bolt"),
        (2, "Frame"),
        (2, "Wheel"),
        (3, "Bike"),
    ]


def test_subfield_without_an_index_inside_another_function_makes_a_row_per_part():
    # Trim(SubField(s, '|')) is evaluated per part; a second field keeps its source row's value
    r = run(
        "S: LOAD * INLINE [\nId, Skills\n1, a | b\n2, c\n];\n"
        "X: LOAD Id, Upper(Trim(SubField(Skills, '|'))) & '!' AS Skill, Len(Skills) AS n RESIDENT S;"
    )
    assert col(r, "X", "Skill") == ["A!", "B!", "C!"]
    assert col(r, "X", "Id") == [1, 1, 2]
    assert col(r, "X", "n") == [5, 5, 1]


def test_fields_named_like_load_clauses():
    # QlikView scripts load fields called From and To: a clause word followed by ',' or AS is a field
    r = run(
        "P: LOAD Id, From, If(Len(To) = 0, 99, To) AS To INLINE [\nId, From, To\n1, 10, 20\n2, 30, \n];\n"
        "Q: LOAD From AS Start, To RESIDENT P;"
    )
    assert col(r, "P", "From") == [10, 30]
    assert col(r, "P", "To") == [20, 99]
    assert col(r, "Q", "Start") == [10, 30]


def test_len_of_null_is_zero():
    # Len(x) = 0 holds for NULL as for '': a lookup that finds nothing passes the test
    r = run(
        "D: LOAD * INLINE [\nK, V\n1, a\n];\nF: LOAD * INLINE [\nK\n1\n2\n];\n"
        "M: LOAD K AS Missing RESIDENT F WHERE Len(Lookup('V', 'K', K, 'D')) = 0;"
    )
    assert col(r, "M", "Missing") == [2]


def test_a_streamed_file_keeps_peek_at_the_rows_being_loaded(tmp_path):
    # a Parquet file is read in batches; a running total over Peek() of its own field needs every
    # earlier row, so that chain is read whole
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"V": [1, 2, 3, 4, 5]}), tmp_path / "v.parquet")
    r = run("T: LOAD V, RangeSum(Peek('Cum'), V) AS Cum FROM [v.parquet] (parquet);", tmp_path)
    assert col(r, "T", "Cum") == [1, 3, 6, 10, 15]
