"""Distinct keys → symbol codes, looked up and grown a whole batch of keys at a time.

Why: a field built batch by batch must tell, for each batch, which of its values are already symbols.
The keys (numbers, or text hashes) are kept sorted in runs with disjoint ascending ranges: a lookup is one
``searchsorted`` per run the batch touches, an insert rewrites only the runs it lands in (a run is split
when it grows past ``2 * RUN``), and keys that arrive above every key so far (ids, dates in load order)
append to the last run. Memory is the keys, a code per key and an optional check value per key (the
second hash of a text), with no spare capacity; the transient of an insert is one run.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: a run is split in two when it holds more than twice this many keys
RUN = 1 << 20


class SortedIndex:
    """Keys of one numpy dtype with an int32 code each (and a uint64 check value when ``checked``)."""

    def __init__(self, dtype: type[np.generic], checked: bool = False) -> None:
        self._dtype = np.dtype(dtype)
        self._keys: list[np.ndarray] = []
        self._codes: list[np.ndarray] = []
        self._checks: list[np.ndarray] | None = [] if checked else None
        self._firsts = np.empty(0, dtype=self._dtype)

    def __len__(self) -> int:
        return sum(len(k) for k in self._keys)

    def _segments(self, keys: np.ndarray) -> Iterator[tuple[int, int, int]]:
        """(run, start, stop): the slice of ``keys`` (sorted) that falls in each run's range."""
        if not self._keys:
            return
        bounds = np.searchsorted(keys, self._firsts[1:], side="left").tolist()
        start = 0
        for r, stop in enumerate([*bounds, len(keys)]):
            if stop > start:
                yield r, start, stop
            start = stop

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes of ``keys`` (sorted, distinct; -1 where absent) and, when checked, their check values."""
        codes = np.full(len(keys), -1, dtype=np.int64)
        checks = np.zeros(len(keys), dtype=np.uint64) if self._checks is not None else None
        for r, a, b in self._segments(keys):
            run = self._keys[r]
            part = keys[a:b]
            pos = np.minimum(np.searchsorted(run, part), len(run) - 1)
            hit = np.flatnonzero(run.take(pos) == part)
            at = pos.take(hit)
            codes[a + hit] = self._codes[r].take(at)
            if checks is not None and self._checks is not None:
                checks[a + hit] = self._checks[r].take(at)
        return codes, checks

    def insert(self, keys: np.ndarray, codes: np.ndarray, checks: np.ndarray | None = None) -> None:
        """Add ``keys`` (sorted, distinct, none present yet) with their codes (and check values)."""
        if not len(keys):
            return
        keys = np.asarray(keys, dtype=self._dtype)
        codes = np.asarray(codes, dtype=np.int32)
        if not self._keys:
            self._keys, self._codes = [keys.copy()], [codes.copy()]
            if self._checks is not None:
                assert checks is not None
                self._checks = [np.asarray(checks, dtype=np.uint64).copy()]
        else:
            for r, a, b in reversed(list(self._segments(keys))):   # from the end: splits keep indices valid
                pos = np.searchsorted(self._keys[r], keys[a:b])
                self._keys[r] = np.insert(self._keys[r], pos, keys[a:b])
                self._codes[r] = np.insert(self._codes[r], pos, codes[a:b])
                if self._checks is not None:
                    assert checks is not None
                    self._checks[r] = np.insert(self._checks[r], pos, checks[a:b])
        self._split()

    def _split(self) -> None:
        r = 0
        while r < len(self._keys):
            n = len(self._keys[r])
            if n > 2 * RUN:
                half = n // 2
                for runs in (self._keys, self._codes, self._checks):
                    if runs is not None:
                        whole = runs[r]
                        runs[r:r + 1] = [whole[:half].copy(), whole[half:].copy()]
                continue
            r += 1
        self._firsts = np.array([k[0] for k in self._keys], dtype=self._dtype)

    def drain(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (keys, codes) run, releasing each as it is handed out (the index is empty after)."""
        while self._keys:
            keys, codes = self._keys.pop(), self._codes.pop()
            if self._checks:
                self._checks.pop()
            yield keys, codes
        self._firsts = np.empty(0, dtype=self._dtype)
