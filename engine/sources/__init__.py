"""Readers by file format, one module each, and the registry that maps a format-spec name to its reader.

``(json)`` → :mod:`json`, ``(ooxml)``/``(biff)`` → :mod:`excel`, ``(parquet)`` → :mod:`parquet`,
``(xml)``/``(xmlsimple)`` → :mod:`xml`, ``(html)`` → :mod:`html`, ``(fix)`` → :mod:`fixed`; web files are
fetched by :mod:`web` and then read by the same readers. Delimited text and QVD are read by
``engine.script.textfile`` / ``engine.script.sources``, big regular text files streamed by :mod:`text`.
Reader modules are imported on first use, so an engine that never loads Excel never imports calamine.

A reader is ``read(ReadRequest) -> SourceTable`` and raises only :class:`SourceError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from engine.sources.base import WRONG_FORMAT, ReadRequest, SourceError, SourceTable

Reader = Callable[[ReadRequest], SourceTable]

#: format-spec name → module of its reader
READERS: dict[str, str] = {
    "json": "json",
    "ooxml": "excel",
    "biff": "excel",
    "parquet": "parquet",
    "xml": "xml",
    "html": "html",
    "fix": "fixed",
}

#: file extension → format, for a FROM without a format spec (and web files)
EXTENSIONS: dict[str, str] = {
    "qvd": "qvd",
    "xlsx": "ooxml",
    "xlsm": "ooxml",
    "xlsb": "ooxml",
    "xls": "biff",
    "html": "html",
    "htm": "html",
    "xml": "xml",
    "json": "json",
    "ndjson": "json",
    "parquet": "parquet",
    "qvx": "qvx",
    "fix": "fix",
    "dat": "txt",
    "csv": "txt",
    "txt": "txt",
    "tab": "txt",
}

#: a web file's Content-Type → format, when its URL has no telling extension
_CONTENT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/json": "json",
    "text/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/csv": "txt",
    "text/plain": "txt",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "ooxml",
    "application/vnd.ms-excel": "biff",
    "application/vnd.apache.parquet": "parquet",
}


def reader(fmt: str) -> Reader | None:
    """The reader of a format-spec name, or None when this package does not read it (txt, qvd)."""
    module = READERS.get(fmt.lower())
    if module is None:
        return None
    return importlib.import_module(f"engine.sources.{module}").read  # type: ignore[no-any-return]


def format_of(extension: str, content_type: str = "", default: str = "txt") -> str:
    """The format a file is read with when the script gives none: by extension, then Content-Type."""
    fmt = EXTENSIONS.get(extension.lower().lstrip("."))
    if fmt:
        return fmt
    media = content_type.split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(media, default)


def read(fmt: str, req: ReadRequest) -> SourceTable:
    """Read ``req`` with the reader of ``fmt``; SourceError(12) when there is none."""
    fn = reader(fmt)
    if fn is None:
        raise SourceError(f"Unsupported file format '{fmt}' for '{req.name}'", WRONG_FORMAT)
    return fn(req)


__all__ = [
    "EXTENSIONS",
    "READERS",
    "ReadRequest",
    "SourceError",
    "SourceTable",
    "format_of",
    "read",
    "reader",
]
