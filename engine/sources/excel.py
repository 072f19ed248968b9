"""``(ooxml)`` / ``(biff)``: Excel workbooks (.xlsx/.xlsm/.xlsb and legacy .xls), read with python-calamine.

Why calamine: one Rust library reads every Excel generation (OOXML, BIFF 2-8, XLSB, and ODS) without
loading the workbook into a Python object model, and it hands out each cell with its own type (number,
text, bool, date, datetime, time, duration), which is what Qlik's per-cell duals need; fastexcel (built
on it) infers one Arrow type per column and would coerce mixed columns. Rows are iterated lazily and
encoded in batches, so a big sheet never exists as Python objects all at once.

Spec items: ``table is <sheet>`` (default: the first sheet; Qlik's ``Sheet1$`` form works too),
``embedded labels`` (the default) or ``no labels`` (fields ``@1``, ``@2``, …), ``header is n lines``
(rows skipped before the labels). Empty cells are NULL. Date cells become duals: the serial number with
the script's ``DateFormat``/``TimestampFormat`` as text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import python_calamine as cal

from engine.model.numformat import format_default
from engine.sources.base import FILE_NOT_FOUND, GENERAL, ReadRequest, SourceError, SourceTable, unique_names
from engine.sources.columns import TableBuilder, python_column

BATCH_ROWS = 50_000


def _sheet_name(book: cal.CalamineWorkbook, wanted: str | None, file_name: str) -> str:
    names = list(book.sheet_names)
    if not names:
        raise SourceError(f"Workbook '{file_name}' has no sheets")
    if not wanted:
        return names[0]
    w = wanted.strip().strip("'\"[]")
    for cand in (w, w.rstrip("$")):
        for name in names:
            if name == cand or name.lower() == cand.lower():
                return name
    raise SourceError(f"Table '{wanted}' not found in '{file_name}' (sheets: {', '.join(names)})")


def _label(v: Any, j: int) -> str:
    if v is None or v == "":
        return f"@{j + 1}"
    if isinstance(v, float):
        return format_default(v)
    return str(v).strip()


def read(req: ReadRequest) -> SourceTable:
    try:
        if req.data is not None:
            book = cal.CalamineWorkbook.from_filelike(io.BytesIO(req.data))
        elif req.path is not None:
            if not req.path.is_file():
                raise SourceError(f"Cannot open file: '{req.name}' (File not found)", FILE_NOT_FOUND)
            book = cal.CalamineWorkbook.from_path(str(req.path))
        else:
            raise SourceError(f"Cannot open file '{req.name}'", FILE_NOT_FOUND)
    except SourceError:
        raise
    except FileNotFoundError as e:
        raise SourceError(f"Cannot open file: '{req.name}' (File not found)", FILE_NOT_FOUND) from e
    except Exception as e:  # noqa: BLE001 - calamine raises its own error types for every damaged file
        raise SourceError(f"Cannot read '{req.name}' as an Excel workbook: {e}") from e
    try:
        sheet = book.get_sheet_by_name(_sheet_name(book, req.spec.table, req.name))
        rows: Iterator[list[Any]] = iter(sheet.iter_rows())
        return _table(rows, req)
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged sheet part surfaces while iterating
        raise SourceError(f"Cannot read '{req.name}' as an Excel workbook: {e}") from e
    finally:
        close = getattr(book, "close", None)
        if close is not None:
            close()


def _table(rows: Iterator[list[Any]], req: ReadRequest) -> SourceTable:
    for _ in range(req.spec.header_lines):
        if next(rows, None) is None:
            break
    names: list[str] | None = None
    if req.spec.labels != "none":
        first = next((r for r in rows if any(v is not None and v != "" for v in r)), None)
        names = unique_names([_label(v, j) for j, v in enumerate(first or [])])
    builder = TableBuilder()
    batch: list[list[Any]] = []
    total = 0

    def flush() -> None:
        nonlocal names, batch
        width = max((len(r) for r in batch), default=0)
        if names is None or width > len(names):
            have = names or []
            names = have + [f"@{j + 1}" for j in range(len(have), width)]
        cols = {}
        for j, name in enumerate(names):
            cols[name] = python_column([r[j] if j < len(r) else None for r in batch], req.locale, req.interpret,
                                       empty_is_null=True)
        builder.add(cols, len(batch))
        batch = []

    for row in rows:
        if not any(v is not None and v != "" for v in row):
            continue            # blank rows inside the used range
        batch.append(row)
        total += 1
        if total > req.max_rows:
            raise SourceError(f"Row limit exceeded: more than {req.max_rows} rows", GENERAL)
        if len(batch) >= BATCH_ROWS:
            flush()
            req.on_rows(total)
    if batch or not builder.nrows:
        flush()
    req.on_rows(total)
    return builder.finish()
