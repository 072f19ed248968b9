"""The engine as a client of Qlik's gRPC Data Connector API, so existing Qlik Core connectors work unchanged.

For each ``SQL`` statement the engine calls ``Connector.GetData`` with the connection string (the text
inside ``CUSTOM CONNECT TO "…"``), the connection's user and password, and the statement. The connector
answers with the field list in the binary initial metadata ``x-qlik-getdata-bin`` (a ``GetDataResponse``)
and then a stream of ``DataChunk`` messages (see :mod:`engine.connectors.chunks`).

The stream is read in a background thread (:class:`engine.connectors.stream.Pump`); the reload waits at
most ``GrpcConnectorTimeoutSeconds`` for each message, and a cancelled reload cancels the call.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from engine.connectors.chunks import ChunkValues
from engine.connectors.config import ConnectorSettings, Plugin
from engine.connectors.errors import ConnectorError
from engine.connectors.qlik import connector_pb2 as pb
from engine.connectors.qlik import connector_pb2_grpc as pb_grpc
from engine.connectors.secrets import Scrubber
from engine.connectors.stream import Cancelled, IdleTimeout, Pump

METADATA_KEY = "x-qlik-getdata-bin"
_MAX_MESSAGE = 64 * 1024 * 1024


@dataclass(frozen=True)
class GrpcResult:
    names: list[str]
    table: str
    attrs: list[tuple[int, int]]  # per field: (FieldAttrType, SemanticType)
    values: ChunkValues


class GrpcConnector:
    """One configured connector and the connection (string, user, password) a script connected with."""

    def __init__(
        self,
        plugin: Plugin,
        settings: ConnectorSettings,
        body: str,
        user: str,
        password: str,
        scrub: Scrubber,
    ) -> None:
        self.plugin = plugin
        self.settings = settings
        self.body = body
        self.user = user
        self.password = password
        self.scrub = scrub
        self.reload_id = str(uuid.uuid4())
        self._channel: grpc.Channel | None = None

    def _open(self) -> grpc.Channel:
        if self._channel is None:
            options = [("grpc.max_receive_message_length", _MAX_MESSAGE)]
            if self.plugin.tls:
                self._channel = grpc.secure_channel(self.plugin.target, self._credentials(), options)
            else:
                self._channel = grpc.insecure_channel(self.plugin.target, options)
        return self._channel

    def _credentials(self) -> grpc.ChannelCredentials:
        s = self.settings

        def read(path: Path | None) -> bytes | None:
            if path is None:
                return None
            try:
                return path.read_bytes()
            except OSError as err:
                raise ConnectorError(f"Cannot read TLS file {path}: {err.strerror}") from err

        return grpc.ssl_channel_credentials(
            read(s.tls_root_certs), read(s.tls_client_key), read(s.tls_client_cert)
        )

    def _fail(self, err: grpc.RpcError) -> ConnectorError:
        code = err.code() if hasattr(err, "code") else None
        details = err.details() if hasattr(err, "details") else str(err)
        name = code.name if code is not None else "ERROR"
        return ConnectorError(self.scrub(f"Connector '{self.plugin.id}' failed: {name}: {details}"))

    def query(self, statement: str, cancel: threading.Event | None, max_rows: int) -> GrpcResult:
        request = pb.DataRequest(
            connection=pb.ConnectionInfo(connectionString=self.body, user=self.user, password=self.password),
            sessionInfo=pb.SessionInfo(reloadId=self.reload_id),
            parameters=pb.DataInfo(statement=statement),
        )
        try:
            # the generated stub module has no annotations (protoc writes none for grpc services)
            call = pb_grpc.ConnectorStub(self._open()).GetData(request)  # type: ignore[no-untyped-call]
        except grpc.RpcError as err:
            raise self._fail(err) from err

        def produce() -> Iterator[Any]:
            metadata = call.initial_metadata()
            if call.done() and call.code() is not grpc.StatusCode.OK:
                raise call  # failed before any data (nothing listening, refused…): its status says why
            yield metadata
            yield from call

        pump: Pump[Any] = Pump(produce(), call.cancel, depth=64, name="qix-grpc-connector")
        timeout = self.settings.timeout_seconds or None
        try:
            header = pump.get(cancel, timeout)
            info = self._header(header or ())
            names = [f.name for f in info.fieldInfo]
            attrs = [(f.fieldAttributes.Type, f.semanticType) for f in info.fieldInfo]
            values = ChunkValues()
            limit = max_rows * max(1, len(names))
            while (chunk := pump.get(cancel, timeout)) is not None:
                values.add(chunk)
                if values.count > limit:
                    raise ConnectorError(
                        f"Row limit exceeded: more than {max_rows} rows from connector '{self.plugin.id}'"
                    )
        except IdleTimeout:
            raise ConnectorError(
                f"Connector '{self.plugin.id}' sent nothing for {timeout:g} seconds "
                "(GrpcConnectorTimeoutSeconds)"
            ) from None
        except grpc.RpcError as err:
            raise self._fail(err) from err
        finally:
            pump.close()
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ConnectorError(f"Field names must be unique within table: '{dup}' appears twice")
        return GrpcResult(names, info.tableName, attrs, values)

    def _header(self, metadata: Any) -> pb.GetDataResponse:
        raw = next((value for key, value in metadata if key == METADATA_KEY), None)
        if raw is None:
            raise ConnectorError(
                f"Connector '{self.plugin.id}' sent no field list (initial metadata {METADATA_KEY!r})"
            )
        try:
            header: pb.GetDataResponse = pb.GetDataResponse.FromString(
                raw if isinstance(raw, bytes) else raw.encode("latin-1")
            )
            return header
        except Exception as err:  # noqa: BLE001 - a malformed header is the connector's error
            raise ConnectorError(f"Connector '{self.plugin.id}' sent a malformed field list: {err}") from err

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


__all__ = ["Cancelled", "GrpcConnector", "GrpcResult"]
