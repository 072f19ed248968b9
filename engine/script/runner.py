"""Run a load script: statements in order, control flow, tables, and the resulting DataModel.

Each statement is dollar-expanded, then parsed (:mod:`parser`), then executed here. Control flow
(IF/FOR/DO/SUB/SWITCH) is matched up front on the raw statements so that expansion inside a loop
body happens on every pass, like the engine does; a DO's and a LOOP's condition are expanded and
evaluated again on every pass too.

A reload must stop promptly when cancelled (CancelReload, AbortRequest, ReloadTimeoutSeconds, its
session ending): every statement, every loop pass and every WHILE batch checks the cancel flag, and
long Python loops inside the expression code poll it through ``engine.expr.limits.checkpoint``.
``LOAD ... WHILE`` runs in batches of IterNo values per source row (cost proportional to the rows it
produces, ScriptMaxRows checked per batch), and every statement that multiplies rows (AUTOGENERATE,
JOIN, CROSSTABLE, SubField) predicts its output before materialising it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np

from engine.connectors.columns import Render
from engine.connectors.config import ConnectorSettings
from engine.connectors.secrets import redact_statement
from engine.connectors.state import ScriptConnections
from engine.errors import QixError
from engine.expr import Call, Duals, FieldRef, Locale, Node, UnknownField, UnknownFunction, evaluate
from engine.expr import parse_expression as _parse_expression
from engine.expr.duals import text_ranks
from engine.expr.evaluate import bind_calls, contains_aggregation, row_expanding_calls
from engine.expr.expand import expand as _dollar_expand
from engine.expr.formatting import Texts, interpret_texts
from engine.expr.functions import RowExpansionRequired, subfield_parts
from engine.expr.lexer import ExprSyntaxError
from engine.expr.limits import Cancelled, LimitExceeded, cancellable, check_rows
from engine.expr.objects import NO_TEXT
from engine.expr.parser import parse_tokens
from engine.model.datamodel import DataModel
from engine.model.semantic import SEMANTIC_TAG
from engine.model.symbols import CODE_DTYPE, SymbolTable, encode
from engine.script import ast as A
from engine.script import batches, prefixes
from engine.script.context import Frame, GroupContext, LoadContext, Mapping, ScriptContext
from engine.script.errors import (
    FIELD_NOT_FOUND,
    FILE_NOT_FOUND,
    GENERAL,
    SEMANTIC,
    SYNTAX,
    TABLE_NOT_FOUND,
    WRONG_FORMAT,
    ReloadCancelled,
    ScriptError,
    StatementError,
)
from engine.script.lexer import RawStatement, ScriptSyntaxError, decode_script, line_col, split_statements
from engine.script.loops import tables_to_loosen
from engine.script.parser import parse_statement
from engine.script.paths import Connection, PathPolicy
from engine.script.progress import Progress
from engine.script.selfpeek import LoadingRows, load_rows, peeks_at_itself
from engine.script.sources import read_qvd, write_qvd, write_txt
from engine.script.tables import (
    Column,
    ScriptTable,
    concatenate,
    crosstable,
    distinct_rows,
    join,
    present_values,
    synthetic_keys,
    tables_from_model,
    unify,
)
from engine.script.textfile import TextFormatError, TooManyRows, read_inline, read_text
from engine.script.transforms import fill_empty_cells
from engine.sources import base as source_base
from engine.sources import format_of, parquet
from engine.sources import read as read_source
from engine.sources import text as text_source
from engine.sources.web import WebOptions, fetch

__all__ = [
    "Connection",
    "Progress",
    "ReloadCancelled",
    "ReloadResult",
    "Runner",
    "ScriptEnv",
    "ScriptError",
    "SectionAccessTable",
    "run_script",
]


@dataclass
class ScriptEnv:
    """What a reload may use: where files are, which connections exist, limits, initial variables."""

    document_dir: Path
    connections: dict[str, Connection] = field(default_factory=dict)
    max_rows: int = 50_000_000
    variables: dict[str, str] | None = None
    include_root: Path | None = None
    #: absolute script paths served from another folder (e.g. a container's ``/data`` volume)
    path_aliases: dict[str, Path] = field(default_factory=dict)
    #: plain paths allowed (Qlik's legacy mode); the engine passes False unless ``StandardReload=0``
    legacy_paths: bool = True
    #: where folder connections may point; empty = anywhere (in-process use)
    folder_roots: tuple[Path, ...] = ()
    #: files the engine owns (apps, temp files), never read or written by a script
    engine_owned: Callable[[Path], bool] | None = None
    #: upper bound on statements executed (a runaway loop fails the reload instead of hanging)
    max_statements: int = 1_000_000
    #: web files: allowed at all, timeout, size limit (``AllowWebConnections`` and friends)
    web: WebOptions = field(default_factory=WebOptions)
    #: gRPC connectors; None = the engine's (``engine.connectors.config.current()``)
    connectors: ConnectorSettings | None = None
    #: a partial reload (``DoReload qPartial``): only ADD/REPLACE loads run, over ``initial_tables``
    partial: bool = False
    initial_tables: dict[str, ScriptTable] | None = None
    #: ``EXECUTE`` may start programs (never by default)
    allow_execute: bool = False
    #: ``BINARY name``: another app's (data model, section access table), after the caller's access
    #: checks; None = BINARY is refused
    binary: Callable[[str], tuple[DataModel, AbcMapping[str, Any] | None]] | None = None
    #: the app being reloaded, for DocumentName() / DocumentTitle() / DocumentPath()
    document_name: str = ""
    document_title: str = ""
    document_path: str = ""


@dataclass
class SectionAccessTable:
    """The tables loaded in SECTION ACCESS, kept apart from the data model.

    ``tables`` maps table name → column name → list of values (``str``, or ``None`` for NULL); names
    and values are upper-cased. ``columns``/``nrows`` describe the first table (the usual single
    security table). ``star`` is the symbol set with ``Star is`` (None when not set).
    """

    tables: dict[str, dict[str, list[str | None]]]
    star: str | None = None

    @property
    def columns(self) -> dict[str, list[str | None]]:
        return next(iter(self.tables.values())) if self.tables else {}

    @property
    def nrows(self) -> int:
        cols = self.columns
        return len(next(iter(cols.values()))) if cols else 0


@dataclass
class ReloadResult:
    model: DataModel
    section_access: SectionAccessTable | None
    variables: dict[str, str]
    log: list[str]
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# program structure


#: what a streaming reader handed to ``Runner._text_stream`` returns
_R = TypeVar("_R")

_CONTROL_KIND = re.compile(
    r"\s*(?P<w>end\s*if|end\s*sub|end\s*switch|elseif|else|if|for\s+each|for|next|do|loop|sub|call|switch|case"
    r"|default|exit\s+(?:script|for|do|sub))\b",
    re.I,
)


def _kind(raw: RawStatement) -> str:
    m = _CONTROL_KIND.match(raw.text)
    if not m:
        return "simple"
    w = re.sub(r"\s+", " ", m.group("w").lower())
    if w.startswith("exit"):
        return w.replace(" ", "_")
    if not raw.control and w in (
        "if",
        "for",
        "do",
        "sub",
        "call",
        "switch",
        "case",
        "default",
        "next",
        "loop",
        "else",
    ):
        return "simple"
    return {"end if": "endif", "end sub": "endsub", "end switch": "endswitch", "for each": "for"}.get(w, w)


@dataclass
class Program:
    """Raw statements with their control-flow partners resolved."""

    text: str
    stmts: list[RawStatement]
    kinds: list[str]
    partner: dict[int, int]  # if/elseif/else → next branch; for/do → next/loop …
    chains: dict[int, list[int]] = field(default_factory=dict)  # if → [branches…, endif]; switch → cases
    source_name: str = ""


def build_program(text: str, source_name: str = "") -> Program:
    stmts = split_statements(text)
    kinds = [_kind(s) for s in stmts]
    partner: dict[int, int] = {}
    chains: dict[int, list[int]] = {}
    stack: list[tuple[str, int]] = []

    def fail(i: int, msg: str) -> ScriptSyntaxError:
        return ScriptSyntaxError(msg, stmts[i].start, max(1, len(stmts[i].text.strip())))

    for i, k in enumerate(kinds):
        if k in ("if", "for", "do", "sub", "switch"):
            stack.append((k, i))
            if k in ("if", "switch"):
                chains[i] = []
        elif k in ("elseif", "else"):
            if not stack or stack[-1][0] != "if":
                raise fail(i, f"{k.upper()} without IF")
            chains[stack[-1][1]].append(i)
        elif k in ("case", "default"):
            if not stack or stack[-1][0] != "switch":
                raise fail(i, f"{k.upper()} without SWITCH")
            chains[stack[-1][1]].append(i)
        elif k in ("endif", "next", "loop", "endsub", "endswitch"):
            want = {"endif": "if", "next": "for", "loop": "do", "endsub": "sub", "endswitch": "switch"}[k]
            if not stack or stack[-1][0] != want:
                raise fail(i, f"{stmts[i].text.strip().split()[0].upper()} without {want.upper()}")
            _, start = stack.pop()
            partner[start] = i
            partner[i] = start
            if want in ("if", "switch"):
                chains[start].append(i)
    if stack:
        k, i = stack[-1]
        raise fail(i, f"{k.upper()} is not closed")
    return Program(text, stmts, kinds, partner, chains, source_name)


#: expression trees a reload keeps (see Runner.parse_expr)
_PARSED_MAX = 4096

#: rows one WHILE batch evaluates at most (active source rows × IterNo values per row)
_WHILE_BATCH = 1 << 16


class _ExitScript(Exception):
    pass


class _ExitBlock(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


# ---------------------------------------------------------------------------------------------


_SYSTEM_DEFAULTS = {
    "ThousandSep": ",",
    "DecimalSep": ".",
    "MoneyThousandSep": ",",
    "MoneyDecimalSep": ".",
    "MoneyFormat": "$#,##0.00;-$#,##0.00",
    "TimeFormat": "h:mm:ss TT",
    "DateFormat": "M/D/YYYY",
    "TimestampFormat": "M/D/YYYY h:mm:ss[.fff] TT",
    "ErrorMode": "1",
    "ScriptErrorCount": "0",
    "ScriptErrorList": "",
    "ScriptError": "0",
}
_LOCALE_VARS = {
    v.lower()
    for v in (
        "ThousandSep",
        "DecimalSep",
        "MoneyThousandSep",
        "MoneyDecimalSep",
        "MoneyFormat",
        "TimeFormat",
        "DateFormat",
        "TimestampFormat",
        "FirstWeekDay",
        "BrokenWeeks",
        "ReferenceDay",
        "FirstMonthOfYear",
        "MonthNames",
        "LongMonthNames",
        "DayNames",
        "LongDayNames",
        "IntervalFormat",
    )
}


class Runner:
    """Executes one script; holds all reload state (tables, variables, mappings, section access)."""

    def __init__(
        self, env: ScriptEnv, progress: Progress | None = None, cancel: threading.Event | None = None
    ) -> None:
        self.env = env
        self.progress = progress or Progress()
        self.cancel = cancel
        self.paths = PathPolicy(
            Path(env.document_dir),
            dict(env.connections),
            legacy=env.legacy_paths,
            folder_roots=env.folder_roots,
            engine_owned=env.engine_owned or (lambda _: False),
            aliases=dict(env.path_aliases),
            web_enabled=env.web.enabled,
        )
        self.variables: dict[str, str] = {}
        for k, v in (env.variables or {}).items():
            self.variables[k] = v
        self.locale = Locale.from_variables(self.variables)
        self.tables: dict[str, ScriptTable] = dict(env.initial_tables or {}) if env.partial else {}
        self.partial = env.partial
        self.access_tables: dict[str, ScriptTable] = {}
        self.mappings: dict[str, Mapping] = {}
        self.in_access = False
        self.star: str | None = None
        self.qualify_rules: list[tuple[str, bool]] = []
        self.subs: dict[str, tuple[Program, int, list[str]]] = {}
        self.pending: list[A.Load] = []
        self.last_loaded: str | None = None
        self.counters: dict[str, int] = {}
        self.field_info: dict[str, dict[str, Any]] = {}  # as DataModel.build reads it
        self.log: list[str] = []
        self.warnings: list[str] = []
        self.sources = ScriptConnections(
            env.connections,
            folder_roots=env.folder_roots,
            engine_owned=env.engine_owned,
            settings=env.connectors,
            cancel=cancel,
        )
        self.executed = 0
        self.error_count = 0
        self.aliases: dict[str, str] = {}
        self.binary_access: AbcMapping[str, Any] | None = None
        self.definitions: dict[str, A.Declare] = {}
        self.force_case: str | None = None
        self.field_maps: list[tuple[str, str | None]] = []  # (pattern, mapping name or None = unmap)
        self.null_rules: list[tuple[str, bool]] = []  # (pattern, NULL as value?)
        self.loose: list[str] = []  # LOOSEN TABLE, by current table name
        self.search_rules: list[tuple[str, bool]] = []  # (pattern, include?), last match wins
        self._current: tuple[Program, RawStatement] | None = None
        self._parsed: dict[str, Node] = {}  # expression text → tree (see parse_expr)
        self.loading_rows: LoadingRows | None = None  # a record-by-record LOAD's rows, for Peek()

    # --- helpers used by contexts -------------------------------------------------------------
    def domain(self) -> dict[str, ScriptTable]:
        return self.access_tables if self.in_access else self.tables

    def lookup_table(self, name: str | None) -> ScriptTable | None:
        if name is None:
            return None
        return self.tables.get(name) or self.access_tables.get(name)

    def last_table(self) -> ScriptTable | None:
        return self.lookup_table(self.last_loaded)

    def field_symbols(self, name: str | None) -> SymbolTable | None:
        """The values loaded into a field so far (Exists, FieldValue, FieldValueCount): those some row
        holds, not values of source rows a WHERE dropped."""
        cols = [
            present_values(t.columns[name])
            for t in list(self.tables.values()) + list(self.access_tables.values())
            if name in t.columns
        ]
        if not cols:
            return None
        sym, _ = unify(cols)
        return sym

    def field_values(self, name: str | None) -> tuple[np.ndarray, np.ndarray]:
        sym = self.field_symbols(name)
        if sym is None:
            return np.empty(0), np.empty(0, dtype=object)
        return sym.num[~np.isnan(sym.num)], sym.text[np.isnan(sym.num)]

    def interpret(self, texts: Texts) -> np.ndarray:
        return interpret_texts(texts, self.locale)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ReloadCancelled("Reload cancelled")

    def count_statement(self, prog: Program, raw: RawStatement) -> None:
        """One more statement (or loop pass) executed: cancel and ``max_statements`` are checked."""
        self.check_cancel()
        self.executed += 1
        if self.executed > self.env.max_statements:
            raise self.error(
                prog,
                raw,
                StatementError(
                    f"More than {self.env.max_statements} statements executed (runaway loop?)", GENERAL
                ),
            )

    # --- expressions --------------------------------------------------------------------------
    def parse_expr(self, e: A.Expr | None) -> Node:
        """The expression's tree: from the statement's own tokens when it has them, remembered by text
        (one tokenizer: the same text always gives the same tokens), so a loop body parses once."""
        assert e is not None, "an optional clause parsed where the statement has none"
        node = self._parsed.get(e.text)
        if node is not None:
            return node
        try:
            node = _parse_expression(e.text) if e.tokens is None else parse_tokens(e.text, e.tokens, e.pos)
        except ExprSyntaxError as err:
            raise ScriptSyntaxError(err.message, e.pos + max(0, err.position)) from err
        if len(self._parsed) >= _PARSED_MAX:
            self._parsed.clear()
        self._parsed[e.text] = node
        return node

    def eval_scalar(self, e: A.Expr) -> Duals:
        return self.eval_node(self.parse_expr(e), ScriptContext(self))

    def eval_node(self, node: Node, ctx: ScriptContext) -> Duals:
        try:
            return evaluate(node, ctx)
        except Cancelled as err:
            raise ReloadCancelled("Reload cancelled") from err
        except LimitExceeded as err:
            raise StatementError(err.message, GENERAL) from err
        except UnknownField as err:
            raise StatementError(f"Field '{err.name}' not found", FIELD_NOT_FOUND) from err
        except UnknownFunction as err:
            raise StatementError(f"Unknown function: {err.name}", SYNTAX) from err
        except RowExpansionRequired as err:
            raise StatementError(
                f"{err.name} without an index can only be a whole LOAD field", SEMANTIC
            ) from err
        except QixError as err:
            raise StatementError(
                err.message if not err.parameter else f"{err.message}: {err.parameter}", GENERAL
            ) from err

    def scalar_text(self, e: A.Expr) -> str | None:
        d = self.eval_scalar(e)
        return d.display_text()[0] if len(d) else None

    def truth(self, e: A.Expr | None) -> bool:
        assert e is not None, "a condition asked of a statement without one"
        return bool(self.eval_scalar(e).truthy()[0])

    def expand(self, text: str) -> str:
        if "$(" not in text:
            return text

        def evaluate_expression(src: str) -> str:
            d = self.eval_node(_parse_expression(src), ScriptContext(self))
            t = d.display_text()[0] if len(d) else None
            return "" if t is None else t

        try:
            return _dollar_expand(text, self.variables.get, evaluate_expression, locale=self.locale)
        except ExprSyntaxError as err:
            raise StatementError(f"Error in dollar expansion: {err.message}", SYNTAX) from err

    def set_variable(self, name: str, value: str | None) -> None:
        if value is None:
            self.variables.pop(name, None)
        else:
            self.variables[name] = value
        if name.lower() in _LOCALE_VARS:
            self.locale = Locale.from_variables(self.variables)

    # --- running ------------------------------------------------------------------------------
    def run(self, script: str) -> ReloadResult:
        text = decode_script(script)
        try:
            program = build_program(text)
        except ScriptSyntaxError as err:
            line, col = line_col(text, err.pos)
            self._fail_log(f"Syntax error: {err.message}")
            raise ScriptError(
                f"Syntax error: {err.message}", line, col, _line_text(text, err.pos), SYNTAX
            ) from err
        try:
            with cancellable(self.cancel):
                self.run_program(program, 0, len(program.stmts))
        except _ExitScript:
            self.log.append("Execution finished. (EXIT SCRIPT)")
        except ScriptError as err:
            self._fail_log(err.message)
            raise
        except ReloadCancelled:
            self._fail_log("Reload cancelled")
            raise
        finally:
            self.sources.close()
        return self.finish()

    def _fail_log(self, message: str) -> None:
        self.log.append(f"Error: {message}")
        self.log.append("Execution Failed")
        self.log.append("Execution finished.")
        self.progress.message(f"Error: {message}")

    def run_program(self, prog: Program, start: int, stop: int) -> None:
        """Execute statements ``start`` .. ``stop - 1`` of ``prog`` (a block body)."""
        pc = start
        while pc < stop:
            self.count_statement(prog, prog.stmts[pc])
            pc = self.step(prog, pc)

    def error(self, prog: Program, raw: RawStatement, err: Exception) -> ScriptError:
        if isinstance(err, ScriptSyntaxError):
            pos = err.pos if raw.start <= err.pos <= raw.end else raw.start
            line, col = line_col(prog.text, pos)
            return ScriptError(f"Syntax error: {err.message}", line, col, raw.text.strip(), SYNTAX)
        line, col = line_col(prog.text, raw.start)
        msg = getattr(err, "message", str(err))
        code = getattr(err, "code", GENERAL)
        return ScriptError(msg, line, col, redact_statement(raw.text.strip()), code)

    def parse(self, prog: Program, raw: RawStatement) -> A.Statement:
        return self._parse_expanded(raw, self.expand(raw.text) if "$(" in raw.text else raw.text)

    def _parse_expanded(self, raw: RawStatement, text: str) -> A.Statement:
        if text != raw.text:
            # positions inside an expanded statement cannot map back: report the statement start
            try:
                return parse_statement(text, raw.start)
            except ScriptSyntaxError as err:
                raise ScriptSyntaxError(err.message, raw.start) from err
        return parse_statement(text, raw.start)

    def _expanded_statements(self, raw: RawStatement) -> list[A.Statement]:
        """A regular statement after dollar expansion: one statement, or several when the expansion put
        a ``;`` in it (a variable holding ``;LOAD ... AUTOGENERATE n`` completes a preceding LOAD).
        TRACE, SET and LET keep their text whole."""
        text = self.expand(raw.text) if "$(" in raw.text else raw.text
        if text == raw.text or ";" not in text or _TEXT_STATEMENT.match(raw.text):
            return [self._parse_expanded(raw, text)]
        return [self._parse_expanded(raw, piece.text) for piece in split_statements(text)]

    def step(self, prog: Program, pc: int) -> int:
        raw = prog.stmts[pc]
        kind = prog.kinds[pc]
        self._current = (prog, raw)
        shown = redact_statement(raw.text)  # CONNECT statements may carry credentials
        self.progress.statement(shown.strip()[:200])
        line, _ = line_col(prog.text, raw.start)
        for k, ln in enumerate(shown.strip("\n").split("\n")):
            if ln.strip():
                self.log.append(f"{line + k:04d} {ln.rstrip()}")
        try:
            if kind == "simple" and _is_include(raw.text):
                self.include(raw.text)
                return pc + 1
            if kind == "simple":
                *first, st = self._expanded_statements(raw)
                for piece in first:
                    self.simple(piece)
            else:
                st = self.parse(prog, raw)
            nxt = self.execute(prog, pc, st)
            if self.error_count and self.variables.get("ScriptError") != "0":
                self.variables["ScriptError"] = "0"  # reset after each statement that succeeds
            return nxt
        except Cancelled as err:
            raise self._cancelled(prog, raw) from err
        except ReloadCancelled as err:
            if not err.line:
                raise self._cancelled(prog, raw) from err
            raise
        except (_ExitScript, _ExitBlock, ScriptError):
            raise
        except (StatementError, ScriptSyntaxError, TooManyRows, TextFormatError, LimitExceeded) as err:
            if isinstance(err, LimitExceeded):
                err = StatementError(err.message, GENERAL)
            elif isinstance(err, TooManyRows):
                err = StatementError(f"Row limit exceeded: {err}", GENERAL)
            elif isinstance(err, TextFormatError):
                err = StatementError(str(err), WRONG_FORMAT)
            if self._error_mode() == 0 and not isinstance(err, ScriptSyntaxError):
                self.error_count += 1
                self.set_variable("ScriptErrorCount", str(self.error_count))
                self.set_variable("ScriptError", str(getattr(err, "code", GENERAL)))
                message = getattr(err, "message", str(err))
                listed = self.variables.get("ScriptErrorList") or ""
                self.set_variable("ScriptErrorList", f"{listed}\n{message}" if listed else message)
                self.warnings.append(message)
                return pc + 1
            raise self.error(prog, raw, err) from err

    def _cancelled(self, prog: Program, raw: RawStatement) -> ReloadCancelled:
        """The cancellation, marked with the statement it stopped (the innermost one running)."""
        line, _ = line_col(prog.text, raw.start)
        return ReloadCancelled("Reload cancelled", line, raw.text.strip())

    def _error_mode(self) -> int:
        try:
            return int(float(self.variables.get("ErrorMode", "1")))
        except ValueError:
            return 1

    def include(self, text: str) -> None:
        m = re.match(r"\s*\$\((must_)?include\s*=\s*(.*)\)\s*;?\s*$", text, re.I | re.S)
        assert m is not None  # the parser made an Include of this text
        must = bool(m.group(1))
        path = self.expand(m.group(2).strip())
        try:
            if self.env.include_root is not None and not path.lower().startswith("lib://"):
                target = dataclasses.replace(self.paths, document_dir=self.env.include_root).resolve(path)
                data = target.read_bytes()
            else:
                data, _ = self.paths.read_bytes(path)
        except (StatementError, OSError):
            if must:
                raise StatementError(f"Cannot open include file '{path}'", FILE_NOT_FOUND) from None
            self.warnings.append(f"Include file '{path}' not found")
            return
        sub = build_program(decode_script(data), path)
        self.run_program(sub, 0, len(sub.stmts))

    # --- control flow -------------------------------------------------------------------------
    def execute(self, prog: Program, pc: int, st: A.Statement) -> int:
        if isinstance(st, A.If):
            chain = prog.chains[pc]
            end = chain[-1]
            if self.truth(st.cond):
                self.run_block(prog, pc + 1, chain[0])
                return end + 1
            for j, b in enumerate(chain[:-1]):
                bst = self.parse(prog, prog.stmts[b])
                assert isinstance(bst, A.ElseIf | A.Else)  # the IF's chain holds its ELSEIF and ELSE lines
                if isinstance(bst, A.Else) or self.truth(bst.cond):
                    self.run_block(prog, b + 1, chain[j + 1])
                    return end + 1
            return end + 1
        if isinstance(st, A.For | A.ForEach):
            return self.run_for(prog, pc, st)
        if isinstance(st, A.Do):
            return self.run_do(prog, pc, st)
        if isinstance(st, A.Sub):
            end = prog.partner[pc]
            self.subs[st.name.lower()] = (prog, pc, st.params)
            return end + 1
        if isinstance(st, A.Call):
            self.call(st)
            return pc + 1
        if isinstance(st, A.Switch):
            return self.run_switch(prog, pc, st)
        if isinstance(st, A.ExitBlock):
            if not st.mode or self.truth(st.cond) == (st.mode == "when"):
                raise _ExitBlock(st.kind)
            return pc + 1
        if isinstance(st, A.ExitScript):
            if not st.mode or self.truth(st.cond) == (st.mode == "when"):
                raise _ExitScript()
            return pc + 1
        if isinstance(
            st, A.ElseIf | A.Else | A.EndIf | A.Next | A.Loop | A.EndSub | A.Case | A.Default | A.EndSwitch
        ):
            raise StatementError("Control statement out of place", SYNTAX)
        self.simple(st)
        return pc + 1

    def run_block(self, prog: Program, start: int, stop: int) -> None:
        self.run_program(prog, start, stop)

    def run_for(self, prog: Program, pc: int, st: A.For | A.ForEach) -> int:
        end = prog.partner[pc]
        if isinstance(st, A.ForEach):
            values: list[str] = []
            for item in st.items:
                values.extend(self.for_each_values(item))
            seq = iter(values)
        else:
            # the bounds are evaluated once; the counter is read back after each pass, so a body that
            # changes it moves the loop (as the engine documents)
            a = _num(self.eval_scalar(st.start))
            b = _num(self.eval_scalar(st.stop))
            s = _num(self.eval_scalar(st.step)) if st.step else 1.0
            if np.isnan(a) or np.isnan(b) or np.isnan(s) or s == 0:
                raise StatementError("FOR needs numeric bounds and a non-zero STEP", GENERAL)

            def gen() -> Iterator[str]:
                x = a
                while (x <= b) if s > 0 else (x >= b):
                    yield _fmt_num(x)
                    now = self.variables.get(st.var)
                    y = float(self.interpret(np.array([now], dtype=object))[0]) if now is not None else np.nan
                    x = (x if np.isnan(y) else y) + s

            seq = gen()
        for value in seq:
            self.check_cancel()
            self.set_variable(st.var, value)
            try:
                self.run_program(prog, pc + 1, end)
            except _ExitBlock as ex:
                if ex.kind == "for":
                    break
                raise
        return end + 1

    def for_each_values(self, item: A.Expr) -> list[str]:
        node = self.parse_expr(item)
        if isinstance(node, Call) and node.name in ("FILELIST", "DIRLIST"):
            mask = self.scalar_text(A.Expr(_unparse_arg(item.text), item.pos)) or ""
            return self.file_list(mask, node.name == "DIRLIST")
        if isinstance(node, Call) and node.name == "FIELDVALUELIST":
            fname = self.eval_node(node.args[0], ScriptContext(self)).display_text()[0]
            sym = self.field_symbols(fname)
            return [] if sym is None else [str(t) for t in sym.text]
        d = self.eval_node(node, ScriptContext(self))
        t = d.display_text()[0] if len(d) else None
        return [] if t is None else [t]

    def file_list(self, mask: str, dirs: bool) -> list[str]:
        folder, _, pattern = mask.replace("\\", "/").rpartition("/")
        base = self.paths.resolve(folder + "/" if folder else ".")
        out = []
        for p in sorted(base.iterdir()) if base.is_dir() else []:
            if p.is_dir() == dirs and fnmatch.fnmatchcase(p.name, pattern or "*"):
                out.append(f"{folder}/{p.name}" if folder else p.name)
        return out

    def run_do(self, prog: Program, pc: int, st: A.Do) -> int:
        end = prog.partner[pc]
        do_raw, loop_raw = prog.stmts[pc], prog.stmts[end]
        passes = 0
        while True:
            self.check_cancel()
            passes += 1
            if passes > self.env.max_statements:  # an empty body runs no statement to count
                raise StatementError(f"DO loop did not end within {self.env.max_statements} passes", GENERAL)
            if passes > 1 and st.mode and "$(" in do_raw.text:
                # the condition's dollar signs are expanded again on every pass: DO WHILE $(i) < 3
                # sees the new i
                again = self.parse(prog, do_raw)
                assert isinstance(again, A.Do)
                st = again
            if st.mode and self.truth(st.cond) != (st.mode == "while"):
                break
            try:
                self.run_program(prog, pc + 1, end)
            except _ExitBlock as ex:
                if ex.kind == "do":
                    break
                raise
            lp = self.parse(prog, loop_raw)
            assert isinstance(lp, A.Loop)
            if lp.mode and self.truth(lp.cond) != (lp.mode == "while"):
                break
        return end + 1

    def call(self, st: A.Call) -> None:
        target = self.subs.get(st.name.lower())
        if target is None:
            raise StatementError(f"Unknown subroutine: {st.name}", SEMANTIC)
        prog, start, params = target
        values = []
        for a in st.args:
            values.append(self.scalar_text(a))
        # an argument that is a variable gets the parameter's value back when the sub ends
        back = {
            p: a.text.strip()
            for p, a in zip(params, st.args, strict=False)
            if re.fullmatch(r"[^\W\d][\w.]*", a.text.strip()) and a.text.strip() in self.variables
        }
        saved = {p: self.variables.get(p) for p in params}
        for p, v in zip(params, values, strict=False):
            self.set_variable(p, "" if v is None else v)
        for p in params[len(values) :]:
            self.set_variable(p, None)
        try:
            self.run_program(prog, start + 1, prog.partner[start])
        except _ExitBlock as ex:
            if ex.kind != "sub":
                raise
        finally:
            out = {p: self.variables.get(p) for p in back}
            for p, v in saved.items():
                self.set_variable(p, v)
            for p, var in back.items():
                self.set_variable(var, out[p])

    def run_switch(self, prog: Program, pc: int, st: A.Switch) -> int:
        chain = prog.chains[pc]
        end = chain[-1]
        value = self.eval_scalar(st.expr)
        for j, b in enumerate(chain[:-1]):
            cst = self.parse(prog, prog.stmts[b])
            assert isinstance(cst, A.Case | A.Default)  # the SWITCH's chain holds its CASE and DEFAULT lines
            if isinstance(cst, A.Default) or any(_same(value, self.eval_scalar(v)) for v in cst.values):
                self.run_block(prog, b + 1, chain[j + 1])
                break
        return end + 1

    # --- regular statements -------------------------------------------------------------------
    def simple(self, st: A.Statement) -> None:
        if isinstance(st, A.Load):
            if st.source is None:
                self.pending.append(st)
                return
            chain = self.pending + [st]
            self.pending = []
            self.load(chain)
            return
        if self.pending:
            raise StatementError("A preceding LOAD must be followed by a LOAD or SELECT", SYNTAX)
        handler = getattr(self, f"do_{type(st).__name__.lower()}")
        handler(st)

    def do_setvar(self, st: A.SetVar) -> None:
        self.set_variable(st.name, st.value if st.value != "" else None)

    def do_letvar(self, st: A.LetVar) -> None:
        if st.expr is None:
            self.set_variable(st.name, None)
            return
        d = self.eval_scalar(st.expr)
        t = d.display_text()[0] if len(d) else None
        self.set_variable(st.name, t)

    def do_trace(self, st: A.Trace) -> None:
        self.log.append(st.text)
        self.progress.message(st.text)

    def do_droptables(self, st: A.DropTables) -> None:
        for name in st.names:
            if name in self.tables:
                del self.tables[name]
            elif name in self.access_tables:
                del self.access_tables[name]
            elif name in self.mappings:
                del self.mappings[name]
            else:
                raise StatementError(f"Table '{name}' not found", TABLE_NOT_FOUND)
            if self.last_loaded == name:
                self.last_loaded = next(reversed(self.tables), None) if self.tables else None

    def do_dropfields(self, st: A.DropFields) -> None:
        targets = []
        for t in st.tables:
            tab = self.lookup_table(t)
            if tab is None:
                raise StatementError(f"Table '{t}' not found", TABLE_NOT_FOUND)
            targets.append(tab)
        if not targets:
            targets = list(self.domain().values())
        for f in st.names:
            found = False
            for tab in targets:
                if f in tab.columns:
                    del tab.columns[f]
                    found = True
            if not found:
                raise StatementError(f"Field '{f}' not found", FIELD_NOT_FOUND)
        for name in [n for n, t in self.domain().items() if not t.columns]:
            del self.domain()[name]

    def do_rename(self, st: A.Rename) -> None:
        pairs = st.pairs
        if st.using:
            m = self.mappings.get(st.using)
            if m is None:
                raise StatementError(f"Mapping table not found: {st.using}", TABLE_NOT_FOUND)
            knum, ktext = m.keys.values()
            vnum, vtext = m.values.values()
            pairs = [(k, v) for k, v in zip(ktext, vtext, strict=True) if k is not None and v is not None]
        if st.what == "table":
            for old, new in pairs:
                dom = self.tables if old in self.tables else self.access_tables
                if old not in dom:
                    if st.using:
                        continue
                    raise StatementError(f"Table '{old}' not found", TABLE_NOT_FOUND)
                if new in dom and new != old:
                    raise StatementError(f"Table '{new}' already exists", SEMANTIC)
                self._rename_table(dom, old, new)
            return
        for old, new in pairs:
            for t in self.domain().values():
                if old in t.columns:
                    if new in t.columns and new != old:
                        raise StatementError(f"Field '{new}' already exists in table '{t.name}'", SEMANTIC)
                    t.columns = {(new if k == old else k): v for k, v in t.columns.items()}

    def _rename_table(self, dom: dict[str, ScriptTable], old: str, new: str) -> None:
        self.loose = [new if t == old else t for t in self.loose]
        items = [(new if k == old else k, v) for k, v in dom.items()]
        dom.clear()
        dom.update(items)
        dom[new].name = new
        if self.last_loaded == old:
            self.last_loaded = new

    def do_qualify(self, st: A.Qualify) -> None:
        for p in st.patterns:
            self.qualify_rules.append((p, st.on))

    def do_section(self, st: A.Section) -> None:
        self.in_access = st.access

    def do_staris(self, st: A.StarIs) -> None:
        self.star = st.symbol

    def _map_pairs(self, name: str) -> list[tuple[str, str]]:
        m = self.mappings.get(name)
        if m is None:
            raise StatementError(f"Mapping table not found: {name}", TABLE_NOT_FOUND)
        _, ktext = m.keys.values()
        _, vtext = m.values.values()
        return [
            (str(k), str(v)) for k, v in zip(ktext, vtext, strict=True) if k is not None and v is not None
        ]

    def do_comment(self, st: A.Comment) -> None:
        if st.using is not None:
            for name, text in self._map_pairs(st.using):
                if st.what == "field":
                    self.field_info.setdefault(name, {})["comment"] = text
                elif (t := self.lookup_table(name)) is not None:
                    t.comment = text
            return
        assert st.text is not None
        raw = st.text.text.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            text = raw[1:-1]  # a double-quoted comment is plain text here, not a field
        else:
            text = self.scalar_text(st.text) or ""
        for n in st.names:
            if st.what == "field":
                self.field_info.setdefault(n, {})["comment"] = text
            else:
                t = self.lookup_table(n)
                if t is None:
                    raise StatementError(f"Table '{n}' not found", TABLE_NOT_FOUND)
                t.comment = text

    def do_tag(self, st: A.Tag) -> None:
        if st.using is not None:
            for name, tag in self._map_pairs(st.using):
                self.do_tag(A.Tag([name], [A.Expr("'" + tag.replace("'", "''") + "'", 0)], st.untag))
            return
        tags = [self.scalar_text(t) or "" for t in st.tags]
        for n in st.names:
            info = self.field_info.setdefault(n, {})
            cur = list(info.get("tags", []))
            if st.untag:
                cur = [t for t in cur if t not in tags]
            else:
                cur += [t for t in tags if t not in cur]
            info["tags"] = cur

    def do_store(self, st: A.Store) -> None:
        t = self.lookup_table(st.table)
        if t is None:
            raise StatementError(f"Table '{st.table}' not found", TABLE_NOT_FOUND)
        fields = st.fields or [(f, f) for f in t.columns]
        for src, _ in fields:
            if src not in t.columns:
                raise StatementError(f"Field '{src}' not found", FIELD_NOT_FOUND)
        target = self.paths.resolve(st.path)
        if not target.parent.is_dir():
            raise StatementError(f"Cannot write file '{st.path}': folder does not exist", FILE_NOT_FOUND)
        if st.fmt == "qvd":
            write_qvd(target, t, fields)
        elif st.fmt in ("txt", "csv"):
            write_txt(target, t, fields, delimiter=st.spec.delimiter or ",")
        elif st.fmt == "parquet":
            cols = [(t.columns[src].symbols, t.columns[src].codes) for src, _ in fields]
            try:
                parquet.write(target, [out for _, out in fields], cols, self.locale)
            except source_base.SourceError as err:
                raise StatementError(err.message, err.code) from err
        else:
            raise StatementError(f"STORE format '{st.fmt}' is not supported", WRONG_FORMAT)

    def do_connect(self, st: A.Connect) -> None:
        self.sources.connect(st.kind, st.name)

    def do_disconnect(self, st: A.Disconnect) -> None:
        self.sources.disconnect()

    def do_sleep(self, st: A.Sleep) -> None:
        """Pause for the given milliseconds (at most 3600000, as the reference allows); a cancel ends
        the pause at once."""
        ms = _num(self.eval_scalar(st.ms))
        if np.isnan(ms) or not 0 <= ms <= 3_600_000:
            raise StatementError("SLEEP needs a number of milliseconds from 0 to 3600000", GENERAL)
        waiter = self.cancel or threading.Event()
        if waiter.wait(ms / 1000.0):
            raise ReloadCancelled("Reload cancelled")

    def do_ignored(self, st: A.Ignored) -> None:
        self.warnings.append(f"Statement {st.keyword} is not supported and was skipped")

    def do_autonumberfields(self, st: A.AutoNumberFields) -> None:
        """Each named field's values are replaced by 1, 2, … in order of first appearance over the tables
        in load order; fields under one ``Using`` name share one counter."""
        names: list[str] = []
        for t in self.tables.values():
            for f in t.columns:
                if f not in names and any(fnmatch.fnmatchcase(f, p) for p in st.patterns):
                    names.append(f)
        shared: dict[tuple[float | None, str | None], int] = {}
        for f in names:
            holders = [t for t in self.tables.values() if f in t.columns]
            sym, codes = unify([t.columns[f] for t in holders])
            seen = np.concatenate(codes) if codes else np.empty(0, dtype=np.int64)
            seen = seen[seen >= 0]
            _, first = np.unique(seen, return_index=True)
            order = seen[np.sort(first)]  # symbol codes in order of first appearance
            number = np.full(len(sym) + 1, np.nan)  # the last slot answers code -1 (NULL)
            if st.namespace is None:
                number[order] = np.arange(1, len(order) + 1)
            else:
                for c in order.tolist():
                    isnum = bool(sym.num[c] == sym.num[c])
                    key = (float(sym.num[c]) if isnum else None, None if isnum else str(sym.text[c]))
                    number[c] = shared.setdefault(key, len(shared) + 1)
            for t, c in zip(holders, codes, strict=True):
                vals = number.take(c)
                nsym, ncodes = encode(vals, np.full(len(vals), None, dtype=object))
                t.columns[f] = Column(nsym, ncodes)

    # --- statements that change how later loads store fields ---------------------------------
    def do_nullas(self, st: A.NullAs) -> None:
        self.null_rules += [(pat, st.value) for pat in st.patterns]

    def do_alias(self, st: A.Alias) -> None:
        self.aliases.update(st.pairs)

    def do_mapusing(self, st: A.MapUsing) -> None:
        if st.mapping is not None and st.mapping not in self.mappings:
            raise StatementError(f"Mapping table not found: {st.mapping}", TABLE_NOT_FOUND)
        if st.mapping is None and "*" in st.patterns:
            self.field_maps = []
            return
        self.field_maps += [(pat, st.mapping) for pat in st.patterns]

    def do_force(self, st: A.Force) -> None:
        self.force_case = None if st.mode == "mixed" else st.mode

    def do_directory(self, st: A.Directory) -> None:
        base = Path(self.env.document_dir)
        if st.path is not None:
            base = self.paths.resolve(st.path)
            if not base.is_dir():
                raise StatementError(f"Directory '{st.path}' not found", FILE_NOT_FOUND)
        self.paths = dataclasses.replace(self.paths, document_dir=base)

    def do_execute(self, st: A.Execute) -> None:
        if not self.env.allow_execute:
            raise StatementError(
                "EXECUTE is not allowed: running programs from a script is switched off on this engine",
                GENERAL,
            )
        import shlex
        import subprocess

        try:
            done = subprocess.run(
                shlex.split(st.command), shell=False, capture_output=True, timeout=600, check=False
            )
        except (OSError, ValueError, subprocess.TimeoutExpired) as err:
            raise StatementError(f"EXECUTE failed: {err}", GENERAL) from err
        if done.returncode:
            raise StatementError(f"EXECUTE ended with exit code {done.returncode}", GENERAL)

    def do_binary(self, st: A.Binary) -> None:
        """Start from another app's tables, field comments and tags and section access; the loader the
        engine passes checks the user's access to that app (as OpenDoc would) before handing it over."""
        if self.executed != 1 or self.tables or self.access_tables:
            raise StatementError("BINARY must be the first statement of the script", SYNTAX)
        if self.env.binary is None:
            raise StatementError("BINARY is not available here (no app store)", GENERAL)
        name = PurePosixPath(st.name.replace("\\", "/")).name
        try:
            model, access = self.env.binary(name)
        except QixError as err:
            raise StatementError(f"BINARY '{st.name}': {err.message}", FILE_NOT_FOUND) from err
        self.tables = tables_from_model(model)
        for fname, f in model.fields.items():
            tags = [t for t in f.tags if not t.startswith("$")]
            if f.comment or tags:
                self.field_info[fname] = {"comment": f.comment, "tags": tags}
        self.binary_access = access
        self.last_loaded = next(reversed(self.tables), None)

    def do_declare(self, st: A.Declare) -> None:
        name = st.name
        if not name:
            raise StatementError("DECLARE FIELD DEFINITION needs a name (name: DECLARE ...)", SYNTAX)
        if st.using is not None:
            base = self.definitions.get(st.using)
            if base is None:
                raise StatementError(f"Field definition '{st.using}' not found", SEMANTIC)
            given = {p for p, _ in st.parameters}
            params = [(p, e) for p, e in base.parameters if p not in given] + list(st.parameters)
            st = A.Declare(name, base.tags, params, base.fields)
        self.definitions[name] = st

    def do_derive(self, st: A.Derive) -> None:
        """Fields derived from each source field by a declared definition, named ``field.def.name``: a table
        ``field.def`` holds the source field's distinct values and the derived fields, linked through it."""
        d = self.definitions.get(st.definition)
        if d is None:
            raise StatementError(f"Field definition '{st.definition}' not found", SEMANTIC)
        sources = list(st.fields)
        if st.tags is not None:
            wanted = set(st.tags or d.tags)
            sources = [
                f
                for f, info in self.field_info.items()
                if wanted & set(info.get("tags", [])) and self.field_symbols(f) is not None
            ]
        params = [(name, f"({self.scalar_text(e) or ''})") for name, e in d.parameters]
        for f in sources:
            sym = self.field_symbols(f)
            if sym is None:
                raise StatementError(f"Field '{f}' not found", FIELD_NOT_FOUND)
            base = Column(sym, np.arange(len(sym), dtype=CODE_DTYPE))
            frame = Frame({f: base}, len(sym))
            ref = "[" + f.replace("]", "]]") + "]"
            cols = {f: base}
            for df in d.fields:
                text = df.expr.text.replace("$1", ref)
                for pname, pval in params:
                    text = re.sub(rf"\b{re.escape(pname)}\b", pval, text)
                col = _to_column(
                    self.eval_node(self.parse_expr(A.Expr(text, df.expr.pos)), LoadContext(self, frame))
                )
                out = f"{f}.{st.definition}.{df.name}"
                cols[out] = col
                info = self.field_info.setdefault(out, {})
                info["tags"] = list(dict.fromkeys(list(info.get("tags", [])) + df.tags + ["$derived"]))
            name = self._unique_table_name(f"{f}.{st.definition}", self.tables)
            self.tables[name] = ScriptTable(name, cols, len(sym))

    def do_loosen(self, st: A.Loosen) -> None:
        for name in st.tables:
            if name not in self.tables:
                raise StatementError(f"Table '{name}' not found", TABLE_NOT_FOUND)
            if name not in self.loose:
                self.loose.append(name)

    def do_searchrule(self, st: A.SearchRule) -> None:
        self.search_rules += [(pat, st.include) for pat in st.patterns]

    def do_conditional(self, st: A.Conditional) -> None:
        if self.truth(st.cond) == (st.mode == "when"):
            self.simple(st.statement)

    def do_unsupported(self, st: A.Unsupported) -> None:
        raise StatementError(f"The {st.keyword} statement is not supported by this engine", SYNTAX)

    def _rule(self, rules: Sequence[tuple[str, object]], name: str) -> object:
        """The last rule whose pattern matches ``name`` (None when none does)."""
        found = None
        for pat, value in rules:
            if pat == "*" or fnmatch.fnmatchcase(name, pat):
                found = (value,)
        return None if found is None else found[0]

    def field_rules(self, names: list[str], cols: list[Column]) -> tuple[list[str], list[Column]]:
        """ALIAS, FORCE CASE, MAP … USING and NULLASVALUE applied to a table being stored."""
        if not (self.aliases or self.force_case or self.field_maps or self.null_rules):
            return names, cols
        names = [self.aliases.get(nm, nm) for nm in names]
        out = []
        for nm, c in zip(names, cols, strict=True):
            if self.force_case:
                num, text = c.values()
                fn = {"upper": str.upper, "lower": str.lower, "capitalization": str.title}[self.force_case]
                text = np.array([t if t is None else fn(str(t)) for t in text], dtype=object)
                c = Column.from_values(num, text)
            m = self._rule(self.field_maps, nm)
            if isinstance(m, str) and m in self.mappings:
                num, text = c.values()
                d = Duals(num, text)
                c = _to_column(self.mappings[m].apply(d, d))
            if self._rule(self.null_rules, nm) is True and (c.codes < 0).any():
                null_text = self.variables.get("NullValue")
                if null_text is None:
                    null_text = ""
                num, text = c.values()
                isnull = c.codes < 0
                text = np.where(isnull, null_text, text).astype(object)
                c = Column.from_values(num, text)
            out.append(c)
        return names, out

    def do_include(self, st: A.Include) -> None:
        self.include(f"$({'Must_' if st.must else ''}Include={st.path})")

    # --- LOAD ---------------------------------------------------------------------------------
    def load(self, chain: list[A.Load]) -> None:
        top, bottom = chain[0], chain[-1]
        mode = top.prefixes.partial
        if (mode is None and self.partial) or (top.prefixes.partial_only and not self.partial):
            # a partial reload runs only ADD/REPLACE loads; ADD ONLY/REPLACE ONLY run only then
            self.log.append(
                "Statement skipped (partial reload)"
                if self.partial
                else "Statement skipped (runs only in a partial reload)"
            )
            return
        if (
            isinstance(bottom.source, A.FileSource)
            and _WILDCARD.search(_file_part(bottom.source.path))
            and self.paths.web_url(bottom.source.path) is None  # a URL's '?' starts its query
        ):
            self.load_each_file(chain)
            return
        fills = bottom.source.spec.fills if isinstance(bottom.source, A.FileSource) else ()
        row_by_row = peeks_at_itself(self, chain)  # Peek() at the rows being loaded
        # batches know no filters() steps, nor the rows an earlier batch made
        streamed = None if fills or row_by_row else self.load_streamed(chain)
        if isinstance(streamed, tuple):
            self.store_result(top, *streamed)
            return
        frame, default_name = self.source_frame(bottom, stream=streamed is None)
        if fills:
            frame = fill_empty_cells(frame, fills)
        names: list[str] = []
        cols: list[Column] = []
        n = 0
        if row_by_row:
            names, cols, n = load_rows(self, chain, frame)
        for ld in () if row_by_row else reversed(chain):
            self.check_cancel()
            names, cols, n = self.apply_load(ld, frame)
            frame = Frame(dict(zip(names, cols, strict=True)), n, file_path=frame.file_path)
        # the last LOAD's own list: a SEMANTIC one may name its two object fields alike
        self.store_result(top, names, cols, n, default_name)

    def load_each_file(self, chain: list[A.Load]) -> None:
        """``FROM [lib://x/Sales_*.csv]``: the LOAD runs once per matching file, in name order (files of
        one field set concatenate into one table, as any repeated LOAD does); none is an error."""
        bottom = chain[-1]
        assert isinstance(bottom.source, A.FileSource)
        path = bottom.source.path
        pattern = _file_part(path)
        folder = self.paths.resolve(path[: len(path) - len(pattern)] or ".")
        names = sorted(
            f.name for f in folder.iterdir() if f.is_file() and fnmatch.fnmatchcase(f.name, pattern)
        )
        if not names:
            raise StatementError(f"Cannot open file: '{path}' (File not found)", FILE_NOT_FOUND)
        for name in names:
            src = dataclasses.replace(bottom.source, path=path[: len(path) - len(pattern)] + name)
            self.load([*chain[:-1], dataclasses.replace(bottom, source=src)])

    def load_streamed(self, chain: list[A.Load]) -> tuple[list[str], list[Column], int, str] | bool | None:
        """The chain run batch by batch over a big text file or a Parquet file (see ``batches``); None
        when the source or the chain needs the whole file; False when the text file is not regular (found
        at its head or half way: then the batches read so far are dropped)."""
        src = chain[-1].source
        if not isinstance(src, A.FileSource) or not batches.batchable(self, chain):
            return None
        try:
            opened = self.file_batches(src)
        except text_source.NotStreamable:
            return False
        if opened is None:
            return None
        stream, name, where = opened
        try:
            names, cols, n = batches.load_batches(self, chain, stream, where)
        except text_source.NotStreamable:
            # read whole from the start; what the batches so far left behind (AutoNumber counters) is
            # what the whole file gives for the same rows in the same order
            return False
        except source_base.SourceError as err:
            raise StatementError(err.message, err.code) from err
        return names, cols, n, name

    def file_batches(self, src: A.FileSource) -> tuple[Iterator[source_base.SourceTable], str, str] | None:
        """A local file's batches when it streams: a delimited text file of at least ``STREAM_BYTES``
        (smaller ones take the whole-file reader's fast paths), or any Parquet file: (batches, table name,
        path). None otherwise; NotStreamable when the text file's head shows it is not regular."""
        if self.paths.web_url(src.path) is not None:
            return None
        target = self.paths.resolve(src.path)
        ext = target.suffix.lower().lstrip(".")
        fmt = src.spec.fmt or format_of(ext)
        name = PurePosixPath(src.path.replace("\\", "/").rstrip("/")).stem or target.stem
        if not target.is_file():
            return None  # the whole-file path reports it
        try:
            if fmt in ("txt", "csv") and target.stat().st_size >= text_source.STREAM_BYTES:
                return self._text_stream(text_source.batches, target, src, ext, name), name, str(target)
            if fmt == "parquet":
                req = source_base.ReadRequest(
                    src.spec,
                    path=target,
                    name=src.path,
                    locale=self.locale,
                    max_rows=self.env.max_rows,
                    on_rows=self._rows_read(name),
                )
                return parquet.batches(req), name, str(target)
        except source_base.SourceError as err:
            raise StatementError(err.message, err.code) from err
        return None

    def source_frame(self, ld: A.Load, stream: bool = True) -> tuple[Frame, str]:
        src = ld.source
        max_rows = self.env.max_rows
        if isinstance(src, A.InlineSource):
            tt = read_inline(src.data, src.spec, self.interpret, max_rows)
            return Frame(
                dict(zip(tt.names, [Column(*c) for c in tt.columns], strict=True)), tt.nrows
            ), self._auto_name("INLINE")
        if isinstance(src, A.AutogenerateSource):
            n = _num(self.eval_scalar(src.count))
            if np.isnan(n) or n < 0:
                raise StatementError("AUTOGENERATE needs a non-negative number of rows", GENERAL)
            if n > max_rows:
                raise StatementError(f"AUTOGENERATE {int(n)} exceeds the row limit of {max_rows}", GENERAL)
            # every field is a number and a text reference per row, plus its symbol codes
            check_rows(n, 24 * (len(ld.fields) + 1), f"AUTOGENERATE {int(n)}")
            return Frame({}, int(n)), self._auto_name("AUTOGENERATE")
        if isinstance(src, A.ResidentSource):
            t = self.lookup_table(src.table)
            if t is None:
                raise StatementError(f"Table '{src.table}' not found", TABLE_NOT_FOUND)
            frame = Frame(dict(t.columns), t.nrows)
            if src.order_by:
                frame = frame.take(self.order(frame, src.order_by))
                frame.recno = None
            return frame, src.table
        if isinstance(src, A.SelectSource | A.CatalogSource):
            render = Render(self.locale, self.interpret)
            got = (
                self.sources.select(src.sql, render, max_rows)
                if isinstance(src, A.SelectSource)
                else self.sources.catalog(src.statement, render)
            )
            cols = [Column(*c) for c in got.columns]
            return Frame(dict(zip(got.names, cols, strict=True)), got.nrows), got.table or self._auto_name(
                "SQL"
            )
        if isinstance(src, A.FileSource):
            return self.file_frame(src, _named_fields(ld), stream)
        raise StatementError("LOAD without a source", SYNTAX)

    def file_frame(
        self, src: A.FileSource, wanted: tuple[str, ...] = (), stream: bool = True
    ) -> tuple[Frame, str]:
        """A file read into one frame; a big text file streams into it unless ``stream`` is False (it was
        found irregular already)."""
        url = self.paths.web_url(src.path)
        if url is not None:
            return self.web_frame(src, url, wanted)
        target = self.paths.resolve(src.path)
        ext = target.suffix.lower().lstrip(".")
        fmt = src.spec.fmt or format_of(ext)
        name = PurePosixPath(src.path.replace("\\", "/").rstrip("/")).stem or target.stem
        if fmt not in ("qvd", "txt", "csv"):
            if target.is_dir():
                raise StatementError(f"Cannot open file '{src.path}': it is a folder", FILE_NOT_FOUND)
            if not target.is_file():
                raise StatementError(f"Cannot open file: '{src.path}' (File not found)", FILE_NOT_FOUND)
            return self.read_frame(
                fmt, src, source_base.ReadRequest(src.spec, path=target), name, str(target), wanted
            )
        if stream and fmt != "qvd" and target.is_file() and target.stat().st_size >= text_source.STREAM_BYTES:
            try:  # a big regular text file streams in blocks instead of being read whole
                table = self._text_stream(text_source.read_stream, target, src, ext, name)
                return Frame(
                    dict(zip(table.names, [Column(*c) for c in table.columns], strict=True)),
                    table.nrows,
                    file_path=str(target),
                ), name
            except text_source.NotStreamable:
                pass
            except source_base.SourceError as err:
                raise StatementError(err.message, err.code) from err
        data, target = self.paths.read_bytes(src.path)
        if fmt == "qvd":
            names, cols, n = read_qvd(target)
            if n > self.env.max_rows:
                raise TooManyRows(f"{n} rows exceed the limit of {self.env.max_rows}")
        elif fmt in ("txt", "csv"):
            tt = read_text(
                data,
                src.spec,
                self.interpret,
                self.env.max_rows,
                ext,
                decimal_point=self.locale.thousand_sep != ".",
            )
            names, cols, n = tt.names, [Column(*c) for c in tt.columns], tt.nrows
        else:
            raise StatementError(f"Unsupported file format '{fmt}' for '{src.path}'", WRONG_FORMAT)
        return Frame(dict(zip(names, cols, strict=True)), n, file_path=str(target)), name

    def _text_stream(
        self, reader: Callable[..., _R], target: Path, src: A.FileSource, ext: str, name: str
    ) -> _R:
        """``reader`` (``text_source.batches`` or ``read_stream``) over a local text file, with this
        reload's interpretation, row limit, progress and decimal convention."""
        return reader(
            target,
            src.spec,
            self.interpret,
            self.env.max_rows,
            ext,
            self._rows_read(name),
            self.locale.thousand_sep != ".",
        )

    def _rows_read(self, name: str) -> Callable[[int], None]:
        """Progress of a streaming read: a transient line per block, and a chance to cancel."""

        def rows_read(n: int) -> None:
            self.check_cancel()
            self.progress.transient(f"{name} << {n} Lines fetched")

        return rows_read

    def web_frame(self, src: A.FileSource, url: str, wanted: tuple[str, ...]) -> tuple[Frame, str]:
        """A web file: fetched whole (bounded by the engine's web settings), then read like a file."""
        path = PurePosixPath(url.split("?", 1)[0].split("#", 1)[0])
        name = path.stem or src.path.rstrip("/").rsplit("/", 1)[-1]
        try:

            def fetched(n: int) -> None:
                self.check_cancel()
                self.progress.transient(f"{name} << {n} bytes fetched")

            web = fetch(url, self.env.web, fetched)
        except source_base.SourceError as err:
            raise StatementError(err.message, err.code) from err
        fmt = src.spec.fmt or format_of(path.suffix, web.content_type, default="html")
        if fmt in ("txt", "csv"):
            tt = read_text(
                web.data,
                src.spec,
                self.interpret,
                self.env.max_rows,
                path.suffix.lstrip("."),
                decimal_point=self.locale.thousand_sep != ".",
            )
            return Frame(
                dict(zip(tt.names, [Column(*c) for c in tt.columns], strict=True)), tt.nrows, file_path=url
            ), name
        return self.read_frame(fmt, src, source_base.ReadRequest(src.spec, data=web.data), name, url, wanted)

    def read_frame(
        self,
        fmt: str,
        src: A.FileSource,
        req: source_base.ReadRequest,
        name: str,
        where: str,
        wanted: tuple[str, ...],
    ) -> tuple[Frame, str]:
        """A file through its reader in ``engine.sources``, reporting rows while it streams."""
        req.name, req.locale, req.interpret = src.path, self.locale, self.interpret
        req.max_rows, req.wanted, req.on_rows = self.env.max_rows, wanted, self._rows_read(name)
        try:
            table = read_source(fmt, req)
        except source_base.SourceError as err:
            raise StatementError(err.message, err.code) from err
        cols = [Column(*c) for c in table.columns]
        return Frame(dict(zip(table.names, cols, strict=True)), table.nrows, file_path=where), name

    def order(self, frame: Frame, order_by: list[tuple[A.Expr, bool]]) -> np.ndarray:
        ctx = LoadContext(self, frame)
        keys = []
        for e, desc in reversed(order_by):
            d = self.eval_node(self.parse_expr(e), ctx)
            num = d.num
            texts = d.display_text()
            has = ~np.isnan(num)
            trank = np.zeros(len(d))
            tmask = np.flatnonzero(~has & np.not_equal(texts, NO_TEXT))
            if len(tmask):
                trank[tmask] = text_ranks(texts.take(tmask))
            kind = np.where(has, 0, np.where(np.not_equal(texts, NO_TEXT), 1, 2))
            numkey = np.where(has, num, 0.0)
            if desc:
                keys += [-trank, -numkey, -kind]
            else:
                keys += [trank, numkey, kind]
        return np.lexsort(keys) if keys else np.arange(frame.nrows)

    def apply_load(
        self, ld: A.Load, frame: Frame, rowno: batches.RowCount | None = None
    ) -> tuple[list[str], list[Column], int]:
        """One LOAD over its input frame: WHILE, WHERE, row-multiplying SubField, fields, GROUP BY,
        DISTINCT. Returns the output field names, columns and row count. ``rowno``: where ``RowNo()``
        continues when the LOAD runs batch by batch (advanced by this batch's rows)."""
        if ld.while_ is not None:
            frame = self.expand_while(ld, frame)
        if ld.where is not None:
            frame = frame.take(np.flatnonzero(self.where_mask(ld, frame)))
        items: list[tuple[A.FieldItem, Node | None]] = []
        for it in ld.fields:
            items.append((it, None if it.star else self.parse_expr(it.expr)))
        # row-multiplying SubField(s, delim), alone or inside a field's expression: replicate the
        # frame first, then evaluate the field with the call bound to its parts
        bound: dict[str, Duals] = {}
        for k, (it, node) in enumerate(items):
            calls = list(dict.fromkeys(row_expanding_calls(node))) if node is not None else []
            for call in calls:
                ctx = LoadContext(self, frame)
                s = self.eval_node(call.args[0], ctx)
                dl = self.eval_node(call.args[1], ctx)
                parent, parts = subfield_parts(s, dl, self.env.max_rows)
                if len(parent) > self.env.max_rows:
                    raise TooManyRows(f"{len(parent)} rows exceed the limit of {self.env.max_rows}")
                frame = frame.take(parent)
                bound = {nm: v.take(parent) for nm, v in bound.items()}
                bound[f"\0SubField{len(bound)}"] = parts
            if calls and node is not None:
                binding = dict(zip(calls, list(bound)[-len(calls) :], strict=True))
                items[k] = (it, bind_calls(node, binding))
        frame.bind(bound)
        aggregated = bool(ld.group_by) or any(
            node is not None and contains_aggregation(node) for _, node in items
        )
        if aggregated:
            ctx = self.group_context(ld, frame)
        else:
            ctx = LoadContext(self, frame, rowno.base if rowno is not None else 0)
        n_out = ctx.nrows
        if rowno is not None:
            rowno.base += ctx.nrows
        names: list[str] = []
        cols: list[Column] = []
        for it, node in items:
            if it.star:
                if aggregated:
                    raise StatementError("LOAD * cannot be combined with GROUP BY", SEMANTIC)
                for nm, c in frame.columns.items():
                    names.append(nm)
                    cols.append(c)
                continue
            names.append(it.name)
            if isinstance(node, FieldRef) and not aggregated and node.name in frame.columns:
                cols.append(frame.columns[node.name])
            else:
                assert node is not None  # None only for LOAD *
                cols.append(_to_column(self.eval_node(node, ctx)))
        if len(set(names)) != len(names) and not ld.prefixes.semantic:
            dup = next(nm for nm in names if names.count(nm) > 1)
            raise StatementError(f"Field names must be unique within table: '{dup}' appears twice", SEMANTIC)
        if not items or all(it.star for it, _ in items) and not frame.columns:
            n_out = frame.nrows
        if ld.distinct and n_out:
            keep = distinct_rows([c.codes for c in cols], n_out)
            cols = [c.take(keep) for c in cols]
            n_out = len(keep)
        return names, cols, n_out

    def where_mask(self, ld: A.Load, frame: Frame) -> np.ndarray:
        """WHERE over the source rows; a name the source lacks may be a field this LOAD names with AS
        (``LOAD RecNo() as A ... WHERE A > 2``), computed over the source rows for the test."""
        node = self.parse_expr(ld.where)
        try:
            return evaluate(node, LoadContext(self, frame)).truthy()
        except UnknownField as missing:
            item = next((it for it in ld.fields if not it.star and it.name == missing.name), None)
            if item is None:
                return self.eval_node(node, LoadContext(self, frame)).truthy()
            extra = dict(frame.columns)
            for it in ld.fields:
                if not it.star and it.name not in extra:
                    inode = self.parse_expr(it.expr)
                    if not contains_aggregation(inode):
                        extra[it.name] = _to_column(self.eval_node(inode, LoadContext(self, frame)))
            wide = Frame(extra, frame.nrows, frame.recno, frame.iterno, frame.file_path)
            return self.eval_node(node, LoadContext(self, wide)).truthy()
        except Exception:
            return self.eval_node(node, LoadContext(self, frame)).truthy()

    def group_context(self, ld: A.Load, frame: Frame) -> GroupContext:
        if not ld.group_by:
            groups = np.zeros(frame.nrows, dtype=np.int64)
            return GroupContext(self, frame, groups, 1 if frame.nrows else 0)
        ctx = LoadContext(self, frame)
        code_cols = []
        for e in ld.group_by:
            node = self.parse_expr(e)
            if isinstance(node, FieldRef) and node.name in frame.columns:
                code_cols.append(frame.columns[node.name].codes)
            else:
                code_cols.append(_to_column(self.eval_node(node, ctx)).codes)
        from engine.script.tables import _row_keys

        keys = _row_keys(code_cols) if frame.nrows else np.empty(0, dtype=np.int64)
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq))
        return GroupContext(self, frame, rank.take(inv.reshape(-1)), len(uniq))

    def expand_while(self, ld: A.Load, frame: Frame) -> Frame:
        """Repeat each source row while the condition holds (IterNo = 1, 2, ...), in batches: the
        condition is evaluated for ``width`` IterNo values of every still active row at once, and the
        width doubles while the rows left are few, so ``WHILE IterNo() <= 1e9`` over one row costs a
        few thousand vectorised passes (then hits ScriptMaxRows), not a Python loop per row."""
        node = self.parse_expr(ld.while_)
        active = np.arange(frame.nrows)
        rows, iters = [], []
        it = 1
        total = 0
        width = 1
        row_bytes = 16 * (len(frame.columns) + 2)
        while len(active):
            self.check_cancel()
            width = max(1, min(width, _WHILE_BATCH // len(active)))
            check_rows(len(active) * width, row_bytes, "WHILE")
            src = np.repeat(active, width)
            passes = np.tile(np.arange(it, it + width, dtype=np.int64), len(active))
            sub = frame.take(src)
            sub.iterno = passes
            holds = self.eval_node(node, LoadContext(self, sub)).truthy().reshape(len(active), width)
            # a row goes on while every pass so far held: the first false ends it
            going = np.logical_and.accumulate(holds, axis=1)
            total += int(np.count_nonzero(going))
            if total > self.env.max_rows:
                raise TooManyRows(f"WHILE produced more than {self.env.max_rows} rows")
            check_rows(total, 16, "WHILE")
            flat = going.reshape(-1)
            rows.append(src[flat])
            iters.append(passes[flat])
            active = active[going[:, -1]]
            it += width
            width *= 2
        r = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        i = np.concatenate(iters) if iters else np.empty(0, dtype=np.int64)
        o = np.lexsort((i, r))
        out = frame.take(r.take(o))
        out.iterno = i.take(o)
        return out

    def _check_join(self, rows: int, width: int) -> None:
        """A JOIN's predicted output, before it is built: the row limit, then the request's memory
        (the row pairs, and a code per field)."""
        if rows > self.env.max_rows:
            raise TooManyRows(f"JOIN would make {rows} rows, over the limit of {self.env.max_rows}")
        check_rows(rows, 32 + 4 * width, "JOIN")

    def _auto_name(self, base: str) -> str:
        key = f"{base}/{self.in_access}"  # section access tables are a name space of their own
        self.counters[key] = self.counters.get(key, 0) + 1
        return f"{base}{self.counters[key]:02d}"

    def _qualified(self, names: list[str], table: str) -> list[str]:
        if not self.qualify_rules:
            return names
        out = []
        for nm in names:
            q = False
            for pat, on in self.qualify_rules:
                if pat == "*" or fnmatch.fnmatchcase(nm, pat):
                    q = on
            out.append(f"{table}.{nm}" if q else nm)
        return out

    def _unique_table_name(self, name: str, dom: dict[str, ScriptTable]) -> str:
        if name not in dom and name not in self.mappings:
            return name
        k = 1
        while f"{name}-{k}" in dom:
            k += 1
        return f"{name}-{k}"

    def combos(self, fields: list[str]) -> tuple[list[Column], int] | None:
        """The distinct combinations of ``fields`` already loaded: from the first table holding all of
        them; a single field's values come from every table that has it."""
        if len(fields) == 1:
            sym = self.field_symbols(fields[0])
            if sym is None:
                return None
            return [Column(sym, np.arange(len(sym), dtype=CODE_DTYPE))], len(sym)
        for t in self.tables.values():
            if all(f in t.columns for f in fields):
                cols = [t.columns[f] for f in fields]
                keep = distinct_rows([c.codes for c in cols], t.nrows)
                return [c.take(keep) for c in cols], len(keep)
        return None

    def transform(
        self, ld: A.Load, names: list[str], cols: list[Column], n: int, label: str
    ) -> list[tuple[str, list[str], list[Column], int]]:
        """The table(s) a transforming prefix makes of the loaded rows (IntervalMatch, Hierarchy,
        HierarchyBelongsTo, Generic, Sample); without one, the rows as they are."""
        p = ld.prefixes
        rows: prefixes.Rows = (names, cols, n)
        if p.sample is not None:
            prob = _num(self.eval_scalar(p.sample))
            if np.isnan(prob) or not 0 <= prob <= 1:
                raise StatementError("SAMPLE needs a probability between 0 and 1", GENERAL)
            rows = prefixes.sample(rows, prob, np.random.default_rng())
        if p.intervalmatch:
            rows = prefixes.interval_match(rows, p.intervalmatch[0], p.intervalmatch[1:], self.combos)
        if p.hierarchy:
            rows = prefixes.hierarchy(rows, p.hierarchy)
        if p.belongs_to:
            rows = prefixes.hierarchy_belongs_to(rows, p.belongs_to)
        if p.generic:
            return [(nm, *r) for nm, r in prefixes.generic(rows, label)]
        if p.semantic:
            obj = rows[0][0]
            rows = prefixes.semantic(rows)
            fnames = rows[0]
            for f, tags in (
                (fnames[0], ["$hidden"]),
                (fnames[1], [SEMANTIC_TAG, f"{SEMANTIC_TAG}:{obj}"]),
                (fnames[2], ["$hidden"]),
            ):
                info = self.field_info.setdefault(f, {})
                info["tags"] = list(dict.fromkeys([*info.get("tags", []), *tags]))
        return [(label, *rows)]

    def store_result(
        self, ld: A.Load, names: list[str], cols: list[Column], n: int, default_name: str
    ) -> None:
        p = ld.prefixes
        label = ld.label or default_name
        if p.first is not None:
            k = _num(self.eval_scalar(p.first))
            if not np.isnan(k) and k < n:
                keep = np.arange(max(0, int(k)))
                cols = [c.take(keep) for c in cols]
                n = len(keep)
        out = self.transform(ld, names, cols, n, label)
        if p.generic:
            for nm, gnames, gcols, gn in out:
                sub = dataclasses.replace(ld, label=nm, prefixes=dataclasses.replace(p, generic=False))
                sub.prefixes.noconcatenate = True
                self._store(sub, gnames, gcols, gn, nm)
            return
        _, names, cols, n = out[0]
        if p.semantic:  # a semantic table is never concatenated to another
            ld = dataclasses.replace(
                ld, prefixes=dataclasses.replace(p, noconcatenate=True, concatenate=False)
            )
        self._store(ld, names, cols, n, default_name)

    def _store(self, ld: A.Load, names: list[str], cols: list[Column], n: int, default_name: str) -> None:
        p = ld.prefixes
        label = ld.label or default_name
        if p.crosstable:
            attr, data, q = p.crosstable
            if q > len(names):
                raise StatementError("CROSSTABLE has more qualifier fields than the LOAD", SEMANTIC)
            if n * (len(names) - q) > self.env.max_rows:
                raise TooManyRows(
                    f"CROSSTABLE would make {n * (len(names) - q)} rows, over the limit of "
                    f"{self.env.max_rows}"
                )
            out, n = crosstable(names, cols, n, attr, data, q)
            names, cols = list(out), list(out.values())
        if n > self.env.max_rows:
            raise TooManyRows(f"{n} rows exceed the limit of {self.env.max_rows}")
        if p.mapping:
            if len(cols) < 2:
                raise StatementError("A MAPPING table needs two fields", SEMANTIC)
            self.mappings[label] = Mapping(cols[0], cols[1])
            self.progress.fetched(label, n)
            self.log.append(f"{n} lines fetched")
            return
        names, cols = self.field_rules(names, cols)
        if self.in_access:
            names, cols = _upper_case(names, cols)
        if not self.in_access and not p.join and not p.keep:
            names = self._qualified(names, label)
        dom = self.domain()
        if p.partial == "merge":
            self._merge(p, names, cols, n, label, dom)
            return
        newcols = dict(zip(names, cols, strict=True))
        if p.partial == "replace" and label in dom:
            del dom[label]  # REPLACE: the table of that name is dropped, then loaded again
        if p.partial == "add" and label in dom and not (p.join or p.keep or p.concatenate):
            p = dataclasses.replace(p, concatenate=True, concat_table=label)
        self.log.append(f"{len(names)} fields found: {', '.join(names)}, ")
        target_name: str
        if p.join or p.keep:
            tname = p.target or self.last_loaded
            target = dom.get(tname) if tname else None
            if target is None:
                raise StatementError(f"Table '{tname}' not found", TABLE_NOT_FOUND)
            if p.join:
                width = len(set(target.columns) | set(newcols))
                join(target, newcols, n, p.join, check_rows=lambda rows: self._check_join(rows, width))
                target_name = target.name
            else:
                assert p.keep is not None  # a KEEP when not a JOIN
                kept = join(target, newcols, n, p.keep, keep=True)
                target_name = self._unique_table_name(label, dom)
                dom[target_name] = ScriptTable(target_name, kept.columns, kept.nrows)
        elif p.concatenate:
            tname = p.concat_table or self.last_loaded
            target = dom.get(tname) if tname else None
            if target is None:
                raise StatementError(f"Table '{tname}' not found", TABLE_NOT_FOUND)
            concatenate(target, newcols, n)
            target_name = target.name
        else:
            same = None
            if not p.noconcatenate:
                fs = set(names)
                same = next((t for t in dom.values() if set(t.columns) == fs), None)
            if same is not None:
                concatenate(same, newcols, n)
                target_name = same.name
            else:
                target_name = self._unique_table_name(label, dom)
                dom[target_name] = ScriptTable(target_name, newcols, n)
        if dom[target_name].nrows > self.env.max_rows:
            raise TooManyRows(f"table '{target_name}' exceeds the limit of {self.env.max_rows} rows")
        self.last_loaded = target_name
        self.progress.fetched(target_name, n)
        self.log.append(f"{n} lines fetched")

    def _merge(
        self,
        p: A.Prefixes,
        names: list[str],
        cols: list[Column],
        n: int,
        label: str,
        dom: dict[str, ScriptTable],
    ) -> None:
        """MERGE: the change log applied to the table named by CONCATENATE, else to the table with the
        log's fields (the operation field aside), else to a new table; then SequenceNoVar is set."""
        if p.join or p.keep:
            raise StatementError("MERGE cannot be combined with JOIN or KEEP", SYNTAX)
        target: ScriptTable | None
        if p.concatenate:
            tname = p.concat_table or self.last_loaded
            target = dom.get(tname) if tname else None
            if target is None:
                raise StatementError(f"Table '{tname}' not found", TABLE_NOT_FOUND)
        else:
            fs = set(names[1:])
            target = next((t for t in dom.values() if set(t.columns) == fs), None)
        self.log.append(f"{len(names)} fields found: {', '.join(names)}, ")
        merged, m, seq = prefixes.merge(target, (names, cols, n), p.merge_keys, p.merge_seq)
        if m > self.env.max_rows:
            raise TooManyRows(f"{m} rows exceed the limit of {self.env.max_rows}")
        if target is None:
            name = self._unique_table_name(label, dom)
            dom[name] = ScriptTable(name, merged, m)
        else:
            name = target.name
            target.columns, target.nrows = merged, m
        if p.merge_seq_var and seq is not None:
            num, text = seq.values()
            if len(num) and not np.isnan(num).all():
                k = int(np.nanargmax(num))
                self.set_variable(p.merge_seq_var, str(text[k]) if text[k] is not None else _fmt_num(num[k]))
        self.last_loaded = name
        self.progress.fetched(name, n)
        self.log.append(f"{n} lines fetched")

    # --- end of script ------------------------------------------------------------------------
    def finish(self) -> ReloadResult:
        if self.pending:
            raise ScriptError("A preceding LOAD is not followed by a LOAD or SELECT", 0, 0, "", SYNTAX)
        tables = [t for t in self.tables.values() if t.columns]
        tables = synthetic_keys(tables)
        loosened = tables_to_loosen(tables, set(self.loose))
        for name in loosened:
            message = f"Circular reference: table '{name}' is loosely coupled"
            self.warnings.append(message)
            self.log.append(message)
        data = []
        for t in tables:
            td = t.to_data()
            td.is_synthetic = t.name.startswith("$Syn ")
            data.append(td)
        excluded = frozenset(
            f for t in tables for f in t.columns if self._rule(self.search_rules, f) is False
        )
        model = DataModel.build(
            data, self.field_info, loose_tables=frozenset([*self.loose, *loosened]), search_excluded=excluded
        )
        sa = None
        if self.access_tables:
            sa = SectionAccessTable({name: _as_lists(t) for name, t in self.access_tables.items()}, self.star)
        elif self.binary_access is not None:
            # the app loaded with BINARY keeps its section access unless this script sets its own
            cols = list(self.binary_access.get("columns", []))
            rows = list(self.binary_access.get("rows", []))
            sa = SectionAccessTable(
                {"SECTIONACCESS": {c: [r[k] for r in rows] for k, c in enumerate(cols)}}, self.star
            )
        self.log.append("Execution finished.")
        self.progress.transient("")
        return ReloadResult(model, sa, dict(self.variables), self.log, self.warnings)


# ---------------------------------------------------------------------------------------------


_SIMPLE_FIELD = re.compile(r'^\s*(?:\[(?P<b>[^\]]+)\]|"(?P<q>[^"]+)"|(?P<w>[^\s()\[\]"\'+\-*/&,=<>]+))\s*$')


def _named_fields(ld: A.Load) -> tuple[str, ...]:
    """Source fields a LOAD names plainly (``a``, ``[a b]``, ``a.b AS c``): readers that can offer more
    fields than they load by default (fixed-record positions, JSON paths) look at these."""
    out = []
    for item in ld.fields:
        if item.expr is not None:
            m = _SIMPLE_FIELD.match(item.expr.text)
            name = m and (m.group("b") or m.group("q") or m.group("w"))
            if name and not name[0].isdigit():
                out.append(name)
    return tuple(out)


def _to_column(d: Duals) -> Column:
    sym, codes = encode(d.num, d.text)
    return Column(sym, codes)


def _num(d: Duals) -> float:
    if not len(d):
        return float("nan")
    from engine.expr.functions import as_numbers

    return float(as_numbers(d.take(np.array([0])))[0])


def _fmt_num(x: float) -> str:
    from engine.model.numformat import format_default

    return format_default(x)


def _same(a: Duals, b: Duals) -> bool:
    an, bn = float(a.num[0]), float(b.num[0])
    if not np.isnan(an) and not np.isnan(bn):
        return an == bn
    return bool(a.display_text()[0] == b.display_text()[0])


def _unparse_arg(text: str) -> str:
    """The argument text of ``FileList('mask')`` → ``'mask'``."""
    return text[text.index("(") + 1 : text.rindex(")")]


#: statements whose expanded text is taken whole, `;` included
_TEXT_STATEMENT = re.compile(r"\s*(trace|set|let)\b", re.I)


_WILDCARD = re.compile(r"[*?]")


def _file_part(path: str) -> str:
    """The file name at the end of a script path (after the last / or \\)."""
    return re.split(r"[/\\]", path)[-1]


def _is_include(text: str) -> bool:
    return bool(re.match(r"\s*\$\((must_)?include\s*=", text, re.I))


def _line_text(text: str, pos: int) -> str:
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return text[a : b if b >= 0 else len(text)]


def _upper_case(names: list[str], cols: list[Column]) -> tuple[list[str], list[Column]]:
    """Section access: field names and values in upper case (values re-encoded: 'a' and 'A' merge)."""
    out = []
    for c in cols:
        texts = np.array([t.upper() if isinstance(t, str) else t for t in c.symbols.text], dtype=object)
        sym, remap_codes = encode(c.symbols.num, texts)
        ext = np.append(remap_codes, -1).astype(CODE_DTYPE)
        out.append(Column(sym, ext.take(c.codes)))
    return [n.upper() for n in names], out


def _as_lists(t: ScriptTable) -> dict[str, list[str | None]]:
    out = {}
    for name, c in t.columns.items():
        texts = np.append(c.symbols.text, NO_TEXT).take(c.codes)
        out[name] = [None if v is None else str(v) for v in texts]
    return out


def run_script(
    script: str | bytes,
    env: ScriptEnv,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ReloadResult:
    """Run a load script and return the new data model; raises ScriptError / ReloadCancelled."""
    runner = Runner(env, progress, cancel)
    text = script if isinstance(script, str) else decode_script(script)
    return runner.run(text)
