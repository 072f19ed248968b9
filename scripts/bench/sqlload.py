"""SQL load speed: ``LIB CONNECT`` + ``SQL SELECT`` of a PostgreSQL table into a model, against the bare
driver reading the same query into Arrow.

A throwaway PostgreSQL server (Debian's binaries, ``tests/pgserver.py``) holds a table of ``--rows`` rows
and 6 columns: an ascending bigint id, two texts (a 50k-value customer, a 40-value category), an integer
quantity 1-100, a float amount with 2 decimals and a date over ~3 years. Both sides run in this process,
interleaved round by round, against the same server:

* baseline: ``adbc_driver_postgresql`` ``cursor.execute(sql)`` + ``fetch_arrow_table()`` (COPY BINARY
  decoded into Arrow in C++: as fast as a Python client gets);
* ours: ``run_script`` of ``LIB CONNECT TO 'pg'; T: SQL SELECT …;``: the same driver, plus dictionary
  encoding into symbol tables, number/date texts, and building the associative model.

The issue's target: ours reaches at least half of the baseline's rows/s.

    python scripts/bench/sqlload.py [--rows 10000000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import Figure, command, figure, medians

from engine.script.paths import Connection
from engine.script.runner import ScriptEnv, run_script

QUERY = "SELECT id, customer, category, qty, amount, day FROM bench_t"
SCRIPT = f"LIB CONNECT TO 'pg';\nT: SQL {QUERY};\n"


def make_table(server, rows: int) -> None:
    server.execute(
        "CREATE TABLE bench_t AS SELECT g::int8 AS id, 'customer ' || (g * 7 % 50000) AS customer, "
        "'category ' || (g % 40) AS category, (g % 100) + 1 AS qty, "
        "round(((g::int8 * 7919) % 500000) / 100.0, 2)::float8 AS amount, DATE '2022-01-01' + (g % 1100) AS day "
        f"FROM generate_series(1, {rows}) g",
        "ANALYZE bench_t")


def bare_driver(url: str) -> tuple[float, int]:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute(QUERY)
        table = cur.fetch_arrow_table()
        return time.perf_counter() - started, table.num_rows


def engine_load(url: str, folder: Path) -> tuple[float, int]:
    env = ScriptEnv(document_dir=folder, connections={"pg": Connection("pg", url, "postgresql")}, max_rows=10**9)
    started = time.perf_counter()
    result = run_script(SCRIPT, env)
    elapsed = time.perf_counter() - started
    return elapsed, result.model.tables["T"].nrows


def run(rows: int, rounds: int) -> dict[str, list[float]]:
    from tests.pgserver import PostgresServer

    server = PostgresServer().start()
    try:
        make_table(server, rows)
        runs: dict[str, list[float]] = {"engine": [], "driver": []}
        with tempfile.TemporaryDirectory() as tmp:
            bare_driver(server.url)                      # warm the server's cache once
            for _ in range(rounds):
                secs, n = bare_driver(server.url)
                assert n == rows
                runs["driver"].append(rows / secs)
                secs, n = engine_load(server.url, Path(tmp))
                assert n == rows
                runs["engine"].append(rows / secs)
        return runs
    finally:
        server.stop()


def figures(rows: int, runs: dict[str, list[float]], args: list[object]) -> list[Figure]:
    med = medians(runs)
    return [figure("sqlload", f"SQL SELECT rows/s, {rows:,}-row PostgreSQL table", med["engine"], "rows/s",
                   "ADBC driver into Arrow (fetch_arrow_table)", med["driver"], command=command("sqlload.py", *args),
                   at_least=0.5)]


def measure(quick: bool = False) -> list[Figure]:
    args = {"rows": 200_000, "rounds": 1} if quick else {"rows": 10_000_000, "rounds": 3}
    return figures(args["rows"], run(args["rows"], args["rounds"]), [f"--{k}={v}" for k, v in args.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200,000 rows, one round")
    args = parser.parse_args()
    rows, rounds = (200_000, 1) if args.quick else (args.rows, args.rounds)
    runs = run(rows, rounds)
    med = medians(runs)
    for name, values in runs.items():
        print(json.dumps({"reader": name, "rows_per_s_median": round(med[name]), "runs": [round(x) for x in values]}))
    print(json.dumps({"rows": rows, "ratio_engine_over_driver": round(med["engine"] / med["driver"], 3)}))


if __name__ == "__main__":
    main()
