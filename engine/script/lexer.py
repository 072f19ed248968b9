"""Script text → raw statements, and statement text → tokens.

Two passes because Qlik expands ``$(...)`` *after* a statement has been cut out of the script and
*before* it is parsed: the splitter must work on the raw text (comments, strings, INLINE data, the
``;``/end-of-line rules) while the tokenizer works on the expanded text of one statement.
Comments are blanked out with spaces (newlines kept) so every offset in a statement's text is still
an offset into the script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.expr.lexer import Kind, Token, Tokenizer, scan_ident, scan_quoted

# enum members bound once: ``Kind.X`` is a class attribute lookup on every comparison
_IDENT = Kind.IDENT
_OP = Kind.OP
_INLINE = Kind.INLINE


__all__ = [
    "CONTROL_WORDS",
    "Kind",
    "RawStatement",
    "ScriptSyntaxError",
    "ScriptTokenizer",
    "TabInfo",
    "Token",
    "decode_script",
    "find_tabs",
    "line_col",
    "split_statements",
    "tokenize",
]

#: Statements that end at the end of their line (or at ``;``) and never span lines.
CONTROL_WORDS = frozenset(
    {
        "if",
        "elseif",
        "else",
        "end",
        "endif",
        "for",
        "next",
        "sub",
        "endsub",
        "call",
        "do",
        "loop",
        "exit",
        "switch",
        "case",
        "default",
        "endswitch",
    }
)


class ScriptSyntaxError(Exception):
    """A syntax error at an absolute offset of the script (or of one statement's expanded text)."""

    def __init__(self, message: str, pos: int, length: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.length = max(1, length)


def decode_script(data: bytes | str) -> str:
    """Bytes of a script file → text: UTF-8 (BOM stripped) or, failing that, Windows-1252; CRLF → LF."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class RawStatement:
    """One statement as cut from the script: ``text`` has comments blanked; ``start`` is its offset."""

    text: str
    start: int
    end: int
    control: bool = False

    @property
    def stripped(self) -> str:
        return self.text.strip()


@dataclass
class TabInfo:
    """``///$tab`` sections: start offset of each tab's content and its name."""

    starts: list[int] = field(default_factory=lambda: [0])
    names: list[str] = field(default_factory=lambda: ["Main"])


_WORD = re.compile(r"[A-Za-z_]+")
_TAB = re.compile(r"///\$tab[^\n]*")


def find_tabs(text: str) -> TabInfo:
    """Locate ``///$tab Name`` markers; a marker before any other text names the first tab."""
    info = TabInfo()
    for m in _TAB.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if text[line_start : m.start()].strip():
            continue
        nl = text.find("\n", m.end())
        content = len(text) if nl < 0 else nl + 1
        name = m.group(0)[len("///$tab") :].strip()
        if not text[: m.start()].strip() and len(info.starts) == 1:
            info.starts[0], info.names[0] = content, name
        else:
            info.starts.append(content)
            info.names.append(name)
    return info


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of ``pos`` in ``text``."""
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


class _Splitter:
    """Cuts the script into statements; see the module docstring."""

    def __init__(self, text: str) -> None:
        self.src = text
        self.buf = list(text)  # comments get blanked in here
        self.n = len(text)

    def blank(self, a: int, b: int) -> None:
        for i in range(a, b):
            if self.buf[i] != "\n":
                self.buf[i] = " "

    def skip_space_and_comments(self, i: int) -> int:
        s = self.src
        while i < self.n:
            c = s[i]
            if c.isspace():
                i += 1
            elif s.startswith("//", i):
                j = s.find("\n", i)
                j = self.n if j < 0 else j
                self.blank(i, j)
                i = j
            elif s.startswith("/*", i):
                j = s.find("*/", i + 2)
                j = self.n if j < 0 else j + 2
                self.blank(i, j)
                i = j
            else:
                break
        return i

    def skip_quoted(self, i: int) -> int:
        """``i`` at an opening quote or ``[``; the index after its close (as the tokenizer scans it)."""
        got = scan_quoted(self.src, i)
        if got is None:
            raise ScriptSyntaxError(f"Unterminated {self.src[i]}", i)
        return got[1]

    def split(self) -> list[RawStatement]:
        s = self.src
        out: list[RawStatement] = []
        i = self.skip_space_and_comments(0)
        while i < self.n:
            if s[i] == ";":
                i = self.skip_space_and_comments(i + 1)
                continue
            m = _WORD.match(s, i)
            word = m.group(0).lower() if m else ""
            if word == "rem":
                j = s.find(";", i)
                j = self.n if j < 0 else j
                self.blank(i, j)
                i = self.skip_space_and_comments(min(self.n, j + 1))
                continue
            control = word in CONTROL_WORDS and (m is None or m.end() >= self.n or s[m.end()] not in ":")
            if (
                not control
                and m
                and re.match(r"[A-Za-z_][\w.]*\s*=", s[i : i + 200])
                and word not in ("set", "let", "load", "select", "sql")
            ):
                control = True  # bare `x = expr`
            end, stop = self.scan(i, control, word)
            out.append(RawStatement("".join(self.buf[i:end]), i, end, control))
            i = self.skip_space_and_comments(stop)
        return out

    def scan(self, i: int, control: bool, word: str) -> tuple[int, int]:
        """Find the end of the statement starting at ``i``: returns (end of text, resume position)."""
        s = self.src
        depth = 0
        prev_word = ""
        j = i
        while j < self.n:
            c = s[j]
            if c == ";" and depth == 0:
                return j, j + 1
            if c == "\n" and control:
                return j, j + 1
            if c in "'\"`[":
                j = self.skip_quoted(j)
                prev_word = ""
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth = max(0, depth - 1)
            elif s.startswith("//", j) and (j == 0 or s[j - 1] != ":"):
                k = s.find("\n", j)
                k = self.n if k < 0 else k
                self.blank(j, k)
                j = k
                continue
            elif s.startswith("/*", j):
                k = s.find("*/", j + 2)
                k = self.n if k < 0 else k + 2
                self.blank(j, k)
                j = k
                continue
            elif c.isalpha() or c == "_":
                end = scan_ident(s, j)
                w = s[j:end].lower()
                if control and depth == 0:
                    if w == "then" and word in ("if", "elseif"):
                        return end, end
                    if word == "else" and j == i:
                        return end, end
                    if word == "end" and prev_word == "end":
                        return end, end
                if w == "inline" and not control:
                    k = end
                    while k < self.n and s[k].isspace():
                        k += 1
                    if k < self.n and s[k] in '["':
                        close = "]" if s[k] == "[" else '"'
                        e = s.find(close, k + 1)
                        if e < 0:
                            raise ScriptSyntaxError("INLINE data is not closed", k)
                        j = e + 1
                        prev_word = ""
                        continue
                prev_word = w
                j = end
                continue
            j += 1
        return self.n, self.n


def split_statements(text: str) -> list[RawStatement]:
    """Cut ``text`` (already decoded, LF line ends) into raw statements, comments blanked."""
    return _Splitter(text).split()


# ---------------------------------------------------------------------------------------------
# tokens of one statement


class ScriptTokenizer(Tokenizer):
    """The script dialect of :class:`engine.expr.lexer.Tokenizer`: the expression tokens, scanned by
    the same rules, plus what only statements have: ``;`` and a label's ``:``; the data after
    ``INLINE`` as one token; an unexpanded ``$(...)`` (seen by a syntax check) as one opaque word; and
    any other character as a one-character operator, so that SQL text passed through to a database
    (``a || b``, ``x != 1``) tokenizes and only a statement that uses it where it means nothing fails."""

    OPERATORS = (
        "<>",
        "<=",
        ">=",
        "::",
        "(",
        ")",
        ",",
        ";",
        ":",
        "=",
        "<",
        ">",
        "+",
        "-",
        "*",
        "/",
        "&",
        "{",
        "}",
    )

    def error(self, message: str, i: int) -> Exception:
        return ScriptSyntaxError(message, self.base + i)

    def dollar(self, i: int) -> int:
        text, n = self.text, len(self.text)
        depth, j = 0, i + 1
        while j < n:
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        self.add(_IDENT, text[i : j + 1], i, min(n, j + 1))
        return j + 1

    def after_word(self, word: str, i: int) -> int:
        if word.lower() != "inline":
            return i
        text, n = self.text, len(self.text)
        k = i
        while k < n and text[k].isspace():
            k += 1
        if k < n and text[k] in '["':
            close = "]" if text[k] == "[" else '"'
            e = text.find(close, k + 1)
            if e < 0:
                raise ScriptSyntaxError("INLINE data is not closed", self.base + k)
            self.add(_INLINE, text[k + 1 : e], k, e + 1)
            return e + 1
        return i

    def other(self, i: int) -> int:
        self.add(_OP, self.text[i], i, i + 1)
        return i + 1


def tokenize(text: str, base: int = 0) -> list[Token]:
    """Tokens of one statement's (expanded) text; offsets are ``base`` + index in ``text``."""
    return ScriptTokenizer(text, base).run()
