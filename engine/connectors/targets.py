"""Reading connector connection strings: ``CUSTOM CONNECT TO "provider=<id>;host=…"`` and its ``provider``."""

from __future__ import annotations

import re

_CUSTOM = re.compile(r"^\s*custom\s+connect\s+to\s+(?P<q>[\"'\[]?)(?P<body>.*?)(?P=q)?\s*;?\s*$", re.I | re.S)


def connection_body(text: str) -> str:
    """The connector's part of a connection string: what ``CUSTOM CONNECT TO "…"`` quotes, else all of it."""
    m = _CUSTOM.match(text)
    if not m:
        return text.strip()
    body = m.group("body")
    if m.group("q") == "[" and body.endswith("]"):
        body = body[:-1]
    return body.strip()


def provider_of(body: str) -> str | None:
    """The ``provider=<id>`` of a connection string, if it has one."""
    for part in body.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() == "provider":
            return value.strip().strip('"')
    return None
