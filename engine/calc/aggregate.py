"""Aggregations per chart group, vectorised with group codes and ``np.bincount``.

The expression evaluator (``engine.expr``) calls back ``aggregate(call)`` for each aggregation; this
module answers it over a :class:`~engine.calc.join.Frame` split into groups. The engine's rule for
which rows an aggregation sees: when every field of the argument lives in one table, the
aggregation runs over the *distinct* rows of that table associated with the group (a dimension on
the "many" side does not multiply a measure on the "one" side); otherwise over the joined rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.calc.join import Frame
from engine.errors import INVALID_PARAMETERS, QixError
from engine.expr import Call, Duals, EvalContext, FieldRef, Locale, Node, UnknownField, evaluate, fields_of
from engine.expr.functions import as_numbers
from engine.model.datamodel import DataModel

VariableLookup = Callable[[str], "str | None"]


@dataclass
class Grouping:
    """Group id per frame row (``-1`` = row belongs to no group) and the number of groups."""

    gid: np.ndarray
    n: int
    #: every frame row belongs to a group (lets aggregations skip filtering)
    total: bool = False

    @property
    def all_rows(self) -> bool:
        return self.total or not self.gid.size or int(self.gid.min()) >= 0


def field_duals(model: DataModel, field_name: str, codes: np.ndarray) -> Duals:
    """The dual values of a field for a code column (``-1`` = NULL)."""
    syms = model.fields[field_name].symbols
    num = np.append(syms.num, np.nan).take(codes)
    text = np.append(syms.text, None).take(codes)
    return Duals(num, text)


class RowContext:
    """Evaluation frame for an aggregation argument: one value per row of the row space."""

    def __init__(self, model: DataModel, codes_of: Callable[[str], np.ndarray], nrows: int,
                 locale: Locale, variables: VariableLookup) -> None:
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


def _bincount(g: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    if n == 1:  # one group (totals): every id is 0
        return np.array([float(weights.sum()) if weights is not None else float(len(g))])
    return np.bincount(g, weights=weights, minlength=n)[:n] if g.size else np.zeros(n)


def _factorize(values: Duals) -> np.ndarray:
    """Distinct-value ids (``-1`` = NULL): values with a number are told apart by it, others by text."""
    ids = np.full(len(values), -1, dtype=np.int64)
    num = values.num
    has = np.flatnonzero(~np.isnan(num))
    offset = 0
    if has.size:
        _, inv = np.unique(num.take(has), return_inverse=True)
        ids[has] = inv
        offset = int(inv.max()) + 1
    txt = np.flatnonzero(np.isnan(num) & values.has_text())
    if txt.size:
        _, inv = np.unique(values.text.take(txt).astype(str), return_inverse=True)
        ids[txt] = inv + offset
    return ids


def _distinct_pairs(g: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct (group, id) pair with a non-NULL id."""
    ok = np.flatnonzero(ids >= 0)
    if not ok.size:
        return ok
    width = int(ids.max()) + 1
    key = g.take(ok).astype(np.int64) * width + ids.take(ok)
    _, first = np.unique(key, return_index=True)
    return ok.take(first)


def _text_order(values: Duals) -> tuple[np.ndarray, np.ndarray]:
    """(texts, rank of each text in code point order) for values' display texts."""
    texts = values.display_text()
    has = np.flatnonzero(np.not_equal(texts, None))
    rank = np.full(len(texts), -1, dtype=np.int64)
    if has.size:
        _, inv = np.unique(texts.take(has).astype(str), return_inverse=True)
        rank[has] = inv
    return texts, rank


def reduce_values(name: str, g: np.ndarray, n: int, values: Duals, locale: Locale,
                  extra: list[Duals] | None = None) -> Duals:
    """Apply aggregation ``name`` to ``values`` grouped by ``g`` (ids ``0..n-1``)."""
    if name == "COUNT":
        ok = np.flatnonzero(~values.is_null())
        return Duals.from_numbers(_bincount(g.take(ok), n))
    if name in ("NUMERICCOUNT", "TEXTCOUNT", "NULLCOUNT", "MISSINGCOUNT"):
        isnum = ~np.isnan(values.num)
        mask = {"NUMERICCOUNT": isnum, "TEXTCOUNT": ~isnum & values.has_text(),
                "NULLCOUNT": values.is_null(), "MISSINGCOUNT": ~isnum}[name]
        return Duals.from_numbers(_bincount(g.take(np.flatnonzero(mask)), n))
    if name in ("ONLY", "MODE"):
        ids = _factorize(values)
        first = _distinct_pairs(g, ids)
        cnt = _bincount(g.take(first), n)
        out_pos = np.full(n, -1, dtype=np.int64)
        if name == "ONLY":
            one = np.flatnonzero(cnt == 1)
            pos = np.full(n, -1, dtype=np.int64)
            pos[g.take(first)] = first
            out_pos[one] = pos.take(one)
        else:
            ok = np.flatnonzero(ids >= 0)
            width = int(ids.max()) + 1 if ok.size else 1
            key = g.take(ok).astype(np.int64) * width + ids.take(ok)
            uk, ufirst, ucnt = np.unique(key, return_index=True, return_counts=True)
            ug = uk // width
            best = np.zeros(n, dtype=np.int64)
            np.maximum.at(best, ug, ucnt)
            top = ucnt == best.take(ug)
            ntop = _bincount(ug[top], n)
            chosen = np.flatnonzero(top)
            out_pos[ug.take(chosen)] = ok.take(ufirst.take(chosen))
            out_pos[ntop != 1] = -1
        valid = out_pos >= 0
        res = values.take(np.maximum(out_pos, 0))
        return Duals(np.where(valid, res.num, np.nan), np.where(valid, res.text, None))
    if name in ("MINSTRING", "MAXSTRING"):
        texts, rank = _text_order(values)
        ok = np.flatnonzero(rank >= 0)
        best = np.full(n, -1, dtype=np.int64)
        order = ok.take(np.argsort(rank.take(ok), kind="stable"))
        if name == "MAXSTRING":
            order = order[::-1]
        gg = g.take(order)
        _, first = np.unique(gg, return_index=True)
        best[gg.take(first)] = order.take(first)
        res = values.take(np.maximum(best, 0))
        valid = best >= 0
        return Duals(np.where(valid, res.num, np.nan), np.where(valid, res.text, None))
    if name == "CONCAT":
        sep = extra[0].display_text("")[0] if extra else ""
        texts, rank = _text_order(values)
        ok = np.flatnonzero(rank >= 0)
        order = ok.take(np.lexsort((rank.take(ok), g.take(ok))))
        out = np.full(n, None, dtype=object)
        gg = g.take(order)
        bounds = np.flatnonzero(np.diff(gg)) + 1
        for chunk in np.split(order, bounds) if order.size else []:
            out[g[chunk[0]]] = sep.join(texts.take(chunk).tolist())
        return Duals(np.full(n, np.nan), out)
    num = as_numbers(values, locale)
    ok = np.flatnonzero(~np.isnan(num))
    gk, vk = g.take(ok), num.take(ok)
    cnt = _bincount(gk, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "SUM":
            return Duals.from_numbers(_bincount(gk, n, vk))
        if name == "AVG":
            return Duals.from_numbers(np.where(cnt > 0, _bincount(gk, n, vk) / np.maximum(cnt, 1), np.nan))
        if name in ("MIN", "MAX"):
            init = np.inf if name == "MIN" else -np.inf
            out = np.full(n, init)
            (np.minimum if name == "MIN" else np.maximum).at(out, gk, vk)
            return Duals.from_numbers(np.where(cnt > 0, out, np.nan))
        if name in ("STDEV", "STERR"):
            s1 = _bincount(gk, n, vk)
            mean = s1 / np.maximum(cnt, 1)
            dev = vk - mean.take(gk)
            var = _bincount(gk, n, dev * dev) / np.maximum(cnt - 1, 1)
            sd = np.sqrt(var)
            res = sd if name == "STDEV" else sd / np.sqrt(np.maximum(cnt, 1))
            return Duals.from_numbers(np.where(cnt > 1, res, np.nan))
        if name == "MEDIAN":
            order = np.lexsort((vk, gk))
            gs, vs = gk.take(order), vk.take(order)
            starts = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(cnt.astype(np.int64), out=starts[1:])
            c = cnt.astype(np.int64)
            lo = starts[:-1] + (c - 1) // 2
            hi = starts[:-1] + c // 2
            has = c > 0
            med = np.full(n, np.nan)
            if vs.size:
                med[has] = (vs.take(lo[has]) + vs.take(hi[has])) / 2
            del gs
            return Duals.from_numbers(med)
    raise QixError(INVALID_PARAMETERS, name, f"Aggregation {name} is not supported in charts")


class Aggregator:
    """Evaluates aggregation calls over a frame split by a grouping."""

    def __init__(self, model: DataModel, frame: Frame, locale: Locale, variables: VariableLookup) -> None:
        self.model = model
        self.frame = frame
        self.locale = locale
        self.variables = variables
        self._codes: dict[tuple[str, str], np.ndarray] = {}
        self._nums: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _numbers(self, field_name: str, codes: np.ndarray) -> np.ndarray:
        """Field numbers for a code column; cached while the same column is reused (measure and
        grand total over the same rows)."""
        hit = self._nums.get(id(codes))
        if hit is not None and hit[0] is codes:
            return hit[1]
        num = np.append(self.model.fields[field_name].symbols.num, np.nan).take(codes)
        self._nums[id(codes)] = (codes, num)
        return num

    def _row_space(self, arg_fields: set[str], grouping: Grouping) -> tuple[np.ndarray, RowContext]:
        """Group id per row of the row space, and the context reading fields over it."""
        frame, model = self.frame, self.model
        gid = grouping.gid
        tables = {frame.source_table(model, f) for f in arg_fields}
        tables.discard(None)
        if len(tables) == 1:
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
                        hit = cols[f].take(r)
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
            return g, RowContext(model, lambda f: cols[f].take(rows), len(rows), self.locale, self.variables)
        sel = np.flatnonzero(gid >= 0)
        g = gid.take(sel) if sel.size != len(gid) else gid

        def codes_of(f: str) -> np.ndarray:
            c = frame.codes(model, f)
            return c.take(sel) if sel.size != len(gid) else c

        return g, RowContext(model, codes_of, len(g), self.locale, self.variables)

    def aggregate(self, call: Call, grouping: Grouping) -> Duals:
        if call.set_expr is not None:
            raise QixError(INVALID_PARAMETERS, call.name, "Set analysis is not supported in charts yet")
        if not call.args:
            raise QixError(INVALID_PARAMETERS, call.name, f"{call.name} needs an argument")
        if call.total_fields:
            raise QixError(INVALID_PARAMETERS, call.name, "TOTAL <fields> is not supported in charts yet")
        arg = call.args[0]
        arg_fields = {f for f in fields_of(arg) if f in self.model.fields}
        g, ctx = self._row_space(arg_fields, grouping)
        if isinstance(arg, FieldRef) and arg.name in self.model.fields:
            codes = ctx.codes(arg.name)
            if call.distinct:
                keep = _distinct_pairs(g, codes.astype(np.int64))
                g, codes = g.take(keep), codes.take(keep)
            if call.name in ("SUM", "AVG", "MIN", "MAX"):
                return _numeric_only(call.name, g, grouping.n, self._numbers(arg.name, codes))
            values = field_duals(self.model, arg.name, codes)
        else:
            values = evaluate(arg, ctx)
            if call.distinct:
                keep = _distinct_pairs(g, _factorize(values))
                g, values = g.take(keep), values.take(keep)
        extra = [evaluate(a, ctx) for a in call.args[1:2]] if call.name == "CONCAT" and len(call.args) > 1 else None
        return reduce_values(call.name, g, grouping.n, values, self.locale, extra)


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

    def __init__(self, aggregator: Aggregator, grouping: Grouping) -> None:
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
        if call.total and not call.total_fields and call.set_expr is None:
            total = Grouping(np.where(self.grouping.gid >= 0, 0, -1), 1)
            one = self.agg.aggregate(Call(call.name, call.args, call.distinct), total)
            return one.take(np.zeros(self.nrows, dtype=np.int64))
        return self.agg.aggregate(call, self.grouping)

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        return None


def evaluate_measure(node: Node, aggregator: Aggregator, grouping: Grouping) -> Duals:
    """One value per group for a measure expression."""
    ctx: EvalContext = GroupContext(aggregator, grouping)
    return evaluate(node, ctx)
