"""Benchmark the calculation layer against DuckDB and polars on the same data.

A fact table (default 10,000,000 rows) is linked to two dimension tables (customers, products).
Two questions are asked after selecting 15 of 50 countries in the customer table:

(a) a hypercube: Country × Cat × Sum(Sales) (join, group by, sum);
(b) the possible values of ``Cat`` (a product-table field) given the country selection.

Each engine answers each question ``--repeat`` times; the medians and our ratio to DuckDB and polars
are printed. Our timings include the inference (selection propagation) each time.

Usage: python scripts/bench/calc.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import statistics
import sys  # noqa: E402
import time
from collections.abc import Callable
from pathlib import Path  # noqa: E402

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo's engine

from engine.calc.hypercube import HyperCube  # noqa: E402
from engine.model.datamodel import DataModel, Field, Table  # noqa: E402
from engine.model.selection import EMPTY_STATE, infer  # noqa: E402
from engine.model.symbols import SymbolTable  # noqa: E402


def build(n: int, n1: int = 100_000, n2: int = 20_000, seed: int = 0) -> DataModel:
    rng = np.random.default_rng(seed)

    def syms(k: int) -> SymbolTable:
        return SymbolTable(np.arange(k, dtype=float), np.array([str(i) for i in range(k)], dtype=object))

    fact = Table("Fact", {"CustID": rng.integers(0, n1, n, dtype=np.int32),
                          "ProdID": rng.integers(0, n2, n, dtype=np.int32),
                          "Sales": (np.arange(n) % 1000).astype(np.int32)}, n)
    cust = Table("Cust", {"CustID": np.arange(n1, dtype=np.int32),
                          "Country": rng.integers(0, 50, n1, dtype=np.int32)}, n1)
    # a product category only some countries buy, so (b) has a real answer to find
    prod = Table("Prod", {"ProdID": np.arange(n2, dtype=np.int32),
                          "Cat": rng.integers(0, 30, n2, dtype=np.int32)}, n2)
    fields = {f: Field(f, syms(k)) for f, k in
              (("CustID", n1), ("ProdID", n2), ("Sales", 1000), ("Country", 50), ("Cat", 30))}
    return DataModel([fact, cust, prod], fields)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    out = None
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    model = build(args.rows)
    state = EMPTY_STATE.with_selection("Country", list(range(15)))
    qdef = {"qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}, {"qDef": {"qFieldDefs": ["Cat"]}}],
            "qMeasures": [{"qDef": {"qDef": "Sum(Sales)"}}],
            "qInitialDataFetch": [{"qWidth": 3, "qHeight": 100}]}

    def ours_cube() -> int:
        return HyperCube(model, infer(model, state), qdef).layout()["qSize"]["qcy"]

    def ours_possible() -> int:
        return int(np.count_nonzero(infer(model, state).possible("Cat")))

    ours_cube()  # warm the per-model caches (key lookups), as a running engine has them
    results: dict[str, dict[str, float]] = {"cube": {}, "possible": {}}
    results["cube"]["qix"], rows = timed(ours_cube, args.repeat)
    results["possible"]["qix"], npossible = timed(ours_possible, args.repeat)

    import duckdb
    import polars as pl
    import pyarrow as pa

    con = duckdb.connect()
    frames = {}
    for name in ("Fact", "Cust", "Prod"):
        arrow = pa.table(dict(model.tables[name].columns))
        con.register(name, arrow)
        frames[name] = pl.from_arrow(arrow)
    cube_sql = ("select Country, Cat, sum(Sales) from Fact join Cust using (CustID) join Prod using (ProdID) "
                "where Country < 15 group by 1, 2")
    poss_sql = ("select distinct Cat from Fact join Cust using (CustID) join Prod using (ProdID) "
                "where Country < 15")
    results["cube"]["duckdb"], d_rows = timed(lambda: len(con.execute(cube_sql).fetchall()), args.repeat)
    results["possible"]["duckdb"], d_poss = timed(lambda: len(con.execute(poss_sql).fetchall()), args.repeat)
    fact, cust, prod = frames["Fact"], frames["Cust"], frames["Prod"]

    def polars_cube() -> int:
        return (fact.join(cust.filter(pl.col("Country") < 15), on="CustID")
                .join(prod, on="ProdID").group_by("Country", "Cat").agg(pl.col("Sales").sum()).height)

    def polars_possible() -> int:
        return (fact.join(cust.filter(pl.col("Country") < 15), on="CustID", how="semi")
                .join(prod, on="ProdID").select("Cat").unique().height)

    results["cube"]["polars"], p_rows = timed(polars_cube, args.repeat)
    results["possible"]["polars"], p_poss = timed(polars_possible, args.repeat)
    assert rows == d_rows == p_rows, (rows, d_rows, p_rows)
    assert npossible == d_poss == p_poss, (npossible, d_poss, p_poss)

    print(f"{args.rows:,} fact rows, 15 of 50 countries selected; medians of {args.repeat} runs")
    for q, label in (("cube", f"(a) hypercube Country x Cat x Sum(Sales), {rows} rows"),
                     ("possible", f"(b) possible values of Cat, {npossible} values")):
        r = results[q]
        print(label)
        print(f"    qix-engine {1000 * r['qix']:8.1f} ms | duckdb {1000 * r['duckdb']:8.1f} ms "
              f"(qix/duckdb {r['qix'] / r['duckdb']:.2f}) | polars {1000 * r['polars']:8.1f} ms "
              f"(qix/polars {r['qix'] / r['polars']:.2f})")


if __name__ == "__main__":
    main()
