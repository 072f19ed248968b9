"""Where a script may read and write files: the one place every script path is resolved.

Qlik's two script modes decide which path forms exist at all:

* **standard mode** (``StandardReload=1``, the default): a script reaches files only through
  ``lib://<connection>/<sub>``, inside the folder of a declared folder connection;
* **legacy mode** (``StandardReload=0``, for trusted single-user set-ups): plain paths work too, relative
  ones inside the document directory, absolute ones inside the document directory, the folder roots or a
  connection's folder (so ``FROM '/data/movies.csv'`` works with ``/data`` mounted, as in Qlik's examples).

Whatever the form, two rules hold on the *resolved* path (symlinks and ``..`` followed first):

* it lies inside the root the form allows, so nothing outside the declared folders is reached;
* it is not an engine-owned file (an app, a save's temp file, anything the store says is its own), so a
  script can neither read an app's raw file (its script, its section-access rows) nor overwrite it.

Folder connections themselves may only point inside the operator's ``FolderConnectionRoots``; the check is
repeated here because a connection can also arrive inside an imported or older app file.

Web files (:meth:`PathPolicy.web_url`): an ``internet`` connection's connection string is a base URL, and
``lib://<connection>/<sub>`` joins ``sub`` to it (never climbing above the base); a plain ``http(s)://``
URL in a FROM is allowed in legacy mode, or in standard mode when it lies under an internet connection's
base URL. Only http and https are ever fetched, and ``AllowWebConnections=0`` turns all of it off.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from engine.script.errors import CONNECTOR, FILE_NOT_FOUND, GENERAL, StatementError

#: connection types whose connection string is a base URL
WEB_TYPES = ("internet", "web", "url")
_SCHEME = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.\-]*)://", re.I)


@dataclass(frozen=True)
class Connection:
    """A data connection created with ``Doc.CreateConnection``: 'folder' ones are read as files,
    'internet' ones as web files under a base URL, databases and connectors by ``engine.connectors``
    (with ``user``/``password`` from qUserName/qPassword)."""

    name: str
    connection_string: str = field(repr=False)
    type: str = "folder"
    user: str = ""
    password: str = field(default="", repr=False)


def real_path(path: str | Path) -> Path:
    """``path`` with every symlink and ``..`` resolved (the file need not exist)."""
    return Path(os.path.realpath(path))


def is_inside(target: Path, root: Path) -> bool:
    """True when ``target`` is ``root`` or below it (both already resolved)."""
    return target == root or root in target.parents


def _never_owned(_: Path) -> bool:
    return False


@dataclass(frozen=True)
class PathPolicy:
    """Resolves script paths for one reload; every failure is a :class:`StatementError` naming the path."""

    document_dir: Path
    connections: Mapping[str, Connection] = field(default_factory=dict)
    #: plain (non-``lib://``) paths allowed: Qlik's legacy script mode
    legacy: bool = True
    #: where folder connections may point (resolved); empty = anywhere (in-process use only)
    folder_roots: tuple[Path, ...] = ()
    #: engine-owned files a script must never read or write (apps, their temp files)
    engine_owned: Callable[[Path], bool] = _never_owned
    #: absolute script paths served from another folder (e.g. ``/data`` → a test's data folder)
    aliases: Mapping[str, Path] = field(default_factory=dict)
    #: web files allowed at all (``AllowWebConnections``)
    web_enabled: bool = True

    def connection(self, name: str) -> Connection:
        for key, conn in self.connections.items():
            if key.lower() == name.lower():
                return conn
        raise StatementError(f"Connection '{name}' not found", FILE_NOT_FOUND)

    def folder_of(self, conn: Connection) -> Path:
        """The resolved folder of a folder connection, refused when it lies outside the allowed roots."""
        if conn.type.lower() != "folder":
            raise StatementError(
                f"Connector not available: connection '{conn.name}' of type '{conn.type}' cannot be read "
                "as a folder by this engine", CONNECTOR)
        if not conn.connection_string:
            raise StatementError(f"Connection '{conn.name}' has no folder", FILE_NOT_FOUND)
        root = real_path(conn.connection_string)
        if self.folder_roots and not any(is_inside(root, allowed) for allowed in self.folder_roots):
            raise StatementError(
                f"Access denied: connection '{conn.name}' points outside the folders this engine allows",
                GENERAL)
        return root

    def web_url(self, path: str) -> str | None:
        """The URL a script path names when it is a web file (``lib://`` of an internet connection, or a
        plain http(s) URL); None for a file. StatementError when the URL is not allowed."""
        p = path.strip()
        if p.lower().startswith("lib://"):
            name, _, sub = p[6:].partition("/")
            conn = self.connection(name)
            if conn.type.lower() not in WEB_TYPES:
                return None
            return self._checked(_join_url(conn, sub), p)
        m = _SCHEME.match(p)
        if m is None:
            return None
        if m.group("scheme").lower() not in ("http", "https"):
            raise StatementError(f"Access denied: '{p}': only http and https URLs can be loaded", GENERAL)
        if not self.legacy and not any(_under(p, c.connection_string) for c in self._web_connections()):
            raise StatementError(
                f"Access denied: '{p}' is a plain URL; in standard mode scripts load web files through an "
                "internet connection (legacy mode: -S StandardReload=0)", GENERAL)
        return self._checked(p, p)

    def _web_connections(self) -> list[Connection]:
        return [c for c in self.connections.values() if c.type.lower() in WEB_TYPES]

    def _checked(self, url: str, written: str) -> str:
        if not self.web_enabled:
            raise StatementError(f"Access denied: '{written}': web files are turned off on this engine "
                                 "(-S AllowWebConnections=0)", GENERAL)
        if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
            raise StatementError(f"Access denied: '{written}': only http and https URLs can be loaded", GENERAL)
        return url

    def resolve(self, path: str) -> Path:
        """The real file a script path names; StatementError when the mode or the roots forbid it."""
        target = self._locate(path.strip())
        if self.engine_owned(target):
            raise StatementError(f"Access denied: '{path}' is a file the engine owns", GENERAL)
        return target

    def _locate(self, p: str) -> Path:
        if p.lower().startswith("lib://"):
            name, _, sub = p[6:].partition("/")
            conn = self.connection(name)
            root = self.folder_of(conn)
            target = real_path(root / sub) if sub else root
            if not is_inside(target, root):
                raise StatementError(f"Access denied: '{p}' is outside connection '{conn.name}'", GENERAL)
            return target
        if not self.legacy:
            raise StatementError(
                f"Access denied: '{p}' is not a lib:// path; in standard mode scripts read and write files "
                "only through folder connections (legacy mode: -S StandardReload=0)", GENERAL)
        for alias, real in self.aliases.items():
            if p == alias or p.startswith(alias.rstrip("/") + "/"):
                return real_path(Path(real) / p[len(alias):].lstrip("/"))
        raw = p.replace("\\", "/")
        if Path(raw).is_absolute() or (len(raw) > 1 and raw[1] == ":"):
            target = real_path(raw)
            if not any(is_inside(target, root) for root in self._legacy_roots()):
                raise StatementError(f"Access denied: '{p}' is outside the allowed folders", GENERAL)
            return target
        root = real_path(self.document_dir)
        target = real_path(root / raw)
        if not is_inside(target, root):
            raise StatementError(f"Access denied: '{p}' is outside the document folder", GENERAL)
        return target

    def _legacy_roots(self) -> list[Path]:
        roots = [real_path(self.document_dir), *self.folder_roots]
        for conn in self.connections.values():
            try:
                roots.append(self.folder_of(conn))
            except StatementError:
                continue
        return roots

    def read_bytes(self, path: str) -> tuple[bytes, Path]:
        target = self.resolve(path)
        if target.is_dir():
            raise StatementError(f"Cannot open file '{path}': it is a folder", FILE_NOT_FOUND)
        try:
            return target.read_bytes(), target
        except FileNotFoundError as e:
            raise StatementError(f"Cannot open file: '{path}' (File not found)", FILE_NOT_FOUND) from e
        except OSError as e:
            raise StatementError(f"Cannot open file: '{path}' ({e.strerror})", FILE_NOT_FOUND) from e


def _join_url(conn: Connection, sub: str) -> str:
    """``lib://conn/sub`` of an internet connection: ``sub`` below the base URL, never above it."""
    base = conn.connection_string.strip()
    if not base:
        raise StatementError(f"Connection '{conn.name}' has no URL", FILE_NOT_FOUND)
    if not sub:
        return base
    parts = urlsplit(base)
    sub_path, _, query = sub.partition("?")
    joined = posixpath.normpath(posixpath.join(parts.path.rstrip("/") + "/", sub_path))
    root = parts.path.rstrip("/")
    if not (joined == root or joined.startswith(root + "/")):
        raise StatementError(f"Access denied: 'lib://{conn.name}/{sub}' is outside connection '{conn.name}'",
                             GENERAL)
    return urlunsplit((parts.scheme, parts.netloc, joined, query or parts.query, ""))


def _under(url: str, base: str) -> bool:
    """True when ``url`` is ``base`` or below it (same scheme, host and port; path prefix)."""
    u, b = urlsplit(url), urlsplit(base.strip())
    if (u.scheme.lower(), u.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()) or not b.netloc:
        return False
    path = posixpath.normpath(u.path or "/")
    root = b.path.rstrip("/")
    return path == (b.path or "/") or path.startswith(root + "/") or not root
