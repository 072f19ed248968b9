"""Hypercube fast path for star and snowflake joins: group and aggregate without a joined frame.

The general path (:mod:`engine.calc.join`) materialises, for every joined row, the row of each table,
then reads each dimension's codes through those rows. When every link of the join tree is
many-to-one (each key symbol finds at most one row of the child table), a root row's dimension
values depend only on the code of the root's key column: ``Country`` of a fact row is
``country_of_custid[CustID code]``. So per model we derive, for each root column feeding the
dimensions, one small array ``symbol → contribution to the composite group key`` (the dimensions'
codes in mixed radix) and the grouping becomes, per root row, a few gathers through small arrays
and a ``bincount``, chunk by chunk on two threads. Measures that aggregate fields of the root table
(``Sum``, ``Count``, ``Avg``, with ``TOTAL`` and arithmetic around them) are answered from per-group
sums and counts; the grand total adds those up instead of a second pass over the rows.

Rows of a linked table that no possible root row reaches (a customer without orders) form groups
of their own, exactly as the general path appends them; they are found at the linked table's size
(symbol-level coverage from :meth:`Inference.key_symbols`), never by a pass over the root.

Without dimensions (a KPI over one table's fields) the same pass with a single group replaces the general
path's frame and per-row numbers.

Anything else (one-to-many links, several unlinked components, calculated dimensions, measures over
other tables, set analysis, DISTINCT, other aggregations) raises :class:`StarFallback` and the caller
takes the general path, which stays the reference semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from engine.calc.aggregate import FieldDim, Grouping, VariableLookup, field_duals
from engine.calc.join import Component, Frame, JoinPlan, _walk
from engine.calc.setexpr import SetResolver, StatesLookup
from engine.expr import Call, Duals, FieldRef, Locale
from engine.model import kernels
from engine.model.datamodel import DataModel
from engine.model.index import model_index
from engine.model.selection import Inference

#: largest composite key span (product of ``size + 1`` over the dimensions) handled by ``bincount``
SPAN_LIMIT = 1 << 20
_SUPPORTED = frozenset({"SUM", "COUNT", "AVG"})


class StarFallback(Exception):
    """The fast path does not apply here; the caller computes the cube the general way."""


@dataclass(frozen=True)
class StarPlan:
    """What depends on the model only: per root column, each symbol's share of the group key."""

    comp: Component
    order: tuple[str, ...]
    #: (root column, contribution per symbol (int16/int32), last slot = NULL code)
    hops: tuple[tuple[str, np.ndarray], ...]
    strides: tuple[int, ...]
    sizes: tuple[int, ...]
    span: int

    @property
    def root(self) -> str:
        return self.comp.root


def _edge_into(comp: Component) -> dict[str, tuple[str, str]]:
    return {e.child: (e.parent, e.key) for e in comp.edges}


def _chain_codes(model: DataModel, comp: Component, holder: str, field: str) -> tuple[str, np.ndarray]:
    """(first-hop key of the root, code of ``field`` in ``holder`` per symbol of that key; ``-1``
    where the chain finds no row or a NULL), following the tree's many-to-one links."""
    idx = model_index(model)
    parent_of = _edge_into(comp)
    path = []
    cur = holder
    while cur != comp.root:
        p, k = parent_of[cur]
        path.append((p, k, cur))
        cur = p
    path.reverse()
    first_key = path[0][1]
    n = idx.nsym(first_key)
    codes = np.append(np.arange(n, dtype=np.int64), -1)  # per symbol of the first key (+ NULL)
    rows: np.ndarray | None = None
    for parent, key, child in path:
        if rows is not None:
            raw = model.tables[parent].columns.raw(key).astype(np.int64)
            codes = np.where(rows >= 0, raw.take(np.maximum(rows, 0)), -1)
        row_of = idx.lookup(child, key).row_of
        assert row_of is not None
        rows = row_of.take(codes)  # trailing -1 slot: NULL codes find no row
    assert rows is not None
    raw = model.tables[holder].columns.raw(field).astype(np.int64)
    return first_key, np.where(rows >= 0, raw.take(np.maximum(rows, 0)), -1)


def star_plan(model: DataModel, plan: JoinPlan, dims: list[str], measure_fields: set[str]) -> StarPlan | None:
    """The fast-path plan for these dimensions and measure fields, or None when it does not apply
    (cached per model)."""
    key = "\x00".join(["|".join(plan.tables), "|".join(dims), "|".join(sorted(measure_fields))])

    def build() -> tuple[StarPlan | None]:
        return (_build_plan(model, plan, dims, measure_fields),)

    return model_index(model).field_cached("star_plan", key, build)[0]


def _build_plan(
    model: DataModel, plan: JoinPlan, dims: list[str], measure_fields: set[str]
) -> StarPlan | None:
    if len(plan.components) != 1 or (not dims and len(plan.components[0].tables) != 1):
        return None  # without dimensions: measures over one table (KPIs), one group
    comp = plan.components[0]
    idx = model_index(model)
    root = comp.root
    if any(not idx.lookup(e.child, e.key).unique for e in comp.edges):
        return None
    root_cols = model.tables[root].columns
    if any(f not in root_cols for f in measure_fields):
        return None
    sizes = [len(model.fields[f].symbols) for f in dims]
    span = 1
    for s in sizes:
        span *= s + 1
    if span > SPAN_LIMIT:
        return None
    strides = []
    acc = 1
    for s in reversed(sizes):  # mixed radix, first dimension most significant (as group_rows)
        strides.append(acc)
        acc *= s + 1
    strides.reverse()
    parent_of = _edge_into(comp)
    contrib: dict[str, np.ndarray] = {}
    for f, stride in zip(dims, strides, strict=True):
        holders = [t for t in comp.tables if f in model.tables[t].columns]
        if not holders:
            return None
        # later holders only fill a frame row where the first has no value: a no-op when each is
        # reached through a link on this very field (a NULL or missing key finds no row there)
        if any(parent_of.get(h, ("", ""))[1] != f for h in holders[1:]):
            return None
        h0 = holders[0]
        if h0 == root:
            column = f
            codes = np.append(np.arange(idx.nsym(f), dtype=np.int64), -1)
        else:
            column, codes = _chain_codes(model, comp, h0, f)
        part = (codes + 1) * stride
        contrib[column] = contrib[column] + part if column in contrib else part
    # the narrowest dtype holding every key keeps the per-symbol tables in cache
    dt = np.int16 if span <= np.iinfo(np.int16).max else np.int32
    hops = tuple((c, a.astype(dt)) for c, a in contrib.items())
    return StarPlan(comp, plan.tables, hops, tuple(strides), tuple(sizes), span)


@dataclass
class FieldStats:
    """Per fine group: non-NULL values, numeric values and the sum of the numbers of a root field."""

    count: np.ndarray
    numeric: np.ndarray
    total: np.ndarray

    def take(self, idx: np.ndarray) -> FieldStats:
        return FieldStats(self.count.take(idx), self.numeric.take(idx), self.total.take(idx))


@dataclass
class StarGroups:
    """The fine groups (every dimension-code combination that occurs) and their statistics."""

    n: int
    group_codes: list[np.ndarray]
    stats: dict[str, FieldStats]


#: Per fine group: a field's sum, numeric count and non-NULL count (None where not needed).
_Sums: TypeAlias = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


def _weight_tables(model: DataModel, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code (last slot NULL): the number (0 where none), is-numeric and is-not-NULL weights."""

    def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(model.fields[field].symbols)
        d = field_duals(model, field, np.append(np.arange(n, dtype=np.int64), -1))
        isnum = ~np.isnan(d.num)
        nonnull = ~d.is_null()
        return np.where(isnum, d.num, 0.0), isnum.astype(np.float64), nonnull.astype(np.float64)

    return model_index(model).field_cached("star_weights", field, build)


def _root_groups(
    model: DataModel, inf: Inference, sp: StarPlan, fields: list[str]
) -> tuple[np.ndarray, dict[str, _Sums]]:
    """Row count and per-field (sum, numeric count, non-NULL count) per composite key over the
    root's possible rows (None: equal to the row count)."""
    root = sp.root
    cols = model.tables[root].columns
    idx = model_index(model)
    contiguous = inf.rows(root) is None
    ri = None if contiguous else inf.row_index(root)
    n = model.tables[root].nrows if ri is None else len(ri)
    span = sp.span
    weights = []
    for f in fields:
        w, isnum, nonnull = _weight_tables(model, f)
        present = idx.present(root, f)  # which codes occur at all (NULL in the last slot)
        need_num = bool((isnum[present] == 0).any())
        need_nn = bool((nonnull[present] == 0).any())
        weights.append((f, w, isnum if need_num else None, nonnull if need_nn else None))
    chunk = max(kernels.CHUNK, 8 * span)

    def work(lo: int, hi: int) -> tuple[np.ndarray, list[_Sums]]:
        rows = np.zeros(span, dtype=np.int64)
        acc: list[_Sums] = [
            (
                np.zeros(span),
                np.zeros(span) if num is not None else None,
                np.zeros(span) if nn is not None else None,
            )
            for _, _, num, nn in weights
        ]
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            ii = None if ri is None else ri[s:e]

            def col(name: str, s: int = s, e: int = e, ii: np.ndarray | None = ii) -> np.ndarray:
                a = cols.raw(name)
                return a[s:e] if ii is None else a.take(ii)

            key: np.ndarray | None = None
            for column, contrib in sp.hops:
                part = contrib.take(col(column), mode="wrap")  # wrap: code -1 reads the NULL slot
                if key is None:
                    key = part
                else:
                    key += part
            if key is None:  # no dimensions: one group
                key = np.zeros(e - s, dtype=np.intp)
            rows += np.bincount(key, minlength=span)
            for (f, w, num, nn), (a_sum, a_num, a_nn) in zip(weights, acc, strict=True):
                c = col(f)
                a_sum += np.bincount(key, weights=w.take(c, mode="wrap"), minlength=span)
                if num is not None and a_num is not None:  # both or neither
                    a_num += np.bincount(key, weights=num.take(c, mode="wrap"), minlength=span)
                if nn is not None and a_nn is not None:
                    a_nn += np.bincount(key, weights=nn.take(c, mode="wrap"), minlength=span)
        return rows, acc

    parts = kernels.run_parts(work, n) if n else [work(0, 0)]
    rows, acc = parts[0]
    for r2, acc2 in parts[1:]:
        rows += r2
        for a, b in zip(acc, acc2, strict=True):
            for x, y in zip(a, b, strict=True):
                if x is not None and y is not None:  # both or neither
                    x += y
    out = {f: a for (f, _, _, _), a in zip(weights, acc, strict=True)}
    return rows, out


def _extra_frame(model: DataModel, inf: Inference, sp: StarPlan) -> Frame | None:
    """The rows the general path appends for linked-table rows no possible root row reaches (the
    tables the chart reads only), as a small frame; None when there are none."""
    comp = sp.comp
    idx = model_index(model)
    in_frame: dict[str, np.ndarray] = {}
    for e in comp.edges:  # breadth first: a parent's coverage is known before its children's
        row_of = idx.lookup(e.child, e.key).row_of
        assert row_of is not None
        if e.parent == comp.root:
            rows = row_of.take(np.flatnonzero(inf.key_symbols(comp.root, e.key)[:-1]))
        else:
            prow = np.flatnonzero(in_frame[e.parent])
            rows = row_of.take(model.tables[e.parent].columns.raw(e.key).take(prow))
        m = np.zeros(model.tables[e.child].nrows + 1, dtype=bool)
        m[rows] = True  # -1 lands in the spare last slot
        in_frame[e.child] = m[:-1]
    parts: list[dict[str, np.ndarray]] = []
    for t in comp.tables[1:]:
        if t not in comp.used:
            continue
        mask = inf.rows(t)
        uncovered = np.flatnonzero(~in_frame[t] if mask is None else mask & ~in_frame[t])
        if not uncovered.size:
            continue
        sub, _ = _walk(model, inf, comp.edges, t, uncovered)
        parts.append(sub)
        for tt, r in sub.items():
            in_frame[tt][r[r >= 0]] = True
    if not parts:
        return None
    sizes = [len(next(iter(p.values()))) for p in parts]
    frame_rows = {
        t: np.concatenate(
            [p.get(t, np.full(m, -1, dtype=np.int64)) for p, m in zip(parts, sizes, strict=True)]
        )
        for t in comp.tables
    }
    return Frame(sum(sizes), frame_rows, sp.order)


def star_groups(
    model: DataModel, inf: Inference, sp: StarPlan, dims: list[str], fields: list[str]
) -> StarGroups:
    """Fine groups and per-group statistics of ``fields`` (root columns) under ``inf``."""
    rows, acc = _root_groups(model, inf, sp, fields)
    exists = rows > 0
    if not dims:
        exists[0] = True  # a cube without dimensions has its one row even over no rows
    extra = _extra_frame(model, inf, sp)
    if extra is not None:
        key = np.zeros(extra.n, dtype=np.int64)
        for f, stride in zip(dims, sp.strides, strict=True):
            key += (FieldDim(model, f).codes(extra).astype(np.int64) + 1) * stride
        exists[key] = True
    keys = np.flatnonzero(exists)
    group_codes = [
        (keys // stride) % (size + 1) - 1 for stride, size in zip(sp.strides, sp.sizes, strict=True)
    ]
    count = rows.take(keys).astype(np.float64)
    stats = {}
    for f, (a_sum, a_num, a_nn) in acc.items():
        stats[f] = FieldStats(
            count if a_nn is None else a_nn.take(keys),
            count if a_num is None else a_num.take(keys),
            a_sum.take(keys),
        )
    return StarGroups(len(keys), group_codes, stats)


class StarAggregator:
    """Answers the chart's aggregations from :class:`StarGroups`; a grouping's ``gid`` maps each
    fine group to its chart group (``-1``: none). Raises :class:`StarFallback` for anything it
    cannot answer exactly."""

    def __init__(
        self,
        model: DataModel,
        inf: Inference,
        groups: StarGroups,
        plan: JoinPlan,
        *,
        locale: Locale,
        variables: VariableLookup,
        states: StatesLookup | None,
    ) -> None:
        self.model = model
        self.inf = inf
        self.groups = groups
        self.locale = locale
        self.variables = variables
        self.sets = SetResolver(model, inf, plan, states=states, variables=variables, locale=locale)

    def aggregate(self, call: Call, grouping: Grouping) -> Duals:
        if (
            call.name not in _SUPPORTED
            or call.set_expr is not None
            or call.distinct
            or call.all
            or len(call.args) != 1
            or not isinstance(call.args[0], FieldRef)
            or call.args[0].name not in self.groups.stats
        ):
            raise StarFallback(call.name)
        st = self.groups.stats[call.args[0].name]
        g, n = grouping.gid, grouping.n
        if not grouping.all_rows:
            keep = np.flatnonzero(g >= 0)
            g, st = g.take(keep), st.take(keep)

        def per_group(w: np.ndarray) -> np.ndarray:
            return np.bincount(g, weights=w, minlength=n)[:n] if g.size else np.zeros(n)

        if call.name == "SUM":
            return Duals.from_numbers(per_group(st.total))
        if call.name == "COUNT":
            return Duals.from_numbers(per_group(st.count))
        cnt = per_group(st.numeric)
        with np.errstate(invalid="ignore", divide="ignore"):
            return Duals.from_numbers(np.where(cnt > 0, per_group(st.total) / np.maximum(cnt, 1), np.nan))
