"""Unit tests per statement type, with concrete values."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.script.errors import (
    CONNECTOR,
    FIELD_NOT_FOUND,
    FILE_NOT_FOUND,
    GENERAL,
    SYNTAX,
    TABLE_NOT_FOUND,
    ReloadCancelled,
    ScriptError,
)
from engine.script.paths import Connection
from engine.script.progress import Progress
from engine.script.runner import ReloadResult, ScriptEnv, run_script


def run(script: str | bytes, tmp_path: Path | None = None, **kw) -> ReloadResult:
    env = ScriptEnv(document_dir=tmp_path or Path("/nonexistent-doc-dir"), **kw)
    return run_script(script, env)


def col(r: ReloadResult, table: str, field: str) -> list:
    """Values of a column: numbers where the value has one (ints as int), else text, None for NULL."""
    t = r.model.tables[table]
    sym = r.model.fields[field].symbols
    out = []
    for c in t.columns[field]:
        if c < 0:
            out.append(None)
            continue
        num = float(sym.num[c])
        if num == num:
            out.append(int(num) if num.is_integer() else num)
        else:
            out.append(str(sym.text[c]))
    return out


def texts(r: ReloadResult, table: str, field: str) -> list:
    t = r.model.tables[table]
    sym = r.model.fields[field].symbols
    return [None if c < 0 else str(sym.text[c]) for c in t.columns[field]]


# --- script text ------------------------------------------------------------------------------

def test_comments_rem_tab_markers_and_missing_final_semicolon():
    r = run("///$tab Main\n// a comment; LOAD\n/* block; \n comment */\nREM swallowed\n LOAD x;\n"
            "T: LOAD 1 as a AUTOGENERATE 2 // trailing")
    assert list(r.model.tables) == ["T"]
    assert col(r, "T", "a") == [1, 1]


def test_bom_crlf_and_windows_1252_input():
    script = "\ufeffT:\r\nLOAD * INLINE [\r\nName\r\nCaf\u00e9\r\n];\r\n"
    r = run(script.encode("utf-8"))
    assert texts(r, "T", "Name") == ["Café"]
    r = run("T:\nLOAD * INLINE [\nName\nCaf\u00e9\n];".encode("cp1252"))
    assert texts(r, "T", "Name") == ["Café"]


def test_lib_double_slash_is_not_a_comment(tmp_path):
    (tmp_path / "f.csv").write_text("a\n1\n")
    r = run("T: LOAD * FROM lib://c/f.csv (txt);", tmp_path,
            connections={"c": Connection("c", str(tmp_path))})
    assert col(r, "T", "a") == [1]


# --- variables --------------------------------------------------------------------------------

def test_set_let_and_dollar_forms():
    r = run("SET x = 3+4; LET y = 3+4; SET q = 'quoted';\n"
            "SET f = $1 * 10 + $2;\nLET g = $(f(2, 5));\nLET h = $(=2*21);\nSET d = 1.5; LET k = $(#d) * 2;\n"
            "SET e=;\n")
    v = r.variables
    assert v["x"] == "3+4" and v["y"] == "7" and v["q"] == "quoted"
    assert v["g"] == "25" and v["h"] == "42" and v["k"] == "3"
    assert "e" not in v


def test_dollar_expansion_in_paths_and_strings(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.csv").write_text("v\nx\n")
    r = run("SET p = 'sub/'; SET fmt='YYYY';\nT: LOAD v, '$(fmt)' as F FROM [$(p)d.csv];", tmp_path)
    assert texts(r, "T", "F") == ["YYYY"]


def test_include(tmp_path):
    (tmp_path / "inc.qvs").write_text("SET fromInclude = yes;\n")
    r = run("$(Include=inc.qvs);\nSET after = 1;", tmp_path)
    assert r.variables["fromInclude"] == "yes"
    with pytest.raises(ScriptError) as e:
        run("$(Must_Include=missing.qvs);", tmp_path)
    assert e.value.code == FILE_NOT_FOUND


def test_decimal_and_thousand_separators_interpret_numbers():
    r = run("SET DecimalSep=','; SET ThousandSep='.';\nT: LOAD * INLINE [\nA;B\n1,5;1.000\n] (delimiter is ';');")
    assert col(r, "T", "A") == [1.5] and col(r, "T", "B") == [1000]
    assert texts(r, "T", "A") == ["1,5"]


# --- LOAD -------------------------------------------------------------------------------------

def test_load_star_expressions_as_where_distinct():
    r = run("T: LOAD DISTINCT *, a * 2 as b WHERE a > 1;\nLOAD * INLINE [\na\n1\n2\n2\n3\n];")
    assert col(r, "T", "a") == [2, 3] and col(r, "T", "b") == [4, 6]


def test_preceding_loads_only_keep_top_fields():
    r = run("T: LOAD k + 1 as m;\nLOAD RecNo() as k AUTOGENERATE 3;")
    assert list(r.model.tables["T"].columns) == ["m"]
    assert col(r, "T", "m") == [2, 3, 4]


def test_while_iterno_and_recno_rowno():
    r = run("T: LOAD RecNo() as r, IterNo() as i, RowNo() as n AUTOGENERATE 2 WHILE IterNo() <= RecNo();")
    assert col(r, "T", "r") == [1, 2, 2] and col(r, "T", "i") == [1, 1, 2]
    assert col(r, "T", "n") == [1, 2, 3]


def test_runaway_while_is_bounded():
    with pytest.raises(ScriptError) as e:
        run("T: LOAD 1 as x AUTOGENERATE 1 WHILE 1=1;", max_rows=1000)
    assert "limit" in e.value.message


def test_huge_inline_is_bounded():
    rows = "\n".join(str(i) for i in range(200))
    with pytest.raises(ScriptError) as e:
        run(f"T: LOAD * INLINE [\nx\n{rows}\n];", max_rows=100)
    assert "limit" in e.value.message


def test_group_by_aggregations():
    r = run("D: LOAD * INLINE [\ng, v\na, 1\nb, 5\na, 3\nb, x\n];\n"
            "G: NOCONCATENATE LOAD g, Sum(v) as s, Count(v) as c, Min(v) as lo, Max(v) as hi, Avg(v) as av, "
            "Concat(v, '-') as cc, Only(g) as o RESIDENT D GROUP BY g;")
    assert col(r, "G", "g") == ["a", "b"]
    assert col(r, "G", "s") == [4, 5] and col(r, "G", "c") == [2, 2]
    assert col(r, "G", "lo") == [1, 5] and col(r, "G", "hi") == [3, 5]
    assert col(r, "G", "av") == [2, 5] and texts(r, "G", "cc") == ["1-3", "5-x"]
    assert texts(r, "G", "o") == ["a", "b"]


def test_aggregation_without_group_by_gives_one_row():
    r = run("D: LOAD RecNo() as v AUTOGENERATE 4;\nS: NOCONCATENATE LOAD Sum(v) as total RESIDENT D;\n"
            "LET t = Peek('total');")
    assert col(r, "S", "total") == [10] and r.variables["t"] == "10"


def test_order_by_on_resident():
    r = run("D: LOAD * INLINE [\nk, v\nb, 2\na, 3\nc, 1\n];\n"
            "O: NOCONCATENATE LOAD k RESIDENT D ORDER BY v DESC;")
    assert col(r, "O", "k") == ["a", "b", "c"]


def test_autogenerate_and_auto_names():
    r = run("LOAD RecNo() as a AUTOGENERATE 2;\nLOAD 'x' as b AUTOGENERATE 1;\nLOAD * INLINE [\nc\n1\n];")
    assert list(r.model.tables) == ["AUTOGENERATE01", "AUTOGENERATE02", "INLINE01"]


def test_inline_quoting_trimming_extra_and_missing_columns():
    r = run('T: LOAD * INLINE [\n  "a, b" , c \n "x, y", 1, extra\n  z\n];')
    assert list(r.model.tables["T"].columns) == ["a, b", "c"]
    assert texts(r, "T", "a, b") == ["x, y", "z"] and col(r, "T", "c") == [1, None]


def test_inline_double_quote_delimited_and_format_spec():
    r = run('T: LOAD * INLINE "\na|b\n1|2\n" (txt, delimiter is \'|\');')
    assert col(r, "T", "b") == [2]


def test_subfield_row_multiplication():
    r = run("T: LOAD k, SubField(s, ';') as part INLINE [\nk|s\n1|a;b;c\n2|d\n] (delimiter is '|');")
    assert col(r, "T", "k") == [1, 1, 1, 2] and texts(r, "T", "part") == ["a", "b", "c", "d"]


def test_field_not_found_names_the_field():
    with pytest.raises(ScriptError) as e:
        run("T: LOAD nosuch AUTOGENERATE 1;")
    assert e.value.code == FIELD_NOT_FOUND and e.value.message == "Field 'nosuch' not found"
    assert (e.value.line, e.value.column) == (1, 1)


def test_unknown_function_names_itself():
    with pytest.raises(ScriptError) as e:
        run("T: LOAD NoSuchFn(1) as x AUTOGENERATE 1;")
    assert "NOSUCHFN" in e.value.message.upper()


def test_syntax_error_has_line_and_column():
    with pytest.raises(ScriptError) as e:
        run("SET a = 1;\nT: LOAD 1 as x AUTOGENERATE 1 GARBAGE;")
    assert e.value.code == SYNTAX and e.value.line == 2 and e.value.column == 31


# --- text files ---------------------------------------------------------------------------------

def test_csv_without_spec_sniffs_delimiter_and_strips_bom(tmp_path):
    (tmp_path / "s.csv").write_bytes("\ufeffA;B\n1,5;x\n".encode())
    r = run("SET DecimalSep=',';\nLOAD * FROM s.csv;", tmp_path)
    assert list(r.model.tables) == ["s"] and col(r, "s", "A") == [1.5]


def test_text_file_labels_header_and_quotes(tmp_path):
    (tmp_path / "f.txt").write_text('junk line\na,b\n"1,5",2\n')
    r = run("T: LOAD * FROM f.txt (txt, header is 1 lines, embedded labels, delimiter is ',');", tmp_path)
    assert texts(r, "T", "a") == ["1,5"]
    r = run("T: LOAD * FROM f.txt (txt, no labels, delimiter is ',');", tmp_path)
    assert list(r.model.tables["T"].columns) == ["@1", "@2"] and texts(r, "T", "@1")[0] == "junk line"
    (tmp_path / "q.txt").write_text('a,b\n"x,y",2\n')
    r = run("T: LOAD * FROM q.txt (txt, no quotes);", tmp_path)
    assert texts(r, "T", "a") == ['"x'] and texts(r, "T", "b") == ['y"']


def test_msq_allows_line_breaks_and_codepage(tmp_path):
    (tmp_path / "m.csv").write_bytes('a,b\n"line1\nline2",caf\xe9\n'.encode("cp1252"))
    r = run("T: LOAD * FROM m.csv (txt, codepage is 1252, msq, embedded labels, delimiter is ',');", tmp_path)
    assert texts(r, "T", "a") == ["line1\nline2"] and texts(r, "T", "b") == ["café"]


def test_equal_numbers_merge_first_text_wins(tmp_path):
    (tmp_path / "n.csv").write_text("v\n001\n1\n1.0\nx\n")
    r = run("T: LOAD * FROM n.csv;", tmp_path)
    assert texts(r, "T", "v") == ["001", "001", "001", "x"]
    assert len(r.model.fields["v"].symbols) == 2


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ScriptError) as e:
        run("LOAD * FROM nothere.csv;", tmp_path)
    assert e.value.code == FILE_NOT_FOUND and "nothere.csv" in e.value.message


# --- file access policy -----------------------------------------------------------------------

def test_paths_cannot_escape_allowed_roots(tmp_path):
    inner = tmp_path / "conn"
    inner.mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    conns = {"c": Connection("c", str(inner))}
    for bad in ("lib://c/../secret.csv", "../secret.csv", "/etc/passwd", "C:\\Windows\\win.ini"):
        with pytest.raises(ScriptError) as e:
            run(f"LOAD * FROM [{bad}];", inner, connections=conns)
        assert "outside" in e.value.message, bad
    # absolute paths inside an allowed root are fine
    (inner / "ok.csv").write_text("a\n1\n")
    r = run(f"T: LOAD * FROM [{inner / 'ok.csv'}];", inner, connections=conns)
    assert col(r, "T", "a") == [1]


def test_lib_connect_and_select_fail_cleanly():
    with pytest.raises(ScriptError) as e:
        run("LIB CONNECT TO 'db';\nT: SQL SELECT * FROM x;")
    assert e.value.code == CONNECTOR and "Connection 'db' not found" in e.value.message
    with pytest.raises(ScriptError) as e:
        run("T: SELECT a FROM b;")
    assert e.value.code == CONNECTOR and "needs a connection" in e.value.message


def test_non_folder_connection_is_not_readable(tmp_path):
    # a connector's connection (internet connections are web files: tests/sources/test_web.py)
    with pytest.raises(ScriptError) as e:
        run("LOAD * FROM [lib://db/x.csv];", tmp_path,
            connections={"db": Connection("db", "host=localhost;db=x", "ODBC")})
    assert e.value.code == CONNECTOR


# --- tables -------------------------------------------------------------------------------------

def test_concatenate_noconcatenate_and_auto_concatenation():
    r = run("A: LOAD * INLINE [\nx, y\n1, 2\n];\nB: LOAD * INLINE [\ny, x\n3, 4\n];\n"
            "C: NOCONCATENATE LOAD * INLINE [\nx, y\n5, 6\n];\nLET nc = NoOfRows('C'); DROP TABLE C;\n"
            "CONCATENATE (A) LOAD * INLINE [\nx\n7\n];")
    assert list(r.model.tables) == ["A"] and r.variables["nc"] == "1"
    assert col(r, "A", "x") == [1, 4, 7] and col(r, "A", "y") == [2, 3, None]


def test_name_clash_gets_suffix():
    r = run("T: LOAD 1 as a AUTOGENERATE 1;\nT: LOAD 2 as b AUTOGENERATE 1;")
    assert list(r.model.tables) == ["T", "T-1"]


@pytest.mark.parametrize("how,expect_k,expect_w", [
    ("INNER", [2], ["b"]),
    ("LEFT", [1, 2], [None, "b"]),
    ("RIGHT", [2, 3], ["b", "c"]),
    ("OUTER", [1, 2, 3], [None, "b", "c"]),
])
def test_joins(how, expect_k, expect_w):
    r = run(f"T: LOAD * INLINE [\nk, v\n1, x\n2, y\n];\n{how} JOIN (T) LOAD * INLINE [\nk, w\n2, b\n3, c\n];")
    assert list(r.model.tables) == ["T"]
    assert col(r, "T", "k") == expect_k and texts(r, "T", "w") == expect_w


def test_keep_filters_but_keeps_tables_apart():
    r = run("T: LOAD * INLINE [\nk, v\n1, x\n2, y\n];\nU: LEFT KEEP (T) LOAD * INLINE [\nk, w\n2, b\n3, c\n];")
    assert col(r, "T", "k") == [1, 2] and col(r, "U", "k") == [2]


def test_mapping_and_applymap():
    r = run("M: MAPPING LOAD * INLINE [\nk, v\n1, one\n2, two\n];\n"
            "T: LOAD ApplyMap('M', n) as a, ApplyMap('M', n, 'none') as b INLINE [\nn\n1\n3\n];")
    assert "M" not in r.model.tables
    assert col(r, "T", "a") == ["one", 3] and texts(r, "T", "b") == ["one", "none"]


def test_crosstable():
    r = run("X: CROSSTABLE (Month, Amount) LOAD * INLINE [\nK, Jan, Feb\na, 1, 2\nb, 3, 4\n];")
    assert col(r, "X", "K") == ["a", "a", "b", "b"]
    assert texts(r, "X", "Month") == ["Jan", "Feb", "Jan", "Feb"] and col(r, "X", "Amount") == [1, 2, 3, 4]


def test_qualify_unqualify():
    r = run("QUALIFY *; UNQUALIFY k;\nT: LOAD * INLINE [\nk, v\n1, 2\n];")
    assert list(r.model.tables["T"].columns) == ["k", "T.v"]


def test_drop_and_rename():
    r = run("A: LOAD 1 as x, 2 as y AUTOGENERATE 1;\nB: LOAD 3 as z AUTOGENERATE 1;\n"
            "DROP FIELD y; RENAME TABLE B TO C; RENAME FIELD z TO zz;\nDROP TABLES A;")
    assert list(r.model.tables) == ["C"] and list(r.model.tables["C"].columns) == ["zz"]
    with pytest.raises(ScriptError) as e:
        run("DROP TABLE nope;")
    assert e.value.code == TABLE_NOT_FOUND and e.value.message == "Table 'nope' not found"
    with pytest.raises(ScriptError) as e:
        run("T: LOAD 1 as a AUTOGENERATE 1; DROP FIELD nope;")
    assert e.value.code == FIELD_NOT_FOUND


def test_resident_missing_table():
    with pytest.raises(ScriptError) as e:
        run("LOAD * RESIDENT Missing;")
    assert e.value.code == TABLE_NOT_FOUND and "Missing" in e.value.message


def test_synthetic_key():
    r = run("A: LOAD * INLINE [\nx, y, a\n1, 2, p\n1, 3, q\n];\nB: LOAD * INLINE [\nx, y, b\n1, 2, r\n];")
    assert set(r.model.tables) == {"A", "B", "$Syn 1 Table"}
    assert list(r.model.tables["A"].columns) == ["$Syn 1", "a"]
    syn = r.model.tables["$Syn 1 Table"]
    assert syn.is_synthetic and syn.nrows == 2 and col(r, "$Syn 1 Table", "y") == [2, 3]
    assert "$Syn 1" in r.model.key_fields


def test_store_qvd_and_txt_roundtrip(tmp_path):
    r = run("T: LOAD * INLINE [\nk, v\n1, x\n2, y\n];\nSTORE T INTO [t.qvd] (qvd);\nSTORE k AS kk FROM T INTO t.csv (txt);\n"
            "DROP TABLE T;\nQ: LOAD * FROM t.qvd (qvd);\nC: LOAD * FROM t.csv (txt);", tmp_path)
    assert col(r, "Q", "k") == [1, 2] and texts(r, "Q", "v") == ["x", "y"]
    assert col(r, "C", "kk") == [1, 2]


# --- record and table functions -------------------------------------------------------------

def test_peek_previous_exists_and_table_info():
    r = run("T: LOAD RecNo() as a AUTOGENERATE 3;\n"
            "U: LOAD a, Previous(a) as p, Exists(a, a + 1) as e RESIDENT T;\n"
            "LET first = Peek('a', 0, 'T'); LET n = NoOfRows('T'); LET f = FieldName(1, 'U');\n"
            "LET c = FieldValueCount('a'); LET nt = NoOfTables(); LET tn = TableName(0);")
    assert col(r, "T", "a") == [1, 2, 3]
    v = r.variables
    assert (v["first"], v["n"], v["f"], v["c"], v["nt"], v["tn"]) == ("1", "3", "a", "3", "2", "T")


def test_resident_same_fields_auto_concatenates_back():
    r = run("T: LOAD RecNo() as a AUTOGENERATE 2;\nLOAD a RESIDENT T;")
    assert list(r.model.tables) == ["T"] and r.model.tables["T"].nrows == 4


def test_filename_functions(tmp_path):
    (tmp_path / "data.csv").write_text("a\n1\n")
    r = run("T: LOAD a, FileBaseName() as b, FileName() as n FROM data.csv;", tmp_path)
    assert texts(r, "T", "b") == ["data"] and texts(r, "T", "n") == ["data.csv"]


# --- control flow -----------------------------------------------------------------------------

def test_if_elseif_else():
    r = run("LET a = 2;\nIF a = 1 THEN\n SET r = one;\nELSEIF a = 2 THEN\n SET r = two;\nELSE\n SET r = other;\nEND IF")
    assert r.variables["r"] == "two"


def test_for_next_and_for_each():
    r = run("SET s = 0;\nFOR i = 1 TO 4 STEP 1\n LET s = $(s) + $(i);\nNEXT i\n"
            "SET t = ;\nFOR EACH v IN 'a', 'b'\n LET t = '$(t)' & '$(v)';\nNEXT")
    assert r.variables["s"] == "10" and r.variables["t"] == "ab"


def test_do_loop_and_exit():
    r = run("LET i = 0;\nDO WHILE i < 10\n LET i = i + 1;\n IF i = 3 THEN\n  EXIT DO\n END IF\nLOOP\n")
    assert r.variables["i"] == "3"


def test_sub_call_with_parameters():
    r = run("SUB add(x, y)\n LET res = $(x) + $(y);\nEND SUB\nCALL add(2, 3);")
    assert r.variables["res"] == "5" and "x" not in r.variables


def test_switch_case():
    r = run("LET k = 2;\nSWITCH k\nCASE 1\n SET r = a;\nCASE 2, 3\n SET r = b;\nDEFAULT\n SET r = c;\nEND SWITCH")
    assert r.variables["r"] == "b"


def test_exit_script_stops_everything():
    r = run("SET a = 1;\nEXIT SCRIPT;\nSET b = 2;\nLOAD nosuch AUTOGENERATE 1;")
    assert r.variables["a"] == "1" and "b" not in r.variables


def test_error_mode_zero_continues():
    r = run("SET ErrorMode = 0;\nDROP TABLE nope;\nSET after = 1;")
    assert r.variables["after"] == "1" and r.variables["ScriptErrorCount"] == "1"


def test_trace_comment_tag_and_log():
    r = run("TRACE hello\n world;\nT: LOAD 1 as a AUTOGENERATE 1;\nCOMMENT FIELD a WITH 'about a';\n"
            "TAG FIELD a WITH 'mytag';\nCOMMENT TABLE T WITH 'tab';")
    assert "hello\n world" in r.log
    assert r.model.fields["a"].comment == "about a" and "mytag" in r.model.fields["a"].tags
    assert r.model.tables["T"].comment == "tab"
    assert r.log[-1] == "Execution finished."


# --- section access ---------------------------------------------------------------------------

def test_section_access_kept_apart_and_upper_cased():
    r = run("Star is *;\nSection Access;\nLOAD * INLINE [\naccess, userid, region\nADMIN, admin, *\nUSER, bob, north\n];\n"
            "Section Application;\nT: LOAD * INLINE [\nREGION, v\nNORTH, 1\n];")
    assert list(r.model.tables) == ["T"]
    sa = r.section_access
    assert sa.columns == {"ACCESS": ["ADMIN", "USER"], "USERID": ["ADMIN", "BOB"], "REGION": ["*", "NORTH"]}
    assert sa.star == "*" and sa.nrows == 2


# --- progress and cancellation ----------------------------------------------------------------

def test_progress_messages():
    p = Progress()
    run_script("TableA: LOAD RecNo() as n AUTOGENERATE 5;", ScriptEnv(Path("/tmp")), p)
    lines, _ = p.drain()
    assert "TableA <<  5 Lines fetched" in lines
    assert p.drain()[0] == []


def test_cancel():
    ev = threading.Event()
    ev.set()
    with pytest.raises(ReloadCancelled):
        run_script("SET a = 1;", ScriptEnv(Path("/tmp")), cancel=ev)


def test_runaway_for_is_bounded():
    with pytest.raises(ScriptError) as e:
        run_script("FOR i = 1 TO 1000000\n SET x = 1;\nNEXT", ScriptEnv(Path("/tmp"), max_statements=500))
    assert e.value.code == GENERAL and "runaway" in e.value.message
