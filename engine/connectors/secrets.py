"""Keeping credentials out of answers and logs.

Connection strings carry credentials in two shapes: a URL's user info (``postgresql://user:secret@host``)
and ``key=value`` pairs (``…;Password=secret``, ``pwd=…``, ``?sslpassword=…``). :func:`mask_secrets`
masks both; it is what ``GetConnection(s)`` shows users who may not change the app and what every log
line and error message gets. A password given apart from the string (``qPassword``) is never shown at
all; :class:`Scrubber` replaces its literal value (and the string's) wherever a driver echoes it back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

#: ``scheme://user:password@host`` — the password part of a URL's user info
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?=@)", re.I)
#: ``key=value`` pairs whose key names a secret (ODBC/OLE DB/ADO/libpq/URL-query style)
_SECRET_PAIR = re.compile(
    r"(?P<head>(?<![a-z0-9])[a-z_]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)"
    r"\s*=\s*)(?P<secret>\\\"[^\"]*?\\\"|\"[^\"]*\"|'[^']*'|\{[^}]*\}|[^;&\s\"'\\]*)", re.I)
#: JSON members whose name names a secret (``"qPassword": "…"`` in a CreateConnection frame)
_SECRET_MEMBER = re.compile(
    r'(?P<head>"[a-z_]*(?:password|passwd|pwd|secret|token)"\s*:\s*)"(?P<secret>(?:[^"\\]|\\.)*)"', re.I)
#: a CONNECT statement (``LIB``/``CUSTOM``/``ODBC``/``OLEDB CONNECT TO …``), whose text may hold secrets
_CONNECT = re.compile(r"^\s*(?:(?:lib|custom|odbc|oledb)\s+)?connect\b", re.I)


def mask_secrets(text: str) -> str:
    """``text`` with URL passwords and secret ``key=value`` pairs replaced by ``***``."""
    masked = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    masked = _SECRET_MEMBER.sub(lambda m: m.group("head") + f'"{MASK}"', masked)
    return _SECRET_PAIR.sub(lambda m: m.group("head") + MASK, masked)


def redact_statement(text: str) -> str:
    """A script statement as logs and progress may show it: CONNECT statements masked, others as they are."""
    return mask_secrets(text) if _CONNECT.match(text) else text


class Scrubber:
    """Masks known secret values (and secret-shaped parts) in messages that may reach a client or a log."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def __call__(self, message: str) -> str:
        for value in self._values:
            message = message.replace(value, MASK)
        return mask_secrets(message)


class SecretFilter(logging.Filter):
    """Masks secrets in log records before any handler formats them.

    Frame tracing (the websockets logger at DEBUG) logs message payloads, shortened in the middle: a
    ``CreateConnection`` frame could show its password with the member name cut off. So a frame argument
    is masked whole, from its payload, before it is shortened. Filters run only for records that are
    logged at all, so this costs nothing while DEBUG is off.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            args = tuple(_masked_arg(a) for a in record.args)
            if any(a is not b for a, b in zip(args, record.args, strict=True)):
                record.args = args
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True


def _masked_arg(arg: object) -> object:
    data = getattr(arg, "data", None)
    opcode = getattr(arg, "opcode", None)
    if opcode is not None and isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return arg
        masked = mask_secrets(text)
        if masked == text:
            return arg
        shown = masked if len(masked) <= 150 else masked[:75] + "..." + masked[-72:]
        return f"{getattr(opcode, 'name', opcode)} {shown!r} [{len(data)} bytes]"
    if isinstance(arg, str):
        return mask_secrets(arg)
    return arg


def install_log_filter(*loggers: str) -> None:
    """Put one :class:`SecretFilter` on each named logger (idempotent)."""
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in logger.filters):
            logger.addFilter(SecretFilter())
