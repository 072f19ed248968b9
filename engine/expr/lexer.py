"""Tokenizer for Qlik expressions.

The lexer is context free: the same token stream serves ordinary expressions and set analysis. The
parser gives tokens their meaning (a double-quoted token is a field name in an expression but a search
string inside an element set; ``*`` is multiplication or set intersection).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ExprSyntaxError(ValueError):
    """An expression that cannot be tokenized or parsed; ``position`` is a 0-based char offset."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message} (at position {position})")


class Kind(Enum):
    NUMBER = "number"
    STRING = "string"  # 'single quoted'
    DQUOTED = "dquoted"  # "double quoted": a field name, or a search string in a set
    BRACKETED = "bracketed"  # [field name]
    BACKQUOTED = "backquoted"  # `field name`
    IDENT = "ident"  # bare word: field, function, keyword operator, set identifier
    OP = "op"  # punctuation and symbolic operators
    EOF = "eof"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str
    pos: int
    end: int

    def is_op(self, *ops: str) -> bool:
        return self.kind is Kind.OP and self.value in ops

    def is_word(self, *words: str) -> bool:
        """A bare word equal (case-insensitively) to one of ``words`` (given upper-case)."""
        return self.kind is Kind.IDENT and self.value.upper() in words


# Longest first so that "<=" wins over "<".
_OPERATORS = ("<>", "<=", ">=", "::", "+", "-", "*", "/", "&", "=", "<", ">", "(", ")", ",", "{", "}")
_IDENT_EXTRA = set("_%#$@.")


def _ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_%#$@"


def _ident_part(ch: str) -> bool:
    return ch.isalnum() or ch in _IDENT_EXTRA


def _quoted(text: str, i: int, quote: str, kind: Kind, what: str) -> tuple[Token, int]:
    """A token delimited by ``quote`` where a doubled quote stands for one quote character."""
    start = i
    i += 1
    parts: list[str] = []
    n = len(text)
    while True:
        j = text.find(quote, i)
        if j < 0:
            raise ExprSyntaxError(f"Unterminated {what}", start)
        parts.append(text[i:j])
        if j + 1 < n and text[j + 1] == quote:
            parts.append(quote)
            i = j + 2
            continue
        return Token(kind, "".join(parts), start, j + 1), j + 1


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, skipping blanks and ``//`` / ``/* */`` comments; ends with EOF."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ExprSyntaxError("Unterminated comment", i)
            i = j + 2
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and text[j].isdigit():
                j += 1
            if j < n and text[j] == "." and j + 1 < n and text[j + 1].isdigit():
                j += 1
                while j < n and text[j].isdigit():
                    j += 1
            elif j < n and text[j] == "." and (j + 1 >= n or not _ident_part(text[j + 1])):
                j += 1  # "1." is a number
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isdigit():
                    while k < n and text[k].isdigit():
                        k += 1
                    j = k
            tokens.append(Token(Kind.NUMBER, text[i:j], i, j))
            i = j
            continue
        if ch == "'":
            tok, i = _quoted(text, i, "'", Kind.STRING, "string")
            tokens.append(tok)
            continue
        if ch == '"':
            tok, i = _quoted(text, i, '"', Kind.DQUOTED, "double-quoted name")
            tokens.append(tok)
            continue
        if ch == "`":
            tok, i = _quoted(text, i, "`", Kind.BACKQUOTED, "back-quoted name")
            tokens.append(tok)
            continue
        if ch == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise ExprSyntaxError("Unterminated [field name]", i)
            tokens.append(Token(Kind.BRACKETED, text[i + 1 : j], i, j + 1))
            i = j + 1
            continue
        if _ident_start(ch):
            j = i + 1
            while j < n and _ident_part(text[j]):
                j += 1
            # "$(" is an unexpanded dollar expansion, never an identifier.
            if text[i:j] == "$" and j < n and text[j] == "(":
                raise ExprSyntaxError("Unexpanded dollar-sign expansion", i)
            tokens.append(Token(Kind.IDENT, text[i:j], i, j))
            i = j
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token(Kind.OP, op, i, i + len(op)))
                i += len(op)
                break
        else:
            raise ExprSyntaxError(f"Unexpected character {ch!r}", i)
    tokens.append(Token(Kind.EOF, "", n, n))
    return tokens
