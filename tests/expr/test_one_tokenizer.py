"""One tokenizer: a text scans the same way as a chart expression and inside a load-script statement.

The table holds the inputs the two former lexers disagreed on (``a@b``, ``1.e3``, ``[a]]b]``, doubled
quotes, back-quotes) and the other quoting and number forms. Each is tokenized by the chart dialect and
by the script dialect, and cut out of a ``LET`` statement by the script parser; the tokens and the
parsed expression must be the same every way. The socket test loads such names in a script and uses
them in chart expressions.
"""

from __future__ import annotations

import asyncio

import pytest

from engine.expr import parse_expression
from engine.expr.lexer import ExprSyntaxError, Kind, tokenize
from engine.expr.parser import parse_tokens
from engine.script import ast as A
from engine.script.lexer import ScriptSyntaxError, split_statements
from engine.script.lexer import tokenize as script_tokenize
from engine.script.parser import parse_statement
from tests.harness import Client

TRICKY = [
    ("a@b", [(Kind.IDENT, "a@b")]),
    ("1.e3", [(Kind.NUMBER, "1.e3")]),
    ("1.E+3 + .5e-1", [(Kind.NUMBER, "1.E+3"), (Kind.OP, "+"), (Kind.NUMBER, ".5e-1")]),
    ("1. + 2", [(Kind.NUMBER, "1."), (Kind.OP, "+"), (Kind.NUMBER, "2")]),
    ("[a]]b]", [(Kind.BRACKETED, "a]b")]),
    ('"x""y"', [(Kind.DQUOTED, 'x"y')]),
    ("`a``b`", [(Kind.BACKQUOTED, "a`b")]),
    ("'it''s'", [(Kind.STRING, "it's")]),
    (
        '[a b] & `c d` & "e f"',
        [
            (Kind.BRACKETED, "a b"),
            (Kind.OP, "&"),
            (Kind.BACKQUOTED, "c d"),
            (Kind.OP, "&"),
            (Kind.DQUOTED, "e f"),
        ],
    ),
    (
        "%key + #n + $Field + _x",
        [
            (Kind.IDENT, "%key"),
            (Kind.OP, "+"),
            (Kind.IDENT, "#n"),
            (Kind.OP, "+"),
            (Kind.IDENT, "$Field"),
            (Kind.OP, "+"),
            (Kind.IDENT, "_x"),
        ],
    ),
    ("T.a.b <= 2010", [(Kind.IDENT, "T.a.b"), (Kind.OP, "<="), (Kind.NUMBER, "2010")]),
    ("Ünï_ñame<>1", [(Kind.IDENT, "Ünï_ñame"), (Kind.OP, "<>"), (Kind.NUMBER, "1")]),
    ("x /* c */ + // rest\n 1", [(Kind.IDENT, "x"), (Kind.OP, "+"), (Kind.NUMBER, "1")]),
    (
        "Sum({<F={'a'}>} x)",
        [
            (Kind.IDENT, "Sum"),
            (Kind.OP, "("),
            (Kind.OP, "{"),
            (Kind.OP, "<"),
            (Kind.IDENT, "F"),
            (Kind.OP, "="),
            (Kind.OP, "{"),
            (Kind.STRING, "a"),
            (Kind.OP, "}"),
            (Kind.OP, ">"),
            (Kind.OP, "}"),
            (Kind.IDENT, "x"),
            (Kind.OP, ")"),
        ],
    ),
    ("'lib://a/b'", [(Kind.STRING, "lib://a/b")]),
]


def _shape(tokens):
    return [(t.kind, t.value) for t in tokens if t.kind is not Kind.EOF]


@pytest.mark.parametrize(("text", "expected"), TRICKY, ids=[t for t, _ in TRICKY])
def test_chart_and_script_dialects_scan_alike(text: str, expected: list) -> None:
    chart = tokenize(text)
    script = script_tokenize(text)
    assert _shape(chart) == expected
    assert [(t.kind, t.value, t.pos, t.end) for t in chart] == [
        (t.kind, t.value, t.pos, t.end) for t in script
    ]


@pytest.mark.parametrize(("text", "expected"), TRICKY, ids=[t for t, _ in TRICKY])
def test_an_expression_cut_from_a_statement_parses_as_in_a_chart(text: str, expected: list) -> None:
    st = parse_statement(f"LET v = {text};", 100)
    assert isinstance(st, A.LetVar) and st.expr is not None
    assert st.expr.text == text and st.expr.pos == 108
    assert _shape(st.expr.tokens) == expected  # the statement's own tokens, not a second scan
    chart = parse_expression(text)
    assert parse_tokens(st.expr.text, st.expr.tokens, st.expr.pos) == chart


@pytest.mark.parametrize(("text", "pos"), [("'abc", 0), ("[a", 0), ('x + "y', 4), ("a /* b", 2)])
def test_unterminated_parts_fail_at_the_same_place(text: str, pos: int) -> None:
    with pytest.raises(ExprSyntaxError) as chart:
        tokenize(text)
    with pytest.raises(ScriptSyntaxError) as script:
        script_tokenize(text)
    assert chart.value.position == script.value.pos == pos


def test_only_the_script_dialect_has_statement_tokens() -> None:
    toks = script_tokenize("T: LOAD * INLINE [a\n1]; $(v)")
    assert [(t.kind, t.value) for t in toks[:7]] == [
        (Kind.IDENT, "T"),
        (Kind.OP, ":"),
        (Kind.IDENT, "LOAD"),
        (Kind.OP, "*"),
        (Kind.IDENT, "INLINE"),
        (Kind.INLINE, "a\n1"),
        (Kind.OP, ";"),
    ]
    assert toks[7].value == "$(v)"
    with pytest.raises(ExprSyntaxError):
        tokenize("T: x")
    with pytest.raises(ExprSyntaxError):
        tokenize("$(v)")
    # SQL passed to a database may hold characters the expression language does not use
    assert [t.value for t in script_tokenize("a || b != c")[:6]] == ["a", "|", "|", "b", "!", "="]


def test_the_statement_splitter_agrees_on_quoted_ends() -> None:
    stmts = split_statements("LOAD [a]];b] AS x AUTOGENERATE 1; LET y = 'p;''q';")
    assert [s.text.strip() for s in stmts] == ["LOAD [a]];b] AS x AUTOGENERATE 1", "LET y = 'p;''q'"]


def test_tricky_names_load_in_a_script_and_read_in_a_chart(engine) -> None:
    script = """T: LOAD * INLINE [
n, m, c d
1, 10, 100
2, 20, 200
];
U: LOAD n AS [a]]b], m AS "x""y", [c d] AS `c``d` RESIDENT T;
V: LOAD [a]]b] * 1.e1 AS e, "x""y" + `c``d` AS [f]]g] RESIDENT U;
LET v = 1.e3 + 1;
"""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/tok")) as c:
            await c.call("CreateApp", -1, "tok")
            h = (await c.call("OpenDoc", -1, "tok"))["qReturn"]["qHandle"]
            await c.call("SetScript", h, script)
            assert (await c.call("DoReload", h))["qReturn"] is True
            ev = await c.call("Evaluate", h, "Sum([a]]b]) & '|' & Sum(e) & '|' & Sum(`f]g`) & '|' & $(v)")
            assert ev["qReturn"] == "3|30|330|1001"

    asyncio.run(scenario())
