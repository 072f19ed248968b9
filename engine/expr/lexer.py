"""The one tokenizer of the Qlik language: chart expressions here, load-script statements as a dialect.

The lexer is context free: the same token stream serves ordinary expressions and set analysis. The
parser gives tokens their meaning (a double-quoted token is a field name in an expression but a search
string inside an element set; ``*`` is multiplication or set intersection).

Why one class with a dialect (the sqlglot idea): a quote, a bracket, a number or a name must scan the
same way wherever the text is written, so ``[a]]b]``, ``"x""y"``, ```a``b```, ``a@b`` and ``1.e3`` mean
one thing in a chart and in a script. :class:`Tokenizer` scans the expression language;
``engine.script.lexer.ScriptTokenizer`` extends it with what only statements have (``;`` and label
``:``, INLINE data, an unexpanded ``$(...)``, and SQL text it must pass through). The statement splitter
uses the same :func:`scan_quoted` so it agrees with the tokenizer on where a quoted part ends.
"""

from __future__ import annotations

import re
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
    INLINE = "inline"  # the data of LOAD ... INLINE [...] (script dialect only)
    EOF = "eof"


# enum members bound once: ``Kind.X`` is a class attribute lookup (slow) on every comparison
_NUMBER, _STRING, _DQUOTED, _BRACKETED = Kind.NUMBER, Kind.STRING, Kind.DQUOTED, Kind.BRACKETED
_BACKQUOTED, _IDENT, _OP, _INLINE, _EOF = Kind.BACKQUOTED, Kind.IDENT, Kind.OP, Kind.INLINE, Kind.EOF

#: the kinds that name a field or table: bare, "double quoted", [bracketed], `back-quoted`
NAME_KINDS = (_IDENT, _DQUOTED, _BRACKETED, _BACKQUOTED)
#: the quoted forms of a name
QUOTED_NAME_KINDS = (_DQUOTED, _BRACKETED, _BACKQUOTED)


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str  # word text / unquoted string or name / operator / inline data
    pos: int
    end: int

    @property
    def start(self) -> int:
        return self.pos

    def is_op(self, *ops: str) -> bool:
        return self.kind is _OP and self.value in ops

    def is_word(self, *words: str) -> bool:
        """A bare word equal, ignoring case, to one of ``words`` (given upper-case: the expression
        parser's spelling)."""
        return self.kind is _IDENT and self.value.upper() in words

    def is_keyword(self, *words: str) -> bool:
        """A bare word equal, ignoring case, to one of ``words`` (given lower-case: the statement
        parser's spelling)."""
        return self.kind is _IDENT and self.value.lower() in words


_CLOSE = {"'": "'", '"': '"', "`": "`", "[": "]"}
_QUOTE_KIND = {"'": _STRING, '"': _DQUOTED, "`": _BACKQUOTED, "[": _BRACKETED}
_QUOTE_WHAT = {"'": "string", '"': "double-quoted name", "`": "back-quoted name", "[": "[field name]"}
_IDENT_START = frozenset("_%#$@")
_IDENT_EXTRA = frozenset("_%#$@.")


def ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in _IDENT_START


def ident_part(ch: str) -> bool:
    return ch.isalnum() or ch in _IDENT_EXTRA


_IDENT_TAIL = re.compile(r"[^\W_]*(?:[_%#$@.][^\W_]*)*")


def scan_ident(text: str, i: int) -> int:
    """End of the identifier starting at ``i`` (letters, digits and ``_ % # $ @ .``)."""
    m = _IDENT_TAIL.match(text, i + 1)
    return m.end() if m else i + 1


def scan_quoted(text: str, i: int) -> tuple[str, int] | None:
    """The unquoted value and end offset of the quoted part opening at ``i`` (``'``, ``"``, ````` or
    ``[``); a doubled closing character stands for one (``'it''s'``, ``[a]]b]``). None: unterminated."""
    close = _CLOSE[text[i]]
    parts: list[str] = []
    j, n = i + 1, len(text)
    while True:
        k = text.find(close, j)
        if k < 0:
            return None
        parts.append(text[j:k])
        if k + 1 < n and text[k + 1] == close:
            parts.append(close)
            j = k + 2
            continue
        return "".join(parts), k + 1


def scan_number(text: str, i: int) -> int:
    """End of the number starting at ``i`` (``12``, ``1.5``, ``.5``, ``1.``, ``1e3``, ``1.e-3``), or
    ``i`` when none starts there. ``1.`` keeps its dot unless a name follows it (``1.x`` is 1 then
    ``.x``), but an exponent may follow the dot (``1.e3`` is 1000)."""
    n = len(text)
    j = i
    while j < n and text[j].isdigit():
        j += 1
    if j < n and text[j] == ".":
        if j + 1 < n and text[j + 1].isdigit():
            j += 1
            while j < n and text[j].isdigit():
                j += 1
        elif j > i and (j + 1 >= n or not ident_part(text[j + 1]) or _exponent_end(text, j + 1) > j + 1):
            j += 1
    if j == i:
        return i
    return max(j, _exponent_end(text, j))


def _exponent_end(text: str, j: int) -> int:
    """End of an exponent ``e3`` / ``E+3`` starting at ``j``, or ``j`` when there is none."""
    n = len(text)
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k].isdigit():
            while k < n and text[k].isdigit():
                k += 1
            return k
    return j


class Tokenizer:
    """Tokens of the expression language (the chart dialect); subclasses add statement tokens.

    Offsets are ``base`` + the index in ``text``. Blanks and ``//`` / ``/* */`` comments are skipped
    (``//`` right after ``:`` is part of a URL, ``lib://``, not a comment).
    """

    #: symbolic operators, longest first so that "<=" wins over "<"
    OPERATORS: tuple[str, ...] = (
        "<>", "<=", ">=", "::", "+", "-", "*", "/", "&", "=", "<", ">", "(", ")", ",", "{", "}",
    )  # fmt: skip

    def __init__(self, text: str, base: int = 0) -> None:
        self.text = text
        self.base = base
        self.tokens: list[Token] = []

    # --- hooks a dialect overrides ----------------------------------------------------------------
    def error(self, message: str, i: int) -> Exception:
        return ExprSyntaxError(message, self.base + i)

    def dollar(self, i: int) -> int:
        """``$(`` at ``i``: an expansion the caller should have made."""
        raise self.error("Unexpanded dollar-sign expansion", i)

    def after_word(self, word: str, i: int) -> int:
        """Called after a bare word ending at ``i``; returns where scanning goes on."""
        return i

    def other(self, i: int) -> int:
        """A character no rule scans."""
        raise self.error(f"Unexpected character {self.text[i]!r}", i)

    # --- scanning -----------------------------------------------------------------------------------
    def add(self, kind: Kind, value: str, a: int, b: int) -> None:
        self.tokens.append(Token(kind, value, self.base + a, self.base + b))

    def comment_end(self, i: int) -> int:
        """End of a comment starting at ``i``, or ``i`` when none starts there."""
        text = self.text
        if text.startswith("//", i) and (i == 0 or text[i - 1] != ":"):
            j = text.find("\n", i)
            return len(text) if j < 0 else j + 1
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise self.error("Unterminated comment", i)
            return j + 2
        return i

    def run(self) -> list[Token]:
        text = self.text
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch.isspace():
                i += 1
                continue
            if ch == "/" and (j := self.comment_end(i)) > i:
                i = j
                continue
            if ch in _CLOSE:
                got = scan_quoted(text, i)
                if got is None:
                    raise self.error(f"Unterminated {_QUOTE_WHAT[ch]}", i)
                self.add(_QUOTE_KIND[ch], got[0], i, got[1])
                i = got[1]
                continue
            if ch.isdigit() or ch == ".":
                j = scan_number(text, i)
                if j > i:
                    self.add(_NUMBER, text[i:j], i, j)
                    i = j
                    continue
            if ch == "$" and text.startswith("$(", i):
                i = self.dollar(i)
                continue
            if ident_start(ch):
                j = scan_ident(text, i)
                self.add(_IDENT, text[i:j], i, j)
                i = self.after_word(text[i:j], j)
                continue
            for op in self.OPERATORS:
                if text.startswith(op, i):
                    self.add(_OP, op, i, i + len(op))
                    i += len(op)
                    break
            else:
                i = self.other(i)
        self.tokens.append(Token(_EOF, "", self.base + n, self.base + n))
        return self.tokens


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, skipping blanks and comments; ends with EOF."""
    return Tokenizer(text).run()
