"""The logical join of the tables a chart needs, over the rows the inference left possible.

A chart names fields; the tables holding them are connected through key fields. :func:`plan_join`
finds, per connected component, the smallest tree of tables linking them and roots it at the
largest table (so most links are many-to-one). :func:`build_frame` then walks the tree from the
root's possible rows: a many-to-one link is one gather through a key-symbol → row array, a
one-to-many link expands rows with ``np.repeat``. Rows of a table that no root row reaches (say, a
customer without orders) are appended with the other tables NULL, so a chart shows them too.
Unlinked components are combined by a cartesian product, as the engine does.

Each expansion predicts its row count before it materialises anything and is held to the request's
memory (``MaxRequestMemoryMB``): a chart over two unlinked 100k-row tables asks for 10^10 rows, and is
refused with error 19 instead of trying.

The result is a :class:`Frame`: for each table, the row index of each frame row (``-1`` = none).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from engine.expr.limits import check_rows
from engine.model.datamodel import DataModel
from engine.model.index import model_index
from engine.model.selection import Inference


@dataclass(frozen=True)
class Edge:
    parent: str
    key: str
    child: str


@dataclass(frozen=True)
class Component:
    """A tree of tables: ``tables[0]`` is the root; ``edges`` in breadth-first order."""

    tables: tuple[str, ...]
    edges: tuple[Edge, ...]
    used: frozenset[str]

    @property
    def root(self) -> str:
        return self.tables[0]


@dataclass(frozen=True)
class JoinPlan:
    components: tuple[Component, ...]

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(t for c in self.components for t in c.tables)


def _neighbours(model: DataModel, table: str) -> list[tuple[str, str]]:
    idx = model_index(model)
    return [(k, h) for k in idx.keys_of[table] for h in model.field_tables[k] if h != table]


def _bfs(model: DataModel, start: str, allowed: set[str] | None = None) -> dict[str, tuple[str, str] | None]:
    """Parent (table, key) of every table reachable from ``start`` (within ``allowed``)."""
    parent: dict[str, tuple[str, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        t = queue.popleft()
        for k, h in _neighbours(model, t):
            if h not in parent and (allowed is None or h in allowed):
                parent[h] = (t, k)
                queue.append(h)
    return parent


def plan_join(model: DataModel, tables: Iterable[str]) -> JoinPlan:
    """The join tree(s) connecting ``tables`` (cached per model)."""
    need = tuple(sorted(set(tables)))

    def build() -> JoinPlan:
        comps: list[Component] = []
        todo = list(need)
        while todo:
            start = todo[0]
            parent = _bfs(model, start)
            members = [t for t in todo if t in parent]
            todo = [t for t in todo if t not in parent]
            keep: set[str] = set()
            for t in members:  # union of the paths to ``start``
                cur: str | None = t
                while cur is not None and cur not in keep:
                    keep.add(cur)
                    p = parent[cur]
                    cur = p[0] if p else None
            root = max(sorted(keep), key=lambda t: model.tables[t].nrows)
            tree = _bfs(model, root, keep)
            order = list(tree)  # BFS order, root first
            edges = tuple(Edge(p[0], p[1], t) for t in order[1:] if (p := tree[t]) is not None)
            comps.append(Component(tuple(order), edges, frozenset(members)))
        return JoinPlan(tuple(comps))

    return model_index(model).field_cached("join_plan", "\x00".join(need), build)


#: bytes per frame row and table (an int64 row index), the unit of the join's size checks
_ROW_BYTES = 8


@dataclass
class Frame:
    """Joined rows: ``rows[table][i]`` is the row of ``table`` in frame row ``i`` (``-1`` = none)."""

    n: int
    rows: dict[str, np.ndarray]
    order: tuple[str, ...]
    #: tables whose rows occur at most once in the frame (measures over them need no de-duplication)
    unique: set[str] = field(default_factory=set)
    _complete: dict[str, bool] = field(default_factory=dict)

    def source_table(self, model: DataModel, field_name: str) -> str | None:
        """The table a field is read from: the first frame table (root side first) holding it."""
        for t in self.order:
            if field_name in model.tables[t].columns:
                return t
        return None

    def codes(self, model: DataModel, field_name: str, table: str | None = None) -> np.ndarray:
        """The field's symbol codes per frame row (``-1`` = NULL or no row). A key field held by
        several frame tables is read from the first holder that has a row (a customer without
        orders still has its key)."""
        holders = [table] if table else [t for t in self.order if field_name in model.tables[t].columns]
        if not holders:
            return np.full(self.n, -1, dtype=np.int32)
        first = holders[0]
        if self.complete(first):
            out = model.tables[first].columns.raw(field_name).take(self.rows[first]).astype(np.int32)
        else:
            out = gather_codes(model.tables[first].columns.raw(field_name), self.rows[first]).astype(np.int32)
        for t in holders[1:]:
            missing = np.flatnonzero(out < 0)
            if not missing.size:
                break
            r = self.rows[t].take(missing)
            out[missing] = gather_codes(model.tables[t].columns.raw(field_name), r)
        return out

    def complete(self, table: str) -> bool:
        """True when every frame row has a row of ``table`` (no ``-1``)."""
        hit = self._complete.get(table)
        if hit is None:
            r = self.rows[table]
            hit = not r.size or int(r.min()) >= 0
            self._complete[table] = hit
        return hit

    def is_unique(self, table: str) -> bool:
        if table in self.unique:
            return True
        r = self.rows[table]
        r = r[r >= 0]
        ok = not r.size or int(np.bincount(r).max()) <= 1
        if ok:
            self.unique.add(table)
        return ok


def gather_codes(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``codes[rows]`` with ``-1`` wherever ``rows`` is ``-1``."""
    if rows.size and rows.min() < 0:
        out = codes.take(np.maximum(rows, 0))
        out[rows < 0] = -1
        result: np.ndarray = out
        return result
    return codes.take(rows)


def _possible_groups(model: DataModel, inf: Inference, table: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(order, starts) of the table's possible rows grouped by key symbol (see ``KeyLookup``)."""
    lk = model_index(model).lookup(table, key)
    if inf.rows(table) is None and not lk.unique:
        assert lk.order is not None and lk.starts is not None
        return lk.order, lk.starts
    n = len(model.fields[key].symbols)
    ri = inf.row_index(table)
    ck = model.tables[table].columns.raw(key).take(ri).astype(np.int64)
    valid = np.flatnonzero(ck >= 0)
    ck = ck.take(valid)
    srt = np.argsort(ck, kind="stable")
    order = ri.take(valid).take(srt)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ck, minlength=n), out=starts[1:])
    return order, starts


def _walk(
    model: DataModel, inf: Inference, edges: tuple[Edge, ...], start: str, start_rows: np.ndarray
) -> tuple[dict[str, np.ndarray], bool]:
    """Join outward from ``start`` along ``edges`` (those reachable from it). Returns the row arrays
    and whether any one-to-many link multiplied rows."""
    idx = model_index(model)
    cur = {start: start_rows}
    expanded = False
    for e in edges:
        pr = cur.get(e.parent)
        if pr is None:
            continue
        keys = gather_codes(model.tables[e.parent].columns.raw(e.key), pr)
        lk = idx.lookup(e.child, e.key)
        if lk.unique:
            assert lk.row_of is not None
            cur[e.child] = lk.row_of.take(keys)  # trailing -1 slot: NULL keys find no row
            continue
        order, starts = _possible_groups(model, inf, e.child, e.key)
        cnt_ext = np.append(np.diff(starts), 0)
        cnt = cnt_ext.take(keys)
        rep = np.maximum(cnt, 1)
        total = int(rep.sum())
        check_rows(total, _ROW_BYTES * (len(cur) + 4), "The join of the tables")
        parent_of = np.repeat(np.arange(len(pr), dtype=np.int64), rep)
        first = np.append(starts[:-1], 0).take(keys)
        offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(rep) - rep, rep)
        child = np.full(total, -1, dtype=np.int64)
        hit = np.flatnonzero(np.repeat(cnt > 0, rep))
        child[hit] = order.take(np.repeat(first, rep).take(hit) + offs.take(hit))
        if total != len(pr):
            expanded = True
            cur = {t: r.take(parent_of) for t, r in cur.items()}
        cur[e.child] = child
    return cur, expanded


def _component_frame(
    model: DataModel, inf: Inference, comp: Component
) -> tuple[dict[str, np.ndarray], int, bool]:
    root_rows = inf.row_index(comp.root)
    rows, expanded = _walk(model, inf, comp.edges, comp.root, root_rows)
    n = len(root_rows) if not rows else len(next(iter(rows.values())))
    for t in comp.tables[1:]:
        if t not in comp.used:
            continue
        rt = rows.get(t)
        covered = np.zeros(model.tables[t].nrows + 1, dtype=bool)
        if rt is not None:
            covered[rt] = True  # -1 lands in the spare last slot
        covered = covered[:-1]
        mask = inf.rows(t)
        uncovered = np.flatnonzero(~covered if mask is None else mask & ~covered)
        if not uncovered.size:
            continue
        sub, sub_exp = _walk(model, inf, comp.edges, t, uncovered)
        m = len(next(iter(sub.values())))
        expanded = expanded or sub_exp
        for tt in comp.tables:
            extra = sub.get(tt)
            if extra is None:
                extra = np.full(m, -1, dtype=np.int64)
            base = rows.get(tt)
            if base is None:
                base = np.full(n, -1, dtype=np.int64)
            rows[tt] = np.concatenate([base, extra])
        n += m
    return rows, n, expanded


def build_frame(model: DataModel, inf: Inference, plan: JoinPlan) -> Frame:
    """Execute ``plan`` over the possible rows of ``inf`` (see the module docstring)."""
    if not plan.components:
        return Frame(1, {}, ())
    parts = [_component_frame(model, inf, c) for c in plan.components]
    order = plan.tables
    if len(parts) == 1:
        rows, n, expanded = parts[0]
        root = plan.components[0].root
        return Frame(n, rows, order, set() if expanded else {root})
    sizes = [p[1] for p in parts]
    total = math.prod(sizes)  # Python ints: a product past 2**63 must not wrap around
    check_rows(total, _ROW_BYTES * (len(order) + 2), "The cartesian product of unlinked tables")
    out: dict[str, np.ndarray] = {}
    stride = total
    base = np.arange(total, dtype=np.int64)
    for rows, n, _ in parts:
        stride //= max(n, 1)
        pick = (base // max(stride, 1)) % max(n, 1) if total else base
        for t, r in rows.items():
            out[t] = r.take(pick)
    unique = {plan.components[i].root for i, (_, n, exp) in enumerate(parts) if not exp and total == n}
    return Frame(total, out, order, unique)
