"""LOADs that Peek() at the table they are building: running totals, fill-downs, deltas.

Qlik evaluates a LOAD one record at a time, so ``Peek('Total', -1)`` without a table (or naming the
LOAD's own label) reads the row loaded just before, and ``RangeSum(Peek('Total'), Amount)`` is a running
total. A vectorised pass over all rows cannot see rows it has not produced yet, so a LOAD (or preceding
LOAD chain) whose field expressions peek at the current table is evaluated record by record here. Such
loads are rare and small (a delta per product, a cumulative column); every other LOAD stays vectorised.

Each level of the chain is evaluated over two rows, the previous input record that reached it and the
current one, so Previous() keeps working; the second row is the result. A record a level's WHERE drops
is not loaded and is not "previous" for the next record (the reference's rule for Previous).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.expr import Call, Duals, FieldRef, Literal, Node
from engine.expr.evaluate import _nodes, contains_aggregation
from engine.script import ast as A
from engine.script.context import Frame, LoadContext
from engine.script.tables import Column

if TYPE_CHECKING:
    from engine.script.runner import Runner


@dataclass
class LoadingRows:
    """The rows of the table a row-by-row LOAD has produced so far, for Peek()."""

    label: str | None
    names: list[str] = field(default_factory=list)
    num: dict[str, list[float]] = field(default_factory=dict)
    text: dict[str, list[str | None]] = field(default_factory=dict)
    nrows: int = 0

    def add(self, names: list[str], row: list[Duals]) -> None:
        if not self.names:
            self.names = list(names)
            self.num = {n: [np.nan] * self.nrows for n in names}
            self.text = {n: [None] * self.nrows for n in names}
        for name, d in zip(names, row, strict=True):
            if name not in self.num:  # a field the first rows did not have
                self.names.append(name)
                self.num[name] = [np.nan] * self.nrows
                self.text[name] = [None] * self.nrows
            self.num[name].append(float(d.num[0]))
            self.text[name].append(d.text[0])
        for name in self.names:
            if len(self.num[name]) <= self.nrows:
                self.num[name].append(np.nan)
                self.text[name].append(None)
        self.nrows += 1

    def peek(self, name: str | None, rows: np.ndarray | None, n: int) -> Duals:
        """``Peek(name, row)`` for ``n`` evaluation rows: row -1 (default) is the last row loaded, a
        negative row counts back from it, 0 is the first; outside the rows (or no such field): NULL."""
        out_num = np.full(n, np.nan)
        out_text = np.full(n, None, dtype=object)
        if name is None or name not in self.num:
            return Duals(out_num, out_text)
        want = (
            np.full(n, -1, dtype=np.int64)
            if rows is None
            else np.where(np.isnan(rows), -1, rows).astype(np.int64)
        )
        want = np.where(want < 0, self.nrows + want, want)
        for i, r in enumerate(want):
            if 0 <= r < self.nrows:
                out_num[i] = self.num[name][r]
                out_text[i] = self.text[name][r]
        return Duals(out_num, out_text)

    def columns(self, names: list[str]) -> list[Duals]:
        return [
            Duals(np.array(self.num[n], dtype=np.float64), np.array(self.text[n], dtype=object))
            for n in names
        ]


def peeks_at_itself(runner: Runner, chain: list[A.Load]) -> bool:
    """True when a field expression of the chain calls Peek() on the current table (no table argument,
    or the chain's own label) and the chain can run record by record (no GROUP BY, WHILE, DISTINCT or
    row-multiplying SubField)."""
    label = chain[0].label
    found = False
    for ld in chain:
        for it in ld.fields:
            if it.star:
                continue
            node = runner.parse_expr(it.expr)
            if contains_aggregation(node) or _row_multiplying(node):
                return False
            found = found or any(_own_peek(cur, label) for cur in _nodes(node))
        if ld.group_by or ld.while_ is not None or ld.distinct:
            return False
    return found


def _own_peek(node: Node, label: str | None) -> bool:
    if not isinstance(node, Call) or node.name != "PEEK":
        return False
    if len(node.args) < 3:
        return True
    table = node.args[2]
    return isinstance(table, Literal) and table.text is not None and table.text == label


def _row_multiplying(node: Node) -> bool:
    return isinstance(node, Call) and node.name == "SUBFIELD" and len(node.args) == 2


def load_rows(runner: Runner, chain: list[A.Load], frame: Frame) -> tuple[list[str], list[Column], int]:
    """Evaluate ``chain`` (top first) over ``frame`` one record at a time; the names, columns and row
    count of the top LOAD's output, as the vectorised pass returns them."""
    from engine.script.runner import _to_column

    state = LoadingRows(chain[0].label)
    levels = list(reversed(chain))
    previous: list[Frame | None] = [None] * len(levels)
    names: list[str] = []
    runner.loading_rows = state
    try:
        for i in range(frame.nrows):
            runner.check_cancel()
            current = frame.take(np.array([i]))
            loaded = True
            for k, ld in enumerate(levels):
                prev = previous[k]
                two = current if prev is None else _stack(prev, current)
                if ld.where is not None and not runner.where_mask(ld, two)[-1]:
                    loaded = False
                    break
                previous[k] = current
                names, row = _evaluate(runner, dataclasses.replace(ld, where=None), two, state.nrows)
                current = Frame(
                    {n: _to_column(d) for n, d in zip(names, row, strict=True)},
                    1,
                    current.recnos(),
                    current.iterno,
                    frame.file_path,
                )
            if loaded:
                state.add(names, [Duals(*current.columns[n].values()) for n in names])
    finally:
        runner.loading_rows = None
    names = state.names or names
    if not state.nrows:
        return names, [_to_column(Duals.nulls(0)) for _ in names], 0
    return names, [_to_column(d) for d in state.columns(names)], state.nrows


def _stack(a: Frame, b: Frame) -> Frame:
    """Two one-row frames as one two-row frame (fields missing on one side are NULL there)."""
    from engine.script.runner import _to_column

    cols: dict[str, Column] = {}
    for name in dict.fromkeys([*a.columns, *b.columns]):
        parts = [Duals(*f.columns[name].values()) if name in f.columns else Duals.nulls(1) for f in (a, b)]
        cols[name] = _to_column(Duals.concat(parts))
    iterno = None if a.iterno is None or b.iterno is None else np.concatenate([a.iterno, b.iterno])
    return Frame(cols, 2, np.concatenate([a.recnos(), b.recnos()]), iterno, b.file_path)


def _evaluate(runner: Runner, ld: A.Load, two: Frame, loaded: int) -> tuple[list[str], list[Duals]]:
    """One level's field list over the (previous, current) rows; the current row's values. RowNo() is
    the number the current row gets in the table being built."""
    ctx = LoadContext(runner, two, rowno_base=loaded - two.nrows + 1)
    names: list[str] = []
    row: list[Duals] = []
    last = np.array([two.nrows - 1])
    for it in ld.fields:
        if it.star:
            for name in two.columns:
                names.append(name)
                row.append(Duals(*two.columns[name].values()).take(last))
            continue
        node = runner.parse_expr(it.expr)
        names.append(it.name)
        if isinstance(node, FieldRef) and node.name in two.columns:
            row.append(Duals(*two.columns[node.name].values()).take(last))
        else:
            row.append(runner.eval_node(node, ctx).take(last))
    return names, row
