"""A LOAD (with its preceding LOADs) over a streamed file, one batch of the file at a time.

Why: read whole, a big file's LOAD holds every source column at once, and every per-row intermediate of
its expressions (field values as Python objects, the columns a WHERE drops) for all rows. When every
LOAD of the chain works row by row, each batch of the file goes through the whole chain and only the
chain's output is kept, growing as symbol tables and narrow codes
(:class:`~engine.sources.columns.TableBuilder`); what the file and the intermediates cost is one batch.

Row by row means: no GROUP BY or aggregation, no DISTINCT below the top LOAD (the top one's DISTINCT runs
once more over the built table, across batches), no ``Previous()`` (the row before may be in the batch
before), and ``RowNo()`` only in the field list of a LOAD without WHERE or WHILE (there it continues from
the rows of the batches before, as ``RecNo()`` does). Functions that read stored tables (``Peek``,
``Exists``, ``Lookup``, ``NoOfRows``) see the tables stored before this LOAD, as when the file is read
whole; ``AutoNumber`` counts in row order across batches. Any other chain reads the file whole first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.expr import calls_of, contains_aggregation
from engine.script import ast as A
from engine.script.context import Frame
from engine.script.tables import Column, distinct_rows
from engine.sources.base import SourceTable
from engine.sources.columns import TableBuilder

if TYPE_CHECKING:
    from engine.script.runner import Runner

#: functions whose value for a row depends on rows of other batches
_ACROSS_ROWS = frozenset({"PREVIOUS"})


@dataclass
class RowCount:
    """Rows a LOAD has evaluated in earlier batches: where its ``RowNo()`` continues."""

    base: int = 0


def batchable(runner: Runner, chain: list[A.Load]) -> bool:
    """True when every LOAD of ``chain`` (top first) can run batch by batch (see the module)."""
    for i, ld in enumerate(chain):
        if ld.group_by or (ld.distinct and i):
            return False
        nodes = [runner.parse_expr(it.expr) for it in ld.fields if not it.star and it.expr is not None]
        filters = [runner.parse_expr(e) for e in (ld.where, ld.while_) if e is not None]
        if any(contains_aggregation(n) for n in nodes + filters):
            return False
        calls = set().union(*(calls_of(n) for n in nodes + filters))
        if calls & _ACROSS_ROWS or "ROWNO" in calls and filters:
            return False
    return True


def load_batches(runner: Runner, chain: list[A.Load], batches: Iterator[SourceTable],
                 file_path: str) -> tuple[list[str], list[Column], int]:
    """Run ``chain`` (top first) over each batch; the output of all batches as one table's columns."""
    builder = TableBuilder()
    counts = [RowCount() for _ in chain]
    limit = runner.first_rows(chain[0])
    recno = 0
    try:
        for batch in batches:
            runner.check_cancel()
            frame = Frame(dict(zip(batch.names, [Column(*c) for c in batch.columns], strict=True)), batch.nrows,
                          recno=np.arange(recno + 1, recno + batch.nrows + 1, dtype=np.int64), file_path=file_path)
            recno += batch.nrows
            del batch
            for ld, count in zip(reversed(chain), reversed(counts), strict=True):
                names, cols, n = runner.apply_load(ld, frame, count)
                frame = Frame(dict(zip(names, cols, strict=True)), n, file_path=file_path)
            builder.add({name: (c.symbols, c.codes) for name, c in frame.columns.items()}, frame.nrows)
            del frame
            if limit is not None and builder.nrows >= limit:
                break          # FIRST n: the rest of the file is not read
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    table = builder.finish()
    cols = [Column(*c) for c in table.columns]
    n = table.nrows
    if chain[0].distinct and n:
        keep = distinct_rows([c.codes for c in cols], n)
        if len(keep) < n:
            cols, n = [c.take(keep) for c in cols], len(keep)
    return table.names, cols, n
