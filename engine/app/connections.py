"""An app's data connections: what a client may create, and what it may see of them.

A folder connection is a door from scripts to the host's disk, so it may only point inside the folders
the operator allows (``FolderConnectionRoots``), checked on the resolved path (symlinks followed) when it
is created or changed, and again by every reload (``engine.script.paths``). Connection strings can carry
credentials (``postgresql://user:secret@host``, ``…;Password=secret``): only users who may change the app
see them whole; everyone else, and every log line, gets them with the secrets masked
(``engine.connectors.secrets``). A password given apart (``qPassword``) is kept for reloads and never
answered. SQLite/DuckDB connections name a file, which follows the same roots rule as folders.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from engine.connectors.databases import DATABASE_TYPES, check_file, looks_like_database, parse_target
from engine.connectors.errors import ConnectorError
from engine.connectors.secrets import MASK, install_log_filter, mask_secrets
from engine.errors import ACCESS_DENIED, INVALID_PARAMETERS, QixError
from engine.script.paths import is_inside, real_path

__all__ = ["MASK", "check_folder", "is_folder", "mask_secrets", "normalise", "public_view"]

# connection strings and passwords travel in QIX frames, which frame tracing (DEBUG) logs
install_log_filter("qix.traffic", "qix.websockets", "qix.transport", "qix.reload", "qix.session", "qix.server")


def public_view(conn: dict[str, Any], full: bool) -> dict[str, Any]:
    """A connection as ``GetConnection(s)`` answers it: whole for users who may change the app, secrets
    masked for everyone else; the password given apart (``qPassword``) is never answered."""
    shown = {k: v for k, v in conn.items() if k != "qPassword"}
    if not full:
        shown["qConnectionString"] = mask_secrets(str(conn.get("qConnectionString", "")))
    return shown


def is_folder(conn: dict[str, Any]) -> bool:
    return str(conn.get("qType", "")).lower() == "folder"


def check_folder(conn: dict[str, Any], roots: tuple[Path, ...]) -> None:
    """A folder connection, and the file of a SQLite/DuckDB connection, must resolve inside one of
    ``roots``; 5 (Access denied) otherwise. (Every reload checks again: a connection can also come with an
    imported app.)"""
    if not is_folder(conn):
        _check_database_file(conn, roots)
        return
    folder = str(conn.get("qConnectionString", ""))
    if not folder.strip() or not any(is_inside(real_path(folder), root) for root in roots):
        raise QixError(ACCESS_DENIED, f"Folder connection '{conn['qName']}' must point inside "
                                      "the folders this engine allows (FolderConnectionRoots)")


def _check_database_file(conn: dict[str, Any], roots: tuple[Path, ...]) -> None:
    text = str(conn.get("qConnectionString", ""))
    ctype = str(conn.get("qType", "")).lower()
    if not (ctype in DATABASE_TYPES or (not ctype and looks_like_database(text))):
        return
    try:
        target = parse_target(text, roots=roots)
        check_file(target, roots)
    except ConnectorError as err:
        if err.message.startswith("Access denied"):
            raise QixError(ACCESS_DENIED, f"Connection '{conn['qName']}': {err.message}") from err
        # any other problem with the string shows when a reload connects, in the database's words


def normalise(spec: Any, conn_id: str | None = None) -> dict[str, Any]:
    """The stored form of a ``qConnection`` argument (8 when it has no name)."""
    if not isinstance(spec, dict):
        raise QixError(INVALID_PARAMETERS, "qConnection")
    name = spec.get("qName")
    if not isinstance(name, str) or not name:
        raise QixError(INVALID_PARAMETERS, "qName")
    out = {
        "qId": conn_id or str(uuid.uuid4()),
        "qName": name,
        "qConnectionString": str(spec.get("qConnectionString", "")),
        "qType": str(spec.get("qType", "")),
        "qUserName": str(spec.get("qUserName", "")),
        "qModifiedDate": time.strftime("%Y%m%dT%H%M%S.000Z", time.gmtime()),
        "qMeta": {"qName": name},
        "qLogOn": spec.get("qLogOn", "LOG_ON_SERVICE_USER"),
    }
    password = spec.get("qPassword")
    if isinstance(password, str) and password:
        out["qPassword"] = password   # kept for the reload; never answered (public_view)
    return out
