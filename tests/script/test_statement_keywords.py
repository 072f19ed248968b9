"""The parser's keyword table (``STATEMENT_KEYWORDS``) against the script reference.

Every entry carries an example written after the reference's syntax and examples; each must parse, a
statement the table says runs must have a runner handler, one it says is refused must fail the reload
naming itself, and ``scripts/script_coverage.py`` must print every form from the table. A keyword added
to the table without an example here fails ``test_every_keyword_has_an_example``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

from engine.script import ast as A
from engine.script.errors import ScriptError
from engine.script.lexer import split_statements
from engine.script.parser import STATEMENT_KEYWORDS, parse_statement
from engine.script.runner import Runner, ScriptEnv, run_script
from tests.harness import Client

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = {
    "alias": "Alias A as Name, B as Number, C as Date;",
    "autonumber": "AutoNumber Region, Year, Month;",
    "binary": "Binary customer.qvf;",
    "comment": "comment table Main with 'Main fact table';",
    "connect": "CONNECT TO 'Sales';",
    "odbc": "ODBC CONNECT TO 'Sales DBQ=C:\\Program Files\\Access\\Samples\\Sales.mdb';",
    "oledb": "OLEDB CONNECT TO 'Provider=x';",
    "custom": "CUSTOM CONNECT TO 'Provider=x;';",
    "lib": "LIB CONNECT TO 'MyDataConnection';",
    "declare": "MyCalendar: DECLARE FIELD DEFINITION USING Calendar WITH first_month_of_year=4;",
    "derive": "DERIVE FIELDS FROM EXPLICIT TAGS '$date' USING Calendar;",
    "direct": "DIRECT QUERY DIMENSION Dim1, Dim2 MEASURE Num1, Num2, Num3 FROM TableName;",
    "directory": "Directory data;",
    "disconnect": "Disconnect;",
    "drop": "Drop fields A,B from X,Y;",
    "execute": "Execute cmd.exe;",
    "flushlog": "FlushLog;",
    "force": "FORCE Case Upper;",
    "let": "Let y=3+4;",
    "load": "LOAD * INLINE [a\n1];",
    "loosen": "Loosen Table Tab1;",
    "map": "Map A, B, C Using X;",
    "nullasnull": "NullAsNull A,B;",
    "nullasvalue": "NullAsValue A,B;",
    "qualify": "Qualify B;",
    "rem": "Rem ** This is a comment **;",
    "rename": "Rename Field XAZ0007 to Sales;",
    "search": "Search Exclude [*ID];",
    "section": "Section access;",
    "select": "SELECT * FROM `Categories`;",
    "set": "Set BudgetYear=2012;",
    "sleep": "Sleep 10;",
    "sql": "SQL SELECT * from tab1;",
    "sqlcolumns": "SQLcolumns;",
    "sqltables": "SQLTables;",
    "sqltypes": "SQLTypes;",
    "star": "Star is *;",
    "store": "Store Name as a, RegNo as b from mytable into 'lib://FolderConnection/myfile.qvd';",
    "tag": "tag field Alpha with 'MyTag2';",
    "trace": "Trace Main table loaded;",
    "unmap": "Unmap A, B, C;",
    "unqualify": "Unqualify TransID;",
    "untag": "Untag field Alpha with MyTag2;",
    "add": "Add Only LOAD Name, Number FROM NewPersons.csv where not exists(Name);",
    "buffer": "Buffer (stale after 7 days) SELECT * from MyTable;",
    "concatenate": "Concatenate (tab1) LOAD * From file3.csv;",
    "crosstable": "Crosstable (Month,Sales,2) LOAD * from ex2.csv;",
    "first": "First (1) SQL SELECT * from Orders;",
    "generic": "Generic LOAD * from abc.csv;",
    "hierarchy": "Hierarchy(NodeID, ParentID, NodeName, ParentName, NodeName, PathName,'\\', Depth) "
    "LOAD * inline [NodeID, ParentID, NodeName\n1, 4, London];",
    "hierarchybelongsto": "HierarchyBelongsTo (NodeID, AncestorID, NodeName, AncestorID, AncestorName, DepthDiff) "
    "LOAD * inline [NodeID, AncestorID, NodeName\n1, 4, London];",
    "inner": "inner keep SQL SELECT * From Table2;",
    "intervalmatch": "IntervalMatch ( Time, ProductionLine ) LOAD Start, End, ProductionLine Resident OrderLog;",
    "join": "join (tab1) LOAD * from file3.csv;",
    "keep": "Inner Keep LOAD * from abc.csv;",  # KEEP must follow INNER, LEFT or RIGHT
    "left": "Left Keep (tab1) LOAD * From file3.csv;",
    "mapping": "map1: mapping LOAD * Inline [CCode, Country\nSw, Sweden];",
    "merge": "Merge (Date, LastChangeDate) On Name Concatenate(Persons) LOAD * inline [Operation, Date, Name\ni, 1, A];",
    "noconcatenate": "NoConcatenate LOAD A,B from file2.csv;",
    "outer": "outer join SQL SELECT * from table2;",
    "replace": "Tab1: Replace only LOAD * from File1.csv;",
    "right": "right keep SQL SELECT * from Table2;",
    "sample": "Sample(0.15) LOAD * from Longtab.csv;",
    "semantic": "Semantic SELECT Object1, Relation, Object2, InverseRelation from table1;",
    "unless": "unless A=1 when B=2 drop table Tab1;",
    "when": "when A=1 LOAD * from myfile.csv;",
    "call": "Call DoDir ('lib://Apps')",
    "do": "Do while a<10",
    "loop": "loop until a>10",
    "exit": "Exit Script when a=1",
    "for": "for each a in 1,3,7,'xyz'",
    "next": "next a",
    "if": "if a=1 then",
    "elseif": "elseif x<0 then",
    "else": "else",
    "endif": "endif",
    "end": "end if",
    "sub": "Sub INCR (I,J)",
    "endsub": "endsub",
    "switch": "Switch I",
    "case": "Case 1",
    "default": "Default",
    "endswitch": "endswitch",
}


def test_every_keyword_has_an_example() -> None:
    assert set(EXAMPLES) == set(STATEMENT_KEYWORDS)


@pytest.mark.parametrize("word", sorted(STATEMENT_KEYWORDS))
def test_the_example_parses_and_is_handled_as_the_table_says(word: str) -> None:
    kw = STATEMENT_KEYWORDS[word]
    text = EXAMPLES[word]
    if not kw.parser:  # REM: the statement splitter blanks it
        assert split_statements(text) == []
        return
    st = parse_statement(text)
    inner = st.statement if isinstance(st, A.Conditional) else st
    if kw.kind == "control" or isinstance(inner, A.Load):
        return
    handler = f"do_{type(inner).__name__.lower()}"
    assert hasattr(Runner, handler), f"{word}: no runner handler {handler}"
    if not kw.runs:
        with pytest.raises(ScriptError) as err:
            run_script(text, ScriptEnv(document_dir=Path("/nonexistent")))
        assert any(w.upper() in err.value.message.upper() for w in kw.forms[0].split())


def test_coverage_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("script_coverage", ROOT / "scripts" / "script_coverage.py")
    assert spec is not None and spec.loader is not None
    cov = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("script_coverage", cov)
    spec.loader.exec_module(cov)
    rows = cov.statement_rows()
    forms = {f for kw in STATEMENT_KEYWORDS.values() for f in kw.forms}
    assert {r.form for r in rows} == forms
    refused = {r.form for r in rows if not r.runs}
    assert refused == {f for kw in STATEMENT_KEYWORDS.values() if not kw.runs for f in kw.forms}
    assert "Direct Query" in refused and "Merge" not in refused
    line = cov.statement_summary(rows)
    assert line == f"Script statements and prefixes: {len(forms) - len(refused)} of {len(forms)} run"


CALENDAR = """SET DateFormat='YYYY-MM-DD';
Orders: LOAD * INLINE [
OrderDate, Amount
2021-01-15, 10
2021-05-03, 20
];
Calendar:
DECLARE FIELD DEFINITION TAGGED '$date'
   Parameters
      first_month_of_year = 1
   Fields
      Year($1) As Year Tagged ('$numeric'),
      Month($1) as Month Tagged ('$numeric'),
      DayNumberOfYear($1, first_month_of_year) as DayNumberOfYear Tagged ('$numeric')
;
MyCalendar:
DECLARE FIELD DEFINITION USING Calendar WITH first_month_of_year=4;
DERIVE FIELDS FROM FIELDS OrderDate USING Calendar;
DERIVE FIELDS FROM FIELDS OrderDate USING MyCalendar;
"""


def test_declare_using_an_existing_definition_with_new_parameters(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/declare")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, CALENDAR)
            assert (await c.call("DoReload", h))["qReturn"] is True
            ev = await c.call(
                "Evaluate",
                h,
                "Concat([OrderDate.Calendar.DayNumberOfYear], ',', "
                "[OrderDate.Calendar.DayNumberOfYear]) & '|' & "
                "Concat([OrderDate.MyCalendar.DayNumberOfYear], ',', "
                "[OrderDate.MyCalendar.DayNumberOfYear])",
            )
            # day 15 and 123 of a calendar year; of a year starting in April: 290 (Jan 15) and 33 (May 3)
            assert ev["qReturn"] == "15,123|33,290"

    asyncio.run(scenario())


@pytest.mark.skipif(
    not Path("/work/shared/reference/script-functions.tsv").exists(),
    reason="the shared function checklist is not present",
)
def test_readme_shows_the_coverage_summary() -> None:
    spec = importlib.util.spec_from_file_location("script_coverage", ROOT / "scripts" / "script_coverage.py")
    assert spec is not None and spec.loader is not None
    cov = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cov)
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert cov.statement_summary(cov.statement_rows()) in readme
    assert cov.summary(cov.read_rows(cov.DEFAULT_TSV)) in readme
