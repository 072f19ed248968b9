"""What a reload's script statements do with connections: the runner's side of this package.

One :class:`ScriptConnections` lives as long as one reload. ``LIB CONNECT TO 'name'`` opens the named
data connection (a database, or a gRPC connector when its type is a configured connector id),
``CUSTOM CONNECT TO "provider=<id>;…"`` opens a configured connector directly, ``DISCONNECT`` closes the
current connection, and ``SQL …`` / ``SQLTables`` / ``SQLColumns`` / ``SQLTypes`` read from it. Failures
become the script's :class:`StatementError` with the database's or connector's message (secrets masked),
so the reload fails on that line and the previous model stays in place.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from engine.connectors.chunks import field_duals
from engine.connectors.columns import ColumnError, ColumnSink, Encoded, Render, encode_duals
from engine.connectors.config import ConnectorSettings
from engine.connectors.config import current as current_settings
from engine.connectors.databases import (
    DATABASE_TYPES,
    Database,
    catalog_table,
    check_file,
    looks_like_database,
    open_database,
    parse_target,
)
from engine.connectors.errors import ConnectorError
from engine.connectors.secrets import Scrubber
from engine.connectors.stream import Cancelled, Pump
from engine.connectors.targets import connection_body, provider_of
from engine.script.errors import CONNECTOR, GENERAL, ReloadCancelled, StatementError
from engine.script.paths import Connection

if TYPE_CHECKING:  # grpc is imported only when a connector is used
    from engine.connectors.grpc_source import GrpcConnector

_FROM = re.compile(r"\bfrom\s+((?:\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|[\w$#@]+)(?:\.(?:\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|"
                   r"[\w$#@]+))*)", re.I)
_CATALOG_KINDS = {"sqltables": "tables", "sqlcolumns": "columns", "sqltypes": "types"}


@dataclass(frozen=True)
class Loaded:
    """A statement's result: field names, their columns (symbols, codes), rows, and the source's table name."""

    names: list[str]
    columns: list[Encoded]
    nrows: int
    table: str | None


def table_name_of(sql: str) -> str | None:
    """The first table after FROM (its last dotted part, unquoted): the name of an unlabelled SELECT."""
    m = _FROM.search(sql)
    if not m:
        return None
    last = re.split(r"\.(?=(?:[^\"`\[\]]*[\"`\[][^\"`\]]*[\"`\]])*[^\"`\[\]]*$)", m.group(1))[-1]
    return last.strip("\"`[]") or None


class ScriptConnections:
    """The current connection of one reload (see the module docstring)."""

    def __init__(self, connections: Mapping[str, Connection], *, folder_roots: tuple[Path, ...] = (),
                 engine_owned: Callable[[Path], bool] | None = None, settings: ConnectorSettings | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.connections = connections
        self.folder_roots = folder_roots
        self.engine_owned = engine_owned or (lambda _: False)
        self.settings = settings if settings is not None else current_settings()
        self.cancel = cancel
        self.current: Database | GrpcConnector | None = None
        self.name = ""

    # --- CONNECT / DISCONNECT ------------------------------------------------------------------
    def connect(self, kind: str, text: str) -> None:
        """``kind`` is lib (``text`` a connection name), custom (``text`` the statement after CUSTOM), or
        odbc/oledb/connect (refused: this engine has no ODBC or OLE DB)."""
        self.disconnect()
        try:
            if kind == "lib":
                self.current, self.name = self._open_named(text), text
            elif kind == "custom":
                self.current, self.name = self._open_custom(text), "CUSTOM"
            else:
                raise ConnectorError(
                    f"Connector not available: {kind.upper()} connections need an ODBC/OLE DB driver this engine "
                    "does not have; create a database connection (postgresql://, sqlite:///, duckdb:///…) and "
                    "use LIB CONNECT TO")
        except ConnectorError as err:
            raise StatementError(err.message, CONNECTOR) from err

    def _lookup(self, name: str) -> Connection:
        for key, conn in self.connections.items():
            if key.lower() == name.lower():
                return conn
        raise ConnectorError(f"Connection '{name}' not found")

    def _open_named(self, name: str) -> Database | GrpcConnector:
        conn = self._lookup(name)
        ctype = conn.type.strip()
        plugin = self.settings.plugin(ctype) if ctype else None
        body = connection_body(conn.connection_string)
        if plugin is None and re.match(r"\s*custom\s+connect\b", conn.connection_string, re.I):
            provider = provider_of(body)
            plugin = self.settings.plugin(provider) if provider else None
            if plugin is None:
                raise self._no_connector(provider or ctype)
        if plugin is not None:
            from engine.connectors.grpc_source import GrpcConnector

            return GrpcConnector(plugin, self.settings, body, conn.user, conn.password, Scrubber((conn.password,)))
        if ctype.lower() == "folder":
            raise ConnectorError(f"Connector not available: '{conn.name}' is a folder connection; read its files "
                                 f"with lib://{conn.name}/…")
        if ctype.lower() in DATABASE_TYPES or (not ctype and looks_like_database(conn.connection_string)):
            target = parse_target(conn.connection_string, conn.user, conn.password, self.folder_roots)
            check_file(target, self.folder_roots, self.engine_owned)
            return open_database(target, Scrubber(target.secrets))
        if ctype.lower() in ("odbc", "oledb"):
            raise ConnectorError(f"Connector not available: {ctype.upper()} connections need a driver this engine "
                                 "does not have; use a database connection (postgresql://, sqlite:///, duckdb:///…)")
        if self.settings.enabled or any(p.id.lower() == ctype.lower() for p in self.settings.plugins):
            raise self._no_connector(ctype)
        raise ConnectorError(
            f"Connector not available: connection '{conn.name}' has type '{ctype}'; this engine reads folder "
            "and database connections (postgresql://, sqlite:///, duckdb:///, SQLAlchemy URLs) and gRPC "
            "connectors (EnableGrpcCustomConnectors=1, GrpcConnectorPlugins)")

    def _open_custom(self, text: str) -> GrpcConnector:
        body = connection_body("CUSTOM " + text)
        provider = provider_of(body)
        plugin = self.settings.plugin(provider) if provider else None
        if plugin is None:
            raise self._no_connector(provider or "")
        from engine.connectors.grpc_source import GrpcConnector

        return GrpcConnector(plugin, self.settings, body, "", "", Scrubber())

    def _no_connector(self, ident: str) -> ConnectorError:
        if not self.settings.enabled:
            why = "gRPC connectors are off (-S EnableGrpcCustomConnectors=1 turns them on)"
        else:
            known = ", ".join(p.id for p in self.settings.plugins) or "none"
            why = f"no gRPC connector '{ident}' is configured (GrpcConnectorPlugins: {known})"
        return ConnectorError(f"Connector not available: {why}")

    def disconnect(self) -> None:
        if self.current is not None:
            self.current.close()
        self.current, self.name = None, ""

    close = disconnect

    # --- reading --------------------------------------------------------------------------------
    def _source(self, what: str) -> Database | GrpcConnector:
        if self.current is None:
            raise StatementError(f"Connector not available: {what} needs a connection (LIB CONNECT TO or "
                                 "CUSTOM CONNECT TO before it)", CONNECTOR)
        return self.current

    def select(self, sql: str, render: Render, max_rows: int) -> Loaded:
        """Run ``sql`` on the current connection and encode its whole result."""
        source = self._source("SQL")
        try:
            if isinstance(source, Database):
                return self._from_database(source, sql, render, max_rows)
            return self._from_connector(source, sql, render, max_rows)
        except Cancelled:
            raise ReloadCancelled("Reload cancelled") from None
        except ConnectorError as err:
            raise StatementError(err.message, CONNECTOR) from err
        except ColumnError as err:
            raise StatementError(str(err), GENERAL) from err

    def _from_database(self, db: Database, sql: str, render: Render, max_rows: int) -> Loaded:
        result = db.query(sql)
        try:
            sink = ColumnSink(result.names)
            pump: Pump[pa.RecordBatch] = Pump(result.batches, result.abort, depth=4, name="qix-sql-reader")
            try:
                while (batch := pump.get(self.cancel)) is not None:
                    sink.add(batch)
                    if sink.nrows > max_rows:
                        raise ConnectorError(f"Row limit exceeded: more than {max_rows} rows")
            finally:
                pump.close()
        finally:
            result.close()
        return Loaded(sink.names, sink.finish(render), sink.nrows, table_name_of(sql) if sink.names else None)

    def _from_connector(self, conn: GrpcConnector, sql: str, render: Render, max_rows: int) -> Loaded:
        got = conn.query(sql, self.cancel, max_rows)
        columns = []
        nrows = 0
        for (num, texts), (attr, semantic) in zip(got.values.fields(len(got.names)), got.attrs, strict=True):
            num, texts = field_duals(num, texts, attr, semantic, render)
            columns.append(encode_duals(num, texts))
            nrows = len(num)
        if nrows > max_rows:
            raise ConnectorError(f"Row limit exceeded: {nrows} rows exceed the limit of {max_rows}")
        return Loaded(got.names, columns, nrows, got.table or table_name_of(sql))

    def catalog(self, statement: str, render: Render) -> Loaded:
        """``SQLTables``, ``SQLColumns`` or ``SQLTypes`` of the current database connection."""
        kind = _CATALOG_KINDS[statement.lower()]
        source = self._source(statement)
        if not isinstance(source, Database):
            raise StatementError(f"Connector not available: {statement} needs a database connection, not a "
                                 "gRPC connector", CONNECTOR)
        try:
            table = catalog_table(source, kind)
        except ConnectorError as err:
            raise StatementError(err.message, CONNECTOR) from err
        sink = ColumnSink(table.column_names)
        for batch in table.to_batches():
            sink.add(batch)
        return Loaded(sink.names, sink.finish(render), sink.nrows, None)
