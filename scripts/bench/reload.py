"""Reload speed and model size: a 1M-row, 6-column CSV through a load script, against polars.read_csv.

Columns: 2 text (a 40-value category and a 50k-value customer code), 2 integer (quantity 1-100 and an
order id unique per row), 1 decimal (2 places) and 1 date (YYYY-MM-DD over ~3 years). Both sides run in
this process, interleaved, so machine noise hits them alike. The engine's number includes reading,
dictionary encoding, number/date interpretation and building the associative model; polars' includes
reading and type inference (its default), with a second polars figure that also dictionary-encodes the
text columns (Categorical), the closest like-for-like.

Model size is reported three ways: ``model_bytes`` (``DataModel.nbytes()``: arrays, Arrow buffers and
any Python text objects the symbol tables hold), ``traced_bytes`` (what stays allocated once the reload
is over and only the model is alive: numpy and Python memory by ``tracemalloc`` plus Arrow's allocator,
measured in a separate process over an untimed reload that follows a warm-up one) and ``rss_delta``
(resident set growth over that reload; the allocator may keep freed pages, so this is an upper bound).

    python scripts/bench/reload.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import Figure, command, figure, medians, rss

from engine.script.paths import Connection
from engine.script.runner import ScriptEnv, run_script


def make_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    categories = np.array([f"Category {i:02d}" for i in range(40)], dtype=object)
    customers = np.array([f"C{i:06d}" for i in range(50_000)], dtype=object)
    cat = categories[rng.integers(0, 40, rows)]
    cust = customers[rng.integers(0, 50_000, rows)]
    qty = rng.integers(1, 101, rows)
    order = np.arange(1, rows + 1) + 10_000_000
    amount = np.round(rng.uniform(1, 5000, rows), 2)
    day = np.datetime64("2022-01-01") + rng.integers(0, 1100, rows).astype("timedelta64[D]")
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({
        "Category": pa.array(cat, pa.string()), "Customer": pa.array(cust, pa.string()),
        "Quantity": pa.array(qty), "OrderId": pa.array(order),
        "Amount": pa.array([f"{a:.2f}" for a in amount.tolist()], pa.string()),
        "OrderDate": pa.array(day.astype(str), pa.string()),
    })
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="none"))


SCRIPT = """SET DateFormat='YYYY-MM-DD';
Orders:
LOAD * FROM [lib://bench/orders.csv] (txt, utf8, embedded labels, delimiter is ',');
"""


def engine_reload(folder: Path) -> tuple[float, int, int]:
    env = ScriptEnv(document_dir=folder, connections={"bench": Connection("bench", str(folder), "folder")},
                    max_rows=10**9)
    started = time.perf_counter()
    result = run_script(SCRIPT, env)
    elapsed = time.perf_counter() - started
    table = result.model.tables["Orders"]
    return elapsed, table.nrows, result.model.nbytes()


def traced_model_bytes(folder: Path) -> tuple[int, int]:
    """(bytes still allocated with only the model alive, RSS growth) over one reload."""
    import tracemalloc

    import pyarrow as pa

    env = ScriptEnv(document_dir=folder, connections={"bench": Connection("bench", str(folder), "folder")},
                    max_rows=10**9)
    run_script(SCRIPT, env)    # warm-up: lazily imported modules are no part of the model
    gc.collect()
    rss0, arrow0 = rss(), pa.total_allocated_bytes()
    tracemalloc.start()
    model = run_script(SCRIPT, env).model
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    held = traced + pa.total_allocated_bytes() - arrow0
    grown = rss() - rss0
    assert model.tables["Orders"].nrows > 0
    return held, grown


def polars_read(path: Path, categorical: bool) -> tuple[float, int]:
    import polars as pl

    started = time.perf_counter()
    df = pl.read_csv(path)
    if categorical:
        df = df.with_columns(pl.col("Category", "Customer").cast(pl.Categorical))
    return time.perf_counter() - started, df.height


@dataclass
class Result:
    rows: int
    csv_bytes: int
    model_bytes: int
    traced_bytes: int
    rss_delta: int
    runs: dict[str, list[float]]  # rows/s per round: engine, polars, polars_categorical


def run(rows: int = 1_000_000, rounds: int = 3) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "orders.csv"
        make_csv(csv, rows)
        size = csv.stat().st_size
        runs: dict[str, list[float]] = {"engine": [], "polars": [], "polars_categorical": []}
        model_bytes = 0
        for _ in range(rounds):
            secs, nrows, model_bytes = engine_reload(folder)
            assert nrows == rows
            runs["engine"].append(rows / secs)
            runs["polars"].append(rows / polars_read(csv, False)[0])
            runs["polars_categorical"].append(rows / polars_read(csv, True)[0])
        child = subprocess.run([sys.executable, __file__, "--memory-of", str(folder)], check=True,
                               capture_output=True, text=True)
        mem = json.loads(child.stdout.strip().splitlines()[-1])
    return Result(rows, size, model_bytes, mem["held"], mem["rss"], runs)


def figures(result: Result, args: list[object]) -> list[Figure]:
    med = medians(result.runs)
    cmd = command("reload.py", *args)
    rows = f"{result.rows:,}-row CSV"
    return [
        figure("reload", f"reload rows/s, {rows}", med["engine"], "rows/s", "polars.read_csv", med["polars"],
               command=cmd),
        # the reload issue's targets: half of polars' rate including dictionary encoding; half the CSV's size
        figure("reload", f"reload rows/s, {rows}", med["engine"], "rows/s", "polars.read_csv + Categorical",
               med["polars_categorical"], command=cmd, at_least=0.5),
        figure("reload", "model size (DataModel.nbytes)", result.model_bytes / 2**20, "MiB", "CSV file size",
               result.csv_bytes / 2**20, command=cmd, at_most=0.5),
        figure("reload", "bytes held after reload (traced)", result.traced_bytes / 2**20, "MiB", "CSV file size",
               result.csv_bytes / 2**20, command=cmd, note=f"RSS growth {result.rss_delta / 2**20:.0f} MiB"),
    ]


def measure(quick: bool = False) -> list[Figure]:
    args = {"rows": 100_000, "rounds": 1} if quick else {"rows": 1_000_000, "rounds": 3}
    return figures(run(args["rows"], args["rounds"]), [f"--{k}={v}" for k, v in args.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-of", type=Path, help=argparse.SUPPRESS)  # child: measure one folder
    args = parser.parse_args()
    if args.memory_of:
        held, rss_delta = traced_model_bytes(args.memory_of)
        print(json.dumps({"held": held, "rss": rss_delta}))
        return
    r = run(args.rows, args.rounds)
    size = r.csv_bytes
    med = medians(r.runs)
    print(json.dumps({"rows": r.rows, "csv_bytes": size, "model_bytes": r.model_bytes,
                      "model_over_csv": round(r.model_bytes / size, 3), "traced_bytes": r.traced_bytes,
                      "traced_over_csv": round(r.traced_bytes / size, 3), "rss_delta": r.rss_delta}))
    for name, value in med.items():
        print(json.dumps({"reader": name, "rows_per_s_median": round(value), "runs": [round(x) for x in r.runs[name]]}))
    print(json.dumps({"ratio_engine_over_polars": round(med["engine"] / med["polars"], 3),
                      "ratio_engine_over_polars_categorical": round(med["engine"] / med["polars_categorical"], 3)}))

if __name__ == "__main__":
    main()
