"""The ``( ... )`` format specification after FROM / INLINE / STORE INTO, as the script parser reads it.

It lives with the readers because they are what it configures; ``engine.script.ast`` re-exports it for the
parser and the runner.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FormatSpec:
    """The ``( ... )`` after FROM / INLINE / STORE INTO."""

    fmt: str = ""                  # '' = decide from the file extension
    delimiter: str | None = None
    labels: str = "embedded"       # 'embedded' | 'explicit' | 'none'
    header_lines: int = 0
    msq: bool = False
    no_quotes: bool = False
    encoding: str | None = None    # python codec name
    table: str | None = None
    comment: str | None = None
    given: bool = False            # a spec was written
    #: fixed-record files: ``record is n lines`` (lines per record) or ``record is n`` (characters)
    record_lines: int = 1
    record_chars: int | None = None
    #: ``labels`` was written explicitly (Excel and HTML default to embedded labels either way)
    labels_given: bool = False
    #: ``filters(Replace(n, top|bottom, StrCnd(null)))``: (column number, "top"/"bottom") per fill step
    fills: tuple[tuple[int, str], ...] = ()
