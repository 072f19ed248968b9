"""Which gRPC connectors this engine may use, as the operator configured them on the command line.

Qlik Core's switches are kept as they are: ``-S EnableGrpcCustomConnectors=1`` turns the feature on and
``-S GrpcConnectorPlugins=<id>,<host>:<port>[;<id>,<host>:<port>…]`` names each connector: a connection
whose type (``qType``) or ``provider=`` is ``<id>`` sends its SQL to that address. Ours on top:
``tls://<host>:<port>`` reaches a connector over TLS (verified against ``GrpcConnectorTlsRootCerts`` when
set, else the system's roots; ``GrpcConnectorTlsClientCert``/``Key`` add a client certificate), and
``GrpcConnectorTimeoutSeconds`` bounds how long a reload waits for a connector's next message.

The configuration is process-wide (one engine per process, as in production): ``engine.cli`` calls
:func:`configure` once at start; a reload reads :func:`current`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

DEFAULT_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Plugin:
    """One configured connector: its id (matched case-insensitively), address and transport."""

    id: str
    host: str
    port: int
    tls: bool = False

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_plugins(text: str) -> tuple[Plugin, ...]:
    """``id,host:port[;id,host:port…]`` (``tls://host:port`` for TLS) → plugins; ValueError when malformed."""
    out: list[Plugin] = []
    seen: set[str] = set()
    for part in text.split(";"):
        part = part.strip().strip('"').strip()
        if not part:
            continue
        ident, sep, address = part.partition(",")
        ident, address = ident.strip(), address.strip()
        if not sep or not ident or not address:
            raise ValueError(f"expected <id>,<host>:<port>, got {part!r}")
        tls = address.lower().startswith("tls://")
        if tls:
            address = address[6:]
        host, colon, port_text = address.rpartition(":")
        host = host.strip("[]")
        if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"expected <host>:<port> for connector {ident!r}, got {address!r}")
        if ident.lower() in seen:
            raise ValueError(f"connector {ident!r} is configured twice")
        seen.add(ident.lower())
        out.append(Plugin(ident, host, int(port_text), tls))
    return tuple(out)


class _SettingsLike(Protocol):
    """The part of ``engine.settings.Settings`` (a frozen dataclass: read-only members) read here."""

    @property
    def enable_grpc_custom_connectors(self) -> bool: ...
    @property
    def grpc_connector_plugins(self) -> tuple[Plugin, ...]: ...
    @property
    def grpc_connector_timeout_seconds(self) -> float: ...
    @property
    def grpc_connector_tls_root_certs(self) -> Path | None: ...
    @property
    def grpc_connector_tls_client_cert(self) -> Path | None: ...
    @property
    def grpc_connector_tls_client_key(self) -> Path | None: ...


@dataclass(frozen=True)
class ConnectorSettings:
    """The gRPC connector switches a reload needs (see the module docstring)."""

    enabled: bool = False
    plugins: tuple[Plugin, ...] = ()
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    tls_root_certs: Path | None = None
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: _SettingsLike) -> ConnectorSettings:
        return cls(
            settings.enable_grpc_custom_connectors,
            settings.grpc_connector_plugins,
            settings.grpc_connector_timeout_seconds,
            settings.grpc_connector_tls_root_certs,
            settings.grpc_connector_tls_client_cert,
            settings.grpc_connector_tls_client_key,
        )

    def plugin(self, ident: str) -> Plugin | None:
        """The enabled connector called ``ident`` (case-insensitive), or None."""
        if not self.enabled:
            return None
        return next((p for p in self.plugins if p.id.lower() == ident.strip().lower()), None)


_lock = threading.Lock()
_current = ConnectorSettings()


def configure(settings: ConnectorSettings) -> None:
    """Set the process-wide connector configuration (the engine does this once at start)."""
    global _current
    with _lock:
        _current = settings


def current() -> ConnectorSettings:
    return _current
