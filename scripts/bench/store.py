"""Time saving and loading a 10M-row, 3-column app with engine.app.store.

Usage: python scripts/bench/store.py [rows] [directory]
Columns: a unique integer key (rows distinct symbols), an integer with 100 values, a text with 50k values.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo's engine

from engine.app import store  # noqa: E402
from engine.model.datamodel import DataModel, TableData  # noqa: E402
from engine.model.symbols import encode  # noqa: E402


def _texts(values: np.ndarray) -> np.ndarray:
    return pa.array(values).cast(pa.string()).to_numpy(zero_copy_only=False).astype(object)


def build(n: int) -> DataModel:
    rng = np.random.default_rng(0)
    key = np.arange(n)
    small = rng.integers(0, 100, n)
    words = np.array([f"word-{i}-ü" for i in range(50_000)], dtype=object)
    text = words.take(rng.integers(0, len(words), n))
    cols = {
        "Key": encode(key.astype(np.float64), _texts(key)),
        "Small": encode(small.astype(np.float64), _texts(small)),
        "Text": encode(np.full(n, np.nan), text),
    }
    return DataModel.build([TableData("Facts", cols, n)])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    directory = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp())
    t = time.perf_counter()
    model = build(n)
    print(f"build {n:,} rows: {time.perf_counter() - t:.2f}s")
    doc = store.AppDocument(app_id="bench", title="bench", model=model)
    path = store.document_path(directory, "bench")
    for i in range(2):
        t = time.perf_counter()
        store.save(path, doc)
        print(f"save #{i + 1}: {time.perf_counter() - t:.2f}s  ({path.stat().st_size / 1e6:.0f} MB)")
    for i in range(2):
        t = time.perf_counter()
        back = store.load(path)
        print(f"load #{i + 1}: {time.perf_counter() - t:.2f}s")
    assert all(np.array_equal(back.model.tables["Facts"].columns[c], model.tables["Facts"].columns[c])
               for c in model.tables["Facts"].columns)
    t = time.perf_counter()
    store.load(path, with_data=False)
    print(f"load qNoData: {(time.perf_counter() - t) * 1000:.1f}ms")
    t = time.perf_counter()
    store.read_entry(path)
    print(f"read_entry: {(time.perf_counter() - t) * 1000:.1f}ms")
    store.delete(path)


if __name__ == "__main__":
    main()
