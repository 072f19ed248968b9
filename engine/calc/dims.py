"""Calculated dimensions (``qFieldDefs: ['=If(x > 2, 'big', 'small')']``).

The expression is evaluated once per row of the table holding its fields (every row, so that the
values do not depend on the selection) and dictionary-encoded into a symbol table of its own; a frame
reads a row's code through the table's row index, exactly like a field's code column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from engine.calc.aggregate import RowContext
from engine.calc.join import Frame, gather_codes
from engine.errors import INVALID_PARAMETERS, QixError
from engine.expr import Locale, Node, contains_aggregation, evaluate, fields_of
from engine.model.datamodel import DataModel
from engine.model.index import model_index
from engine.model.symbols import SymbolTable, encode


@dataclass
class CalcDim:
    """A calculated dimension as a grouping column: ``row_codes[r]`` is the code of table row ``r``
    (``table`` None: a constant, one value for every record)."""

    name: str
    table: str | None
    row_codes: np.ndarray
    symbols: SymbolTable

    @property
    def size(self) -> int:
        return len(self.symbols)

    def codes(self, frame: Frame) -> np.ndarray:
        if self.table is None:
            return np.full(frame.n, self.row_codes[0] if len(self.row_codes) else -1, dtype=np.int64)
        rows = frame.rows.get(self.table)
        if rows is None:
            return np.full(frame.n, -1, dtype=np.int64)
        return gather_codes(self.row_codes, rows)


def calculated_dimension(
    model: DataModel, name: str, node: Node, locale: Locale, variables: Callable[[str], str | None]
) -> CalcDim:
    """Evaluate a calculated dimension per row of its table; raises ``QixError`` when it cannot be
    computed that way (aggregations, fields from several tables)."""
    if contains_aggregation(node):
        raise QixError(INVALID_PARAMETERS, name, "Aggregations in calculated dimensions are not supported")
    refs = fields_of(node)
    fields = sorted(f for f in refs if f in model.fields)
    holders: set[str] | None = None
    for f in fields:
        hs = set(model.field_tables.get(f, ()))
        holders = hs if holders is None else holders & hs
    if holders is not None and not holders:
        raise QixError(INVALID_PARAMETERS, name, "A calculated dimension must use fields of one table")
    table = min(holders, key=lambda t: list(model.tables).index(t)) if holders else None

    def build() -> tuple[np.ndarray, SymbolTable]:
        cols: Mapping[str, np.ndarray]
        if table is None:
            nrows, cols = 1, {}
        else:
            t = model.tables[table]
            nrows, cols = t.nrows, t.columns
        ctx = RowContext(model, lambda f: cols[f], nrows, locale, variables)
        v = evaluate(node, ctx)
        syms, codes = encode(v.num, v.text)
        return codes, syms

    if refs <= set(model.fields):  # no variable references: the result depends on the model only
        codes, syms = model_index(model).field_cached("calcdim", f"{table}\x00{name}", build)
    else:
        codes, syms = build()
    return CalcDim(name, table, codes, syms)
