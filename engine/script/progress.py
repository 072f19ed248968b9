"""Reload progress: what GetProgress reports while a reload runs in a worker thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


def fetched_message(table: str, rows: int) -> str:
    """The engine's persistent line for a finished LOAD/SELECT: ``TableA <<  5 Lines fetched``."""
    return f"{table} << {rows:>2} Lines fetched"


@dataclass
class Progress:
    """Thread-safe sink for reload progress; the server drains it from another thread.

    ``persistent`` accumulates lines until :meth:`drain`; ``transient_text`` is the latest
    "so far" message of the running statement.
    """

    persistent: list[str] = field(default_factory=list)
    transient_text: str = ""
    statements: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def statement(self, text: str) -> None:
        with self._lock:
            self.statements += 1
            self.transient_text = text

    def fetched(self, table_name: str, rows: int) -> None:
        with self._lock:
            self.persistent.append(fetched_message(table_name, rows))
            self.transient_text = ""

    def transient(self, text: str) -> None:
        with self._lock:
            self.transient_text = text

    def message(self, text: str) -> None:
        """A persistent line that is not a fetch count (TRACE output, errors)."""
        with self._lock:
            self.persistent.append(text)

    def drain(self) -> tuple[list[str], str]:
        """Persistent lines since the last call, and the current transient text."""
        with self._lock:
            out, self.persistent = self.persistent, []
            return out, self.transient_text
