"""``Doc.CheckScriptSyntax``: parse a script without running it and report where it is wrong.

Positions follow the engine's ``ScriptSyntaxError``: ``qTextPos`` is a 0-based character offset into
the script text as the client sent it (CRLF and a BOM count), ``qTabIx`` the ``///$tab`` section,
``qLineInTab`` / ``qColInLine`` 0-based within that section. Statements that use ``$(...)`` are
checked for their statement structure only: their expressions are only known after expansion.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass

from engine.expr import parse_expression
from engine.expr.lexer import ExprSyntaxError
from engine.expr.parser import parse_tokens
from engine.script import ast as A
from engine.script.lexer import ScriptSyntaxError, find_tabs
from engine.script.parser import parse_statement


@dataclass(frozen=True)
class SyntaxErrorInfo:
    qErrLen: int
    qTabIx: int
    qLineInTab: int
    qColInLine: int
    qTextPos: int
    qSecondaryFailure: bool = False
    message: str = ""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "qErrLen": self.qErrLen,
            "qTabIx": self.qTabIx,
            "qLineInTab": self.qLineInTab,
            "qColInLine": self.qColInLine,
            "qTextPos": self.qTextPos,
        }
        if self.qSecondaryFailure:
            out["qSecondaryFailure"] = True
        return out


class _Normalized:
    """The script with BOM and CR removed, and a map back to offsets in the original text."""

    def __init__(self, original: str) -> None:
        self.lead = 1 if original.startswith("\ufeff") else 0
        body = original[self.lead :]
        self.removed: list[int] = []  # normalized offsets before which one CR was dropped
        out: list[str] = []
        i = 0
        n = len(body)
        while i < n:
            c = body[i]
            if c == "\r":
                if i + 1 < n and body[i + 1] == "\n":
                    self.removed.append(len(out))
                    i += 1
                    continue
                out.append("\n")
                i += 1
                continue
            out.append(c)
            i += 1
        self.text = "".join(out)

    def original_pos(self, pos: int) -> int:
        return pos + self.lead + bisect.bisect_right(self.removed, pos)


def _exprs(node: object) -> list[A.Expr]:
    out: list[A.Expr] = []
    if isinstance(node, A.Expr):
        return [node]
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            out += _exprs(getattr(node, f.name))
    elif isinstance(node, list | tuple):
        for x in node:
            out += _exprs(x)
    return out


def _statement_errors(text: str, start: int) -> list[tuple[int, int, str]]:
    if text.lstrip().startswith("$("):
        return []
    try:
        st = parse_statement(text, start)
    except ScriptSyntaxError as err:
        return [(err.pos, err.length, err.message)]
    out = []
    for e in _exprs(st):
        if "$(" in e.text:
            continue
        try:
            parse_expression(e.text) if e.tokens is None else parse_tokens(e.text, e.tokens, e.pos)
        except ExprSyntaxError as err:
            out.append((e.pos + max(0, err.position), 1, err.message))
    return out


def check_syntax(script: str) -> list[SyntaxErrorInfo]:
    """Every syntax error of ``script`` (an empty list when it parses)."""
    from engine.script.runner import build_program

    norm = _Normalized(script)
    text = norm.text
    tabs = find_tabs(text)
    found: list[tuple[int, int, str]] = []
    try:
        prog = build_program(text)
    except ScriptSyntaxError as err:
        found.append((err.pos, err.length, err.message))
    else:
        for raw in prog.stmts:
            found += _statement_errors(raw.text, raw.start)
    out = []
    for pos, length, msg in found:
        tab = max(0, bisect.bisect_right(tabs.starts, pos) - 1)
        tab_start = tabs.starts[tab] if pos >= tabs.starts[tab] else 0
        line = text.count("\n", tab_start, pos)
        col = pos - (text.rfind("\n", 0, pos) + 1)
        out.append(SyntaxErrorInfo(length, tab, line, col, norm.original_pos(pos), False, msg))
    return out
