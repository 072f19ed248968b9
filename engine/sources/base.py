"""What every reader takes and gives: the read request, the table it returns, the one error it raises.

Readers know nothing of the runner: they get bytes or a path, a format spec and the script's locale, and
return columns of (SymbolTable, int32 codes) ready for the script's tables. Every failure is a
:class:`SourceError` carrying the script error code the runner reports (8 file not found, 12 wrong file
format, ...), so a bad file fails the statement, never the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.expr.formatting import DEFAULT_LOCALE, Locale, Texts
from engine.model.symbols import SymbolTable
from engine.sources.spec import FormatSpec

# script error codes (core-website script_reference/error.md), as the runner reports them
GENERAL = 1
FILE_NOT_FOUND = 8
WRONG_FORMAT = 12
CONNECTOR = 20

#: number interpretation of distinct texts: Arrow/object array of str → float64 (NaN = stays text)
Interpreter = Callable[[Texts], np.ndarray]


class SourceError(Exception):
    """A source cannot be read; ``code`` is the script error code for ``ScriptError``."""

    def __init__(self, message: str, code: int = WRONG_FORMAT) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _no_interpretation(texts: object) -> np.ndarray:
    return np.full(len(texts), np.nan)  # type: ignore[arg-type]


@dataclass
class ReadRequest:
    """One LOAD's view of its source: the data, how to read it, and where to report progress."""

    spec: FormatSpec
    #: the whole file (small files, web downloads) or None when the reader streams from ``path``
    data: bytes | None = None
    path: Path | None = None
    #: file name as the script wrote it (for messages)
    name: str = ""
    locale: Locale = DEFAULT_LOCALE
    interpret: Interpreter = _no_interpretation
    max_rows: int = 100_000_000
    #: field names the LOAD refers to by name (positional fields of fixed-record files, JSON paths)
    wanted: tuple[str, ...] = ()
    #: called with the rows read so far while a big source streams (progress lines, cancel checks)
    on_rows: Callable[[int], None] = field(default=lambda _n: None)

    def bytes(self) -> bytes:
        """The whole source; streaming readers use ``path`` instead."""
        if self.data is not None:
            return self.data
        if self.path is None:
            raise SourceError(f"Cannot open file '{self.name}'", FILE_NOT_FOUND)
        try:
            return self.path.read_bytes()
        except OSError as e:
            raise SourceError(f"Cannot open file: '{self.name}' ({e.strerror})", FILE_NOT_FOUND) from e


@dataclass
class SourceTable:
    """Columns a reader produced: names, (SymbolTable, codes) per column, row count."""

    names: list[str]
    columns: list[tuple[SymbolTable, np.ndarray]]
    nrows: int


def unique_names(names: list[str]) -> list[str]:
    """Labels made unique the way text files do it: a repeated ``A`` becomes ``A1``, ``A2``…"""
    seen: set[str] = set()
    out = []
    for name in names:
        base, k, cand = name, 0, name
        while cand in seen:
            k += 1
            cand = f"{base}{k}"
        seen.add(cand)
        out.append(cand)
    return out
