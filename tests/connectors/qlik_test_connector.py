"""A Qlik gRPC data connector written for the tests: it serves rows from PostgreSQL the way Qlik Core's
example connectors do (field list in the ``x-qlik-getdata-bin`` header, then ``DataChunk`` messages).

Run it as a process (so "the connector dies" is a real process exit)::

    python -m tests.connectors.qlik_test_connector --port 50051 --pg 127.0.0.1:5432/db [--tls CERT KEY]

The connection string (``provider=pgtest;key=value;…``) steers it:

* ``chunk_rows=N`` rows per chunk (default 1000);
* ``die_after=K`` the process exits after sending K chunks (mid-stream);
* ``delay=S`` sleeps S seconds before the first chunk (a slow connector);
* ``mode=corectl`` answers ``SELECT A``/``SELECT B`` with corectl's test connector rows, all as strings.

The user and password of the request are the PostgreSQL credentials. Field types follow the Go PostgreSQL
connector: integers inline (number code -2), floats in the double bucket, texts in the string bucket
(empty ones as -2), dates as seconds since 1970 (``UNIX_SECONDS_SINCE_1970_UTC``, ``DATE``), timestamps as
ISO 8601 texts (``ISO_8601``, ``TIMESTAMP``); a column whose name starts with ``dual_`` sends a text and a
number for each value, one starting with ``split_`` sends each text in two pieces (number code -3).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.connectors.qlik import connector_pb2 as pb
from engine.connectors.qlik import connector_pb2_grpc as pb_grpc

METADATA_KEY = "x-qlik-getdata-bin"
_CORECTL = {
    "select a": (["abcs", "numbers"], [["a", "1"], ["b", "2"], ["b", "3"], ["b", "4"], ["c", "5"]]),
    "select b": (["xyz", "numbers"], [["x", "5"], ["y", "4"], ["y", "3"], ["y", "2"], ["z", "1"]]),
}


def _params(connection_string: str) -> dict[str, str]:
    out = {}
    for part in connection_string.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _field(name: str, t: pa.DataType) -> pb.FieldInfo:
    attr, semantic = pb.TEXT, pb.DEFAULT
    if name.startswith("dual_"):
        attr = pb.REAL
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        attr = pb.INTEGER
    elif pa.types.is_floating(t):
        attr = pb.REAL
    elif pa.types.is_date(t):
        attr, semantic = pb.DATE, pb.UNIX_SECONDS_SINCE_1970_UTC
    elif pa.types.is_timestamp(t):
        attr, semantic = pb.TIMESTAMP, pb.ISO_8601
    return pb.FieldInfo(name=name, semanticType=semantic, fieldAttributes=pb.FieldAttributes(Type=attr))


def _chunk(names: list[str], columns: list[pa.Array]) -> pb.DataChunk:
    """One chunk of whole rows, values field after field, row after row (vectorised per column)."""
    nrows = len(columns[0]) if columns else 0
    ncols = len(columns)
    strings: list[str] = []
    doubles: list[float] = []
    scodes = np.full((nrows, ncols), -1, dtype=np.int64)
    ncode_parts: list[tuple[np.ndarray, np.ndarray]] = []   # per column: (row entries, entry count)
    extra_rows: dict[int, list[tuple[int, str]]] = {}                  # split_ columns: (col, piece)
    for j, (name, arr) in enumerate(zip(names, columns, strict=True)):
        t = arr.type
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        entries = np.full((nrows, 2), -1, dtype=np.int64)
        width = np.ones(nrows, dtype=np.int64)
        if name.startswith("dual_") or name.startswith("split_") or pa.types.is_string(t):
            texts = arr.cast(pa.string()).to_pylist()
            for i, s in enumerate(texts):
                if s is None:
                    continue
                if name.startswith("split_") and len(s) > 1:
                    extra_rows.setdefault(i, []).append((j, s[len(s) // 2:]))
                    s = s[: len(s) // 2]
                if s == "":
                    scodes[i, j] = -2
                else:
                    scodes[i, j] = len(strings)
                    strings.append(s)
                if name.startswith("dual_"):
                    try:
                        entries[i, 0] = len(doubles)
                        doubles.append(float(s))
                    except ValueError:
                        entries[i, 0] = -1
        elif pa.types.is_integer(t) or pa.types.is_boolean(t):
            vals = arr.cast(pa.int64()).fill_null(0).to_numpy()
            entries[valid, 0] = -2
            entries[valid, 1] = vals[valid]
            width[valid] = 2
        elif pa.types.is_floating(t):
            vals = arr.fill_null(0.0).to_numpy()
            idx = np.flatnonzero(valid)
            entries[idx, 0] = len(doubles) + np.arange(len(idx))
            doubles.extend(vals[idx].tolist())
        elif pa.types.is_date(t):
            days = arr.cast(pa.date32()).view(pa.int32()).fill_null(0).to_numpy().astype(np.float64)
            idx = np.flatnonzero(valid)
            entries[idx, 0] = len(doubles) + np.arange(len(idx))
            doubles.extend((days[idx] * 86_400.0).tolist())
        elif pa.types.is_timestamp(t):
            texts = pc.strftime(arr, "%Y-%m-%dT%H:%M:%S").to_pylist()
            for i, s in enumerate(texts):
                if s is not None:
                    scodes[i, j] = len(strings)
                    strings.append(s)
        else:
            texts = arr.cast(pa.string()).to_pylist()
            for i, s in enumerate(texts):
                if s is not None:
                    scodes[i, j] = len(strings)
                    strings.append(s)
        ncode_parts.append((entries, width))
    entries_all = np.stack([ncode_parts[j][0] for j in range(ncols)], axis=1) if ncols else np.empty((0, 0, 2))
    widths = np.stack([ncode_parts[j][1] for j in range(ncols)], axis=1) if ncols else np.empty((0, 0))
    if not extra_rows:   # row-major: every value's string code, and its 1 or 2 number entries
        flat = entries_all.reshape(-1, 2)
        out_n = flat[np.arange(2)[None, :] < widths.reshape(-1)[:, None]].tolist()
        out_s = scodes.reshape(-1).tolist()
    else:
        out_s, out_n = [], []
        for i in range(nrows):
            for j in range(ncols):
                out_s.append(int(scodes[i, j]))
                out_n.extend(int(x) for x in entries_all[i, j, : int(widths[i, j])])
                for col, piece in extra_rows.get(i, []):
                    if col == j:
                        out_s.append(len(strings))
                        strings.append(piece)
                        out_n.append(-3)
    return pb.DataChunk(stringBucket=strings, doubleBucket=doubles, stringCodes=out_s, numberCodes=out_n)


class Connector(pb_grpc.ConnectorServicer):
    def __init__(self, pg: str) -> None:
        self.pg = pg

    def GetMetaInfo(self, request: Any, context: Any) -> pb.MetaInfo:
        return pb.MetaInfo(name="qix-engine test connector", version="1", developer="tests")

    def GetData(self, request: Any, context: grpc.ServicerContext) -> Iterator[pb.DataChunk]:
        params = _params(request.connection.connectionString)
        statement = request.parameters.statement
        if params.get("mode") == "corectl":
            names, rows = _CORECTL.get(statement.strip().lower(), ([], []))
            header = pb.GetDataResponse(fieldInfo=[pb.FieldInfo(name=n) for n in names])
            context.send_initial_metadata(((METADATA_KEY, header.SerializeToString()),))
            yield pb.DataChunk(stringBucket=[v for r in rows for v in r], stringCodes=list(range(2 * len(rows))),
                               numberCodes=[-1] * (2 * len(rows)))
            return
        import adbc_driver_postgresql.dbapi as pg

        url = f"postgresql://{request.connection.user}:{request.connection.password}@{self.pg}"
        try:
            conn = pg.connect(url)
        except Exception as err:  # noqa: BLE001 - reported to the engine as the connector's error
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"cannot connect to PostgreSQL: {err}")
        try:
            cur = conn.cursor()
            try:
                cur.execute(statement)
                reader = cur.fetch_record_batch()
            except Exception as err:  # noqa: BLE001
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"query failed: {err}")
            names = list(reader.schema.names)
            header = pb.GetDataResponse(fieldInfo=[_field(n, f.type) for n, f in zip(names, reader.schema,
                                                                                      strict=True)])
            context.send_initial_metadata(((METADATA_KEY, header.SerializeToString()),))
            time.sleep(float(params.get("delay", "0")))
            chunk_rows = int(params.get("chunk_rows", "1000"))
            die_after = int(params.get("die_after", "0"))
            sent = 0
            for batch in reader:
                for start in range(0, batch.num_rows, chunk_rows):
                    part = batch.slice(start, chunk_rows)
                    yield _chunk(names, list(part.columns))
                    sent += 1
                    if die_after and sent >= die_after:
                        time.sleep(0.2)   # let the chunks reach the engine, then die without a status
                        os._exit(3)
            cur.close()
        finally:
            conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pg", required=True, help="host:port/database of the PostgreSQL server")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args(argv)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_ConnectorServicer_to_server(Connector(args.pg), server)
    address = f"127.0.0.1:{args.port}"
    if args.tls:
        cert, key = (open(p, "rb").read() for p in args.tls)
        server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    else:
        server.add_insecure_port(address)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
