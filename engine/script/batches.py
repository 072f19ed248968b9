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
whole; ``AutoNumber`` counts in row order across batches; a number written two ways (``7``, ``007``)
reaches expressions with the text it first has in the file (:class:`FirstTexts`). Any other chain reads
the file whole first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.expr import FieldRef, calls_of, contains_aggregation, fields_of
from engine.model.fieldbuilder import FieldBuilder
from engine.model.symbols import SymbolTable
from engine.script import ast as A
from engine.script.context import Frame
from engine.script.tables import Column, distinct_rows
from engine.sources.base import SourceTable
from engine.sources.columns import TableBuilder

if TYPE_CHECKING:
    from engine.script.runner import Runner

#: functions whose value for a row depends on rows of other batches
_ACROSS_ROWS = frozenset({"PREVIOUS"})
#: rows a computing chain evaluates at a time
COMPUTE_ROWS = 1 << 16


@dataclass
class RowCount:
    """Rows a LOAD has evaluated in earlier batches: where its ``RowNo()`` continues."""

    base: int = 0


def batchable(runner: Runner, chain: list[A.Load]) -> bool:
    """True when every LOAD of ``chain`` (top first) can run batch by batch (see the module)."""
    for i, ld in enumerate(chain):
        if ld.group_by or (ld.distinct and i) or ld.prefixes.semantic:  # SEMANTIC may repeat a field name
            return False
        nodes = [runner.parse_expr(it.expr) for it in ld.fields if not it.star and it.expr is not None]
        filters = [runner.parse_expr(e) for e in (ld.where, ld.while_) if e is not None]
        if any(contains_aggregation(n) for n in nodes + filters):
            return False
        calls = set().union(*(calls_of(n) for n in nodes + filters))
        if calls & _ACROSS_ROWS or "ROWNO" in calls and filters:
            return False
    return True


def source_fields_read(runner: Runner, chain: list[A.Load]) -> set[str] | None:
    """The source fields whose values an expression of the chain reads (through renames and ``*`` of the
    LOADs above); None when no expression reads rows at all (every LOAD only names fields)."""
    read: set[str] = set()
    computes = False
    for ld in chain:  # top first: names a LOAD's readers ask of it
        passed: set[str] = set()
        star = False
        for it in ld.fields:
            if it.star:
                star = True
                continue
            node = runner.parse_expr(it.expr)
            if isinstance(node, FieldRef):
                if it.name in read:
                    passed.add(node.name)
            else:
                computes = True
                passed |= fields_of(node)
        for e in (ld.where, ld.while_):
            if e is not None:
                computes = True
                passed |= fields_of(runner.parse_expr(e))
        if star:
            passed |= read
        read = passed
    return read if computes else None


class FirstTexts:
    """A number's text as reading the whole file gives it to expressions: the first text the file has
    for that number (``7`` and later ``007`` are one value, shown as ``7``). A batch on its own knows only
    its own first text, so each source field's numbers are kept as symbols (no rows) across batches."""

    def __init__(self, names: set[str]) -> None:
        self._names = names
        self._fields: dict[str, FieldBuilder] = {}

    def column(self, name: str, symbols: SymbolTable, codes: np.ndarray) -> Column:
        if name not in self._names:
            return Column(symbols, codes)
        num = symbols.num
        idx = np.flatnonzero(~np.isnan(num))
        if not len(idx):
            return Column(symbols, codes)
        texts = symbols.text_array()
        mine, nums = texts.take(pa.array(idx)), num.take(idx)
        field = self._fields.setdefault(name, FieldBuilder())
        first = field.texts_of(field.match(SymbolTable(nums, mine)), nums).cast(mine.type)
        differ = np.flatnonzero(
            ~np.asarray(pc.fill_null(pc.equal(first, mine), False).to_numpy(zero_copy_only=False), dtype=bool)
        )
        if not len(differ):
            return Column(symbols, codes)
        mask = np.zeros(len(texts), dtype=bool)
        mask[idx.take(differ)] = True
        fixed = pc.replace_with_mask(texts, pa.array(mask), first.take(pa.array(differ)).cast(texts.type))
        return Column(SymbolTable(num, fixed), codes)


def load_batches(
    runner: Runner, chain: list[A.Load], batches: Iterator[SourceTable], file_path: str
) -> tuple[list[str], list[Column], int]:
    """Run ``chain`` (top first) over each batch; the output of all batches as one table's columns. A
    chain that computes runs over slices of at most ``COMPUTE_ROWS`` rows of a batch: its expressions'
    intermediates (a field's values as Python objects, per row) then cost a slice, not a batch."""
    builder = TableBuilder()
    counts = [RowCount() for _ in chain]
    read = source_fields_read(runner, chain)
    first = FirstTexts(read) if read is not None else None
    step = COMPUTE_ROWS if read is not None else None
    recno = 0
    try:
        for batch in batches:
            runner.check_cancel()
            if first is None:
                cols = [Column(*c) for c in batch.columns]
            else:
                cols = [first.column(name, *c) for name, c in zip(batch.names, batch.columns, strict=True)]
            n, names = batch.nrows, batch.names
            del batch
            for a in range(0, max(n, 1), step or max(n, 1)):
                b = min(n, a + (step or n))
                frame = Frame(
                    {name: Column(c.symbols, c.codes[a:b]) for name, c in zip(names, cols, strict=True)},
                    b - a,
                    recno=np.arange(recno + a + 1, recno + b + 1, dtype=np.int64),
                    file_path=file_path,
                )
                for ld, count in zip(reversed(chain), reversed(counts), strict=True):
                    out_names, out_cols, rows = runner.apply_load(ld, frame, count)
                    frame = Frame(dict(zip(out_names, out_cols, strict=True)), rows, file_path=file_path)
                builder.add({name: (c.symbols, c.codes) for name, c in frame.columns.items()}, frame.nrows)
                del frame
            recno += n
            del cols
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
