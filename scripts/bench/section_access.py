"""Benchmark: section access for many users with distinct reductions on a large app.

A fact table of N rows (default 10,000,000) holds ACCOUNT (2 × users distinct values), ProdID (linked to a
20,000-row product table) and Sales. Each of U users (default 1,000) may see two accounts of their own,
so every user has a distinct reduction (about 0.1% of the rows each).

Reported:
* one Select on the full model: selecting one ACCOUNT value, then a hypercube (Cat × Sum(Sales)) layout;
* a new user's first layout: section access for that user (grant, selection, reduced model) plus the
  same hypercube layout on the user's reduced model, without selections; and the ratio of the two;
* memory per distinct reduction: the private bytes of each reduced model (what it does not share with
  the full model) and the process's resident-memory growth over all users; for comparison, what row
  masks (one byte per row of each restricted table) would cost;
* a returning user (same reduction, cache hit).

Usage: python scripts/bench/section_access.py [fact_rows] [users]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
from common import Figure, best, command, figure, rss

from engine.app.access import AccessCache
from engine.calc.hypercube import HyperCube
from engine.model.datamodel import DataModel, Field, Table
from engine.model.selection import EMPTY_STATE, infer
from engine.model.symbols import SymbolTable

QDEF = {"qDimensions": [{"qDef": {"qFieldDefs": ["Cat"]}}], "qMeasures": [{"qDef": {"qDef": "Sum(Sales)"}}],
        "qInitialDataFetch": [{"qWidth": 2, "qHeight": 50}]}


def build(n: int, accounts: int, products: int = 20_000, seed: int = 0) -> DataModel:
    rng = np.random.default_rng(seed)

    def numbers(k: int) -> SymbolTable:
        return SymbolTable(np.arange(k, dtype=float), np.array([str(i) for i in range(k)], dtype=object))

    texts = np.array([f"ACC{i:05d}" for i in range(accounts)], dtype=object)
    fact = Table("Fact", {"ACCOUNT": rng.integers(0, accounts, n, dtype=np.int32),
                          "ProdID": rng.integers(0, products, n, dtype=np.int32),
                          "Sales": (np.arange(n) % 1000).astype(np.int32)}, n)
    prod = Table("Prod", {"ProdID": np.arange(products, dtype=np.int32),
                          "Cat": rng.integers(0, 30, products, dtype=np.int32)}, products)
    fields = {"ACCOUNT": Field("ACCOUNT", SymbolTable(np.full(accounts, np.nan), texts)),
              "ProdID": Field("ProdID", numbers(products)), "Sales": Field("Sales", numbers(1000)),
              "Cat": Field("Cat", numbers(30))}
    return DataModel([fact, prod], fields)


def security_table(users: int) -> dict:
    rows = [["ADMIN", "ADMIN", ""]]
    for u in range(users):
        rows += [["USER", f"U{u:05d}", f"ACC{2 * u:05d}"], ["USER", f"U{u:05d}", f"ACC{2 * u + 1:05d}"]]
    return {"columns": ["ACCESS", "USERID", "ACCOUNT"], "rows": rows}


@dataclass
class Result:
    rows: int
    users: int
    model_bytes: int
    build_seconds: float
    select_s: float  # one Select (infer + layout) on the full model, best of 5
    infer_s: float
    firsts_ms: list[float]  # each new user's first layout, sorted
    private: list[int]  # private bytes of each reduced model
    kept_rows: list[int]
    grown: int  # RSS growth over all users
    cache_bytes: int
    cache_entries: int
    returning_s: float  # per returning user (cache hit)

    @property
    def mask_bytes(self) -> int:
        """What one reduction would cost as row masks (a byte per row of each restricted table)."""
        return self.rows + 20_000


def run(n: int = 10_000_000, users: int = 1_000, progress: bool = False) -> Result:
    t0 = time.perf_counter()
    model = build(n, 2 * users)
    table = security_table(users)
    build_seconds = time.perf_counter() - t0
    if progress:
        print(f"model: {n:,} fact rows, {2 * users:,} accounts, {model.nbytes() / 2**20:.0f} MiB "
              f"(built in {build_seconds:.1f} s); {users:,} users with distinct reductions")

    # warm the per-model caches every user shares (key lookups, symbol text index)
    HyperCube(model, infer(model, EMPTY_STATE), QDEF).layout()
    warm = AccessCache()
    warm.user_access(table, model, "U99999")  # no row: denied without touching the data
    warm.user_access(table, model, f"U{users - 1:05d}")

    def select() -> None:
        inf = infer(model, EMPTY_STATE.with_selection("ACCOUNT", [7]))
        HyperCube(model, inf, QDEF).layout()

    t_infer = best(lambda: infer(model, EMPTY_STATE.with_selection("ACCOUNT", [7])))
    t_select = best(select)

    cache = AccessCache()
    gc.collect()
    before = rss()
    firsts, private, kept_rows = [], [], []
    for u in range(users):
        t0 = time.perf_counter()
        access = cache.user_access(table, model, f"U{u:05d}")
        view = access.view.model
        layout = HyperCube(view, infer(view, EMPTY_STATE), QDEF).layout()
        firsts.append(time.perf_counter() - t0)
        assert not access.denied and layout["qSize"]["qcy"] > 0
        private.append(access.view.nbytes)
        kept_rows.append(view.tables["Fact"].nrows)
    gc.collect()
    grown = rss() - before
    t0 = time.perf_counter()
    for u in range(users):
        cache.user_access(table, model, f"U{u:05d}")
    returning = (time.perf_counter() - t0) / users
    return Result(n, users, model.nbytes(), build_seconds, t_select, t_infer, sorted(1000 * t for t in firsts),
                  private, kept_rows, grown, cache.nbytes, len(cache), returning)


def figures(r: Result, args: list[object]) -> list[Figure]:
    cmd = command("section_access.py", *args)
    select_ms = 1000 * r.select_s
    note = f"{r.rows:,} fact rows, {r.users:,} users; model built in {r.build_seconds:.1f} s"
    return [
        figure("section_access", "new user's first layout (median)", statistics.median(r.firsts_ms), "ms",
               "one Select + layout, full model", select_ms, command=cmd, note=note),
        figure("section_access", "returning user (cache hit)", 1000 * r.returning_s, "ms",
               "one Select + layout, full model", select_ms, command=cmd),
        figure("section_access", "private memory per reduction", statistics.mean(r.private) / 2**10, "KiB",
               "row masks per reduction", r.mask_bytes / 2**10, command=cmd,
               note=f"resident growth {r.grown / r.users / 2**10:.0f} KiB per user"),
    ]


def measure(quick: bool = False) -> list[Figure]:
    # the issue's 10M rows; 500 users rather than the CLI's 1,000 keep the bench under a minute (each new
    # user's first layout is timed one by one)
    args = [1_000_000, 100] if quick else [10_000_000, 500]
    return figures(run(*args), args)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    users = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    r = run(n, users, progress=True)
    print(f"one Select on the full model: {1000 * r.select_s:.1f} ms (infer {1000 * r.infer_s:.1f} ms + layout)")
    firsts_ms = r.firsts_ms
    median = statistics.median(firsts_ms)
    p95 = firsts_ms[int(0.95 * (len(firsts_ms) - 1))]
    print(f"new user, first layout: median {median:.1f} ms, p95 {p95:.1f} ms, max {firsts_ms[-1]:.1f} ms "
          f"= {median / (1000 * r.select_s):.2f}× one Select (median)")
    print(f"reduced models: {statistics.mean(r.kept_rows):,.0f} fact rows each; private memory "
          f"{statistics.mean(r.private) / 2**10:.0f} KiB each (cache total {r.cache_bytes / 2**20:.0f} MiB, "
          f"{r.cache_entries} entries); resident growth {r.grown / 2**20:.0f} MiB = "
          f"{r.grown / users / 2**10:.0f} KiB per user")
    print(f"row masks instead would cost {r.mask_bytes / 2**20:.1f} MiB per reduction, "
          f"{users * r.mask_bytes / 2**30:.1f} GiB for all")
    print(f"returning user (cache hit): {1e6 * r.returning_s:.0f} µs")

if __name__ == "__main__":
    main()
