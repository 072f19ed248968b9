"""``(parquet)`` read and ``STORE … (parquet)`` write, through pyarrow (already the engine's columnar
library: the reference Parquet implementation for Python, with row-group streaming and every logical type).

Reading streams record batches (a 32nd of the rows, 16k to 256k; the file is not pre-buffered), so a big
file never sits in memory whole: each batch is encoded into symbols and codes on its own and joins the
table being built (or the LOAD's per-batch work, see ``engine.script.batches``). Types are kept as Qlik
duals (see :mod:`engine.sources.columns`).

Writing picks a Parquet type per field from its values: integers → int64, other numbers → float64,
dates (texts rendered with ``DateFormat``) → date32, timestamps (``TimestampFormat``) → timestamp[ms],
text → string; a field mixing numbers and text is written as text. NULLs stay nulls. The file is written
beside the target and renamed over it, so readers never see half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.expr.formatting import Locale, format_datetimes
from engine.model.numformat import format_default
from engine.model.symbols import SymbolTable
from engine.sources.base import GENERAL, ReadRequest, SourceError, SourceTable
from engine.sources.columns import EPOCH_SERIAL, arrow_column, join_batches, map_columns

#: rows read at a time at most; a file is read in about PIECES batches, none below MIN_BATCH_ROWS rows
BATCH_ROWS = 262_144
PIECES = 32
MIN_BATCH_ROWS = 16_384


def read(req: ReadRequest) -> SourceTable:
    return join_batches(batches(req))


def batches(req: ReadRequest) -> Iterator[SourceTable]:
    """The file as batches of a 32nd of its rows (16k to 256k; at least one batch, maybe empty), each column
    encoded on its own; SourceError when the file cannot be read or has too many rows."""
    source = pa.BufferReader(req.data) if req.data is not None else str(req.path)
    try:
        pf = pq.ParquetFile(source, pre_buffer=False)  # pre-buffering would read the whole file first
    except FileNotFoundError as e:
        raise SourceError(f"Cannot open file: '{req.name}' (File not found)", 8) from e
    except (pa.ArrowException, OSError) as e:
        raise SourceError(f"Cannot read '{req.name}' as Parquet: {e}") from e
    total = pf.metadata.num_rows
    if total > req.max_rows:
        pf.close()
        raise SourceError(f"Row limit exceeded: {total} rows exceed the limit of {req.max_rows}", GENERAL)
    return _batches(pf, req)


def _batches(pf: pq.ParquetFile, req: ReadRequest) -> Iterator[SourceTable]:
    names = list(pf.schema_arrow.names)
    rows = 0
    with pf:
        try:
            size = min(BATCH_ROWS, max(MIN_BATCH_ROWS, pf.metadata.num_rows // PIECES))
            # one thread: decoding on Arrow's pool (8 threads) kept twice the resident memory for no time
            # gained on two cores
            for batch in pf.iter_batches(batch_size=size, use_threads=False):
                cols = map_columns(lambda col: arrow_column(col, req.locale), batch.columns)
                rows += batch.num_rows
                del batch
                req.on_rows(rows)
                yield SourceTable(names, cols, len(cols[0][1]) if cols else 0)
        except (pa.ArrowException, OSError) as e:
            raise SourceError(f"Cannot read '{req.name}' as Parquet: {e}") from e
        if not rows:
            yield SourceTable(
                names,
                [arrow_column(pa.array([], type=pf.schema_arrow.field(n).type), req.locale) for n in names],
                0,
            )


def _typed(sym: SymbolTable, codes: np.ndarray, locale: Locale) -> pa.Array:
    """One field's values as an Arrow array of the narrowest faithful type."""
    mask = codes < 0
    num = sym.num
    n_sym = len(num)
    if n_sym == 0:
        return pa.nulls(len(codes), type=pa.string())
    texts = sym.text
    safe = np.where(mask, 0, codes)
    if np.isnan(num).any():  # text, or numbers mixed with text: written as text
        return pa.array(texts.take(safe), type=pa.string(), mask=mask)
    plain = all(t == format_default(float(x)) for x, t in zip(num.tolist(), texts.tolist(), strict=True))
    if plain:
        if np.all(num == np.rint(num)) and np.abs(num).max() < 2.0**63:
            return pa.array(num.astype(np.int64).take(safe), type=pa.int64(), mask=mask)
        return pa.array(num.take(safe), type=pa.float64(), mask=mask)
    if np.all(num == np.floor(num)) and _rendered_as(num, texts, locale.date_format, locale):
        days = (num - EPOCH_SERIAL).astype(np.int32)
        return pa.array(days.take(safe), type=pa.int32(), mask=mask).cast(pa.date32())
    if _rendered_as(num, texts, locale.timestamp_format, locale):
        ms = np.rint((num - EPOCH_SERIAL) * 86400e3).astype(np.int64)
        return pa.array(ms.take(safe), type=pa.int64(), mask=mask).cast(pa.timestamp("ms"))
    return pa.array(num.take(safe), type=pa.float64(), mask=mask)


def _rendered_as(num: np.ndarray, texts: np.ndarray, fmt: str, locale: Locale) -> bool:
    rendered = format_datetimes(num, fmt, locale)
    return bool(np.array_equal(rendered, texts))


def write(
    path: Path, names: list[str], columns: list[tuple[SymbolTable, np.ndarray]], locale: Locale
) -> None:
    """Write a table as one Parquet file (replaced whole: written beside ``path``, then renamed)."""
    arrays = [_typed(sym, codes, locale) for sym, codes in columns]
    table = pa.Table.from_arrays(arrays, names=names)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="snappy")
        os.replace(tmp, path)
    except OSError as e:
        raise SourceError(f"Cannot write file '{path.name}': {e.strerror or e}", GENERAL) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
