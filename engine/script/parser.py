"""Statement parser: tokens of one (expanded) statement → a typed statement from :mod:`ast`.

Expressions are cut out as source spans; :func:`check_expression` hands them to the expression
language's parser when the caller wants them verified.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.expr.lexer import NAME_KINDS, QUOTED_NAME_KINDS
from engine.script import ast as A
from engine.script.lexer import Kind, ScriptSyntaxError, Token, tokenize

# enum members bound once: ``Kind.X`` is a class attribute lookup on every comparison
_NUMBER = Kind.NUMBER
_STRING = Kind.STRING
_IDENT = Kind.IDENT
_OP = Kind.OP
_INLINE = Kind.INLINE
_EOF = Kind.EOF


LOAD_CLAUSES = ("from", "resident", "inline", "autogenerate", "where", "while", "group", "order")
_ENCODINGS = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "unicode": "utf-16",
    "ansi": "cp1252",
    "oem": "cp850",
    "mac": "mac_roman",
}
_FORMATS = {
    "txt",
    "qvd",
    "ooxml",
    "biff",
    "html",
    "xml",
    "json",
    "parquet",
    "fix",
    "dif",
    "qvx",
    "kml",
    "csv",
    "xmlsimple",
}
#: tokens that can be a label, a table or a field name (a 'string' names one in statements)
_LABEL_KINDS = (*NAME_KINDS, _STRING)
#: tokens that are a quoted file path
_PATH_KINDS = (*QUOTED_NAME_KINDS, _STRING)
#: ``@start:end`` (an optional type letter after it): a field of a fixed-record file by position
_FIXED_FIELD = re.compile(r"@\d+:\d+[A-Za-z]?(?=[\s,;]|$)")


@dataclass(frozen=True)
class Keyword:
    """One statement or prefix of the Qlik script reference, as the parser knows it.

    ``forms``: the reference's names for what starts with this word; ``kind``: "regular", "prefix" or
    "control"; ``parser``: the :class:`Parser` method that reads it ("" when the statement splitter
    consumes it, like REM); ``runs``: False when the reload fails naming it (the ``note`` says why);
    ``note``: a limit worth knowing."""

    word: str
    forms: tuple[str, ...]
    kind: str
    parser: str
    runs: bool = True
    note: str = ""


_LOAD = "load_with_prefixes"
_NO_ODBC = "no ODBC/OLE DB drivers here: the reload fails naming them; LIB CONNECT TO a database connection"
_KEYWORDS = (
    # regular statements
    Keyword("alias", ("Alias",), "regular", "st_alias"),
    Keyword("autonumber", ("AutoNumber",), "regular", "st_autonumber"),
    Keyword("binary", ("Binary",), "regular", "st_binary"),
    Keyword("comment", ("Comment field", "Comment table"), "regular", "st_comment"),
    Keyword("connect", ("Connect",), "regular", "st_connect", runs=False, note=_NO_ODBC),
    Keyword("odbc", ("ODBC Connect",), "regular", "st_odbc", runs=False, note=_NO_ODBC),
    Keyword("oledb", ("OLEDB Connect",), "regular", "st_odbc", runs=False, note=_NO_ODBC),
    Keyword("custom", ("Custom Connect",), "regular", "st_custom"),
    Keyword("lib", ("Lib Connect",), "regular", "st_lib"),
    Keyword("declare", ("Declare",), "regular", "st_declare"),
    Keyword("derive", ("Derive",), "regular", "st_derive"),
    Keyword(
        "direct",
        ("Direct Query",),
        "regular",
        "st_direct",
        runs=False,
        note="Direct Discovery needs a live database behind each chart; the reload fails naming it",
    ),
    Keyword("directory", ("Directory",), "regular", "st_directory"),
    Keyword("disconnect", ("Disconnect",), "regular", "st_disconnect"),
    Keyword("drop", ("Drop field", "Drop table"), "regular", "st_drop"),
    Keyword(
        "execute",
        ("Execute",),
        "regular",
        "st_execute",
        runs=False,
        note="a script never starts a program here; the reload fails naming it",
    ),
    Keyword("flushlog", ("FlushLog",), "regular", "st_flushlog", note="the log is never buffered: no effect"),
    Keyword("force", ("Force",), "regular", "st_force"),
    Keyword("let", ("Let",), "regular", "st_let"),
    Keyword("load", ("Load",), "regular", "st_load"),
    Keyword(
        "loosen",
        ("Loosen Table",),
        "regular",
        "st_loosen",
        note="selections do not cross a loose table; charts still read its rows together",
    ),
    Keyword("map", ("Map ... using",), "regular", "st_map"),
    Keyword("nullasnull", ("NullAsNull",), "regular", "st_nullasvalue"),
    Keyword("nullasvalue", ("NullAsValue",), "regular", "st_nullasvalue"),
    Keyword("qualify", ("Qualify",), "regular", "st_qualify"),
    Keyword("rem", ("Rem",), "regular", "", note="cut out by the statement splitter"),
    Keyword("rename", ("Rename field", "Rename table"), "regular", "st_rename"),
    Keyword("search", ("Search",), "regular", "st_search"),
    Keyword("section", ("Section",), "regular", "st_section"),
    Keyword("select", ("Select",), "regular", "st_load"),
    Keyword("set", ("Set",), "regular", "st_set"),
    Keyword("sleep", ("Sleep",), "regular", "st_sleep"),
    Keyword("sql", ("SQL",), "regular", "st_load"),
    Keyword("sqlcolumns", ("SQLColumns",), "regular", "st_load"),
    Keyword("sqltables", ("SQLTables",), "regular", "st_load"),
    Keyword("sqltypes", ("SQLTypes",), "regular", "st_load"),
    Keyword("star", ("Star",), "regular", "st_star"),
    Keyword("store", ("Store",), "regular", "st_store"),
    Keyword("tag", ("Tag",), "regular", "st_tag"),
    Keyword("trace", ("Trace",), "regular", "st_trace"),
    Keyword("unmap", ("Unmap",), "regular", "st_unmap"),
    Keyword("unqualify", ("Unqualify",), "regular", "st_unqualify"),
    Keyword("untag", ("Untag",), "regular", "st_untag"),
    # prefixes
    Keyword("add", ("Add",), "prefix", _LOAD),
    Keyword("buffer", ("Buffer",), "prefix", _LOAD, note="the statement runs every time; no QVD cache"),
    Keyword("concatenate", ("Concatenate",), "prefix", _LOAD),
    Keyword("crosstable", ("Crosstable",), "prefix", _LOAD),
    Keyword("first", ("First",), "prefix", _LOAD),
    Keyword("generic", ("Generic",), "prefix", _LOAD),
    Keyword("hierarchy", ("Hierarchy",), "prefix", _LOAD),
    Keyword("hierarchybelongsto", ("HierarchyBelongsTo",), "prefix", _LOAD),
    Keyword("inner", ("Inner",), "prefix", _LOAD),
    Keyword("intervalmatch", ("IntervalMatch",), "prefix", _LOAD),
    Keyword("join", ("Join",), "prefix", _LOAD),
    Keyword("keep", ("Keep",), "prefix", _LOAD),
    Keyword("left", ("Left",), "prefix", _LOAD),
    Keyword("mapping", ("Mapping",), "prefix", _LOAD),
    Keyword("merge", ("Merge",), "prefix", _LOAD),
    Keyword("noconcatenate", ("NoConcatenate",), "prefix", _LOAD),
    Keyword("outer", ("Outer",), "prefix", _LOAD),
    Keyword("replace", ("Replace",), "prefix", _LOAD),
    Keyword("right", ("Right",), "prefix", _LOAD),
    Keyword("sample", ("Sample",), "prefix", _LOAD),
    Keyword("semantic", ("Semantic",), "prefix", _LOAD),
    Keyword("unless", ("Unless",), "prefix", "st_when"),
    Keyword("when", ("When",), "prefix", "st_when"),
    # control statements
    Keyword("call", ("Call",), "control", "st_call"),
    Keyword("do", ("Do..loop",), "control", "st_do"),
    Keyword("loop", ("Do..loop",), "control", "st_loop"),
    Keyword("exit", ("Exit script", "Exit for", "Exit do", "Exit sub"), "control", "st_exit"),
    Keyword("for", ("For..next", "For each..next"), "control", "st_for"),
    Keyword("next", ("For..next",), "control", "st_next"),
    Keyword("if", ("If..then..elseif..else..end if",), "control", "st_if"),
    Keyword("elseif", ("If..then..elseif..else..end if",), "control", "st_elseif"),
    Keyword("else", ("If..then..elseif..else..end if",), "control", "st_else"),
    Keyword("endif", ("If..then..elseif..else..end if",), "control", "st_endif"),
    Keyword("end", ("End if", "End sub", "End switch"), "control", "st_end"),
    Keyword("sub", ("Sub..end sub",), "control", "st_sub"),
    Keyword("endsub", ("Sub..end sub",), "control", "st_endsub"),
    Keyword("switch", ("Switch..case..default..end switch",), "control", "st_switch"),
    Keyword("case", ("Switch..case..default..end switch",), "control", "st_case"),
    Keyword("default", ("Switch..case..default..end switch",), "control", "st_default"),
    Keyword("endswitch", ("Switch..case..default..end switch",), "control", "st_endswitch"),
)
#: every statement and prefix keyword (first word, lower case) → how the parser handles it; the
#: parser dispatches on this table and ``scripts/script_coverage.py`` prints it
STATEMENT_KEYWORDS: dict[str, Keyword] = {k.word: k for k in _KEYWORDS}


class Parser:
    """Recursive-descent parser over the tokens of one statement."""

    def __init__(self, text: str, base: int = 0) -> None:
        self.text = text
        self.base = base
        self.toks = tokenize(text, base)
        self.i = 0

    # --- token helpers -----------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def advance(self) -> Token:
        t = self.toks[self.i]
        if t.kind is not _EOF:
            self.i += 1
        return t

    def error(self, expected: str, tok: Token | None = None) -> ScriptSyntaxError:
        tok = tok or self.tok
        shown = tok.value if tok.kind is not _EOF else "EOF"
        return ScriptSyntaxError(
            f"Unexpected token: '{shown}', expected {expected}", tok.start, tok.end - tok.start
        )

    def at_word(self, *words: str) -> bool:
        return self.tok.is_keyword(*words)

    def accept_word(self, *words: str) -> bool:
        if self.tok.is_keyword(*words):
            self.advance()
            return True
        return False

    def expect_word(self, *words: str) -> Token:
        if not self.tok.is_keyword(*words):
            raise self.error(" or ".join(repr(w.upper()) for w in words))
        return self.advance()

    def at_op(self, op: str) -> bool:
        return self.tok.kind is _OP and self.tok.value == op

    def accept_op(self, op: str) -> bool:
        if self.at_op(op):
            self.advance()
            return True
        return False

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.error(f"'{op}'")
        return self.advance()

    def at_end(self) -> bool:
        return self.tok.kind is _EOF or self.at_op(";")

    def expect_end(self) -> None:
        if not self.at_end():
            raise self.error("end of statement")

    def name(self, what: str = "a name") -> str:
        t = self.tok
        if t.kind in _LABEL_KINDS:
            self.advance()
            return t.value
        raise self.error(what)

    def span(self, a: int, b: int) -> A.Expr:
        """The source text of tokens ``a`` .. ``b - 1``, with those tokens (and an EOF after them)."""
        start, end = self.toks[a].start, self.toks[b - 1].end
        text = self.text[start - self.base : end - self.base]
        return A.Expr(text, start, (*self.toks[a:b], Token(_EOF, "", end, end)))

    def expr_until(
        self,
        stop_words: tuple[str, ...] = (),
        stop_ops: tuple[str, ...] = (",",),
        what: str = "an expression",
    ) -> A.Expr:
        """Consume tokens up to a depth-0 stop word/op or the end; the consumed span is the expression."""
        a = self.i
        depth = 0
        while True:
            t = self.tok
            if t.kind is _EOF or (t.kind is _OP and t.value == ";" and depth == 0):
                break
            if depth == 0 and (
                t.kind is _OP and t.value in stop_ops or t.kind is _IDENT and t.value.lower() in stop_words
            ):
                break
            if t.kind is _OP and t.value == "(":
                depth += 1
            elif t.kind is _OP and t.value == ")":
                if depth == 0:
                    break
                depth -= 1
            self.advance()
        if self.i == a:
            raise self.error(what)
        return self.span(a, self.i)

    def rest_text(self) -> str:
        """Raw text from the current token to the end of the statement."""
        start = self.tok.start - self.base
        return self.text[start:].strip().rstrip(";").strip()

    def name_list(self, stop_words: tuple[str, ...] = ()) -> list[str]:
        out = [self.name()]
        while self.accept_op(","):
            out.append(self.name())
        if stop_words and not (self.at_end() or self.at_word(*stop_words)):
            raise self.error(" or ".join(stop_words))
        return out

    # --- statements --------------------------------------------------------------------------
    def statement(self) -> A.Statement:
        t = self.tok
        if t.kind is _EOF:
            raise self.error("a statement")
        label = None
        if t.kind in _LABEL_KINDS and self.peek().kind is _OP and self.peek().value == ":":
            label = t.value
            self.advance()
            self.advance()
            if self.at_word("declare"):
                return self.st_declare(label)
            return self.load_with_prefixes(label)
        if t.kind is not _IDENT:
            raise self.error("a statement")
        kw = STATEMENT_KEYWORDS.get(t.value.lower())
        if kw is not None and kw.parser:
            if kw.parser == _LOAD:
                return self.load_with_prefixes(None)
            handler: Callable[[], A.Statement] = getattr(self, kw.parser)
            return handler()
        if self.peek().kind is _OP and self.peek().value == "=":
            return self.assignment()
        if t.value.startswith("$(") and re.match(r"\$\((must_)?include\s*=", t.value, re.I):
            m = re.match(r"\$\((must_)?include\s*=\s*(.*)\)$", t.value, re.I | re.S)
            assert m is not None  # the prefix matched just above
            self.advance()
            return A.Include(m.group(2).strip(), bool(m.group(1)))
        raise self.error("a statement keyword")

    def assignment(self) -> A.LetVar:
        name = self.advance().value
        self.expect_op("=")
        if self.at_end():
            return A.LetVar(name, None)
        return A.LetVar(name, self.expr_until((), (";",)))

    def st_let(self) -> A.LetVar:
        self.advance()
        return self.assignment()

    def st_set(self) -> A.SetVar:
        self.advance()
        name = self.name("a variable name")
        eq = self.expect_op("=")
        raw = self.text[eq.end - self.base :].strip()
        if raw.endswith(";"):
            raw = raw[:-1].rstrip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            inner = raw[1:-1]
            q = raw[0]
            if q * 2 in inner or q not in inner:
                raw = inner.replace(q * 2, q)
        self.i = len(self.toks) - 1
        return A.SetVar(name, raw)

    def st_trace(self) -> A.Trace:
        t = self.advance()
        self.i = len(self.toks) - 1
        return A.Trace(self.text[t.end - self.base :].strip().rstrip(";").strip())

    def st_exit(self) -> A.Statement:
        self.advance()
        kind = self.expect_word("script", "for", "do", "sub").value.lower()
        mode, cond = "", None
        if self.at_word("when", "unless"):
            mode = self.advance().value.lower()
            cond = self.expr_until((), (";",))
        self.expect_end()
        return A.ExitScript(mode, cond) if kind == "script" else A.ExitBlock(kind, mode, cond)

    def st_drop(self) -> A.Statement:
        self.advance()
        kind = self.expect_word("table", "tables", "field", "fields").value.lower()
        if kind.startswith("table"):
            names = self.name_list()
            self.expect_end()
            return A.DropTables(names)
        names = self.name_list(("from",))
        tables = []
        if self.accept_word("from"):
            tables = self.name_list()
        self.expect_end()
        return A.DropFields(names, tables)

    def st_rename(self) -> A.Rename:
        self.advance()
        kind = self.expect_word("table", "tables", "field", "fields").value.lower()
        what = "table" if kind.startswith("table") else "field"
        if self.accept_word("using"):
            m = self.name()
            self.expect_end()
            return A.Rename(what, [], m)
        pairs = []
        while True:
            old = self.name()
            self.expect_word("to")
            pairs.append((old, self.name()))
            if not self.accept_op(","):
                break
        self.expect_end()
        return A.Rename(what, pairs)

    def _patterns(self) -> list[str]:
        out = []
        while not self.at_end():
            t = self.tok
            if t.kind is _OP and t.value == "*":
                out.append("*")
                self.advance()
            else:
                out.append(self.name("a field name"))
            if not self.accept_op(","):
                break
        self.expect_end()
        return out

    def st_qualify(self) -> A.Qualify:
        self.advance()
        return A.Qualify(self._patterns(), True)

    def st_unqualify(self) -> A.Qualify:
        self.advance()
        return A.Qualify(self._patterns(), False)

    def st_section(self) -> A.Section:
        self.advance()
        w = self.expect_word("access", "application").value.lower()
        self.expect_end()
        return A.Section(w == "access")

    def st_star(self) -> A.StarIs:
        self.advance()
        self.expect_word("is")
        if self.at_end():
            return A.StarIs(None)
        t = self.advance()
        self.expect_end()
        return A.StarIs(t.value)

    def st_comment(self) -> A.Comment:
        self.advance()
        kind = self.expect_word("field", "fields", "table", "tables").value.lower()
        if self.accept_word("using"):
            m = self.name("a mapping table name")
            self.expect_end()
            return A.Comment("field" if kind.startswith("field") else "table", [], None, m)
        names = self.name_list(("with",))
        self.expect_word("with")
        text = self.expr_until((), (";",))
        return A.Comment("field" if kind.startswith("field") else "table", names, text)

    def _tag(self, untag: bool) -> A.Tag:
        self.advance()
        self.expect_word("field", "fields")
        if self.accept_word("using"):
            m = self.name("a mapping table name")
            self.expect_end()
            return A.Tag([], [], untag, m)
        names = self.name_list(("with",))
        self.expect_word("with")
        tags = [self.expr_until()]
        while self.accept_op(","):
            tags.append(self.expr_until())
        self.expect_end()
        return A.Tag(names, tags, untag)

    def st_tag(self) -> A.Tag:
        return self._tag(False)

    def st_untag(self) -> A.Tag:
        return self._tag(True)

    def path(self) -> str:
        """A file path: quoted/bracketed, or bare up to blank or '('."""
        t = self.tok
        if t.kind in _PATH_KINDS:
            self.advance()
            return t.value
        if t.kind is _EOF:
            raise self.error("a file path")
        start = t.start - self.base
        m = re.compile(r"[^\s(;]+").match(self.text, start)
        assert m is not None  # a token starts there
        end = start + len(m.group(0))
        while self.tok.kind is not _EOF and self.tok.start - self.base < end:
            self.advance()
        return self.text[start:end]

    def st_store(self) -> A.Store:
        self.advance()
        fields: list[tuple[str, str]] = []
        # STORE [fields FROM] table INTO path [(fmt)]
        save = self.i
        has_from = False
        j = self.i
        while self.toks[j].kind is not _EOF:
            if self.toks[j].is_keyword("from"):
                has_from = True
                break
            if self.toks[j].is_keyword("into"):
                break
            j += 1
        if has_from:
            if self.at_op("*"):
                self.advance()
            else:
                while True:
                    src = self.name("a field name")
                    out = self.name() if self.accept_word("as") else src
                    fields.append((src, out))
                    if not self.accept_op(","):
                        break
            self.expect_word("from")
        else:
            self.i = save
        table = self.name("a table name")
        self.expect_word("into")
        path = self.path()
        spec = self.format_spec()
        self.expect_end()
        fmt = spec.fmt
        if not fmt:
            ext = path.lower().rsplit(".", 1)[-1]
            fmt = "txt" if ext in ("txt", "csv", "tab") else "parquet" if ext == "parquet" else "qvd"
        return A.Store(table, path, fmt, fields, spec)

    def st_lib(self) -> A.Connect:
        self.advance()
        self.expect_word("connect")
        self.expect_word("to")
        return A.Connect(self.name("a connection name"))

    def _connect_rest(self, kind: str) -> A.Connect:
        text = self.rest_text()
        self.i = len(self.toks) - 1  # the connect string is the rest of the statement, as written
        return A.Connect(text, kind)

    def st_connect(self) -> A.Connect:
        self.advance()
        return self._connect_rest("connect")

    def st_odbc(self) -> A.Connect:
        kind = self.advance().value.lower()
        return self._connect_rest(kind)

    st_oledb = st_odbc

    def st_custom(self) -> A.Connect:
        self.advance()
        if not self.at_word("connect"):
            raise self.error("CONNECT")
        return self._connect_rest("custom")

    def st_disconnect(self) -> A.Disconnect:
        self.advance()
        self.expect_end()
        return A.Disconnect()

    def st_sleep(self) -> A.Sleep:
        self.advance()
        return A.Sleep(self.expr_until((), (";",)))

    def _ignored(self) -> A.Ignored:
        t = self.advance()
        self.i = len(self.toks) - 1
        return A.Ignored(t.value.upper())

    def st_autonumber(self) -> A.AutoNumberFields:
        self.advance()
        pats = []
        while True:
            if self.at_op("*"):
                self.advance()
                pats.append("*")
            else:
                pats.append(self.name("a field name"))
            if not self.accept_op(","):
                break
        ns = self.name("a namespace") if self.accept_word("using") else None
        self.expect_end()
        return A.AutoNumberFields(pats, ns)

    st_flushlog = _ignored

    def _unsupported(self) -> A.Unsupported:
        t = self.advance()
        self.i = len(self.toks) - 1
        return A.Unsupported(t.value.upper())

    def st_binary(self) -> A.Binary:
        self.advance()
        path = self.path()
        self.expect_end()
        return A.Binary(path)

    def _tag_list(self) -> list[str]:
        """``('$axis', '$year')`` or a single tag."""
        if not self.accept_op("("):
            return [self.name("a tag")]
        out = [self.name("a tag")]
        while self.accept_op(","):
            out.append(self.name("a tag"))
        self.expect_op(")")
        return out

    def st_declare(self, label: str | None = None) -> A.Declare:
        self.advance()
        self.accept_word("field", "fields")
        self.expect_word("definition")
        tags: list[str] = []
        params: list[tuple[str, A.Expr]] = []
        if self.accept_word("using"):
            base = self.name("a field definition name")
            if self.accept_word("with"):
                params = self._assignments(())
            self.expect_end()
            return A.Declare(label, [], params, [], using=base)
        if self.accept_word("tagged"):
            tags = self._tag_list()
        if self.accept_word("parameters"):
            params = self._assignments(("fields",))
        self.expect_word("fields")
        fields = []
        while True:
            e = self.expr_until(("as",), (",",), "a field expression")
            self.expect_word("as")
            name = self.name("a field name")
            ftags = self._tag_list() if self.accept_word("tagged") else []
            fields.append(A.DerivedField(e, name, ftags))
            if not self.accept_op(","):
                break
        if self.at_word("groups"):
            self.i = len(self.toks) - 1  # drill-down groups: the fields above are what matters here
        self.expect_end()
        return A.Declare(label, tags, params, fields)

    def _assignments(self, stop: tuple[str, ...]) -> list[tuple[str, A.Expr]]:
        """``name = value {, name = value}`` (field definition parameters)."""
        out = []
        while True:
            pname = self.name("a parameter name")
            self.expect_op("=")
            out.append((pname, self.expr_until(stop, (",",), "a parameter value")))
            if not self.accept_op(","):
                return out

    def st_derive(self) -> A.Derive:
        self.advance()
        self.expect_word("fields")
        self.expect_word("from")
        fields: list[str] = []
        tags: list[str] | None = None
        if self.accept_word("fields"):
            fields = self.name_list(("using",))
        elif self.accept_word("explicit"):
            self.expect_word("tags", "tag")
            tags = self._tag_list()
        else:
            self.expect_word("implicit")
            self.expect_word("tags", "tag")
            tags = []
        self.expect_word("using")
        definition = self.name("a field definition name")
        self.expect_end()
        return A.Derive(fields, tags, definition)

    def st_loosen(self) -> A.Loosen:
        self.advance()
        self.expect_word("table", "tables")
        names = self.name_list()
        self.expect_end()
        return A.Loosen(names)

    def st_search(self) -> A.SearchRule:
        self.advance()
        include = self.expect_word("include", "exclude").value.lower() == "include"
        return A.SearchRule(self._field_patterns(), include)

    def st_direct(self) -> A.Unsupported:
        self.advance()
        self.expect_word("query")
        self.i = len(self.toks) - 1
        return A.Unsupported("DIRECT QUERY")

    def st_when(self) -> A.Conditional:
        """``When|Unless condition statement``: the condition ends where a statement keyword follows
        a complete operand (``when A=1 LOAD ...``, ``unless Left(x, 1) = 'a' DROP TABLE T``)."""
        mode = self.advance().value.lower()
        a = self.i
        depth = 0
        while True:
            t = self.tok
            if t.kind is _EOF or self.at_op(";"):
                raise self.error("a statement after the condition")
            starts = (
                t.kind is _IDENT
                and t.value.lower() in STATEMENT_KEYWORDS
                or (t.kind in _LABEL_KINDS and self.peek().is_op(":"))
            )  # a label: `when c T: LOAD ...`
            if depth == 0 and self.i > a and starts:
                prev = self.toks[self.i - 1]
                if prev.kind is not _OP or prev.value == ")":
                    break
            if self.at_op("("):
                depth += 1
            elif self.at_op(")"):
                depth -= 1
            self.advance()
        cond = self.span(a, self.i)
        return A.Conditional(mode, cond, self.statement())

    def _field_patterns(self, stop: tuple[str, ...] = ()) -> list[str]:
        out = []
        while True:
            if self.at_op("*"):
                self.advance()
                out.append("*")
            else:
                out.append(self.name("a field name"))
            if not self.accept_op(","):
                break
        if not (self.at_end() or stop and self.at_word(*stop)):
            raise self.error(" or ".join(w.upper() for w in stop) if stop else "end of statement")
        return out

    def st_nullasvalue(self) -> A.NullAs:
        value = self.advance().value.lower() == "nullasvalue"
        pats = self._field_patterns()
        return A.NullAs(pats, value)

    st_nullasnull = st_nullasvalue

    def st_alias(self) -> A.Alias:
        self.advance()
        pairs = []
        while True:
            old = self.name("a field name")
            self.expect_word("as")
            pairs.append((old, self.name("a field name")))
            if not self.accept_op(","):
                break
        self.expect_end()
        return A.Alias(pairs)

    def st_map(self) -> A.MapUsing:
        self.advance()
        pats = self._field_patterns(("using",))
        self.expect_word("using")
        m = self.name("a mapping table name")
        self.expect_end()
        return A.MapUsing(pats, m)

    def st_unmap(self) -> A.MapUsing:
        self.advance()
        return A.MapUsing(self._field_patterns(), None)

    def st_force(self) -> A.Force:
        self.advance()
        if self.accept_word("capitalization"):
            self.expect_end()
            return A.Force("capitalization")
        self.expect_word("case")
        mode = self.expect_word("upper", "lower", "mixed").value.lower()
        self.expect_end()
        return A.Force(mode)

    def st_directory(self) -> A.Directory:
        self.advance()
        if self.at_end():
            return A.Directory(None)
        path = self.path()
        self.expect_end()
        return A.Directory(path)

    def st_execute(self) -> A.Execute:
        self.advance()
        text = self.rest_text()
        self.i = len(self.toks) - 1
        if not text:
            raise self.error("a command line")
        return A.Execute(text)

    # --- control -----------------------------------------------------------------------------
    def _cond(self, stop: str) -> A.Expr:
        return self.expr_until((stop,), (";",), "a condition")

    def st_if(self) -> A.If:
        self.advance()
        cond = self._cond("then")
        self.expect_word("then")
        self.expect_end()
        return A.If(cond)

    def st_elseif(self) -> A.ElseIf:
        self.advance()
        cond = self._cond("then")
        self.expect_word("then")
        self.expect_end()
        return A.ElseIf(cond)

    def st_else(self) -> A.Else:
        self.advance()
        self.expect_end()
        return A.Else()

    def st_endif(self) -> A.EndIf:
        self.advance()
        self.expect_end()
        return A.EndIf()

    def st_end(self) -> A.Statement:
        self.advance()
        w = self.expect_word("if", "sub", "switch").value.lower()
        self.expect_end()
        ends: dict[str, Callable[[], A.Statement]] = {"if": A.EndIf, "sub": A.EndSub, "switch": A.EndSwitch}
        return ends[w]()

    def st_endsub(self) -> A.EndSub:
        self.advance()
        self.expect_end()
        return A.EndSub()

    def st_endswitch(self) -> A.EndSwitch:
        self.advance()
        self.expect_end()
        return A.EndSwitch()

    def st_for(self) -> A.Statement:
        self.advance()
        if self.accept_word("each"):
            var = self.name("a variable name")
            self.expect_word("in")
            items = [self.expr_until()]
            while self.accept_op(","):
                items.append(self.expr_until())
            self.expect_end()
            return A.ForEach(var, items)
        var = self.name("a variable name")
        self.expect_op("=")
        start = self.expr_until(("to",), (";",))
        self.expect_word("to")
        stop = self.expr_until(("step",), (";",))
        step = None
        if self.accept_word("step"):
            step = self.expr_until((), (";",))
        self.expect_end()
        return A.For(var, start, stop, step)

    def st_next(self) -> A.Next:
        self.advance()
        var = None if self.at_end() else self.name()
        self.expect_end()
        return A.Next(var)

    def _mode_cond(self) -> tuple[str, A.Expr | None]:
        if self.at_word("while", "until"):
            mode = self.advance().value.lower()
            return mode, self.expr_until((), (";",), "a condition")
        self.expect_end()
        return "", None

    def st_do(self) -> A.Do:
        self.advance()
        return A.Do(*self._mode_cond())

    def st_loop(self) -> A.Loop:
        self.advance()
        return A.Loop(*self._mode_cond())

    def st_sub(self) -> A.Sub:
        self.advance()
        name = self.name("a subroutine name")
        params = []
        if self.accept_op("("):
            if not self.at_op(")"):
                params = [self.name()]
                while self.accept_op(","):
                    params.append(self.name())
            self.expect_op(")")
        self.expect_end()
        return A.Sub(name, params)

    def st_call(self) -> A.Call:
        self.advance()
        name = self.name("a subroutine name")
        args = []
        if self.accept_op("("):
            if not self.at_op(")"):
                args = [self.expr_until((), (",", ")"))]
                while self.accept_op(","):
                    args.append(self.expr_until((), (",", ")")))
            self.expect_op(")")
        self.expect_end()
        return A.Call(name, args)

    def st_switch(self) -> A.Switch:
        self.advance()
        return A.Switch(self.expr_until((), (";",)))

    def st_case(self) -> A.Case:
        self.advance()
        vals = [self.expr_until()]
        while self.accept_op(","):
            vals.append(self.expr_until())
        self.expect_end()
        return A.Case(vals)

    def st_default(self) -> A.Default:
        self.advance()
        self.expect_end()
        return A.Default()

    # --- LOAD / SELECT -----------------------------------------------------------------------
    def st_load(self) -> A.Load:
        return self.load_with_prefixes(None)

    st_select = st_sql = st_mapping = st_concatenate = st_noconcatenate = st_crosstable = st_load
    st_sqltables = st_sqlcolumns = st_sqltypes = st_load

    def _paren_table(self) -> str | None:
        if self.accept_op("("):
            n = self.name("a table name")
            self.expect_op(")")
            return n
        return None

    def _optional_args(self) -> list[str | None]:
        """``(a, b, , 'x')``: names or strings, an empty place is None."""
        self.expect_op("(")
        out: list[str | None] = []
        while True:
            if self.at_op(",") or self.at_op(")"):
                out.append(None)
            else:
                out.append(self.name("a field name"))
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return out

    def _merge_args(self, p: A.Prefixes) -> None:
        """``Merge [only] [(SequenceNoField [, SequenceNoVar])] On key {, key}``."""
        if self.accept_op("("):
            p.merge_seq = self.name("a sequence number field")
            if self.accept_op(","):
                p.merge_seq_var = self.name("a variable name")
            self.expect_op(")")
        self.expect_word("on")
        p.merge_keys = [self.name("a key field")]
        while self.accept_op(","):
            p.merge_keys.append(self.name("a key field"))

    def load_with_prefixes(self, label: str | None) -> A.Load:
        p = A.Prefixes()
        while True:
            t = self.tok
            if t.is_keyword("mapping"):
                self.advance()
                p.mapping = True
            elif t.is_keyword("noconcatenate"):
                self.advance()
                p.noconcatenate = True
            elif t.is_keyword("concatenate"):
                self.advance()
                p.concatenate = True
                p.concat_table = self._paren_table()
            elif t.is_keyword("inner", "left", "right", "outer") and self.peek().is_keyword("join", "keep"):
                kind = self.advance().value.lower()
                if self.advance().value.lower() == "join":
                    p.join = kind
                else:
                    if kind == "outer":
                        raise self.error("INNER, LEFT or RIGHT before KEEP", t)
                    p.keep = kind
                p.target = self._paren_table()
            elif t.is_keyword("join"):
                self.advance()
                p.join = "outer"
                p.target = self._paren_table()
            elif t.is_keyword("keep"):
                raise self.error("INNER, LEFT or RIGHT before KEEP")
            elif t.is_keyword("crosstable"):
                self.advance()
                self.expect_op("(")
                attr = self.name("an attribute field name")
                self.expect_op(",")
                data = self.name("a data field name")
                n = 1
                if self.accept_op(","):
                    num = self.advance()
                    if num.kind is not _NUMBER:
                        raise self.error("a number", num)
                    n = int(float(num.value))
                self.expect_op(")")
                p.crosstable = (attr, data, n)
            elif t.is_keyword("first"):
                self.advance()
                p.first = self.expr_until(("load", "select", "sql"), ())
            elif t.is_keyword("sample"):
                self.advance()
                p.sample = self.expr_until(("load", "select", "sql"), ())
            elif t.is_keyword("intervalmatch"):
                self.advance()
                self.expect_op("(")
                p.intervalmatch = [self.name("a field name")]
                while self.accept_op(","):
                    p.intervalmatch.append(self.name("a key field name"))
                self.expect_op(")")
            elif t.is_keyword("hierarchy", "hierarchybelongsto"):
                which = self.advance().value.lower()
                args = self._optional_args()
                need = 3 if which == "hierarchy" else 5
                if len(args) < need or any(a is None for a in args[:need]):
                    raise self.error(f"{need} arguments to {which.upper()}", t)
                if which == "hierarchy":
                    p.hierarchy = args
                else:
                    p.belongs_to = args
            elif t.is_keyword("generic"):
                self.advance()
                p.generic = True
            elif t.is_keyword("semantic"):
                self.advance()
                p.semantic = True
            elif t.is_keyword("add", "replace", "merge"):
                p.partial = self.advance().value.lower()
                p.partial_only = self.accept_word("only")
                if p.partial == "merge":
                    self._merge_args(p)
            elif t.is_keyword("buffer"):
                self.advance()
                if self.at_op("("):
                    self.expr_until(("load", "select", "sql", "mapping"), ())
            elif (
                t.kind in _LABEL_KINDS
                and label is None
                and self.peek().kind is _OP
                and self.peek().value == ":"
            ):
                label = t.value
                self.advance()
                self.advance()
            else:
                break
        if self.at_word("load"):
            ld = self.load_body()
        elif self.at_word("sqltables", "sqlcolumns", "sqltypes"):
            ld = A.Load([A.FieldItem(None, "*")], A.CatalogSource(self.advance().value), is_select=True)
            self.expect_end()
        elif self.at_word("sql", "select"):
            if self.accept_word("sql") and not self.at_word("select"):
                pass
            ld = A.Load([A.FieldItem(None, "*")], A.SelectSource(self.rest_text()), is_select=True)
            self.i = len(self.toks) - 1
        else:
            raise self.error("LOAD or SELECT")
        ld.label = label
        ld.prefixes = p
        return ld

    def load_body(self) -> A.Load:
        self.expect_word("load")
        distinct = self.accept_word("distinct")
        fields = []
        while True:
            if self.at_op("*") and (
                self.peek().kind is _EOF
                or self.peek().kind is _OP
                and self.peek().value in (",", ";")
                or self.peek().is_keyword(*LOAD_CLAUSES)
            ):
                self.advance()
                fields.append(A.FieldItem(None, "*"))
            elif (pos := _FIXED_FIELD.match(self.text, self.tok.start - self.base)) is not None:
                # a fixed-record field by position, @start:end: read as the field named so
                start = self.tok.start
                while self.tok.kind is not _EOF and self.tok.start - self.base < pos.end():
                    self.advance()
                ref = A.Expr(f"[{pos.group(0)}]", start)
                if self.accept_word("as"):
                    fields.append(A.FieldItem(ref, self.name("a field name"), True))
                else:
                    fields.append(A.FieldItem(ref, pos.group(0)))
            else:
                a = self.i
                e = self.expr_until(LOAD_CLAUSES + ("as",), (",",), "a field or expression")
                b = self.i
                if self.accept_word("as"):
                    fields.append(A.FieldItem(e, self.name("a field name"), True))
                else:
                    single = b - a == 1 and self.toks[a].kind in NAME_KINDS
                    fields.append(A.FieldItem(e, self.toks[a].value if single else e.text))
            if not self.accept_op(","):
                break
        ld = A.Load(fields, None, distinct=distinct)
        t = self.tok
        if t.is_keyword("from"):
            self.advance()
            path = self.path()
            ld.source = A.FileSource(path, self.format_spec())
        elif t.kind is _IDENT and t.value.lower() == "inline":
            self.advance()
            if self.tok.kind is not _INLINE:
                raise self.error("'[' after INLINE")
            data = self.advance().value
            ld.source = A.InlineSource(data, self.format_spec())
        elif t.is_keyword("resident"):
            self.advance()
            ld.source = A.ResidentSource(self.name("a table name"))
        elif t.is_keyword("autogenerate"):
            self.advance()
            ld.source = A.AutogenerateSource(self.expr_until(("where", "while"), (";",), "a row count"))
        while not self.at_end():
            if self.accept_word("where"):
                ld.where = self.expr_until(("group", "order", "while"), (";",), "a condition")
            elif self.accept_word("while"):
                ld.while_ = self.expr_until(("group", "order", "where"), (";",), "a condition")
            elif self.accept_word("group"):
                self.expect_word("by")
                ld.group_by.append(self.expr_until(("order", "where"), (",",)))
                while self.accept_op(","):
                    ld.group_by.append(self.expr_until(("order", "where"), (",",)))
            elif self.at_word("order") and isinstance(ld.source, A.ResidentSource):
                self.advance()
                self.expect_word("by")
                while True:
                    e = self.expr_until(("asc", "desc", "group", "where"), (",",))
                    desc = False
                    if self.at_word("asc", "desc"):
                        desc = self.advance().value.lower() == "desc"
                    ld.source.order_by.append((e, desc))
                    if not self.accept_op(","):
                        break
            else:
                raise self.error("WHERE, WHILE, GROUP BY, ORDER BY or ';'")
        return ld

    def format_spec(self) -> A.FormatSpec:
        spec = A.FormatSpec()
        if not self.accept_op("("):
            return spec
        spec.given = True
        while not self.at_op(")"):
            t = self.tok
            if t.kind is _EOF:
                raise self.error("')'")
            w = t.value.lower() if t.kind is _IDENT else ""
            if w in _FORMATS:
                self.advance()
                spec.fmt = "xml" if w == "xmlsimple" else w
            elif w in _ENCODINGS:
                self.advance()
                spec.encoding = _ENCODINGS[w]
            elif w == "codepage":
                self.advance()
                self.expect_word("is")
                cp = self.advance().value
                spec.encoding = _codepage(cp)
            elif w == "delimiter":
                self.advance()
                self.expect_word("is")
                d = self.advance()
                spec.delimiter = _delimiter(d.value)
            elif w in ("embedded", "explicit"):
                self.advance()
                self.expect_word("labels")
                spec.labels = w
                spec.labels_given = True
            elif w == "no":
                self.advance()
                what = self.expect_word("labels", "quotes", "eof").value.lower()
                if what == "labels":
                    spec.labels = "none"
                    spec.labels_given = True
                elif what == "quotes":
                    spec.no_quotes = True
            elif w == "msq":
                self.advance()
                spec.msq = True
            elif w == "header":
                self.advance()
                self.expect_word("is")
                n = self.advance()
                spec.header_lines = int(float(n.value)) if n.kind is _NUMBER else int(n.is_keyword("line"))
                self.accept_word("lines", "line")
            elif w == "record":
                self.advance()
                self.expect_word("is")
                n = self.advance()
                if n.kind is _NUMBER:
                    count = max(1, int(float(n.value)))
                    if self.accept_word("lines", "line"):
                        spec.record_lines = count
                    else:
                        spec.record_chars = count
                elif not n.is_keyword("line"):
                    raise self.error("a record size or LINE")
            elif w == "table":
                self.advance()
                self.expect_word("is")
                spec.table = self.advance().value
            elif w == "comment":
                self.advance()
                self.expect_word("is")
                spec.comment = self.advance().value
            else:
                # record is / filters(...) / other items: skip to the next comma
                depth = 0
                while not (depth == 0 and (self.at_op(",") or self.at_op(")"))):
                    if self.tok.kind is _EOF:
                        raise self.error("')'")
                    if self.at_op("("):
                        depth += 1
                    elif self.at_op(")"):
                        depth -= 1
                    self.advance()
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return spec


def _codepage(cp: str) -> str:
    n = cp.strip()
    return {
        "65001": "utf-8",
        "1200": "utf-16-le",
        "1201": "utf-16-be",
        "28591": "latin-1",
        "20127": "ascii",
    }.get(n, f"cp{n}")


def _delimiter(d: str) -> str:
    if d in ("\\t", "\t") or d.lower() == "tab":
        return "\t"
    if d.lower() == "spaces":
        return " "
    return d[:1] if d else ","


def parse_statement(text: str, base: int = 0) -> A.Statement:
    """Parse the (expanded) text of one statement; raises ScriptSyntaxError with a script offset."""
    p = Parser(text, base)
    st = p.statement()
    if not p.at_end():
        raise p.error("end of statement")
    return st
