"""Engine settings: the command line and every ``-S Key=Value`` switch the stand-in honours.

The real engine is configured only through its command line, so this module is the single place that
turns argv into one typed, immutable :class:`Settings`. It never reads environment variables: what the
process does must be visible in its command line. Keys of ``-S`` are matched case-insensitively; keys
we do not know are kept (names only, values may be secrets) so the CLI can warn and carry on, as the
real engine does.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from engine import DEFAULT_ENGINE_VERSION, __version__
from engine.connectors import config as connector_config

PROG = "qix-engine"


class SettingsError(Exception):
    """A setting is missing, malformed or inconsistent; the engine must not start."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(setting, problem)
        self.setting = setting
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}"


# --------------------------------------------------------------------------------------------------
# Value parsers: each takes the raw text of one -S switch and returns the typed value or raises
# ValueError with a short explanation (wrapped into SettingsError with the setting's name).
# --------------------------------------------------------------------------------------------------


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ValueError(f"must be {bound}, got {value}")
        return value

    return parse


def _choice(*allowed: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            value = None
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(str, allowed))}, got {text!r}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"must be a finite number >= 0, got {text!r}")
    return value


def _yes_no(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "yes":
        return True
    if lowered == "no":
        return False
    raise ValueError(f"must be yes or no, got {text!r}")


def _bool01(text: str) -> bool:
    return bool(_choice(0, 1)(text))


def _optional_text(text: str) -> str | None:
    """Empty means unset, so ``-S JsonWebTokenSecret=`` cannot configure an empty HMAC key."""
    return text if text != "" else None


def _optional_path(text: str) -> Path | None:
    return Path(os.path.abspath(text)) if text.strip() else None


def _directory(text: str) -> Path:
    if not text.strip():
        raise ValueError("must not be empty")
    return Path(os.path.abspath(text))


def _directories(text: str) -> tuple[Path, ...]:
    """``dir[;dir…]`` (``,`` works too): absolute, de-duplicated, in the order given."""
    parts = [part.strip() for part in text.replace(",", ";").split(";") if part.strip()]
    if not parts:
        raise ValueError("must name at least one directory")
    return tuple(dict.fromkeys(Path(os.path.abspath(part)) for part in parts))


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise ValueError(f"must be more than 0, got {text!r}")
    return value


def _nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


@dataclass(frozen=True)
class _Spec:
    """One honoured ``-S`` setting: its engine name, the Settings field, parser, default and help."""

    name: str
    attr: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    shown_default: str | None = None

    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None:
            return "(unset)"
        if isinstance(self.default, bool):
            return "1" if self.default else "0"
        return str(self.default)


_LOG_SETTINGS: tuple[tuple[str, str, int], ...] = (
    ("SystemLogVerbosity", "system_log_verbosity", 4),
    ("PerformanceLogVerbosity", "performance_log_verbosity", 4),
    ("AuditLogVerbosity", "audit_log_verbosity", 0),
    ("SessionLogVerbosity", "session_log_verbosity", 4),
    ("TrafficLogVerbosity", "traffic_log_verbosity", 0),
    ("QixPerformanceLogVerbosity", "qix_performance_log_verbosity", 0),
    ("SmartSearchQueryLogVerbosity", "smart_search_query_log_verbosity", 3),
    ("SmartSearchIndexLogVerbosity", "smart_search_index_log_verbosity", 3),
    ("SSELogVerbosity", "sse_log_verbosity", 4),
    ("ScriptLogVerbosity", "script_log_verbosity", 0),
)

DEFAULT_DOCUMENT_DIRECTORY = "./apps"

# --- gRPC data connectors (engine.connectors.config) ------------------------------------------------
_CONNECTOR_SPECS: tuple[_Spec, ...] = (
    _Spec("EnableGrpcCustomConnectors", "enable_grpc_custom_connectors", _bool01, False,
          "0/1: let connections and CUSTOM CONNECT use the gRPC connectors of GrpcConnectorPlugins"),
    _Spec("GrpcConnectorPlugins", "grpc_connector_plugins", connector_config.parse_plugins, (),
          "id,host:port[;id,host:port...]: gRPC data connectors by connection type (tls://host:port: TLS)",
          shown_default="(none)"),
    _Spec("GrpcConnectorTimeoutSeconds", "grpc_connector_timeout_seconds", _seconds,
          connector_config.DEFAULT_TIMEOUT_SECONDS, "seconds a reload waits for a connector's next message; 0 = "
          "forever", shown_default=f"{connector_config.DEFAULT_TIMEOUT_SECONDS:g}"),
    _Spec("GrpcConnectorTlsRootCerts", "grpc_connector_tls_root_certs", _optional_path, None,
          "PEM file: CAs that tls:// connectors' certificates must chain to (default: the system's)"),
    _Spec("GrpcConnectorTlsClientCert", "grpc_connector_tls_client_cert", _optional_path, None,
          "PEM file: client certificate presented to tls:// connectors"),
    _Spec("GrpcConnectorTlsClientKey", "grpc_connector_tls_client_key", _optional_path, None,
          "PEM file: the private key of GrpcConnectorTlsClientCert"),
)

SPECS: tuple[_Spec, ...] = (
    _Spec("AcceptEULA", "accept_eula", _yes_no, False, "yes/no: accept the end-user licence agreement",
          shown_default="no"),
    _Spec("ValidateJsonWebTokens", "validate_json_web_tokens", _choice(0, 1, 2), 0,
          "0 = JWT not enforced, 1 = signed or unsigned JWT required, 2 = signed JWT required"),
    _Spec("JsonWebTokenSecret", "json_web_token_secret", _optional_text, None,
          "HMAC secret for HS256/HS384/HS512 tokens"),
    _Spec("JsonWebTokenPath", "json_web_token_path", _optional_path, None,
          "PEM file: RSA or EC public key (or X.509 certificate) for RS*/ES* tokens"),
    _Spec("JsonWebTokenJwksPath", "json_web_token_jwks_path", _optional_path, None,
          "JWKS JSON file; the token header's kid picks the key"),
    _Spec("JsonWebTokenLeeway", "json_web_token_leeway", _seconds, 0.0,
          "seconds of clock skew tolerated on exp/nbf", shown_default="0"),
    _Spec("JsonWebTokenAudience", "json_web_token_audience", _optional_text, None,
          "required aud claim value (checked only when set)"),
    _Spec("JsonWebTokenIssuer", "json_web_token_issuer", _optional_text, None,
          "required iss claim value (checked only when set)"),
    _Spec("DocumentDirectory", "document_directory", _directory, None,
          "directory holding the apps; created if missing", shown_default=DEFAULT_DOCUMENT_DIRECTORY),
    _Spec("StandardReload", "standard_reload", _bool01, True,
          "1 = scripts reach files only through lib:// connections; 0 = legacy mode, plain paths too "
          "(trusted single-user set-ups only)"),
    _Spec("FolderConnectionRoots", "folder_connection_roots", _directories, (),
          "dir[;dir...]: where folder connections may point; created if missing",
          shown_default="<DocumentDirectory>/../data"),
    _Spec("SessionTTL", "session_ttl", _int_in(-1), 0,
          "seconds a session outlives its last socket; -1 = forever (needs MaxSessionTTL=-1)"),
    _Spec("MaxSessionTTL", "max_session_ttl", _int_in(-1), 1800,
          "upper bound for SessionTTL and URL /ttl/<n>; -1 = unbounded"),
    _Spec("PrometheusPort", "prometheus_port", _int_in(0, 65535), 9090,
          "port of the /metrics endpoint; 0 disables it"),
    _Spec("EngineVersion", "engine_version", _nonempty, DEFAULT_ENGINE_VERSION,
          "version reported by EngineVersion and /healthcheck"),
    _Spec("EnableCompression", "enable_compression", _bool01, False,
          "0/1: permessage-deflate on the websocket"),
    _Spec("ScriptMaxRows", "script_max_rows", _int_in(1), 100_000_000,
          "maximum rows one load statement may produce"),
    # -- web files (engine.sources.web) --
    _Spec("AllowWebConnections", "allow_web_connections", _bool01, True,
          "1 = scripts may load web files (internet connections, http(s) URLs); 0 = refused"),
    _Spec("WebFileTimeoutSeconds", "web_file_timeout_seconds", _positive_seconds, 30.0,
          "seconds one web file may take to download, redirects included", shown_default="30"),
    _Spec("MaxWebFileSize", "max_web_file_size", _int_in(1), 100 * 1024 * 1024,
          "bytes a web file may have; a bigger download is aborted"),
    # transport bounds: what one client can make the engine hold
    _Spec("MaxRestBodySize", "max_rest_body_size", _int_in(0), 256 * 2**20,
          "bytes a REST request body may have; more is refused with 413"),
    _Spec("MaxSocketBufferBytes", "max_socket_buffer_bytes", _int_in(64 * 2**10), 64 * 2**20,
          "answer bytes a websocket may have waiting before its requests wait; 4x that closes it (1008)"),
    # Document-level access control (ABAC): rules files, read at start and when they change.
    _Spec("EnableABAC", "enable_abac", _bool01, False, "0/1: access control by allow/deny rule files"),
    _Spec("SystemAllowRulePath", "system_allow_rule_path", _optional_path, None,
          "allow rules file (EnableABAC=1)"),
    _Spec("SystemDenyRulePath", "system_deny_rule_path", _optional_path, None,
          "deny rules file, evaluated before the allow rules (EnableABAC=1)"),
    # -- resource limits of one request (engine.expr.limits) --
    _Spec("MaxStringLength", "max_string_length", _int_in(1), 8 * 1024 * 1024,
          "longest text (characters) an expression, Concat or dollar expansion may build"),
    _Spec("MaxRequestMemoryMB", "max_request_memory_mb", _int_in(1), 2048,
          "memory (MB) one request may predict for a join, cube, Aggr table, pages or LOAD"),
    # -- the shared calculation cache (engine.app.calccache) --
    _Spec("CalcCacheMemory", "calc_cache_memory", _int_in(0), 512,
          "memory (MiB) of the calculation cache all sessions share; 0 = no caching"),
    _Spec("WorkerThreadNice", "worker_thread_nice", _int_in(0, 19), 19,
          "nice value of calculation and load threads, so the event loop answers small requests first; "
          "0 = same priority"),
    _Spec("ReloadTimeoutSeconds", "reload_timeout_seconds", _seconds, 0.0,
          "a reload running longer is cancelled with an error; 0 = no limit", shown_default="0"),
    *_CONNECTOR_SPECS,
    # Document synchronisation between engines sharing DocumentDirectory (engine.app.sync).
    _Spec("EnableFilePolling", "enable_file_polling", _bool01, False,
          "0/1: bring in apps that other engines sharing DocumentDirectory changed, and notify sessions"),
    _Spec("FilePollingInterval", "file_polling_interval", _positive_seconds, 10.0,
          "seconds between two looks at the open apps' files (EnableFilePolling=1)", shown_default="10"),
    # The hub (engine.hub): a browser app at /hub/ talking to the engine through the public QIX API.
    _Spec("EnableHub", "enable_hub", _bool01, True, "0/1: serve the hub web app at /hub/"),
    *(
        _Spec(name, attr, _int_in(0, 5), default, "log level 0 (off) .. 5 (debug)")
        for name, attr, default in _LOG_SETTINGS
    ),
)

_SPEC_BY_KEY: dict[str, _Spec] = {spec.name.lower(): spec for spec in SPECS}

#: Settings whose presence means "JWT keys are configured".
JWT_KEY_SETTINGS = ("JsonWebTokenSecret", "JsonWebTokenPath", "JsonWebTokenJwksPath")


@dataclass(frozen=True)
class Settings:
    """Everything the engine was told on its command line, typed and validated."""

    host: str = "0.0.0.0"
    port: int = 9076
    tls_cert: Path | None = None
    tls_key: Path | None = None

    accept_eula: bool = False
    validate_json_web_tokens: int = 0
    json_web_token_secret: str | None = field(default=None, repr=False)
    json_web_token_path: Path | None = None
    json_web_token_jwks_path: Path | None = None
    json_web_token_leeway: float = 0.0
    json_web_token_audience: str | None = None
    json_web_token_issuer: str | None = None

    document_directory: Path = field(default_factory=lambda: Path(os.path.abspath(DEFAULT_DOCUMENT_DIRECTORY)))
    standard_reload: bool = True
    #: as given; empty = the default, ``data`` beside the apps folder (see ``folder_roots``)
    folder_connection_roots: tuple[Path, ...] = ()
    session_ttl: int = 0
    max_session_ttl: int = 1800
    prometheus_port: int = 9090
    engine_version: str = DEFAULT_ENGINE_VERSION
    enable_compression: bool = False
    script_max_rows: int = 100_000_000
    allow_web_connections: bool = True
    web_file_timeout_seconds: float = 30.0
    max_web_file_size: int = 100 * 1024 * 1024
    max_rest_body_size: int = 256 * 2**20
    max_socket_buffer_bytes: int = 64 * 2**20
    enable_abac: bool = False
    system_allow_rule_path: Path | None = None
    system_deny_rule_path: Path | None = None
    max_string_length: int = 8 * 1024 * 1024
    max_request_memory_mb: int = 2048
    reload_timeout_seconds: float = 0.0
    calc_cache_memory: int = 512
    worker_thread_nice: int = 19
    # gRPC data connectors (see _CONNECTOR_SPECS)
    enable_grpc_custom_connectors: bool = False
    grpc_connector_plugins: tuple[connector_config.Plugin, ...] = ()
    grpc_connector_timeout_seconds: float = connector_config.DEFAULT_TIMEOUT_SECONDS
    grpc_connector_tls_root_certs: Path | None = None
    grpc_connector_tls_client_cert: Path | None = None
    grpc_connector_tls_client_key: Path | None = None
    enable_file_polling: bool = False
    file_polling_interval: float = 10.0
    enable_hub: bool = True

    system_log_verbosity: int = 4
    performance_log_verbosity: int = 4
    audit_log_verbosity: int = 0
    session_log_verbosity: int = 4
    traffic_log_verbosity: int = 0
    qix_performance_log_verbosity: int = 0
    smart_search_query_log_verbosity: int = 3
    smart_search_index_log_verbosity: int = 3
    sse_log_verbosity: int = 4
    script_log_verbosity: int = 0

    #: ``-S`` keys we do not honour, as written on the command line (values dropped: may be secrets).
    unknown_settings: tuple[str, ...] = ()

    @property
    def folder_roots(self) -> tuple[Path, ...]:
        """``FolderConnectionRoots`` with symlinks resolved (default: ``data`` beside the apps folder)."""
        roots = self.folder_connection_roots or (default_folder_root(self.document_directory),)
        return tuple(Path(os.path.realpath(root)) for root in roots)

    @property
    def jwt_enforced(self) -> bool:
        return self.validate_json_web_tokens != 0

    @property
    def jwt_keys_configured(self) -> bool:
        return bool(self.json_web_token_secret or self.json_web_token_path or self.json_web_token_jwks_path)

    def effective_ttl(self, requested: int | None) -> float:
        """Seconds a session lives after its last socket closes.

        ``requested`` is the URL's ``/ttl/<n>`` (it overrides ``SessionTTL``); the result is capped by
        ``MaxSessionTTL`` unless that is -1. A negative TTL means "forever", which only
        ``MaxSessionTTL=-1`` permits; otherwise it is capped like any other value.
        """
        ttl = self.session_ttl if requested is None else requested
        unbounded = self.max_session_ttl < 0
        if ttl < 0:
            return math.inf if unbounded else float(self.max_session_ttl)
        if unbounded:
            return float(ttl)
        return float(min(ttl, self.max_session_ttl))

    def log_verbosity(self, name: str) -> int:
        """Level of a log by its engine setting name, e.g. ``"TrafficLogVerbosity"`` (case-insensitive)."""
        spec = _SPEC_BY_KEY.get(name.lower())
        if spec is None or not spec.name.endswith("LogVerbosity"):
            raise KeyError(name)
        return int(getattr(self, spec.attr))


# --------------------------------------------------------------------------------------------------
# argparse front end
# --------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that raises SettingsError instead of printing usage and exiting on bad input."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError("command line", message)


def _epilog() -> str:
    width = max(len(spec.name) for spec in SPECS)
    dwidth = max(len(spec.default_text()) for spec in SPECS)
    lines = ["engine settings (-S Key=Value, keys case-insensitive):", ""]
    lines.append(f"  {'Setting':<{width}}  {'Default':<{dwidth}}  Meaning")
    for spec in SPECS:
        lines.append(f"  {spec.name:<{width}}  {spec.default_text():<{dwidth}}  {spec.help}")
    lines.append("")
    lines.append("Unknown -S keys are reported as a warning and ignored.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A Python stand-in for the Qlik Associative Engine (QIX websocket JSON-RPC API).",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", default="9076",
                        help="websocket/REST port; 0 picks a free port (default: %(default)s)")
    parser.add_argument("--tls-cert", metavar="PATH", help="PEM certificate chain: serve wss:// and https://")
    parser.add_argument("--tls-key", metavar="PATH",
                        help="PEM private key for --tls-cert (default: read from the --tls-cert file)")
    parser.add_argument("-S", dest="settings", action="append", default=[], metavar="Key=Value",
                        help="engine setting, repeatable; see the table below")
    parser.add_argument("--version", action="version",
                        version=f"{PROG} {__version__} (EngineVersion {DEFAULT_ENGINE_VERSION})")
    return parser


def _parse_port(text: str) -> int:
    try:
        return _int_in(0, 65535)(text)
    except ValueError as err:
        raise SettingsError("--port", str(err)) from None


def _readable_file(option: str, text: str | None) -> Path | None:
    if text is None:
        return None
    path = Path(os.path.abspath(text))
    if not path.is_file() or not os.access(path, os.R_OK):
        raise SettingsError(option, f"cannot read file {text}")
    return path


def parse_args(argv: Sequence[str]) -> Settings:
    """Turn a command line (without the program name) into validated Settings.

    Raises SettingsError for anything wrong; ``--help`` and ``--version`` print and raise SystemExit(0)
    the argparse way. Creates DocumentDirectory when missing.
    """
    ns = build_parser().parse_args(list(argv))
    values: dict[str, Any] = {
        "host": ns.host,
        "port": _parse_port(ns.port),
        "tls_cert": _readable_file("--tls-cert", ns.tls_cert),
        "tls_key": _readable_file("--tls-key", ns.tls_key),
    }
    if values["tls_key"] is not None and values["tls_cert"] is None:
        raise SettingsError("--tls-key", "needs --tls-cert")

    unknown: list[str] = []
    for item in ns.settings:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(key or item or "-S", "expected -S Key=Value")
        spec = _SPEC_BY_KEY.get(key.lower())
        if spec is None:
            if key not in unknown:
                unknown.append(key)
            continue
        try:
            values[spec.attr] = spec.parse(raw)
        except ValueError as err:
            raise SettingsError(spec.name, str(err)) from None

    if values.get("document_directory") is None:
        values["document_directory"] = _directory(DEFAULT_DOCUMENT_DIRECTORY)
    values["unknown_settings"] = tuple(unknown)
    settings = Settings(**values)
    _validate(settings)
    _ensure_directory(settings.document_directory)
    for root in settings.folder_connection_roots or (default_folder_root(settings.document_directory),):
        _ensure_directory(root, "FolderConnectionRoots")
    return settings


def default_folder_root(document_directory: Path) -> Path:
    """``data`` beside the apps folder: ``/apps`` → ``/data``, the volume layout Qlik Core examples use."""
    return Path(document_directory).parent / "data"


def _validate(settings: Settings) -> None:
    """Cross-setting rules that one value alone cannot check."""
    if settings.jwt_enforced and not settings.jwt_keys_configured:
        raise SettingsError(
            "ValidateJsonWebTokens",
            f"level {settings.validate_json_web_tokens} needs JsonWebTokenSecret, JsonWebTokenPath "
            "or JsonWebTokenJwksPath",
        )
    if settings.prometheus_port and settings.prometheus_port == settings.port:
        raise SettingsError("PrometheusPort", f"must differ from --port ({settings.port})")
    for name, path in (("SystemAllowRulePath", settings.system_allow_rule_path),
                       ("SystemDenyRulePath", settings.system_deny_rule_path)):
        if settings.enable_abac and path is not None and not (path.is_file() and os.access(path, os.R_OK)):
            raise SettingsError(name, f"cannot read rules file {path}")


def _ensure_directory(path: Path, setting: str = "DocumentDirectory") -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SettingsError(setting, f"cannot create {path}: {err.strerror or err}") from None
    if not path.is_dir():
        raise SettingsError(setting, f"{path} is not a directory")

