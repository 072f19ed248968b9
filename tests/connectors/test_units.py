"""The connector package's pieces on their own: value rendering, batch encoding, chunk decoding, connection
strings, settings, secret masking. (The socket tests cover the same paths end to end.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from engine.connectors.chunks import ChunkValues, code_positions, field_duals
from engine.connectors.columns import ColumnError, ColumnSink, Render, render_datetimes, render_numbers
from engine.connectors.config import ConnectorSettings, Plugin, parse_plugins
from engine.connectors.databases import check_file, looks_like_database, odbc_type, parse_target
from engine.connectors.errors import ConnectorError
from engine.connectors.qlik import connector_pb2 as pb
from engine.connectors.secrets import Scrubber, mask_secrets, redact_statement
from engine.connectors.state import table_name_of
from engine.connectors.targets import connection_body, provider_of
from engine.expr.formatting import Locale, format_datetimes, interpret_texts
from engine.model.numformat import format_default
from engine.settings import SettingsError, parse_args

LOCALE = Locale()
RENDER = Render(LOCALE, lambda a: interpret_texts(a, LOCALE))


def test_render_numbers_is_the_default_format():
    rng = np.random.default_rng(3)
    values = np.concatenate([
        rng.uniform(-1e6, 1e6, 2000), np.round(rng.uniform(-1000, 1000, 2000), 2), rng.integers(-10**15, 10**15, 500),
        [0.1, 1 / 3, 2 / 3, 1e-7, 1e-6, 123456789012345.0, 1e15, 1e21, -5e-8, 0.5, 100.0, 1e14 + 0.5, 1.5e12,
         -2.5e11, 9.99e-5, 1.5e-4, 0.1 + 0.2, 12345678.901234, 1e16, 3e5, 7e-3],
        10.0 ** rng.integers(-9, 16, 500) * rng.integers(1, 99, 500)])
    got = render_numbers(values).to_pylist()
    assert got == [format_default(float(x)) for x in values]


@pytest.mark.parametrize("fmt", ["M/D/YYYY h:mm:ss[.fff] TT", "YYYY-MM-DD", "DD.MM.YY hh:mm:ss.fff", "WWWW D MMMM YYYY",
                                 "h:mm TT", "D/M/YYYY W WWW MMM"])
def test_render_datetimes_matches_the_formatter(fmt):
    serials = np.random.default_rng(5).uniform(-700_000, 2_900_000, 3000)
    assert render_datetimes(serials, fmt, LOCALE).to_pylist() == list(format_datetimes(serials, fmt, LOCALE))


def _encode(batches: list[pa.RecordBatch]) -> list[list[tuple[str, float] | None]]:
    sink = ColumnSink(batches[0].schema.names)
    for b in batches:
        sink.add(b)
    out = []
    for sym, codes in sink.finish(RENDER):
        col = []
        for c in codes.tolist():
            num = sym.num_at(c) if c >= 0 else None
            col.append(None if c < 0 else (sym.text_at(c), None if num != num else num))
        out.append(col)
    return out


def test_batches_merge_into_one_symbol_table_in_load_order():
    b1 = pa.record_batch({"id": [3, 1, 3], "s": ["x", "y", None], "f": [0.5, -0.0, float("nan")]})
    b2 = pa.record_batch({"id": [2, 1, 5], "s": ["y", "z", "x"], "f": [0.0, 0.5, 2.25]})
    ids, texts, floats = _encode([b1, b2])
    assert [v and v[0] for v in ids] == ["3", "1", "3", "2", "1", "5"]
    assert [v and v[0] for v in texts] == ["x", "y", None, "y", "z", "x"]
    assert floats == [("0.5", 0.5), ("0", 0.0), None, ("0", 0.0), ("0.5", 0.5), ("2.25", 2.25)]


def test_ascending_keys_skip_hashing_and_stay_exact_across_batches():
    b1 = pa.record_batch({"id": pa.array([10, 11, 12], pa.int64())})
    b2 = pa.record_batch({"id": pa.array([13, 20], pa.int64())})
    b3 = pa.record_batch({"id": pa.array([12, 40], pa.int64())})     # breaks the order: hashed from here
    (ids,) = _encode([b1, b2, b3])
    assert [v[1] for v in ids] == [10, 11, 12, 13, 20, 12, 40]
    sink = ColumnSink(["id"])
    for b in (b1, b2, b3):
        sink.add(b)
    sym, codes = sink.finish(RENDER)[0]
    assert len(sym) == 6 and codes.tolist() == [0, 1, 2, 3, 4, 2, 5]


def test_types_nulls_and_type_changes():
    import datetime as dt
    batch = pa.record_batch({
        "b": pa.array([True, False, None]), "d": pa.array([dt.date(2024, 1, 31), None, dt.date(1899, 12, 30)]),
        "t": pa.array([dt.time(6, 0), None, dt.time(18, 30)]), "n": pa.nulls(3),
        "dec": pa.array([1, 2, None], pa.decimal128(10, 2)), "bin": pa.array([b"\x01\xff", None, b""]),
        "u8": pa.array([2**64 - 1, 0, None], pa.uint64())})
    b, d, t, n, dec, binary, u8 = _encode([batch])
    assert b == [("1", 1.0), ("0", 0.0), None]
    assert d == [("1/31/2024", 45322.0), None, ("12/30/1899", 0.0)]
    assert t == [("6:00:00 AM", 0.25), None, ("6:30:00 PM", 0.7708333333333334)]
    assert n == [None, None, None] and dec == [("1", 1.0), ("2", 2.0), None]
    assert binary == [("01ff", None), None, ("", None)]
    assert u8[0] == ("1.844674407371e+019", 2.0**64) and u8[2] is None
    # NULL-typed batches before the type is known, then a batch of another (castable) type
    first = pa.record_batch({"x": pa.nulls(2)})
    second = pa.record_batch({"x": pa.array([1, 2], pa.int32())})
    third = pa.record_batch({"x": pa.array([3], pa.int64())})
    (x,) = _encode([first, second, third])
    assert x == [None, None, ("1", 1.0), ("2", 2.0), ("3", 3.0)]
    with pytest.raises(ColumnError, match="changed type"):
        _encode([pa.record_batch({"x": pa.array([1])}), pa.record_batch({"x": pa.array(["a"])})])
    with pytest.raises(ColumnError, match="appears twice"):
        ColumnSink(["a", "b", "a"])


def test_code_positions_with_runs_of_inline_integers():
    # values: [-2 -2] (inline -2), [-2 -2] (inline -2), 5 (double 5), [-2 7] (inline 7), -1 (null)
    codes = np.array([-2, -2, -2, -2, 5, -2, 7, -1])
    assert code_positions(codes).tolist() == [0, 2, 4, 5, 7]
    with pytest.raises(ConnectorError, match="ends inside a value"):
        code_positions(np.array([0, -2]))


def test_chunks_decode_duals_inline_integers_empty_strings_and_continuations():
    values = ChunkValues()
    values.add(pb.DataChunk(stringBucket=["a", "12.50"], doubleBucket=[12.5], stringCodes=[0, 1, -2, -1],
                            numberCodes=[-1, 0, -1, -2, 42]))
    values.add(pb.DataChunk(stringBucket=["lo", "ng", "x"], stringCodes=[0, 1, 2], numberCodes=[-1, -3, -1]))
    (n1, t1), (n2, t2) = values.fields(2)
    assert t1.to_pylist() == ["a", "", "long"] and np.isnan(n1).all()
    assert t2.to_pylist() == ["12.50", None, "x"] and n2[0] == 12.5 and n2[1] == 42 and np.isnan(n2[2])
    num, texts = field_duals(n2, t2, pb.REAL, pb.DEFAULT, RENDER)
    assert texts.to_pylist() == ["12.50", "42", "x"] and num.tolist()[:2] == [12.5, 42.0]
    with pytest.raises(ConnectorError, match="not whole rows"):
        values.fields(4)
    bad = ChunkValues()
    with pytest.raises(ConnectorError, match="outside its chunk"):
        bad.add(pb.DataChunk(stringCodes=[3], numberCodes=[-1]))


def test_field_duals_apply_semantic_types():
    seconds = np.array([0.0, 86_400.0 * 19752, np.nan])
    num, texts = field_duals(seconds, pa.array([None, None, None], pa.string()), pb.DATE, pb.UNIX_SECONDS_SINCE_1970_UTC,
                             RENDER)
    assert num[:2].tolist() == [25569.0, 45321.0] and texts.to_pylist() == ["1/1/1970", "1/30/2024", None]
    num, texts = field_duals(np.full(2, np.nan), pa.array(["2024-01-30T12:00:00", "nope"]), pb.TIMESTAMP, pb.ISO_8601,
                             RENDER)
    assert num[0] == 45321.5 and texts.to_pylist()[0] == "1/30/2024 12:00:00 PM" and texts.to_pylist()[1] == "nope"


def test_connection_strings():
    assert connection_body('CUSTOM CONNECT TO "provider=jdbc;driver=postgresql;host=db"') == \
        "provider=jdbc;driver=postgresql;host=db"
    assert connection_body("custom connect to [provider=x;a=b];") == "provider=x;a=b"
    assert connection_body("provider=x") == "provider=x"
    assert provider_of("host=a; Provider = pg ;") == "pg" and provider_of("host=a") is None
    t = parse_target("postgresql://db.example:5433/sales?sslmode=require", "etl", "p@ss:w/rd")
    assert t.driver == "postgresql" and t.url == "postgresql://etl:p%40ss%3Aw%2Frd@db.example:5433/sales?sslmode=require"
    assert t.secrets == ("p@ss:w/rd",)
    t = parse_target("postgresql://me:inurl@h/db", "other", "ignored")
    assert t.url == "postgresql://me:inurl@h/db" and set(t.secrets) == {"ignored", "inurl"}
    assert parse_target("mysql+pymysql://u@h/db").driver == "sqlalchemy"
    roots = (Path("/srv/data"),)
    assert parse_target("sqlite:///shop.db", roots=roots).path == Path("/srv/data/shop.db")
    assert parse_target("duckdb:////abs/x.duckdb", roots=roots).path == Path("/abs/x.duckdb")
    assert parse_target("duckdb:///:memory:").path is None
    with pytest.raises(ConnectorError, match="sqlite:///"):
        parse_target("sqlite+pysqlite:///x.db")
    with pytest.raises(ConnectorError, match="Access denied"):
        check_file(parse_target("sqlite:////etc/x.db", roots=roots), roots)
    assert looks_like_database("postgres://h/db") and looks_like_database("mssql+pyodbc://h/db")
    assert not looks_like_database("https://example.org/data.csv") and not looks_like_database("/data/")
    assert odbc_type("character varying(20)") == 12 and odbc_type("BIGINT") == -5 and odbc_type("jsonb") is None
    assert table_name_of('SELECT * FROM "Sales Data" WHERE x') == "Sales Data"
    assert table_name_of("select a from public.orders o join b") == "orders" and table_name_of("SELECT 1") is None


def test_connector_settings_parse_and_validate(tmp_path):
    assert parse_plugins("jdbc,jdbc-connector:50051; pg,tls://10.0.0.1:443") == (
        Plugin("jdbc", "jdbc-connector", 50051), Plugin("pg", "10.0.0.1", 443, tls=True))
    assert parse_plugins('"x,[::1]:9"')[0].target == "[::1]:9"
    for bad in ("jdbc", "jdbc,host", "a,h:70000", "a,h:1;A,h:2"):
        with pytest.raises(ValueError):
            parse_plugins(bad)
    s = parse_args(["-S", f"DocumentDirectory={tmp_path}", "-S", "EnableGrpcCustomConnectors=1", "-S",
                    "GrpcConnectorPlugins=Jdbc,jdbc-connector:50051", "-S", "GrpcConnectorTimeoutSeconds=2.5"])
    cs = ConnectorSettings.from_settings(s)
    assert cs.plugin("JDBC") == Plugin("Jdbc", "jdbc-connector", 50051) and cs.timeout_seconds == 2.5
    assert ConnectorSettings(False, cs.plugins).plugin("jdbc") is None
    with pytest.raises(SettingsError, match="GrpcConnectorPlugins"):
        parse_args(["-S", f"DocumentDirectory={tmp_path}", "-S", "GrpcConnectorPlugins=nope"])


def test_secret_masking():
    assert mask_secrets("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert mask_secrets("Server=x;Uid=u;PWD={a;b};x=1") == "Server=x;Uid=u;PWD=***;x=1"
    assert mask_secrets('h?sslpassword=abc&sslmode=require') == "h?sslpassword=***&sslmode=require"
    assert mask_secrets('{"qPassword":"a\\"b","n":1}') == '{"qPassword":"***","n":1}'
    assert mask_secrets("passwordless=1;keyword=2") == "passwordless=1;keyword=2"
    assert redact_statement('CUSTOM CONNECT TO "provider=x;password=pw"') == 'CUSTOM CONNECT TO "provider=x;password=***"'
    assert redact_statement("LET password = 'x'") == "LET password = 'x'"
    assert Scrubber(["hunter22"])("login hunter22 failed; pwd=zz") == "login *** failed; pwd=***"


@pytest.mark.parametrize("kind", ["cents", "ints", "wide", "thirds"])
def test_mostly_distinct_columns_encode_in_load_order(kind):
    """Columns kept raw and encoded at the end (direct addressing for narrow numbers, hashing otherwise)
    give first-appearance symbols and codes, NULLs as -1, whichever way they take."""
    rng = np.random.default_rng(9)
    n = 6000
    if kind == "cents":
        values = list(np.round(rng.integers(-50_000, 50_000, n) / 100.0, 2))
    elif kind == "ints":
        values = [int(v) for v in rng.integers(-3000, 3000, n)]
    elif kind == "wide":
        values = [int(v) for v in rng.integers(-10**12, 10**12, n)]
    else:
        values = list(rng.integers(0, 9000, n) / 3.0)
    values = [None if i % 97 == 5 else v for i, v in enumerate(values)]
    batches = [pa.record_batch({"x": pa.array(values[i:i + 1500])}) for i in range(0, n, 1500)]
    sink = ColumnSink(["x"])
    for b in batches:
        sink.add(b)
    sym, codes = sink.finish(RENDER)[0]
    first: dict[float, int] = {}
    expected = []
    for v in values:
        expected.append(-1 if v is None else first.setdefault(float(v), len(first)))
    assert codes.tolist() == expected
    assert [sym.num_at(i) for i in range(len(sym))] == list(first)
    assert [sym.text_at(i) for i in range(len(sym))] == [format_default(x) for x in first]
