"""Transformation steps of a file's format spec (``filters(...)``, written by QlikView's file wizard)
applied to the rows read, before the LOAD's own field list sees them.

Only filling is done: ``Replace(n, top, StrCnd(null))`` gives each empty cell of column ``n`` the value
above it (``bottom``: below it), the usual repair of spreadsheets that show a group's key on its first
row only. The parser refuses every other step, so a file is never loaded with a step silently skipped.
"""

from __future__ import annotations

import numpy as np

from engine.script.context import Frame
from engine.script.tables import Column


def fill_empty_cells(frame: Frame, fills: tuple[tuple[int, str], ...]) -> Frame:
    """``frame`` with each (column number, direction) fill applied in order; numbers count the file's
    columns from 1 (a number past the last column fills nothing)."""
    names = list(frame.columns)
    columns = dict(frame.columns)
    for number, direction in fills:
        if not 1 <= number <= len(names):
            continue
        name = names[number - 1]
        columns[name] = _filled(columns[name], reverse=direction == "bottom")
    return Frame(columns, frame.nrows, frame.recno, frame.iterno, frame.file_path)


def _filled(col: Column, reverse: bool) -> Column:
    codes = col.codes[::-1] if reverse else col.codes
    empty_symbol = np.append(np.asarray(col.symbols.text == "", dtype=bool), True)  # last: NULL
    empty = empty_symbol.take(codes)
    source = np.where(empty, -1, np.arange(len(codes)))
    np.maximum.accumulate(source, out=source)
    out = np.where(source >= 0, codes.take(np.maximum(source, 0)), codes).astype(codes.dtype)
    return Column(col.symbols, out[::-1] if reverse else out)
