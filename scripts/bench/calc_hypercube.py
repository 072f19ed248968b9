"""Benchmark: 2 dims × Sum over a fact table linked to two dimension tables, after a selection in a
dimension table; compared with DuckDB on the same code columns.

Usage: python scripts/bench_hypercube.py [fact_rows]   (default 10,000,000)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from engine.calc.hypercube import HyperCube
from engine.model.datamodel import DataModel, Field, Table
from engine.model.selection import EMPTY_STATE, infer
from engine.model.symbols import SymbolTable


def build(n: int, n1: int = 100_000, n2: int = 20_000, seed: int = 0) -> DataModel:
    rng = np.random.default_rng(seed)

    def syms(k: int) -> SymbolTable:
        return SymbolTable(np.arange(k, dtype=float), np.array([str(i) for i in range(k)], dtype=object))

    fact = Table("Fact", {"CustID": rng.integers(0, n1, n, dtype=np.int32),
                          "ProdID": rng.integers(0, n2, n, dtype=np.int32),
                          "Sales": (np.arange(n) % 1000).astype(np.int32)}, n)
    cust = Table("Cust", {"CustID": np.arange(n1, dtype=np.int32),
                          "Country": rng.integers(0, 50, n1, dtype=np.int32)}, n1)
    prod = Table("Prod", {"ProdID": np.arange(n2, dtype=np.int32),
                          "Cat": rng.integers(0, 30, n2, dtype=np.int32)}, n2)
    fields = {f: Field(f, syms(k)) for f, k in
              (("CustID", n1), ("ProdID", n2), ("Sales", 1000), ("Country", 50), ("Cat", 30))}
    return DataModel([fact, cust, prod], fields)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    model = build(n)
    state = EMPTY_STATE.with_selection("Country", list(range(15)))
    qdef = {"qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}, {"qDef": {"qFieldDefs": ["Cat"]}}],
            "qMeasures": [{"qDef": {"qDef": "Sum(Sales)"}}],
            "qInitialDataFetch": [{"qWidth": 3, "qHeight": 100}]}
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        layout = HyperCube(model, infer(model, state), qdef).layout()
        times.append(time.perf_counter() - t0)
    print(f"qix-engine: {1000 * min(times):.0f} ms (best of 5), {layout['qSize']['qcy']} rows")
    try:
        import duckdb
        import pyarrow as pa
    except ImportError:
        return
    con = duckdb.connect()
    for name in ("Fact", "Cust", "Prod"):
        con.register(name, pa.table(dict(model.tables[name].columns)))
    sql = ("select Country, Cat, sum(Sales) from Fact join Cust using (CustID) join Prod using (ProdID) "
           "where Country < 15 group by 1, 2")
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    print(f"duckdb:     {1000 * min(times):.0f} ms (best of 5)")


if __name__ == "__main__":
    main()
