"""Evaluation contexts of the script: a LOAD's input rows, a GROUP BY's groups, a bare LET/IF.

They implement ``engine.expr.EvalContext``: fields come from the frame being loaded, variables from
the runner, and the record/script-only functions (RecNo, RowNo, IterNo, Peek, Previous, Exists,
ApplyMap, NoOfRows, FieldName, FieldValueCount, FileName, ...) and the GROUP BY aggregations are
answered here, vectorised over the frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.expr import Call, Duals, FieldRef, Literal, Locale, Node, UnknownField, evaluate
from engine.expr.aggregations import reduce_values
from engine.expr.functions import FUNCTIONS, as_numbers
from engine.expr.objects import NO_TEXT
from engine.script.errors import FIELD_NOT_FOUND, GENERAL, TABLE_NOT_FOUND, StatementError
from engine.script.tables import Column, _row_keys

if TYPE_CHECKING:
    from engine.script.runner import Runner


@dataclass
class Frame:
    """Rows a LOAD reads: source columns plus record bookkeeping (RecNo, IterNo, file name)."""

    columns: dict[str, Column]
    nrows: int
    recno: np.ndarray | None = None
    iterno: np.ndarray | None = None
    file_path: str = ""
    _cache: dict[str, Duals] = field(default_factory=dict)

    def take(self, idx: np.ndarray) -> Frame:
        return Frame(
            {k: c.take(idx) for k, c in self.columns.items()},
            len(idx),
            self.recnos().take(idx),
            None if self.iterno is None else self.iterno.take(idx),
            self.file_path,
        )

    def recnos(self) -> np.ndarray:
        return self.recno if self.recno is not None else np.arange(1, self.nrows + 1, dtype=np.int64)

    def duals(self, name: str) -> Duals:
        d = self._cache.get(name)
        if d is None:
            col = self.columns.get(name)
            if col is None:
                raise UnknownField(name)
            num, text = col.values()
            d = self._cache[name] = Duals(num, text)
        return d


def column_duals(col: Column) -> Duals:
    num, text = col.values()
    return Duals(num, text)


def _const(value: tuple[str | None, float] | None, n: int) -> Duals:
    if value is None:
        return Duals.nulls(n)
    text, num = value
    return Duals(np.full(n, num, dtype=np.float64), np.full(n, text, dtype=object))


class ScriptContext:
    """A context with no data rows of its own (LET, IF, FOR bounds): one row, variables, script
    functions. Subclasses add fields."""

    def __init__(self, runner: Runner, nrows: int = 1) -> None:
        self.runner = runner
        self.nrows = nrows
        self.locale: Locale = runner.locale

    # --- EvalContext ----------------------------------------------------------------------------
    def field(self, name: str) -> Duals:
        # outside a LOAD a bare name is a variable (the evaluator falls back to it on UnknownField), and
        # a name that is no variable either is NULL, as in Qlik (IF IsNull(vX) THEN)
        if self.variable(name) is not None:
            raise UnknownField(name)
        return Duals.nulls(self.nrows)

    def variable(self, name: str) -> str | None:
        return self.runner.variables.get(name)

    def aggregate(self, call: Call) -> Duals:
        raise StatementError(f"Aggregation function {call.name} used outside a LOAD", GENERAL)

    def eval(self, node: Node) -> Duals:
        return evaluate(node, self)

    def scalar_text(self, node: Node) -> str | None:
        d = evaluate(node, ScriptContext(self.runner, 1)) if _is_constant_node(node) else self.eval(node)
        if not len(d):
            return None
        text: str | None = d.take(np.array([0])).display_text()[0]
        return text

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        handler = _FUNCTIONS.get(name)
        if handler is None:
            return None
        return handler(self, args)

    # --- record functions answered without a frame -------------------------------------------
    def recno(self) -> np.ndarray:
        return np.arange(1, self.nrows + 1, dtype=np.float64)

    def rowno(self) -> np.ndarray:
        return np.arange(1, self.nrows + 1, dtype=np.float64)

    def iterno(self) -> np.ndarray:
        return np.ones(self.nrows, dtype=np.float64)

    def file_path(self) -> str:
        return ""


class LoadContext(ScriptContext):
    """The rows of one LOAD: fields of the frame, RecNo/RowNo/IterNo, Previous."""

    def __init__(self, runner: Runner, frame: Frame, rowno_base: int = 0) -> None:
        super().__init__(runner, frame.nrows)
        self.frame = frame
        self.rowno_base = rowno_base

    def field(self, name: str) -> Duals:
        return self.frame.duals(name)

    def recno(self) -> np.ndarray:
        return self.frame.recnos().astype(np.float64)

    def rowno(self) -> np.ndarray:
        return np.arange(self.rowno_base + 1, self.rowno_base + self.nrows + 1, dtype=np.float64)

    def iterno(self) -> np.ndarray:
        if self.frame.iterno is None:
            return np.ones(self.nrows, dtype=np.float64)
        return self.frame.iterno.astype(np.float64)

    def file_path(self) -> str:
        return self.frame.file_path

    def aggregate(self, call: Call) -> Duals:
        raise StatementError(f"Aggregation function {call.name} needs GROUP BY context", GENERAL)


class GroupContext(LoadContext):
    """A GROUP BY: one row per group; plain fields give the group's first row, aggregations are
    computed over each group's rows."""

    def __init__(self, runner: Runner, frame: Frame, groups: np.ndarray, ngroups: int) -> None:
        super().__init__(runner, frame)
        self.groups = groups
        self.ngroups = ngroups
        self.nrows = ngroups
        first = np.full(ngroups, -1, dtype=np.int64)
        if len(groups):
            # first row of each group (groups are numbered in first-appearance order)
            _, idx = np.unique(groups, return_index=True)
            first[: len(idx)] = idx
        self.first = first
        self.row_ctx = LoadContext(runner, frame)

    def field(self, name: str) -> Duals:
        return self.frame.duals(name).take(self.first)

    def recno(self) -> np.ndarray:
        return self.frame.recnos().take(self.first).astype(np.float64)

    def rowno(self) -> np.ndarray:
        return np.arange(1, self.ngroups + 1, dtype=np.float64)

    def aggregate(self, call: Call) -> Duals:
        return aggregate(call, self.row_ctx, self.groups, self.ngroups)


def _is_constant_node(node: Node) -> bool:
    return isinstance(node, Literal)


# =============================================================================================
# GROUP BY aggregations (vectorised over group codes)


def _value_codes(d: Duals) -> np.ndarray:
    """Dense codes of values (same number, or same text when no number → same code); NULL = -1."""
    num = d.num
    has_num = ~np.isnan(num)
    codes = np.full(len(d), -1, dtype=np.int64)
    if has_num.any():
        _, inv = np.unique(num[has_num], return_inverse=True)
        codes[has_num] = inv
    txt = np.flatnonzero(~has_num & d.has_text())
    if len(txt):
        enc = pc.dictionary_encode(pa.array(d.text.take(txt), type=pa.string()))
        codes[txt] = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64) + (codes.max() + 1)
    return codes


def aggregate(call: Call, ctx: LoadContext, groups: np.ndarray, ngroups: int) -> Duals:
    name = call.name
    spec = FUNCTIONS.get(name)
    if spec is not None and not spec.script:  # where a function is allowed is part of its registry entry
        raise StatementError(f"{name} is a chart function, not allowed in a script", GENERAL)
    g = groups
    if name == "COUNT" and (not call.args or isinstance(call.args[0], FieldRef) and call.args[0].name == "*"):
        return Duals.from_numbers(np.bincount(g, minlength=ngroups).astype(np.float64))
    if not call.args:
        raise StatementError(f"{name} needs an argument", GENERAL)
    vals = ctx.eval(call.args[0])
    extra = [ctx.eval(a) for a in call.args[1:]] or None
    if call.distinct:
        codes = _value_codes(vals)
        ok = codes >= 0
        pair = (
            _row_keys([g.take(np.flatnonzero(ok)), codes.take(np.flatnonzero(ok))])
            if ok.any()
            else np.empty(0, np.int64)
        )
        _, first = np.unique(pair, return_index=True)
        keep = np.flatnonzero(ok).take(first)
        g = g.take(keep)
        vals = vals.take(keep)
        extra = [e.take(keep) for e in extra] if extra else None
    if name in ("MIN", "MAX"):  # the numbers of the values, as a field's Min/Max reads them
        vals = Duals.from_numbers(vals.num)
    # one definition for charts and scripts: the shared kernels of engine.expr.aggregations
    return reduce_values(name, g, ngroups, vals, ctx.locale, extra)


def _null_at(d: Duals, idx: np.ndarray) -> Duals:
    if not len(idx):
        return d
    num, text = d.num.copy(), d.text.copy()
    num[idx] = np.nan
    text[idx] = None
    return Duals(num, text)


# =============================================================================================
# record and script functions


def _args(ctx: ScriptContext, args: tuple[Node, ...]) -> list[Duals]:
    return [ctx.eval(a) for a in args]


def _first_text(d: Duals) -> str | None:
    return d.take(np.array([0])).display_text()[0] if len(d) else None


def _first_num(d: Duals) -> float:
    if not len(d):
        return float("nan")
    return float(as_numbers(d.take(np.array([0])))[0])


def _numbers(ctx: ScriptContext, x: np.ndarray) -> Duals:
    return Duals.from_numbers(x)


def _scalar_arg_text(ctx: ScriptContext, node: Node) -> str | None:
    return _first_text(ctx.eval(node))


def _field_name_arg(ctx: ScriptContext, node: Node) -> str | None:
    """A field-name argument (Exists, FieldValueCount…): a bare name is the field itself, not its value."""
    if isinstance(node, FieldRef):
        return node.name
    return _scalar_arg_text(ctx, node)


def f_recno(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    return _numbers(ctx, ctx.recno())


def f_rowno(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    return _numbers(ctx, ctx.rowno())


def f_iterno(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    return _numbers(ctx, ctx.iterno())


def f_peek(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    if not args:
        raise StatementError("Peek needs a field name", GENERAL)
    fname = _scalar_arg_text(ctx, args[0])
    row = ctx.eval(args[1]) if len(args) > 1 else None
    tname = _scalar_arg_text(ctx, args[2]) if len(args) > 2 else None
    table = ctx.runner.lookup_table(tname) if tname else ctx.runner.last_table()
    if table is None or fname not in table.columns:
        return Duals.nulls(ctx.nrows)
    col = table.columns[fname]
    rows = np.full(ctx.nrows, -1.0) if row is None else as_numbers(row, ctx.locale)
    rows = np.where(np.isnan(rows), -1, rows).astype(np.int64)
    rows = np.where(rows < 0, table.nrows + rows, rows)
    valid = (rows >= 0) & (rows < table.nrows)
    codes = np.where(
        valid, col.codes.take(np.clip(rows, 0, max(table.nrows - 1, 0))) if table.nrows else -1, -1
    )
    return column_duals(Column(col.symbols, codes.astype(np.int32)))


def f_previous(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    v = ctx.eval(args[0])
    if ctx.nrows == 0:
        return v
    idx = np.arange(-1, ctx.nrows - 1)
    out = v.take(np.maximum(idx, 0))
    return _null_at(out, np.array([0]))


def f_exists(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    fname = _field_name_arg(ctx, args[0])
    vals = ctx.eval(args[1]) if len(args) > 1 else ctx.field(fname or "")
    present_num, present_text = ctx.runner.field_values(fname)
    num = vals.num
    txt = vals.display_text()
    hit = np.isin(num, present_num) & ~np.isnan(num)
    rest = np.flatnonzero(~hit & np.not_equal(txt, NO_TEXT))
    if len(rest) and len(present_text):
        hit[rest] = pc.is_in(
            pa.array(txt.take(rest), type=pa.string()), value_set=pa.array(present_text, type=pa.string())
        ).to_numpy(zero_copy_only=False)
    return Duals.booleans(hit)


def f_applymap(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    if len(args) < 2:
        raise StatementError("ApplyMap needs a map name and an expression", GENERAL)
    mname = _scalar_arg_text(ctx, args[0])
    m = ctx.runner.mappings.get(mname or "")
    if m is None:
        raise StatementError(f"Mapping table not found: {mname}", TABLE_NOT_FOUND)
    key = ctx.eval(args[1])
    default = ctx.eval(args[2]) if len(args) > 2 else key
    return m.apply(key, default)


def f_noofrows(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    t = ctx.runner.lookup_table(_scalar_arg_text(ctx, args[0]))
    return Duals.nulls(ctx.nrows) if t is None else Duals.const(float(t.nrows), ctx.nrows)


def f_nooffields(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    t = ctx.runner.lookup_table(_scalar_arg_text(ctx, args[0]))
    return Duals.nulls(ctx.nrows) if t is None else Duals.const(float(len(t.columns)), ctx.nrows)


def f_nooftables(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    return Duals.const(float(len(ctx.runner.tables)), ctx.nrows)


def f_tablename(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    i = _first_num(ctx.eval(args[0]))
    names = list(ctx.runner.tables)
    if np.isnan(i) or not 0 <= int(i) < len(names):
        return Duals.nulls(ctx.nrows)
    return Duals.const(names[int(i)], ctx.nrows)


def f_tablenumber(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    name = _scalar_arg_text(ctx, args[0])
    names = list(ctx.runner.tables)
    return Duals.const(float(names.index(name)), ctx.nrows) if name in names else Duals.nulls(ctx.nrows)


def f_fieldname(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    i = _first_num(ctx.eval(args[0]))
    t = ctx.runner.lookup_table(_scalar_arg_text(ctx, args[1])) if len(args) > 1 else None
    if t is None or np.isnan(i) or not 1 <= int(i) <= len(t.columns):
        return Duals.nulls(ctx.nrows)
    return Duals.const(list(t.columns)[int(i) - 1], ctx.nrows)


def f_fieldnumber(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    f = _scalar_arg_text(ctx, args[0])
    t = ctx.runner.lookup_table(_scalar_arg_text(ctx, args[1])) if len(args) > 1 else None
    if t is None or f not in t.columns:
        return Duals.const(0.0, ctx.nrows)
    return Duals.const(float(list(t.columns).index(f) + 1), ctx.nrows)


def f_fieldvaluecount(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    fname = _scalar_arg_text(ctx, args[0])
    sym = ctx.runner.field_symbols(fname)
    if sym is None:
        raise StatementError(f"Field '{fname}' not found", FIELD_NOT_FOUND)
    return Duals.const(float(len(sym)), ctx.nrows)


def f_fieldvalue(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    fname = _scalar_arg_text(ctx, args[0])
    sym = ctx.runner.field_symbols(fname)
    if sym is None:
        raise StatementError(f"Field '{fname}' not found", FIELD_NOT_FOUND)
    i = as_numbers(ctx.eval(args[1]), ctx.locale)
    i = np.where(np.isnan(i), 0, i).astype(np.int64) - 1
    ok = (i >= 0) & (i < len(sym))
    codes = np.where(ok, i, -1).astype(np.int32)
    return column_duals(Column(sym, codes))


def _file_part(ctx: ScriptContext, part: str) -> Duals:
    p = ctx.file_path()
    if not p:
        return Duals.nulls(ctx.nrows)
    from pathlib import PurePath

    pp = PurePath(p)
    value = {
        "name": pp.name,
        "base": pp.stem,
        "path": p,
        "ext": pp.suffix.lstrip("."),
        "dir": str(pp.parent),
    }[part]
    return Duals.const(value, ctx.nrows)


def f_ispartialreload(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    return Duals.booleans(np.full(ctx.nrows, ctx.runner.partial))


#: A script function answered by the context: ``f(ctx, argument nodes)``.
ContextFunction = Callable[[ScriptContext, tuple[Node, ...]], Duals]

_FUNCTIONS: dict[str, ContextFunction] = {
    "ISPARTIALRELOAD": f_ispartialreload,
    "RECNO": f_recno,
    "ROWNO": f_rowno,
    "ITERNO": f_iterno,
    "PEEK": f_peek,
    "PREVIOUS": f_previous,
    "EXISTS": f_exists,
    "APPLYMAP": f_applymap,
    "NOOFROWS": f_noofrows,
    "NOOFFIELDS": f_nooffields,
    "NOOFTABLES": f_nooftables,
    "TABLENAME": f_tablename,
    "TABLENUMBER": f_tablenumber,
    "FIELDNAME": f_fieldname,
    "FIELDNUMBER": f_fieldnumber,
    "FIELDVALUECOUNT": f_fieldvaluecount,
    "FIELDVALUE": f_fieldvalue,
    "FILENAME": lambda ctx, a: _file_part(ctx, "name"),
    "FILEBASENAME": lambda ctx, a: _file_part(ctx, "base"),
    "FILEPATH": lambda ctx, a: _file_part(ctx, "path"),
    "FILEEXTENSION": lambda ctx, a: _file_part(ctx, "ext"),
    "FILEDIR": lambda ctx, a: _file_part(ctx, "dir"),
}

from engine.script import script_functions as _script_functions  # noqa: E402,F401  (adds AutoNumber, Qvd*...)

SCRIPT_FUNCTIONS = frozenset(_FUNCTIONS)


@dataclass
class Mapping:
    """A MAPPING table: first column key → second column value (first row of a key wins)."""

    keys: Column
    values: Column

    def apply(self, key: Duals, default: Duals) -> Duals:
        n = len(key)
        knum, ktext = self.keys.values()
        vcodes = self.values.codes
        # lookup over the *distinct* argument values
        by_num: dict[float, int] = {}
        by_text: dict[str, int] = {}
        for i in range(len(knum) - 1, -1, -1):  # reversed so the first row wins
            if not np.isnan(knum[i]):
                by_num[float(knum[i])] = i
            if ktext[i] is not None:
                by_text[ktext[i]] = i
        arg_text = key.display_text()
        arg_num = key.num
        rows = np.full(n, -1, dtype=np.int64)
        if n:
            enc = pc.dictionary_encode(pa.array(arg_text, type=pa.string()))
            idx = enc.indices.to_numpy(zero_copy_only=False)
            idx = (
                np.where(np.isnan(idx), -1, idx).astype(np.int64)
                if idx.dtype.kind == "f"
                else idx.astype(np.int64)
            )
            dict_text = enc.dictionary.to_numpy(zero_copy_only=False)
            first = np.full(len(dict_text), -1, dtype=np.int64)
            ok = np.flatnonzero(idx >= 0)
            if len(ok):
                _, f = np.unique(idx.take(ok), return_index=True)
                first[np.unique(idx.take(ok))] = ok.take(f)
            hit = np.full(len(dict_text) + 1, -1, dtype=np.int64)
            for d in range(len(dict_text)):
                r = -1
                num = arg_num[first[d]] if first[d] >= 0 else np.nan
                if not np.isnan(num):
                    r = by_num.get(float(num), -1)
                if r < 0:
                    r = by_text.get(dict_text[d], -1)
                hit[d] = r
            rows = hit.take(idx)
        found = rows >= 0
        vals = column_duals(
            Column(
                self.values.symbols,
                np.where(found, vcodes.take(np.maximum(rows, 0)) if len(vcodes) else -1, -1).astype(np.int32),
            )
        )
        miss = np.flatnonzero(~found)
        if len(miss):
            num, text = vals.num.copy(), vals.text.copy()
            num[miss] = default.num.take(miss)
            text[miss] = default.text.take(miss)
            vals = Duals(num, text)
        return vals
