"""Aggregations per chart group, vectorised with group codes and ``np.bincount``.

The expression evaluator (``engine.expr``) calls back ``aggregate(call)`` for each aggregation; this
module answers it over a :class:`~engine.calc.join.Frame` split into groups. The engine's rule for
which rows an aggregation sees: when every field of the argument lives in one table, the
aggregation runs over the *distinct* rows of that table associated with the group (a dimension on
the "many" side does not multiply a measure on the "one" side); otherwise over the joined rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from engine.calc.join import Frame
from engine.errors import INVALID_PARAMETERS, QixError
from engine.expr import Call, Duals, EvalContext, FieldRef, Locale, Node, UnknownField, evaluate, fields_of
from engine.expr.aggregations import _bincount, _distinct_pairs, _factorize, has_group_kernel, reduce_values
from engine.expr.functions import FUNCTIONS, as_numbers
from engine.expr.limits import check_length, check_rows, text_lengths
from engine.expr.objects import NO_TEXT
from engine.model.datamodel import DataModel
from engine.model.selection import (
    ALTERNATIVE,
    EXCL_LOCKED,
    EXCL_SELECTED,
    EXCLUDED,
    LOCKED,
    OPTION,
    SELECTED,
    Inference,
)

VariableLookup = Callable[[str], "str | None"]


class DimSource(Protocol):
    """One grouping column: a symbol code per frame row (``-1`` = NULL), ``size`` distinct codes."""

    name: str

    @property
    def size(self) -> int: ...

    def codes(self, frame: Frame) -> np.ndarray: ...


@dataclass
class FieldDim:
    """A field as a grouping column (its codes are the field's symbol indexes)."""

    model: DataModel
    name: str

    @property
    def size(self) -> int:
        return len(self.model.fields[self.name].symbols)

    def codes(self, frame: Frame) -> np.ndarray:
        return frame.codes(self.model, self.name)


def composite_keys(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray | None:
    """Mixed-radix int64 key of code tuples (``-1`` included), or None when it would overflow."""
    span = 1
    for s in sizes:
        span *= s + 1
        if span >= 1 << 62:
            return None
    if not codes:
        return None
    key = codes[0].astype(np.int64) + 1
    for c, s in zip(codes[1:], sizes[1:], strict=True):
        key *= s + 1
        key += c
        key += 1
    return key


def _tuple_ids(codes: list[np.ndarray], n_first: int) -> np.ndarray:
    """Dense ids of code tuples (rows of the stacked columns); used when keys would overflow."""
    stacked = np.stack([c.astype(np.int64) for c in codes], axis=1)
    _, inv = np.unique(stacked, axis=0, return_inverse=True)
    return inv.reshape(-1)


def match_groups(group_codes: list[np.ndarray], sizes: list[int], row_codes: list[np.ndarray]) -> np.ndarray:
    """For each row (codes per column) the group with the same codes, or ``-1``."""
    ngroups = len(group_codes[0]) if group_codes else 0
    gk = composite_keys(group_codes, sizes)
    rk = composite_keys(row_codes, sizes)
    if gk is None or rk is None:
        ids = _tuple_ids(
            [np.concatenate([g, r]) for g, r in zip(group_codes, row_codes, strict=True)], ngroups
        )
        gk, rk = ids[:ngroups], ids[ngroups:]
    if not ngroups:
        return np.full(len(rk), -1, dtype=np.int64)
    order = np.argsort(gk, kind="stable")
    sk = gk.take(order)
    pos = np.minimum(np.searchsorted(sk, rk), ngroups - 1)
    return np.where(sk.take(pos) == rk, order.take(pos), -1).astype(np.int64)


def group_rows(
    codes: list[np.ndarray], sizes: list[int], n: int, dense_limit: int = 1 << 24
) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Dense group id per row from column codes (``-1`` = NULL is a value of its own), and each
    group's codes per column; groups come out in ascending (col 0, col 1, ...) code order."""
    if not codes:
        return np.zeros(n, dtype=np.int64), 1, []
    comp = codes[0].astype(np.int64)
    comp += 1
    span = sizes[0] + 1
    densified = False
    for c, s in zip(codes[1:], sizes[1:], strict=True):
        if span * (s + 1) >= 1 << 62:
            uniq, comp = np.unique(comp, return_inverse=True)
            comp = comp.astype(np.int64)
            span = len(uniq)
            densified = True
        comp *= s + 1
        comp += c
        comp += 1
        span *= s + 1
    if span <= max(dense_limit, 2 * n):
        present = np.zeros(span, dtype=bool)
        present[comp] = True
        keys = np.flatnonzero(present)
        dense = np.full(span, -1, dtype=np.int64)
        dense[keys] = np.arange(len(keys))
        gid = dense.take(comp)
        if not densified:  # mixed radix: decode each column's code from the key
            group_codes = []
            rest = keys
            for s in reversed(sizes):
                group_codes.append(rest % (s + 1) - 1)
                rest = rest // (s + 1)
            return gid, len(keys), group_codes[::-1]
        first = np.full(len(keys), -1, dtype=np.int64)
        first[gid[::-1]] = np.arange(n - 1, -1, -1)  # first row of each group
    else:
        keys, first, gid = np.unique(comp, return_index=True, return_inverse=True)
    group_codes = [c.take(first) for c in codes]
    return gid, len(keys), group_codes


@dataclass
class Grouping:
    """Group id per frame row (``-1`` = row belongs to no group) and the number of groups.

    ``dims`` and ``group_codes`` (per column, the code of each group) describe the groups by value,
    so that another frame (a set-analysis record set) can be split into the same groups."""

    gid: np.ndarray
    n: int
    #: every frame row belongs to a group (lets aggregations skip filtering)
    total: bool = False
    dims: tuple[DimSource, ...] = ()
    group_codes: list[np.ndarray] | None = None

    @property
    def all_rows(self) -> bool:
        return self.total or not self.gid.size or int(self.gid.min()) >= 0

    def regroup(self, frame: Frame) -> np.ndarray:
        """Group id of each row of another frame (``-1`` where its values form no group here)."""
        if not self.dims or self.group_codes is None:
            return np.zeros(frame.n, dtype=np.int64)
        return match_groups(
            self.group_codes, [d.size for d in self.dims], [d.codes(frame) for d in self.dims]
        )

    def subset(self, keep: list[int]) -> tuple[Grouping, np.ndarray]:
        """The coarser grouping on the columns ``keep`` (TOTAL <fields>), and each group's id in it."""
        if not keep or self.group_codes is None:
            return Grouping(np.where(self.gid >= 0, 0, -1), 1), np.zeros(self.n, dtype=np.int64)
        sub_codes = [self.group_codes[i] for i in keep]
        sizes = [self.dims[i].size for i in keep]
        sub_of_group, nsub, sub_group_codes = group_rows(sub_codes, sizes, self.n)
        if self.n:
            gid = np.where(self.gid >= 0, sub_of_group.take(np.maximum(self.gid, 0)), -1)
        else:  # no group (all suppressed): no row belongs to a coarser one either
            gid = np.full(len(self.gid), -1, dtype=np.int64)
        return Grouping(
            gid, nsub, dims=tuple(self.dims[i] for i in keep), group_codes=sub_group_codes
        ), sub_of_group


def field_duals(model: DataModel, field_name: str, codes: np.ndarray) -> Duals:
    """The dual values of a field for a code column (``-1`` = NULL)."""
    syms = model.fields[field_name].symbols
    num = np.append(syms.num, np.nan).take(codes)
    text = np.append(syms.text, NO_TEXT).take(codes)
    return Duals(num, text)


class RowContext:
    """Evaluation frame for an aggregation argument: one value per row of the row space."""

    def __init__(
        self,
        model: DataModel,
        codes_of: Callable[[str], np.ndarray],
        nrows: int,
        locale: Locale,
        variables: VariableLookup,
    ) -> None:
        self.model = model
        self._codes_of = codes_of
        self.nrows = nrows
        self.locale = locale
        self._variables = variables
        self._codes: dict[str, np.ndarray] = {}

    def codes(self, name: str) -> np.ndarray:
        hit = self._codes.get(name)
        if hit is None:
            hit = self._codes_of(name)
            self._codes[name] = hit
        return hit

    def field(self, name: str) -> Duals:
        if name not in self.model.fields:
            raise UnknownField(name)
        return field_duals(self.model, name, self.codes(name))

    def variable(self, name: str) -> str | None:
        return self._variables(name)

    def aggregate(self, call: Call) -> Duals:
        raise QixError(INVALID_PARAMETERS, call.name, "Nested aggregation not allowed")

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        return None


class Aggregator:
    """Evaluates aggregation calls over a frame split by a grouping."""

    def __init__(
        self,
        model: DataModel,
        frame: Frame,
        locale: Locale,
        variables: VariableLookup,
        *,
        inf: Inference | None = None,
        sets: SetSource | None = None,
    ) -> None:
        self.model = model
        self.frame = frame
        self.locale = locale
        self.variables = variables
        #: the inference the frame was built from (field functions such as GetSelectedCount read it)
        self.inf = inf
        #: resolves set expressions to aggregators over their record sets
        self.sets = sets
        self._codes: dict[tuple[str, str], np.ndarray] = {}
        self._nums: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._regrouped: dict[tuple[int, int], tuple[Grouping, np.ndarray]] = {}

    def _numbers(self, field_name: str, codes: np.ndarray) -> np.ndarray:
        """Field numbers for a code column; cached while the same column is reused (measure and
        grand total over the same rows)."""
        hit = self._nums.get(id(codes))
        if hit is not None and hit[0] is codes:
            return hit[1]
        num = np.append(self.model.fields[field_name].symbols.num, np.nan).take(codes)
        self._nums[id(codes)] = (codes, num)
        return num

    def _row_space(
        self, arg_fields: set[str], grouping: Grouping, distinct: bool = False
    ) -> tuple[np.ndarray, RowContext]:
        """Group id per row of the row space, and the context reading fields over it."""
        frame, model = self.frame, self.model
        gid = grouping.gid
        tables = {frame.source_table(model, f) for f in arg_fields}
        tables.discard(None)
        # DISTINCT over a key field counts the values of every holder (a key without facts too)
        keyed = distinct and any(f in model.key_fields for f in arg_fields)
        if len(tables) == 1 and not (keyed and not frame.complete(next(iter(tables)))):  # type: ignore[arg-type]
            u = next(iter(tables))
            assert u is not None
            r = frame.rows[u]
            cols = model.tables[u].columns
            if frame.is_unique(u) and frame.complete(u) and grouping.all_rows:
                # the common fact-table case: every frame row is one row of ``u``, no filtering
                cache = self._codes

                def whole(f: str) -> np.ndarray:
                    hit = cache.get((u, f))
                    if hit is None:
                        hit = cols.raw(f).take(r)  # stored dtype: the codes only index symbols
                        cache[(u, f)] = hit
                    return hit

                return gid, RowContext(model, whole, len(r), self.locale, self.variables)
            sel = np.flatnonzero((r >= 0) & (gid >= 0))
            if frame.is_unique(u):
                g, rows = gid.take(sel), r.take(sel)
            else:
                nu = max(model.tables[u].nrows, 1)
                pairs = np.unique(gid.take(sel).astype(np.int64) * nu + r.take(sel))
                g, rows = pairs // nu, pairs % nu
            return g, RowContext(
                model, lambda f: cols.raw(f).take(rows), len(rows), self.locale, self.variables
            )
        sel = np.flatnonzero(gid >= 0)
        g = gid.take(sel) if sel.size != len(gid) else gid

        def codes_of(f: str) -> np.ndarray:
            c = frame.codes(model, f)
            return c.take(sel) if sel.size != len(gid) else c

        return g, RowContext(model, codes_of, len(g), self.locale, self.variables)

    def aggregate(self, call: Call, grouping: Grouping) -> Duals:
        if call.set_expr is not None:
            return self._aggregate_in_set(call, grouping)
        if not call.args:
            raise QixError(INVALID_PARAMETERS, call.name, f"{call.name} needs an argument")
        spec = FUNCTIONS.get(call.name)
        if spec is not None and not spec.chart:  # where a function is allowed is part of its registry entry
            raise QixError(
                INVALID_PARAMETERS, call.name, f"{call.name} is a script function, not allowed in a chart"
            )
        if call.name == "AGGR":  # Aggr outside an aggregation: its value where it has only one
            g, values = self.aggr_table(call, grouping)
            return reduce_values("ONLY", g, grouping.n, values, self.locale)
        if call.name in ("RANK", "HRANK"):
            raise QixError(INVALID_PARAMETERS, call.name, f"{call.name} is not allowed inside an aggregation")
        arg = call.args[0]
        if isinstance(arg, Call) and arg.name == "AGGR":
            g, values = self.aggr_table(arg, grouping)
            if call.distinct:
                keep = _distinct_pairs(g, _factorize(values))
                g, values = g.take(keep), values.take(keep)
            extra = self._extra_args(call, RowlessContext(self, len(g)))
            return reduce_values(call.name, g, grouping.n, values, self.locale, extra)
        arg_fields = {f for f in fields_of(arg) if f in self.model.fields}
        if (call.name == "FIRSTSORTEDVALUE" or has_group_kernel(call.name)) and len(call.args) > 1:
            for extra_arg in call.args[1:]:
                arg_fields |= {f for f in fields_of(extra_arg) if f in self.model.fields}
        g, row_ctx = self._row_space(arg_fields, grouping, call.distinct)
        ctx: RowContext | _TakenContext = row_ctx
        if isinstance(arg, FieldRef) and arg.name in self.model.fields:
            codes = ctx.codes(arg.name)
            if call.distinct:
                keep = _distinct_pairs(g, codes.astype(np.int64))
                g, codes = g.take(keep), codes.take(keep)
                ctx = _TakenContext(ctx, keep)
            if call.name in ("SUM", "AVG", "MIN", "MAX"):
                return _numeric_only(call.name, g, grouping.n, self._numbers(arg.name, codes))
            values = field_duals(self.model, arg.name, codes)
        else:
            values = evaluate(arg, ctx)
            if call.distinct:
                keep = _distinct_pairs(g, _factorize(values))
                g, values = g.take(keep), values.take(keep)
                ctx = _TakenContext(ctx, keep)
        extra = self._extra_args(call, ctx)
        return reduce_values(call.name, g, grouping.n, values, self.locale, extra)

    def _extra_args(self, call: Call, ctx: EvalContext) -> list[Duals] | None:
        """Arguments after the first: Concat's separator, Fractile's fraction, FirstSortedValue's
        weight (per row) and rank."""
        if len(call.args) < 2:
            return None
        if has_group_kernel(call.name):
            return [evaluate(a, ctx) for a in call.args[1:]]
        if call.name not in ("CONCAT", "FRACTILE", "FIRSTSORTEDVALUE"):
            return None
        return [evaluate(a, ctx) for a in call.args[1:3]]

    def _aggregate_in_set(self, call: Call, grouping: Grouping) -> Duals:
        """An aggregation with a set expression: evaluated over the set's records, split into this
        grouping's groups by value."""
        if self.sets is None:
            raise QixError(INVALID_PARAMETERS, call.name, "Set analysis is not available here")
        assert call.set_expr is not None
        sub = self.sets.aggregator(call.set_expr)
        key = (id(sub), id(grouping))
        hit = self._regrouped.get(key)
        if hit is None or hit[0] is not grouping:
            hit = (grouping, grouping.regroup(sub.frame))
            self._regrouped[key] = hit
        inner = Grouping(hit[1], grouping.n, dims=grouping.dims, group_codes=grouping.group_codes)
        return sub.aggregate(replace(call, set_expr=None), inner)

    def aggr_table(self, call: Call, grouping: Grouping) -> tuple[np.ndarray, Duals]:
        """``Aggr(expr, d1, d2, ...)``: ``expr`` per combination of (group, d1, d2, ...) over this
        frame; returns each combination's group and value."""
        dims: list[DimSource] = []
        for a in call.args[1:]:
            if not isinstance(a, FieldRef) or a.name not in self.model.fields:
                raise QixError(INVALID_PARAMETERS, "Aggr", "Aggr dimensions must be field names")
            dims.append(FieldDim(self.model, a.name))
        if not dims:
            raise QixError(INVALID_PARAMETERS, "Aggr", "Aggr needs at least one dimension")
        gid = grouping.gid
        sel = np.flatnonzero(gid >= 0) if not grouping.all_rows else None
        row_codes = [gid if sel is None else gid.take(sel)]
        row_codes += [d.codes(self.frame) if sel is None else d.codes(self.frame).take(sel) for d in dims]
        sizes = [grouping.n] + [d.size for d in dims]
        inner_gid, ninner, inner_codes = group_rows(row_codes, sizes, len(row_codes[0]))
        check_rows(ninner, 8 * (len(dims) + 4), "The Aggr table")
        if sel is not None:
            full = np.full(len(gid), -1, dtype=np.int64)
            full[sel] = inner_gid
            inner_gid = full
        outer_of_inner = inner_codes[0]
        parent_codes = (
            [gc.take(np.maximum(outer_of_inner, 0)) for gc in grouping.group_codes]
            if grouping.group_codes is not None and grouping.dims
            else []
        )
        inner = Grouping(
            inner_gid,
            ninner,
            dims=(*grouping.dims, *dims) if parent_codes else tuple(dims),
            group_codes=parent_codes + inner_codes[1:],
        )
        values = evaluate_measure(call.args[0], self, inner)
        return outer_of_inner, values


class SetSource(Protocol):
    """Resolves a set expression to an :class:`Aggregator` over its records (see ``calc.setexpr``)."""

    def aggregator(self, expr: object) -> Aggregator: ...

    def inference_of(self, state_name: str | None) -> Inference | None: ...


class GroupAggregator(Protocol):
    """What a measure's evaluation asks of its aggregator: :class:`Aggregator` over a frame, or the
    star path's ``StarAggregator`` over pre-summed groups."""

    @property
    def model(self) -> DataModel: ...

    @property
    def locale(self) -> Locale: ...

    @property
    def variables(self) -> VariableLookup: ...

    @property
    def inf(self) -> Inference | None: ...

    @property
    def sets(self) -> SetSource | None: ...

    def aggregate(self, call: Call, grouping: Grouping) -> Duals: ...


class _TakenContext:
    """A row context restricted to some of its rows (after DISTINCT)."""

    def __init__(self, ctx: RowContext | _TakenContext, keep: np.ndarray) -> None:
        self._ctx = ctx
        self._keep = keep
        self.nrows = len(keep)
        self.locale: Locale = ctx.locale
        self.model: DataModel = ctx.model

    def codes(self, name: str) -> np.ndarray:
        return self._ctx.codes(name).take(self._keep)

    def field(self, name: str) -> Duals:
        if name not in self.model.fields:
            raise UnknownField(name)
        return field_duals(self.model, name, self.codes(name))

    def variable(self, name: str) -> str | None:
        return self._ctx.variable(name)

    def aggregate(self, call: Call) -> Duals:
        return self._ctx.aggregate(call)

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        return None


class RowlessContext:
    """Context for constant extra arguments of an aggregation over an Aggr table (no fields)."""

    def __init__(self, agg: GroupAggregator, n: int) -> None:
        self.nrows = n
        self.locale = agg.locale
        self._agg = agg

    def field(self, name: str) -> Duals:
        raise UnknownField(name)

    def variable(self, name: str) -> str | None:
        return self._agg.variables(name)

    def aggregate(self, call: Call) -> Duals:
        raise QixError(INVALID_PARAMETERS, call.name, "Nested aggregation not allowed")

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        return None


def _numeric_only(name: str, g: np.ndarray, n: int, num: np.ndarray) -> Duals:
    """Sum/Avg/Min/Max of field numbers (text-only values count as missing)."""
    ok = np.flatnonzero(~np.isnan(num))
    if ok.size != len(num):
        g, num = g.take(ok), num.take(ok)
    if name == "SUM":
        return Duals.from_numbers(_bincount(g, n, num))
    cnt = _bincount(g, n)
    if name == "AVG":
        with np.errstate(invalid="ignore", divide="ignore"):
            return Duals.from_numbers(np.where(cnt > 0, _bincount(g, n, num) / np.maximum(cnt, 1), np.nan))
    out = np.full(n, np.inf if name == "MIN" else -np.inf)
    (np.minimum if name == "MIN" else np.maximum).at(out, g, num)
    return Duals.from_numbers(np.where(cnt > 0, out, np.nan))


class GroupContext:
    """Evaluation frame of a chart measure: one value per group; fields outside an aggregation are
    read as ``Only(field)``, as the engine does."""

    def __init__(self, aggregator: GroupAggregator, grouping: Grouping) -> None:
        self.agg = aggregator
        self.grouping = grouping
        self.nrows = grouping.n
        self.locale = aggregator.locale

    def field(self, name: str) -> Duals:
        if name not in self.agg.model.fields:
            raise UnknownField(name)
        return self.aggregate(Call("ONLY", (FieldRef(name),)))

    def variable(self, name: str) -> str | None:
        return self.agg.variables(name)

    def aggregate(self, call: Call) -> Duals:
        if call.name in ("RANK", "HRANK"):
            return self._rank(call)
        if call.total:
            keep: list[int] = []
            if call.total_fields:
                wanted = set(call.total_fields)
                keep = [i for i, d in enumerate(self.grouping.dims) if d.name in wanted]
            sub, sub_of_group = self.grouping.subset(keep)
            one = self.agg.aggregate(replace(call, total=False, total_fields=()), sub)
            return one.take(sub_of_group)
        return self.agg.aggregate(call, self.grouping)

    def _rank(self, call: Call) -> Duals:
        """Rank(expr): 1 for the largest value within the column segment (the groups sharing every
        dimension value but the last; TOTAL: all groups). Tied values share the lowest rank."""
        if not call.args:
            raise QixError(INVALID_PARAMETERS, call.name, "Rank needs an argument")
        values = as_numbers(evaluate(call.args[0], self), self.locale)
        n = self.nrows
        g = self.grouping
        if call.total or not g.dims or g.group_codes is None or len(g.dims) < 2:
            seg = np.zeros(n, dtype=np.int64)
        else:
            seg, _, _ = group_rows(g.group_codes[:-1], [d.size for d in g.dims[:-1]], n)
        ok = np.flatnonzero(~np.isnan(values))
        order = ok.take(np.lexsort((-values.take(ok), seg.take(ok))))
        ss, vs = seg.take(order), values.take(order)
        idx = np.arange(len(order))
        new_seg = np.ones(len(order), dtype=bool)
        new_seg[1:] = ss[1:] != ss[:-1]
        seg_start = np.maximum.accumulate(np.where(new_seg, idx, 0)) if len(order) else idx
        new_val = new_seg.copy()
        new_val[1:] |= vs[1:] != vs[:-1]
        val_start = np.maximum.accumulate(np.where(new_val, idx, 0)) if len(order) else idx
        out = np.full(n, np.nan)
        out[order] = (val_start - seg_start + 1).astype(np.float64)
        return Duals.from_numbers(out)

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        if name in FIELD_FUNCTIONS:
            return field_function(self.agg, name, args, self.nrows)
        return None


FIELD_FUNCTIONS = frozenset(
    {
        "GETSELECTEDCOUNT",
        "GETPOSSIBLECOUNT",
        "GETALTERNATIVECOUNT",
        "GETEXCLUDEDCOUNT",
        "GETFIELDSELECTIONS",
        "GETCURRENTSELECTIONS",
        "GETNOTSELECTEDCOUNT",
    }
)


def _const_text(node: Node, agg: GroupAggregator) -> str | None:
    """A field-name argument: a bare name, a string, or an expression giving the name."""
    if isinstance(node, FieldRef):
        return node.name
    v = evaluate(node, RowlessContext(agg, 1))
    return v.display_text()[0] if len(v) else None


def field_function(agg: GroupAggregator, name: str, args: tuple[Node, ...], n: int) -> Duals:
    """GetSelectedCount & co.: read the selection state behind the chart (or a named state)."""
    model = agg.model
    inf = agg.inf
    if name == "GETCURRENTSELECTIONS":
        texts = [_const_text(a, agg) for a in args]
        rec_sep = texts[0] if len(texts) > 0 and texts[0] is not None else "\r\n"
        tag_sep = texts[1] if len(texts) > 1 and texts[1] is not None else ": "
        val_sep = texts[2] if len(texts) > 2 and texts[2] is not None else ", "
        max_v = int(float(texts[3])) if len(texts) > 3 and texts[3] not in (None, "") else 6
        if len(texts) > 4 and agg.sets is not None:
            inf = agg.sets.inference_of(texts[4])
        if inf is None:
            return Duals.nulls(n)
        parts = []
        size = 0
        for f in inf.state.fields:
            if f in model.fields and inf.has_selection(f):
                parts.append(f"{f}{tag_sep}{_selection_text(model, inf, f, val_sep, max_v)}")
                size += len(parts[-1]) + len(rec_sep)
                check_length(size, "GetCurrentSelections")
        return Duals.const(rec_sep.join(parts) if parts else None, n)
    if not args:
        raise QixError(INVALID_PARAMETERS, name, f"{name} needs a field name")
    field = _const_text(args[0], agg)
    state_arg = {
        "GETSELECTEDCOUNT": 2,
        "GETFIELDSELECTIONS": 3,
        "GETPOSSIBLECOUNT": 1,
        "GETALTERNATIVECOUNT": 1,
        "GETEXCLUDEDCOUNT": 1,
        "GETNOTSELECTEDCOUNT": 1,
    }[name]
    if len(args) > state_arg and agg.sets is not None:
        inf = agg.sets.inference_of(_const_text(args[state_arg], agg))
    if field is None or field not in model.fields:
        raise UnknownField(field or "")
    if inf is None:
        return Duals.nulls(n)
    st = inf.states(field)
    ex = inf.exists(field)
    if name == "GETFIELDSELECTIONS":
        texts = [_const_text(a, agg) for a in args[1:3]]
        sep = texts[0] if texts and texts[0] is not None else ", "
        max_v = int(float(texts[1])) if len(texts) > 1 and texts[1] not in (None, "") else 6
        if not inf.has_selection(field):
            return Duals.nulls(n)
        return Duals.const(_selection_text(model, inf, field, sep, max_v), n)
    if name == "GETSELECTEDCOUNT":
        with_excl = False
        if len(args) > 1:
            flag = evaluate(args[1], RowlessContext(agg, 1))
            with_excl = bool(flag.truthy()[0]) if len(flag) else False
        letters = {SELECTED, LOCKED} | ({EXCL_SELECTED, EXCL_LOCKED} if with_excl else set())
    elif name == "GETPOSSIBLECOUNT":
        letters = {SELECTED, LOCKED, OPTION}
    elif name == "GETALTERNATIVECOUNT":
        letters = {ALTERNATIVE}
    elif name == "GETEXCLUDEDCOUNT":
        letters = {ALTERNATIVE, EXCLUDED, EXCL_SELECTED, EXCL_LOCKED}
    else:  # GETNOTSELECTEDCOUNT
        letters = {OPTION, ALTERNATIVE, EXCLUDED}
    want = np.zeros(8, dtype=bool)
    want[list(letters)] = True
    return Duals.const(float(np.count_nonzero(want.take(st) & ex)), n)


def _selection_text(model: DataModel, inf: Inference, field: str, sep: str, max_values: int) -> str:
    """Selected values of a field as text (``'a, b'``), or ``'3 of 26'`` beyond ``max_values``."""
    from engine.calc.sorting import LIST_DEFAULT, sorted_symbols, symbol_keys

    sel = np.flatnonzero(inf.selected_mask(field))
    total = int(np.count_nonzero(inf.exists(field)))
    if len(sel) > max_values:
        return f"{len(sel)} of {total}"
    crit = {k: v for k, v in LIST_DEFAULT.items() if k != "qSortByState"}
    order = sorted_symbols(sel, symbol_keys(model, field, crit))
    texts = model.fields[field].symbols.text.take(order)
    check_length(int(text_lengths(texts).sum()) + len(sep) * max(len(texts) - 1, 0), "The selection text")
    return sep.join(texts.tolist())


def evaluate_measure(node: Node, aggregator: GroupAggregator, grouping: Grouping) -> Duals:
    """One value per group for a measure expression."""
    ctx: EvalContext = GroupContext(aggregator, grouping)
    return evaluate(node, ctx)
