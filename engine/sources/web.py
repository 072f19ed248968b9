"""Web files: fetching a URL for a LOAD, bounded in time, size and redirects, with urllib3.

Why urllib3: it is the HTTP client nearly every Python HTTP stack stands on (requests, pip, botocore), is
small with no dependencies of its own, verifies TLS against the system's CAs by default, and gives the
three controls this needs directly: connect/read timeouts, streamed bodies (so a size limit aborts the
download instead of buffering it first) and redirects turned off (so every hop is checked here: its
scheme, and the count). httpx would work as well but brings an async stack (anyio, httpcore) we do not use.

Security: only ``http`` and ``https`` are fetched — ``file:``, ``ftp:`` and the like are refused, also as
redirect targets, so a web connection cannot read the engine's own disk. A URL may still name a host the
engine can reach and the user cannot (an internal service): an operator who does not want scripts to
make requests at all turns them off with ``-S AllowWebConnections=0``, and which URLs a script may name is
decided by ``engine.script.paths`` (an internet connection's base URL, or any URL in legacy mode).

Every failure is a :class:`SourceError` that says what happened: unknown host, refused connection, TLS,
timeout, HTTP status, too large, too many redirects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from engine.sources.base import FILE_NOT_FOUND, GENERAL, SourceError

if TYPE_CHECKING:
    from engine.settings import Settings

ALLOWED_SCHEMES = ("http", "https")
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 1 << 16


@dataclass(frozen=True)
class WebOptions:
    """What the operator allows web fetches (``-S AllowWebConnections``, ``WebFileTimeoutSeconds``,
    ``MaxWebFileSize``)."""

    enabled: bool = True
    timeout: float = 30.0
    max_bytes: int = 100 * 1024 * 1024
    max_redirects: int = 5

    @staticmethod
    def from_settings(settings: Settings) -> WebOptions:
        return WebOptions(settings.allow_web_connections, settings.web_file_timeout_seconds,
                          settings.max_web_file_size)


@dataclass(frozen=True)
class WebFile:
    data: bytes
    url: str              # after redirects
    content_type: str


def shown(url: str) -> str:
    """A URL for messages: without user and password."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise SourceError(f"Access denied: only http and https URLs can be loaded, not '{shown(url)}'", GENERAL)


def _failure(url: str, err: BaseException) -> SourceError:
    if isinstance(err, MaxRetryError) and err.reason is not None:
        err = err.reason
    where = shown(url)
    if isinstance(err, NameResolutionError):
        return SourceError(f"Cannot open URL '{where}': host not found", FILE_NOT_FOUND)
    if isinstance(err, NewConnectionError):      # a subclass of ConnectTimeoutError: test it first
        return SourceError(f"Cannot open URL '{where}': connection refused", FILE_NOT_FOUND)
    if isinstance(err, ConnectTimeoutError):
        return SourceError(f"Cannot open URL '{where}': connection timed out", FILE_NOT_FOUND)
    if isinstance(err, SSLError):
        return SourceError(f"Cannot open URL '{where}': TLS error ({err})", FILE_NOT_FOUND)
    if isinstance(err, ReadTimeoutError):
        return SourceError(f"Cannot open URL '{where}': timed out", FILE_NOT_FOUND)
    if isinstance(err, ProtocolError):
        return SourceError(f"Cannot open URL '{where}': connection broken ({err})", FILE_NOT_FOUND)
    return SourceError(f"Cannot open URL '{where}': {err}", FILE_NOT_FOUND)


def fetch(url: str, options: WebOptions, on_bytes: Callable[[int], object] | None = None) -> WebFile:
    """GET ``url`` whole (up to ``max_bytes``) within ``timeout`` seconds in total, redirects checked."""
    if not options.enabled:
        raise SourceError("Access denied: web files are turned off on this engine (-S AllowWebConnections=0)",
                          GENERAL)
    check_scheme(url)
    deadline = time.monotonic() + options.timeout
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=options.timeout,
                                                                       read=options.timeout))
    try:
        current = url
        for _hop in range(options.max_redirects + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceError(f"Cannot open URL '{shown(url)}': timed out after {options.timeout:g} s",
                                  FILE_NOT_FOUND)
            try:
                resp = pool.request("GET", current, redirect=False, preload_content=False, retries=False,
                                    timeout=urllib3.Timeout(connect=left, read=left),
                                    headers={"User-Agent": "qix-engine", "Accept": "*/*"})
            except HTTPError as e:
                raise _failure(current, e) from e
            try:
                if resp.status in _REDIRECTS and resp.headers.get("Location"):
                    nxt = urljoin(current, resp.headers["Location"])
                    check_scheme(nxt)
                    current = nxt
                    continue
                if resp.status >= 400:
                    raise SourceError(f"Cannot open URL '{shown(current)}': HTTP {resp.status} {resp.reason or ''}"
                                      .rstrip(), FILE_NOT_FOUND)
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > options.max_bytes:
                    raise _too_large(current, options)
                return WebFile(_body(resp, current, options, deadline, on_bytes), current,
                               resp.headers.get("Content-Type", ""))
            finally:
                resp.release_conn()
        raise SourceError(f"Cannot open URL '{shown(url)}': more than {options.max_redirects} redirects",
                          FILE_NOT_FOUND)
    finally:
        pool.clear()


def _too_large(url: str, options: WebOptions) -> SourceError:
    return SourceError(f"Cannot open URL '{shown(url)}': larger than the limit of {options.max_bytes} bytes "
                       "(-S MaxWebFileSize)", GENERAL)


def _body(resp: urllib3.BaseHTTPResponse, url: str, options: WebOptions, deadline: float,
          on_bytes: Callable[[int], object] | None) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            # read1: whatever has arrived (up to a chunk), so a trickling server meets the deadline
            chunk = resp.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > options.max_bytes:
                raise _too_large(url, options)
            if time.monotonic() > deadline:
                raise SourceError(f"Cannot open URL '{shown(url)}': timed out after {options.timeout:g} s",
                                  FILE_NOT_FOUND)
            parts.append(chunk)
            if on_bytes is not None:
                on_bytes(size)
    except HTTPError as e:
        raise _failure(url, e) from e
    return b"".join(parts)
