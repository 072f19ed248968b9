"""Test support for streamed loads: files of every kind of value a big load meets, the knobs that make
the readers stream in many small batches (or read whole), and a model's content for comparing two loads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.model.datamodel import DataModel
from engine.sources import parquet, text


def write_files(folder: Path, rows: int, seed: int = 5) -> tuple[Path, Path]:
    """``orders.csv`` (';'-delimited, embedded labels) and ``orders.parquet`` with the same rows: an
    ascending id, amounts with two decimals (some empty, some negative), codes that are numbers written
    several ways ('7', '007') or texts, names with blanks around them, dates, a quoted value holding the
    delimiter, and a high-cardinality key repeating across the file."""
    rng = np.random.default_rng(seed)
    day0 = dt.date(2021, 1, 1)
    lines = ["Id;Amount;Code;Name;Day;Key;Note"]
    cols: dict[str, list[Any]] = {k: [] for k in ("Id", "Amount", "Code", "Name", "Day", "Key", "Note")}
    for i in range(rows):
        amount = None if i % 29 == 5 else round(float(rng.uniform(-50, 900)), 2)
        code = (f"{i % 11:03d}" if i % 4 == 1 else str(i % 11)) if i % 7 else f"x{i % 5}"
        name = f"  name {i % 37} " if i % 13 else "name 1"
        day = day0 + dt.timedelta(days=int(rng.integers(0, 700)))
        key = f"k{int(rng.integers(0, rows))}"
        note = "a;b" if i % 50 == 3 else ("" if i % 9 == 2 else f"n{i % 97}")
        lines.append(
            ";".join(
                [
                    str(1000 + i),
                    "" if amount is None else f"{amount:.2f}",
                    code,
                    name,
                    day.isoformat(),
                    key,
                    f'"{note}"' if ";" in note else note,
                ]
            )
        )
        for k, v in (
            ("Id", 1000 + i),
            ("Amount", amount),
            ("Code", code),
            ("Name", name),
            ("Day", day),
            ("Key", key),
            ("Note", note),
        ):
            cols[k].append(v)
    csv_path = folder / "orders.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pq_path = folder / "orders.parquet"
    pq.write_table(
        pa.table({k: pa.array(v) for k, v in cols.items()}), pq_path, row_group_size=max(rows // 7, 1)
    )
    return csv_path, pq_path


@contextmanager
def batches_of(
    monkeypatch: pytest.MonkeyPatch, block_bytes: int = 4096, parquet_rows: int = 97
) -> Iterator[None]:
    """Every text file streams in pieces of ``block_bytes``, Parquet in batches of ``parquet_rows``."""
    with monkeypatch.context() as m:
        m.setattr(text, "STREAM_BYTES", 0)
        m.setattr(text, "BLOCK_BYTES", block_bytes)
        m.setattr(text, "MIN_BLOCK_BYTES", 1)
        m.setattr(text, "PIECES", 1)
        m.setattr(parquet, "BATCH_ROWS", parquet_rows)
        m.setattr(parquet, "MIN_BATCH_ROWS", 1)
        m.setattr(parquet, "PIECES", 1)
        yield


@contextmanager
def read_whole(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Text files read by the whole-file reader, Parquet in one batch: the reference load."""
    with monkeypatch.context() as m:
        m.setattr(text, "STREAM_BYTES", 1 << 62)
        m.setattr(parquet, "BATCH_ROWS", 1 << 40)
        m.setattr(parquet, "MIN_BATCH_ROWS", 1 << 40)
        yield


def content(model: DataModel) -> dict[str, Any]:
    """Everything a client can see of a model: each field's symbols in load order (text, number) and
    tags, each table's rows as (text, number) per field (NULL: None)."""
    fields = {}
    for name, f in model.fields.items():
        num = [None if x != x else x for x in f.symbols.num.tolist()]
        fields[name] = (f.symbols.text.tolist(), num, sorted(f.tags))
    tables = {}
    for t in model.tables.values():
        cols = {}
        for name in t.field_names:
            sym = model.fields[name].symbols
            codes = np.asarray(t.columns[name])
            num = np.append(sym.num, np.nan).take(codes)
            txt = np.append(sym.text, None).take(codes)
            cols[name] = list(zip(txt.tolist(), [None if x != x else x for x in num.tolist()], strict=True))
        tables[t.name] = (t.nrows, cols)
    return {"fields": fields, "tables": tables}
