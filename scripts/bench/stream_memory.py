"""Peak memory of a big reload, streamed against read whole: a CSV and a Parquet file of the same table.

Each measurement runs in a fresh process: it imports the engine, notes its resident size, reloads one
file, and reports the peak resident size (``ru_maxrss``) minus that start, next to the final model's
size (``DataModel.nbytes``). "whole" forces the old way (the file read into memory, then parsed whole);
"streamed" is what the engine does for big files (CSV blocks of 32 MiB; Parquet batches of 256k rows).
The figure of interest is peak growth / model size. Measured (2M rows, 2 cores): CSV 12.5 whole → 11.5
streamed, Parquet 11.3 → 11.7: the raw file no longer sits in memory, but merging the blocks' symbol
tables of high-cardinality fields and building the model dominate the peak (the 2x goal is not met yet).

    python scripts/bench/stream_memory.py [--rows 2000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, command, rss  # noqa: F401 - REPO puts the engine on the path

SCRIPTS = {
    "csv": "SET DateFormat='YYYY-MM-DD';\nT: LOAD * FROM [lib://bench/orders.csv] (txt, utf8, embedded labels, "
           "delimiter is ',');",
    "parquet": "T: LOAD * FROM [lib://bench/orders.parquet] (parquet);",
}


def child(kind: str, mode: str, folder: str) -> None:
    from engine.script.paths import Connection
    from engine.script.runner import ScriptEnv, run_script
    from engine.sources import parquet, text

    if mode == "whole":
        text.STREAM_BYTES = 1 << 62
        parquet.BATCH_ROWS = 1 << 40
    else:
        text.STREAM_BYTES = 0
    env = ScriptEnv(document_dir=Path(folder), connections={"bench": Connection("bench", folder, "folder")},
                    max_rows=10**9)
    start = rss()
    model = run_script(SCRIPTS[kind], env).model
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak - start, "model": model.nbytes(), "rows": model.tables["T"].nrows}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from reload import make_csv

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_csv(folder / "orders.csv", args.rows)
        pq.write_table(pacsv.read_csv(folder / "orders.csv"), folder / "orders.parquet", row_group_size=65536)
        sizes = {k: (folder / f"orders.{k}").stat().st_size for k in SCRIPTS}
        print(f"{'file':8} {'MiB':>6} {'mode':9} {'model MiB':>10} {'peak growth MiB':>16} {'peak/model':>11}")
        for kind in SCRIPTS:
            for mode in ("whole", "streamed"):
                out = subprocess.run([sys.executable, __file__, "--child", kind, mode, str(folder)], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                got = json.loads(out)
                assert got["rows"] == args.rows
                print(f"{kind:8} {sizes[kind] / 2**20:6.0f} {mode:9} {got['model'] / 2**20:10.1f} "
                      f"{got['peak'] / 2**20:16.1f} {got['peak'] / got['model']:11.2f}")
    print(f"reproduce: {command('stream_memory.py', f'--rows={args.rows}')}")


if __name__ == "__main__":
    main()
