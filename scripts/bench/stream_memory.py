"""Peak memory of a big reload: a CSV and a Parquet file of the same table, each loaded in a fresh process.

Each child imports the engine, reloads a small file once (so lazily imported modules and caches are not
counted), notes its resident size and restarts the high-water mark, reloads the big file, and reports
the peak resident size (``VmHWM``) minus that start, next to the final model's size
(``DataModel.nbytes``) and the time. (The earlier version read ``ru_maxrss``, which survives ``execve``:
children started by the parent that had just written the files reported the parent's size, about
400 MB at 1M rows, as their peak.)
The figure of interest is peak growth / model size (target: at most 2).

Modes, each a fresh process:

* ``streamed``: what the engine does (``engine.memory.configure()``, as ``python -m engine`` runs it,
  then the file in batches: CSV pieces of ``text.BLOCK_BYTES``, Parquet batches of ``BATCH_ROWS``);
* ``streamed, default allocators``: the same without the memory policy (glibc's adaptive mmap threshold,
  Arrow's mimalloc pool): what the allocators keep resident;
* ``whole file``: the baseline, the file read whole (CSV: the whole-file reader; Parquet: one batch);
* ``streamed, LOAD with expressions``: a preceding LOAD and a WHERE with per-row expressions, which run
  batch by batch too; ``whole file, LOAD with expressions`` is its baseline.

    python scripts/bench/stream_memory.py                # 6M rows: a 304 MB CSV, 126 MB Parquet
    python scripts/bench/stream_memory.py --quick        # 1M rows
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
MODES = {
    "streamed": ("star", True, True),
    "streamed, default allocators": ("star", False, True),
    "whole file": ("star", True, False),
    "streamed, LOAD with expressions": ("expr", True, True),
    "whole file, LOAD with expressions": ("expr", True, False),
}


def child(kind: str, mode: str, folder: str) -> None:
    script, policy, streamed = MODES[mode]
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
        parquet.BATCH_ROWS = parquet.MIN_BATCH_ROWS = 1 << 40     # one batch
    env = ScriptEnv(document_dir=Path(folder), connections={"bench": Connection("bench", folder, "folder")},
                    max_rows=10**9)
    run_script(SCRIPTS[script].format(source=SOURCES[kind].format(name="small")), env)   # warm-up
    start = rss()
    reset_peak_rss()
    began = time.perf_counter()
    model = run_script(SCRIPTS[script].format(source=SOURCES[kind].format(name="orders")), env).model
    seconds = time.perf_counter() - began
    peak = peak_rss()
    print(json.dumps({"peak": peak - start, "model": model.nbytes(), "rows": model.tables["T"].nrows,
                      "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--quick", action="store_true", help="1M rows")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = 1_000_000 if args.quick else args.rows
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from reload import make_csv

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, n in (("small", 2000), ("orders", rows)):
            make_csv(folder / f"{name}.csv", n)
            pq.write_table(pacsv.read_csv(folder / f"{name}.csv"), folder / f"{name}.parquet",
                           row_group_size=65536)
        sizes = {k: (folder / f"orders.{k}").stat().st_size for k in SOURCES}
        print(f"{'file':8} {'file MiB':>8}  {'mode':32} {'rows':>9} {'model MiB':>9} {'peak growth MiB':>15} "
              f"{'peak/model':>10} {'seconds':>8}")
        for kind in SOURCES:
            for mode in MODES:
                out = subprocess.run([sys.executable, __file__, "--child", kind, mode, str(folder)], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                got = json.loads(out)
                print(f"{kind:8} {sizes[kind] / 2**20:8.0f}  {mode:32} {got['rows']:9d} {got['model'] / 2**20:9.1f} "
                      f"{got['peak'] / 2**20:15.1f} {got['peak'] / got['model']:10.2f} {got['seconds']:8.1f}",
                      flush=True)
    print(f"reproduce: {command('stream_memory.py', '--quick' if args.quick else f'--rows={rows}')}")


if __name__ == "__main__":
    main()
