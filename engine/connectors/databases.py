"""Database connections: a connection string → a driver that runs SQL and streams Arrow record batches.

Drivers, by the URL's scheme:

* ``postgresql://`` (``postgres://``): ADBC's libpq driver. It reads results with PostgreSQL's binary
  COPY protocol straight into Arrow columns in C++, batch by batch, so no Python object is made per value
  (a DB-API cursor makes a tuple per row and an object per value: several times slower and the GIL held
  throughout).
* ``sqlite:///<path>``: ADBC's SQLite driver (Arrow batches again), the file opened read-only.
* ``duckdb:///<path>``: DuckDB's own Arrow reader, read-only, with DuckDB's file access switched off
  (``enable_external_access=false``, locked), so SQL cannot reach files other than the database.
* anything else SQLAlchemy has a dialect for (``mysql+pymysql://``, ``mssql+pyodbc://``,
  ``postgresql+psycopg://``…): rows are fetched in partitions and turned into Arrow batches; the dialect's
  driver must be installed.

File databases follow the engine's file policy: the path (``sqlite:///sales.db`` is relative to the first
``FolderConnectionRoots`` folder, ``sqlite:////data/sales.db`` absolute) must resolve inside the folder
roots, and must not be a file the engine owns; and SQLite, which can ``ATTACH`` any file, accepts only
queries (``SELECT``, ``WITH``, ``VALUES``).

``SQLTables``, ``SQLColumns`` and ``SQLTypes`` answer with the ODBC catalog fields Qlik documents, read
from each database's catalog (``information_schema``, ``sqlite_master``, SQLAlchemy's inspector).
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pyarrow as pa

from engine.connectors.errors import ConnectorError
from engine.connectors.secrets import Scrubber
from engine.script.paths import is_inside, real_path

#: connection types (``qType``) that name a database reached through its connection string
DATABASE_TYPES = frozenset({"database", "postgresql", "postgres", "sqlite", "duckdb", "sqlalchemy"})
_NATIVE = {"postgresql": "postgresql", "postgres": "postgresql", "sqlite": "sqlite", "duckdb": "duckdb"}
_FILE_DRIVERS = ("sqlite", "duckdb")
_SQLITE_QUERY = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*(select|with|values)\b", re.I | re.S)
_BATCH_ROWS = 131_072


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed database connection string: which driver, the URL it gets, the file it opens."""

    driver: str
    url: str = field(repr=False)
    path: Path | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)


def looks_like_database(connection_string: str) -> bool:
    """A connection string that names a database by itself (for connections without a type): a URL of a
    native scheme, or of a SQLAlchemy ``dialect+driver`` scheme."""
    m = re.match(r"^\s*([a-z][a-z0-9+.\-]*)://", connection_string, re.I)
    return m is not None and (m.group(1).lower() in _NATIVE or "+" in m.group(1))


def parse_target(
    connection_string: str, user: str = "", password: str = "", roots: tuple[Path, ...] = ()
) -> DatabaseTarget:
    """Which driver a connection string needs; ``user``/``password`` (``qUserName``/``qPassword``) fill in
    what the URL leaves out. ConnectorError for strings that name no database."""
    text = connection_string.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if not scheme or "://" not in text:
        raise ConnectorError(
            "A database connection string is a URL: postgresql://…, sqlite:///…, duckdb:///… "
            "or a SQLAlchemy URL"
        )
    base = scheme.split("+", 1)[0]
    secrets = tuple(s for s in (password, unquote(parts.password or "")) if s)
    if base in _FILE_DRIVERS:
        if scheme != base:
            raise ConnectorError(f"Use {base}:/// for {base} files (the engine opens them itself, read-only)")
        return DatabaseTarget(base, text, _file_path(text, base, roots), secrets)
    driver = _NATIVE.get(scheme, "sqlalchemy")
    if user or password:
        name = parts.username if parts.username is not None else user
        secret = (
            parts.password if parts.password is not None else (quote(password, safe="") if password else None)
        )
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
        auth = quote(unquote(name or ""), safe="") + (f":{secret}" if secret is not None else "")
        text = urlunsplit(
            (parts.scheme, f"{auth}@{host}" if auth else host, parts.path, parts.query, parts.fragment)
        )
    return DatabaseTarget(driver, text, None, secrets)


def check_file(
    target: DatabaseTarget, roots: tuple[Path, ...], engine_owned: Callable[[Path], bool] = lambda _: False
) -> None:
    """The file policy for database files: inside the folder roots (symlinks and ``..`` resolved first)
    and never a file the engine owns. An empty ``roots`` allows any folder (in-process use only)."""
    if target.path is None:
        return
    real = real_path(target.path)
    if roots and not any(is_inside(real, root) for root in roots):
        raise ConnectorError(
            f"Access denied: database file '{target.path}' is outside the folders this engine "
            "allows (FolderConnectionRoots)"
        )
    if engine_owned(real):
        raise ConnectorError(f"Access denied: '{target.path}' is a file the engine owns")


def _file_path(url: str, scheme: str, roots: tuple[Path, ...]) -> Path | None:
    rest = url.split("://", 1)[1]
    if not rest.startswith("/"):
        raise ConnectorError(
            f"A {scheme} URL is {scheme}:///<file> (three slashes; four for an absolute path)"
        )
    raw = unquote(rest[1:].split("?", 1)[0])
    if raw in ("", ":memory:"):
        return None
    path = Path(raw)
    if not path.is_absolute():
        if not roots:
            raise ConnectorError(f"{scheme}:///{raw}: a relative path needs FolderConnectionRoots")
        path = roots[0] / path
    return path


# ---------------------------------------------------------------------------------------------


@dataclass
class QueryResult:
    """A running query: its field names and its batches; ``abort`` stops it from another thread."""

    names: list[str]
    batches: Iterator[pa.RecordBatch]
    abort: Callable[[], None]
    close: Callable[[], None]


def _empty_result() -> QueryResult:
    return QueryResult([], iter(()), lambda: None, lambda: None)


def driver_error(scrub: Scrubber, err: BaseException, doing: str) -> ConnectorError:
    """The driver's message, without status prefixes and with secrets masked. A function, not only a
    method: a driver that fails to connect has no :class:`Database` yet (and the base is abstract)."""
    text = str(err) or type(err).__name__
    text = re.sub(r"^(?:[A-Z_]+: )?(?:\[[a-zA-Z]+\] )?", "", text.strip())
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > 2000:
        text = text[:2000] + "…"
    return ConnectorError(scrub(f"{doing}: {text}"))


class Database(ABC):
    """One open database connection (one per ``LIB CONNECT``, closed by ``DISCONNECT`` or the reload's end).
    Each driver implements :meth:`query`, :meth:`catalog` and :meth:`close`."""

    driver = ""

    def __init__(self, scrub: Scrubber) -> None:
        self.scrub = scrub

    def error(self, err: BaseException, doing: str) -> ConnectorError:
        return driver_error(self.scrub, err, doing)

    @abstractmethod
    def query(self, sql: str) -> QueryResult:
        """Run ``sql``; its result streams in batches."""

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """A small query's rows as dicts (catalog queries)."""
        result = self.query(sql)
        try:
            batches = list(result.batches)
        finally:
            result.close()
        if not batches:
            return []
        rows: list[dict[str, Any]] = pa.Table.from_batches(batches).to_pylist()
        return rows

    @abstractmethod
    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """Rows of ``SQLTables`` / ``SQLColumns`` / ``SQLTypes`` (``kind``: tables, columns, types)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""


# --- ADBC (PostgreSQL, SQLite) ----------------------------------------------------------------------


class _Adbc(Database):
    def __init__(self, scrub: Scrubber, conn: Any, batch_option: tuple[str, str] | None = None) -> None:
        super().__init__(scrub)
        self.conn = conn
        self._batch_option = batch_option
        self._lock = threading.Lock()

    def query(self, sql: str) -> QueryResult:
        cur = self.conn.cursor()
        try:
            if self._batch_option is not None:
                cur.adbc_statement.set_options(**{self._batch_option[0]: self._batch_option[1]})
            cur.execute(sql)
            if cur.description is None:
                cur.close()
                return _empty_result()
            reader = cur.fetch_record_batch()
        except Exception as err:  # noqa: BLE001 - every driver failure is the query's error
            _close_quietly(cur)
            raise self.error(err, "SQL error") from err
        return QueryResult(
            list(reader.schema.names), _reading(reader, self), cur.adbc_cancel, lambda: _close_quietly(cur)
        )

    def close(self) -> None:
        _close_quietly(self.conn)


def _reading(reader: Any, db: Database) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except Exception as err:  # noqa: BLE001 - a failure while streaming (dropped connection, cancel)
        raise db.error(err, "SQL error while reading the result") from err


def _close_quietly(obj: Any) -> None:
    try:
        obj.close()
    except Exception:  # noqa: BLE001 - closing after a failure must not hide the failure
        pass


class PostgresDatabase(_Adbc):
    driver = "postgresql"

    @classmethod
    def open(cls, target: DatabaseTarget, scrub: Scrubber) -> PostgresDatabase:
        import adbc_driver_postgresql.dbapi as pg

        try:
            conn = pg.connect(target.url, autocommit=True)
        except Exception as err:  # noqa: BLE001 - wrong password, unknown host, refused…
            raise driver_error(scrub, err, "Cannot connect to the database") from err
        return cls(scrub, conn)

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        system = "('pg_catalog', 'information_schema')"
        if kind == "types":
            return [
                {"TYPE_NAME": r["typname"]}
                for r in self.rows(
                    "SELECT t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
                    "WHERE n.nspname = 'pg_catalog' AND t.typtype = 'b' AND t.typname NOT LIKE '\\_%' "
                    "ORDER BY t.typname"
                )
            ]
        return _information_schema(self, kind, system)


class SqliteDatabase(_Adbc):
    driver = "sqlite"

    @classmethod
    def open(cls, target: DatabaseTarget, scrub: Scrubber) -> SqliteDatabase:
        import adbc_driver_sqlite.dbapi as sqlite

        uri = ":memory:" if target.path is None else target.path.as_uri() + "?mode=ro"
        try:
            conn = sqlite.connect(uri)
        except Exception as err:  # noqa: BLE001
            raise driver_error(scrub, err, "Cannot open the database") from err
        return cls(scrub, conn, ("adbc.sqlite.query.batch_rows", str(_BATCH_ROWS)))

    def query(self, sql: str) -> QueryResult:
        if not _SQLITE_QUERY.match(sql):
            raise ConnectorError("SQL error: only queries (SELECT, WITH, VALUES) run on a SQLite file")
        return super().query(sql)

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        if kind == "types":
            return [{"TYPE_NAME": t} for t in ("INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC")]
        tables = self.rows(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        if kind == "tables":
            return [_table_row(None, None, t["name"], t["type"].upper()) for t in tables]
        out = []
        for t in tables:
            name = t["name"].replace("'", "''")
            for c in self.rows(
                f"SELECT name, type, \"notnull\" FROM pragma_table_info('{name}') ORDER BY cid"
            ):
                out.append(
                    _column_row(
                        None, None, t["name"], c["name"], c["type"] or "", None, None, None, not c["notnull"]
                    )
                )
        return out


# --- DuckDB ---------------------------------------------------------------------------------------------


class DuckDatabase(Database):
    driver = "duckdb"

    def __init__(self, scrub: Scrubber, conn: Any) -> None:
        super().__init__(scrub)
        self.conn = conn

    @classmethod
    def open(cls, target: DatabaseTarget, scrub: Scrubber) -> DuckDatabase:
        import duckdb

        config: dict[str, str | bool | int | float | list[str]] = {
            "enable_external_access": False,
            "lock_configuration": True,
        }
        try:
            if target.path is None:
                conn = duckdb.connect(":memory:", config=config)
            else:
                conn = duckdb.connect(str(target.path), read_only=True, config=config)
        except Exception as err:  # noqa: BLE001
            raise driver_error(scrub, err, "Cannot open the database") from err
        return cls(scrub, conn)

    def query(self, sql: str) -> QueryResult:
        try:
            rel = self.conn.sql(sql)
            if rel is None:
                return _empty_result()
            reader = rel.to_arrow_reader(_BATCH_ROWS)
        except Exception as err:  # noqa: BLE001
            raise self.error(err, "SQL error") from err
        return QueryResult(
            list(reader.schema.names), _reading(reader, self), self.conn.interrupt, lambda: None
        )

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        if kind == "types":
            return [
                {"TYPE_NAME": r["type_name"]}
                for r in self.rows(
                    "SELECT DISTINCT type_name FROM duckdb_types() WHERE logical_type <> 'INVALID' ORDER BY 1"
                )
            ]
        return _information_schema(self, kind, "('information_schema', 'pg_catalog')")

    def close(self) -> None:
        _close_quietly(self.conn)


# --- SQLAlchemy -----------------------------------------------------------------------------------------


class AlchemyDatabase(Database):
    driver = "sqlalchemy"

    def __init__(self, scrub: Scrubber, engine: Any, conn: Any) -> None:
        super().__init__(scrub)
        self.engine = engine
        self.conn = conn

    @classmethod
    def open(cls, target: DatabaseTarget, scrub: Scrubber) -> AlchemyDatabase:
        try:
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            engine = sqlalchemy.create_engine(target.url, poolclass=NullPool)
            conn = engine.connect()
        except Exception as err:  # noqa: BLE001 - unknown dialect, missing driver, refused…
            raise driver_error(scrub, err, "Cannot connect to the database") from err
        return cls(scrub, engine, conn)

    def query(self, sql: str) -> QueryResult:
        """Each statement runs in its own transaction (committed at its end, as with autocommit); the
        result streams through a server-side cursor where the dialect has one."""
        try:
            result = self.conn.execution_options(stream_results=True).exec_driver_sql(sql)
        except Exception as err:  # noqa: BLE001
            self._end(False)
            raise self.error(err, "SQL error") from err
        if not result.returns_rows:
            result.close()
            self._end(True)
            return _empty_result()
        names = list(result.keys())

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for rows in result.partitions(50_000):
                    yield rows_to_batch(names, rows)
            except Exception as err:  # noqa: BLE001
                raise self.error(err, "SQL error while reading the result") from err

        def close() -> None:
            _close_quietly(result)
            self._end(True)

        return QueryResult(names, batches(), self._abort, close)

    def _end(self, commit: bool) -> None:
        try:
            if commit:
                self.conn.commit()
            else:
                self.conn.rollback()
        except Exception:  # noqa: BLE001 - a broken connection fails the next statement, in its words
            _close_quietly(self.conn.connection) if not commit else None

    def _abort(self) -> None:
        raw = getattr(getattr(self.conn, "connection", None), "dbapi_connection", None)
        cancel = getattr(raw, "cancel", None)
        if callable(cancel):
            cancel()

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        import sqlalchemy

        try:
            insp = sqlalchemy.inspect(self.conn)
            out: list[dict[str, Any]] = []
            for schema in insp.get_schema_names():
                if schema.lower() in ("information_schema", "pg_catalog"):
                    continue
                tables = [(t, "TABLE") for t in insp.get_table_names(schema)]
                tables += [(v, "VIEW") for v in insp.get_view_names(schema)]
                for name, ttype in sorted(tables):
                    if kind == "tables":
                        out.append(_table_row(None, schema, name, ttype))
                        continue
                    for c in insp.get_columns(name, schema):
                        out.append(
                            _column_row(
                                None,
                                schema,
                                name,
                                c["name"],
                                str(c["type"]),
                                None,
                                None,
                                None,
                                bool(c.get("nullable", True)),
                            )
                        )
        except Exception as err:  # noqa: BLE001
            raise self.error(err, "Cannot read the database catalog") from err
        if kind == "types":
            return [{"TYPE_NAME": t} for t in sorted({r["TYPE_NAME"] for r in out})]
        return out

    def close(self) -> None:
        _close_quietly(self.conn)
        self.engine.dispose()


def rows_to_batch(names: list[str], rows: list[Any]) -> pa.RecordBatch:
    """Python rows → one Arrow batch, each column's type inferred (mixed values become their texts)."""
    arrays = []
    for j in range(len(names)):
        values = [r[j] for r in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=names)


# --- catalogs -------------------------------------------------------------------------------------------

#: ODBC SQL data type codes by (lower-case) type name, for DATA_TYPE
_ODBC_TYPES: dict[str, int] = {
    "bit": -7,
    "bool": -7,
    "boolean": -7,
    "tinyint": -6,
    "int1": -6,
    "utinyint": -6,
    "smallint": 5,
    "int2": 5,
    "integer": 4,
    "int": 4,
    "int4": 4,
    "bigint": -5,
    "int8": -5,
    "hugeint": -5,
    "real": 7,
    "float4": 7,
    "float": 6,
    "double": 8,
    "float8": 8,
    "double precision": 8,
    "numeric": 2,
    "decimal": 3,
    "char": 1,
    "bpchar": 1,
    "character": 1,
    "varchar": 12,
    "character varying": 12,
    "text": -1,
    "string": 12,
    "date": 91,
    "time": 92,
    "time without time zone": 92,
    "time with time zone": 92,
    "timetz": 92,
    "timestamp": 93,
    "timestamp without time zone": 93,
    "timestamp with time zone": 93,
    "timestamptz": 93,
    "datetime": 93,
    "binary": -2,
    "varbinary": -3,
    "bytea": -3,
    "blob": -4,
    "uuid": -11,
    "uniqueidentifier": -11,
}
_TEXTUAL = {1, 12, -1}


def odbc_type(type_name: str) -> int | None:
    base = re.sub(r"\(.*\)", "", type_name or "").strip().lower()
    return _ODBC_TYPES.get(base)


def _table_row(catalog: str | None, schema: str | None, name: str, ttype: str) -> dict[str, Any]:
    return {
        "TABLE_QUALIFIER": catalog,
        "TABLE_OWNER": schema,
        "TABLE_NAME": name,
        "TABLE_TYPE": ttype,
        "REMARKS": None,
    }


def _column_row(
    catalog: str | None,
    schema: str | None,
    table: str,
    column: str,
    type_name: str,
    precision: int | None,
    scale: int | None,
    length: int | None,
    nullable: bool,
) -> dict[str, Any]:
    code = odbc_type(type_name)
    return {
        "TABLE_QUALIFIER": catalog,
        "TABLE_OWNER": schema,
        "TABLE_NAME": table,
        "COLUMN_NAME": column,
        "DATA_TYPE": code,
        "TYPE_NAME": type_name,
        "PRECISION": precision,
        "LENGTH": length,
        "SCALE": scale,
        "RADIX": 10 if precision is not None and code not in _TEXTUAL else None,
        "NULLABLE": 1 if nullable else 0,
        "REMARKS": None,
    }


def _information_schema(db: Database, kind: str, system: str) -> list[dict[str, Any]]:
    if kind == "tables":
        return [
            _table_row(
                r["table_catalog"],
                r["table_schema"],
                r["table_name"],
                "TABLE" if r["table_type"] == "BASE TABLE" else r["table_type"],
            )
            for r in db.rows(
                "SELECT table_catalog, table_schema, table_name, table_type "
                f"FROM information_schema.tables WHERE table_schema NOT IN {system} "
                "ORDER BY table_schema, table_name"
            )
        ]
    rows = db.rows(
        "SELECT table_catalog, table_schema, table_name, column_name, data_type, character_maximum_length, "
        "character_octet_length, numeric_precision, numeric_scale, is_nullable FROM information_schema.columns "
        f"WHERE table_schema NOT IN {system} ORDER BY table_schema, table_name, ordinal_position"
    )
    return [
        _column_row(
            r["table_catalog"],
            r["table_schema"],
            r["table_name"],
            r["column_name"],
            r["data_type"],
            r["character_maximum_length"] or r["numeric_precision"],
            r["numeric_scale"],
            r["character_octet_length"],
            r["is_nullable"] == "YES",
        )
        for r in rows
    ]


_TYPE_FIELDS = (
    "TYPE_NAME",
    "DATA_TYPE",
    "PRECISION",
    "LITERAL_PREFIX",
    "LITERAL_SUFFIX",
    "CREATE_PARAMS",
    "NULLABLE",
    "CASE_SENSITIVE",
    "SEARCHABLE",
    "UNSIGNED_ATTRIBUTE",
    "MONEY",
    "AUTO_INCREMENT",
    "LOCAL_TYPE_NAME",
    "MINIMUM_SCALE",
    "MAXIMUM_SCALE",
)
CATALOG_FIELDS = {
    "tables": ("TABLE_QUALIFIER", "TABLE_OWNER", "TABLE_NAME", "TABLE_TYPE", "REMARKS"),
    "columns": (
        "TABLE_QUALIFIER",
        "TABLE_OWNER",
        "TABLE_NAME",
        "COLUMN_NAME",
        "DATA_TYPE",
        "TYPE_NAME",
        "PRECISION",
        "LENGTH",
        "SCALE",
        "RADIX",
        "NULLABLE",
        "REMARKS",
    ),
    "types": _TYPE_FIELDS,
}


def _type_row(name: str) -> dict[str, Any]:
    code = odbc_type(name)
    textual = code in _TEXTUAL
    quoted = textual or code in (91, 92, 93)
    numeric = code is not None and not quoted and code not in (-2, -3, -4, -11)
    return {
        "TYPE_NAME": name,
        "DATA_TYPE": code,
        "PRECISION": None,
        "LITERAL_PREFIX": "'" if quoted else None,
        "LITERAL_SUFFIX": "'" if quoted else None,
        "CREATE_PARAMS": None,
        "NULLABLE": 1,
        "CASE_SENSITIVE": 1 if textual else 0,
        "SEARCHABLE": 3,
        "UNSIGNED_ATTRIBUTE": 0 if numeric else None,
        "MONEY": 0,
        "AUTO_INCREMENT": None,
        "LOCAL_TYPE_NAME": name,
        "MINIMUM_SCALE": None,
        "MAXIMUM_SCALE": None,
    }


def catalog_table(db: Database, kind: str) -> pa.Table:
    """``SQLTables``/``SQLColumns``/``SQLTypes`` (``kind`` tables/columns/types) as an Arrow table."""
    rows = db.catalog(kind)
    if kind == "types":
        rows = [_type_row(r["TYPE_NAME"]) for r in rows]
    names = CATALOG_FIELDS[kind]
    columns = {n: [r.get(n) for r in rows] for n in names}
    return pa.table(
        {n: pa.array(v, type=pa.int64() if n in _INT_FIELDS else pa.string()) for n, v in columns.items()}
    )


_INT_FIELDS = {
    "DATA_TYPE",
    "PRECISION",
    "LENGTH",
    "SCALE",
    "RADIX",
    "NULLABLE",
    "CASE_SENSITIVE",
    "SEARCHABLE",
    "UNSIGNED_ATTRIBUTE",
    "MONEY",
    "AUTO_INCREMENT",
    "MINIMUM_SCALE",
    "MAXIMUM_SCALE",
}


def open_database(target: DatabaseTarget, scrub: Scrubber) -> Database:
    opener: dict[str, Callable[[DatabaseTarget, Scrubber], Database]] = {
        "postgresql": PostgresDatabase.open,
        "sqlite": SqliteDatabase.open,
        "duckdb": DuckDatabase.open,
        "sqlalchemy": AlchemyDatabase.open,
    }
    return opener[target.driver](target, scrub)
