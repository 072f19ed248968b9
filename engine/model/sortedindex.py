"""Distinct keys → symbol codes, looked up and grown a whole batch of keys at a time.

Why: a field built batch by batch must tell, for each batch, which of its values are already symbols.
The keys (numbers, or text hashes) are kept sorted in runs with disjoint ascending ranges: a lookup is one
``searchsorted`` per run the batch touches, an insert rewrites only the runs it lands in (a run is split
when it grows past ``2 * RUN``), and keys that arrive above every key so far (ids, dates in load order)
append to the last run, or open a new one once it is full, so id columns are never copied.

Memory is the keys, a code per key and an optional check value per key (the second hash of a text), with
no spare capacity; the transient of an insert is one run. Two common cases cost less: a run of whole
numbers within 32 bits keeps them as int32 (4 bytes, not 8), and a run whose codes are consecutive (keys
that arrived in order, an id column) keeps only its first code. An id column's index then takes 4 bytes a
symbol, the size of the symbols themselves.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: a run is split in two when it holds more than twice this many keys
RUN = 1 << 20

_I32 = np.dtype(np.int32)
_LO, _HI = float(np.iinfo(np.int32).min), float(np.iinfo(np.int32).max)


class _Run:
    """Sorted keys of one range, their codes (None: ``start, start + 1, …``) and check values."""

    __slots__ = ("checks", "codes", "keys", "start")

    def __init__(
        self, keys: np.ndarray, codes: np.ndarray | None, start: int, checks: np.ndarray | None
    ) -> None:
        self.keys, self.codes, self.start, self.checks = keys, codes, start, checks

    def __len__(self) -> int:
        return len(self.keys)

    def code_at(self, pos: np.ndarray) -> np.ndarray:
        return self.codes.take(pos) if self.codes is not None else pos + self.start

    def code_array(self) -> np.ndarray:
        return (
            self.codes
            if self.codes is not None
            else np.arange(self.start, self.start + len(self), dtype=np.int32)
        )

    def positions(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which queries are keys of this run, their positions)."""
        keys = self.keys
        if keys.dtype == _I32 and queries.dtype.kind == "f":
            whole = np.flatnonzero((queries == np.floor(queries)) & (queries >= _LO) & (queries <= _HI))
            pos = np.minimum(np.searchsorted(keys, queries.take(whole).astype(np.int32)), len(keys) - 1)
            hit = keys.take(pos) == queries.take(whole)
            return whole[hit], pos[hit]
        pos = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
        hit = np.flatnonzero(keys.take(pos) == queries)
        return hit, pos.take(hit)

    def insert(self, keys: np.ndarray, codes: np.ndarray, checks: np.ndarray | None) -> None:
        if self.keys.dtype == _I32:
            keys = _compact(keys)
            if keys.dtype != _I32:  # a fraction or a big number: the run keeps floats from now on
                self.keys = self.keys.astype(np.float64)
        pos = np.searchsorted(self.keys, keys)
        appended = (
            self.codes is None
            and bool(np.all(pos == len(self)))
            and bool(
                np.array_equal(codes, np.arange(self.start + len(self), self.start + len(self) + len(codes)))
            )
        )
        if not appended:
            self.codes = np.insert(self.code_array(), pos, codes)  # before the keys grow
        self.keys = np.insert(self.keys, pos, keys)
        if self.checks is not None and checks is not None:
            self.checks = np.insert(self.checks, pos, checks)

    def split(self) -> tuple[_Run, _Run]:
        half = len(self) // 2
        return self._slice(0, half), self._slice(half, len(self))

    def _slice(self, a: int, b: int) -> _Run:
        """A copy of keys ``a..b`` as a run of its own."""
        codes, checks = self.codes, self.checks
        return _Run(
            self.keys[a:b].copy(),
            None if codes is None else codes[a:b].copy(),
            self.start + a,
            None if checks is None else checks[a:b].copy(),
        )


def _scaled(keys: np.ndarray, dec: int) -> np.ndarray | None:
    """Sorted keys times ``10**dec`` as int32, when that is exact for each of them (else None)."""
    if keys.dtype == _I32 and not dec:
        return keys
    num = keys.astype(np.float64) if keys.dtype == _I32 else keys
    scale = float(10**dec)
    out = np.rint(num * scale) if dec else num
    if not (
        out[0] >= _LO
        and out[-1] <= _HI
        and np.array_equal(out, np.rint(out))
        and np.array_equal(out / scale if dec else out, num)
        and not (np.signbit(num) & (num == 0)).any()
    ):
        return None
    return out.astype(np.int32)


def _compact(keys: np.ndarray) -> np.ndarray:
    """Float keys as int32 when they are all whole numbers within 32 bits (else as they are)."""
    if keys.dtype.kind != "f" or not len(keys):
        return keys
    if keys[0] >= _LO and keys[-1] <= _HI and bool(np.all(keys == np.floor(keys))):
        return keys.astype(np.int32)
    return keys


class SortedIndex:
    """Keys of one numpy dtype with an int32 code each (and a uint64 check value when ``checked``)."""

    def __init__(self, dtype: type[np.generic], checked: bool = False) -> None:
        self._dtype = np.dtype(dtype)
        self._runs: list[_Run] = []
        self._checked = checked
        self._firsts = np.empty(0, dtype=self._dtype)

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def scaled_range(self, dec: int) -> tuple[int, int] | None:
        """When every key times ``10**dec`` is an integer within 32 bits that gives the key back exactly
        (and none is -0): the smallest and largest of those integers; else None (also when empty)."""
        if not self._runs:
            return None
        lo, hi = _HI, _LO
        for run in self._runs:
            scaled = _scaled(run.keys, dec)
            if scaled is None:
                return None
            lo, hi = min(lo, float(scaled[0])), max(hi, float(scaled[-1]))
        return int(lo), int(hi)

    def drain_scaled(self, dec: int) -> Iterator[tuple[np.ndarray, np.ndarray | slice]]:
        """:meth:`drain` with the keys as ``scaled_range`` found them (call it first)."""
        for keys, codes in self.drain():
            scaled = _scaled(keys, dec)
            assert scaled is not None
            yield scaled, codes

    def top(self) -> float | int | None:
        """The largest key (None when empty)."""
        return self._runs[-1].keys[-1].item() if self._runs else None

    def _segments(self, keys: np.ndarray) -> Iterator[tuple[int, int, int]]:
        """(run, start, stop): the slice of ``keys`` (sorted) that falls in each run's range."""
        if not self._runs:
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
        checks = np.zeros(len(keys), dtype=np.uint64) if self._checked else None
        for r, a, b in self._segments(keys):
            run = self._runs[r]
            hit, pos = run.positions(keys[a:b])
            codes[a + hit] = run.code_at(pos)
            if checks is not None and run.checks is not None:
                checks[a + hit] = run.checks.take(pos)
        return codes, checks

    def insert(self, keys: np.ndarray, codes: np.ndarray, checks: np.ndarray | None = None) -> None:
        """Add ``keys`` (sorted, distinct, none present yet) with their codes (and check values)."""
        if not len(keys):
            return
        keys = np.asarray(keys, dtype=self._dtype)
        codes = np.asarray(codes, dtype=np.int32)
        checks = None if checks is None else np.asarray(checks, dtype=np.uint64)
        last = self._runs[-1] if self._runs else None
        if last is None or keys[0] > last.keys[-1] and len(last) >= RUN:
            # the first keys, or keys above all others once the last run is full: a run of their own
            consecutive = bool(np.array_equal(codes, np.arange(codes[0], codes[0] + len(codes))))
            self._runs.append(
                _Run(
                    _compact(keys.copy()),
                    None if consecutive else codes.copy(),
                    int(codes[0]),
                    None if checks is None else checks.copy(),
                )
            )
        else:
            for r, a, b in reversed(list(self._segments(keys))):  # from the end: splits keep indices valid
                self._runs[r].insert(keys[a:b], codes[a:b], None if checks is None else checks[a:b])
        r = 0
        while r < len(self._runs):
            if len(self._runs[r]) > 2 * RUN:
                self._runs[r : r + 1] = list(self._runs[r].split())
                continue
            r += 1
        self._firsts = np.array([run.keys[0] for run in self._runs], dtype=self._dtype)

    def drain(self) -> Iterator[tuple[np.ndarray, np.ndarray | slice]]:
        """Every run's (keys, codes; a slice when consecutive), releasing each as it is handed out (the
        index is empty after)."""
        while self._runs:
            run = self._runs.pop()
            yield run.keys, run.codes if run.codes is not None else slice(run.start, run.start + len(run))
        self._firsts = np.empty(0, dtype=self._dtype)
