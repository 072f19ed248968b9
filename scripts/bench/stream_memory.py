"""Peak memory of a big reload: a CSV and a Parquet file of the same table, each loaded in a fresh process.

Each child imports the engine, reloads a small file once (so lazily imported modules and caches are not
counted), notes its resident size and restarts the high-water mark, reloads the big file, and reports
the peak resident size (``VmHWM``) minus that start, next to the final model's size
(``DataModel.nbytes``) and the time. (The earlier version read ``ru_maxrss``, which survives ``execve``:
children started by the parent that had just written the files reported the parent's size, about
400 MB at 1M rows, as their peak.)
The figure of interest is peak growth / model size (target: at most 2).

Modes (``--modes``), each a fresh process:

* ``streamed``: what the engine does (``engine.memory.configure()``, as ``python -m engine`` runs it,
  then the file in batches: CSV pieces and Parquet batches of a 32nd of the file);
* ``default-alloc``: the same without ``configure()`` (Arrow on its mimalloc pool, which keeps freed
  pages), to show what the allocator policy is worth;
* ``whole``: the baseline, the file read whole (CSV: the whole-file reader; Parquet: one batch);
* ``expr``: a preceding LOAD and a WHERE with per-row expressions, which run batch by batch too;
  ``expr-whole`` is its baseline.

    python scripts/bench/stream_memory.py                # 6M rows: a 290 MiB CSV, 120 MiB Parquet
    python scripts/bench/stream_memory.py --quick        # 1M rows
    python scripts/bench/stream_memory.py --rows 20000000 --modes streamed,expr   # a 1 GB CSV
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, command, peak_rss, reset_peak_rss, rss  # noqa: F401 - REPO puts the engine on the path

SOURCES = {
    "csv": "[lib://bench/{name}.csv] (txt, utf8, embedded labels, delimiter is ',')",
    "parquet": "[lib://bench/{name}.parquet] (parquet)",
}
SCRIPTS = {
    "star": "SET DateFormat='YYYY-MM-DD';\nT: LOAD * FROM {source};",
    "expr": "SET DateFormat='YYYY-MM-DD';\nT: LOAD *, Revenue / Quantity AS Price, Year(OrderDate) AS Year;\n"
    "LOAD Category, Upper(Left(Customer, 4)) AS Prefix, Customer, OrderId, OrderDate, Quantity,\n"
    "  Quantity * Amount AS Revenue\nFROM {source} WHERE Quantity > 5;",
}
#: mode → (script, engine.memory policy, streamed, what the table calls it)
MODES = {
    "streamed": ("star", True, True, "streamed"),
    "default-alloc": ("star", False, True, "streamed, default allocators"),
    "whole": ("star", True, False, "whole file"),
    "expr": ("expr", True, True, "streamed, LOAD with expressions"),
    "expr-whole": ("expr", True, False, "whole file, LOAD with expressions"),
}


def child(kind: str, mode: str, folder: str) -> None:
    script, policy, streamed, _label = MODES[mode]
    if policy:
        from engine import memory

        memory.configure()
    from engine.script.paths import Connection
    from engine.script.runner import ScriptEnv, run_script
    from engine.sources import parquet, text

    if streamed:
        text.STREAM_BYTES = 0
    else:
        text.STREAM_BYTES = 1 << 62
        parquet.BATCH_ROWS = parquet.MIN_BATCH_ROWS = 1 << 40  # one batch
    env = ScriptEnv(
        document_dir=Path(folder),
        connections={"bench": Connection("bench", folder, "folder")},
        max_rows=10**9,
    )
    run_script(SCRIPTS[script].format(source=SOURCES[kind].format(name="small")), env)  # warm-up
    start = rss()
    reset_peak_rss()
    began = time.perf_counter()
    model = run_script(SCRIPTS[script].format(source=SOURCES[kind].format(name="orders")), env).model
    seconds = time.perf_counter() - began
    peak = peak_rss()
    print(
        json.dumps(
            {
                "peak": peak - start,
                "model": model.nbytes(),
                "rows": model.tables["T"].nrows,
                "seconds": seconds,
            }
        )
    )


def write_orders(folder: Path, name: str, rows: int) -> None:
    """``name.csv`` and ``name.parquet``: orders as in ``reload.make_csv`` (40 categories, 50k customers,
    quantities, ascending ids, amounts with two decimals, 1100 days), written a million rows at a time so
    a gigabyte file costs this process no more than a million rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    categories = pa.array([f"Category {i:02d}" for i in range(40)])
    customers = pa.array([f"C{i:06d}" for i in range(50_000)])
    schema = pa.schema(
        [
            ("Category", pa.string()),
            ("Customer", pa.string()),
            ("Quantity", pa.int64()),
            ("OrderId", pa.int64()),
            ("Amount", pa.float64()),
            ("OrderDate", pa.date32()),
        ]
    )
    with (
        pacsv.CSVWriter(
            folder / f"{name}.csv", schema, write_options=pacsv.WriteOptions(quoting_style="none")
        ) as csv_out,
        pq.ParquetWriter(folder / f"{name}.parquet", schema) as pq_out,
    ):
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            rng = np.random.default_rng(7 + start)
            amount = np.round(rng.uniform(1, 5000, n), 2)
            day = np.datetime64("2022-01-01") + rng.integers(0, 1100, n).astype("timedelta64[D]")
            table = pa.table(
                [
                    categories.take(pa.array(rng.integers(0, 40, n))),
                    customers.take(pa.array(rng.integers(0, 50_000, n))),
                    pa.array(rng.integers(1, 101, n)),
                    pa.array(np.arange(start, start + n) + 10_000_001),
                    pa.array(amount),
                    pa.array(day.astype("datetime64[D]"), pa.date32()),
                ],
                schema=schema,
            )
            pq_out.write_table(table, row_group_size=65536)
            # the CSV's amounts with their two decimals ("12.50"), as exports write them
            csv_out.write_table(
                table.set_column(
                    4, pa.field("Amount", pa.string()), pa.array([f"{a:.2f}" for a in amount.tolist()])
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--quick", action="store_true", help="1M rows")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of the modes")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = 1_000_000 if args.quick else args.rows
    modes = [m for m in MODES if m in args.modes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, n in (("small", 2000), ("orders", rows)):
            write_orders(folder, name, n)
        sizes = {k: (folder / f"orders.{k}").stat().st_size for k in SOURCES}
        print(
            f"{'file':8} {'file MiB':>8}  {'mode':33} {'rows':>9} {'model MiB':>9} {'peak growth MiB':>15} "
            f"{'peak/model':>10} {'seconds':>8}"
        )
        for kind in SOURCES:
            for mode in modes:
                out = (
                    subprocess.run(
                        [sys.executable, __file__, "--child", kind, mode, str(folder)],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                got = json.loads(out)
                print(
                    f"{kind:8} {sizes[kind] / 2**20:8.0f}  {MODES[mode][3]:33} {got['rows']:9d} "
                    f"{got['model'] / 2**20:9.1f} "
                    f"{got['peak'] / 2**20:15.1f} {got['peak'] / got['model']:10.2f} {got['seconds']:8.1f}",
                    flush=True,
                )
    extra = [] if len(modes) == len(MODES) else [f"--modes={','.join(modes)}"]
    print(
        f"reproduce: {command('stream_memory.py', *(['--quick'] if args.quick else [f'--rows={rows}']), *extra)}"
    )


if __name__ == "__main__":
    main()
