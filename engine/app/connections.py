"""An app's data connections: what a client may create, and what it may see of them.

A folder connection is a door from scripts to the host's disk, so it may only point inside the folders
the operator allows (``FolderConnectionRoots``), checked on the resolved path (symlinks followed) when it
is created or changed, and again by every reload (``engine.script.paths``). Connection strings can carry
credentials (``postgresql://user:secret@host``, ``…;Password=secret``): only users who may change the app
see them whole; everyone else, and every log line, gets them with the secrets masked.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

from engine.errors import ACCESS_DENIED, INVALID_PARAMETERS, QixError
from engine.script.paths import is_inside, real_path

MASK = "***"

#: ``scheme://user:password@host`` — the password part of a URL's user info
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?=@)", re.I)
#: ``key=value`` pairs whose key names a secret (ODBC/OLE DB/ADO style, ``;`` or space separated)
_SECRET_PAIR = re.compile(
    r"(?P<head>\b(?:password|pwd|passwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|"
    r"xpassword)\s*=\s*)(?P<secret>\"[^\"]*\"|'[^']*'|[^;\s]*)", re.I)


def mask_secrets(connection_string: str) -> str:
    """The connection string with passwords, tokens and keys replaced by ``***``."""
    masked = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, connection_string)
    return _SECRET_PAIR.sub(lambda m: m.group("head") + MASK, masked)


def public_view(conn: dict[str, Any], full: bool) -> dict[str, Any]:
    """A connection as ``GetConnection(s)`` answers it: whole for users who may change the app."""
    if full:
        return dict(conn)
    return {**conn, "qConnectionString": mask_secrets(str(conn.get("qConnectionString", "")))}


def is_folder(conn: dict[str, Any]) -> bool:
    return str(conn.get("qType", "")).lower() == "folder"


def check_folder(conn: dict[str, Any], roots: tuple[Path, ...]) -> None:
    """A folder connection must resolve inside one of ``roots``; 5 (Access denied) otherwise."""
    if not is_folder(conn):
        return
    folder = str(conn.get("qConnectionString", ""))
    if not folder.strip() or not any(is_inside(real_path(folder), root) for root in roots):
        raise QixError(ACCESS_DENIED, f"Folder connection '{conn['qName']}' must point inside "
                                      "the folders this engine allows (FolderConnectionRoots)")


def normalise(spec: Any, conn_id: str | None = None) -> dict[str, Any]:
    """The stored form of a ``qConnection`` argument (8 when it has no name)."""
    if not isinstance(spec, dict):
        raise QixError(INVALID_PARAMETERS, "qConnection")
    name = spec.get("qName")
    if not isinstance(name, str) or not name:
        raise QixError(INVALID_PARAMETERS, "qName")
    return {
        "qId": conn_id or str(uuid.uuid4()),
        "qName": name,
        "qConnectionString": str(spec.get("qConnectionString", "")),
        "qType": str(spec.get("qType", "")),
        "qUserName": str(spec.get("qUserName", "")),
        "qModifiedDate": time.strftime("%Y%m%dT%H%M%S.000Z", time.gmtime()),
        "qMeta": {"qName": name},
        "qLogOn": spec.get("qLogOn", "LOG_ON_SERVICE_USER"),
    }
