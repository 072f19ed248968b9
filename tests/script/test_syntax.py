"""check_syntax: positions in the client's text, tabs, and the corpus parses clean."""

from __future__ import annotations

from engine.script.lexer import split_statements
from engine.script.syntax import check_syntax


def test_clean_script_has_no_errors():
    assert check_syntax("SET a = 1;\nT: LOAD * INLINE [\nx\n1\n];\nLOAD x, x*2 as y RESIDENT T") == []


def test_bad_expression_position():
    errs = check_syntax("LOAD a,\n b+ FROM x.csv;")
    assert len(errs) == 1
    e = errs[0]
    assert (e.qTextPos, e.qLineInTab, e.qColInLine, e.qTabIx) == (11, 1, 3, 0)


def test_tabs_and_crlf_offsets():
    script = "///$tab Main\r\nSET a=1;\r\n///$tab Second\r\nLOAD * INLINE [a\n1];\r\nLOAD a b c FROM x;"
    (e,) = check_syntax(script)
    assert e.qTabIx == 1 and e.qLineInTab == 2 and e.qColInLine == 7
    assert script[e.qTextPos] == "b"


def test_unclosed_control_block():
    (e,) = check_syntax("IF 1 = 1 THEN\nSET a = 1;\n")
    assert e.qTextPos == 0 and "IF" in e.message


def test_statement_level_error():
    (e,) = check_syntax("DROP TABLE;")
    assert e.qTextPos == 10


def test_dollar_statements_checked_for_structure_only():
    assert check_syntax("SET f = 1;\nT: LOAD $(f) + 1 as x AUTOGENERATE 1;") == []


def test_splitter_rules():
    stmts = split_statements("IF a THEN LOAD 1 as x AUTOGENERATE 1;\nEND IF\nTRACE a;b;\nSET x = 'a;b';")
    assert [s.text.strip() for s in stmts] == ["IF a THEN", "LOAD 1 as x AUTOGENERATE 1", "END IF", "TRACE a",
                                               "b", "SET x = 'a;b'"]
