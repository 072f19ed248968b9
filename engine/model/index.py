"""Per-model derived lookups, built lazily once and shared by every inference and chart on that model.

A model is immutable after the load, so anything derived from its code columns alone (which symbols a
table holds, key-symbol → row maps, sort ranks of a field's symbols) is computed once and cached here,
keyed by the model's identity (a weak reference: a swapped-out model takes its cache with it).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np

from engine.model.datamodel import DataModel

_T = TypeVar("_T")


@dataclass(frozen=True)
class KeyLookup:
    """How a table's rows are found from a key symbol.

    ``unique``: every symbol occurs in at most one row; then ``row_of[sym]`` is that row (``-1`` if none),
    with one trailing ``-1`` slot so a NULL code (``-1``) gathers ``-1``.
    Otherwise ``order`` lists the non-NULL rows sorted by symbol and ``starts[sym]:starts[sym+1]`` is the
    slice of ``order`` holding symbol ``sym``'s rows.
    """

    unique: bool
    row_of: np.ndarray | None
    order: np.ndarray | None
    starts: np.ndarray | None


#: bound of a model's memo of propagation messages (see ``ModelIndex.messages``)
MESSAGE_MEMO_BYTES = 32 << 20
#: bound of a model's memo of large tables' constrained rows (see ``ModelIndex.rows``)
ROWS_MEMO_BYTES = 64 << 20


class ArrayLRU:
    """A thread-safe LRU of read-only numpy arrays bounded by their bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: Hashable, value: np.ndarray) -> None:
        value.flags.writeable = False
        with self._lock:
            old = self._items.pop(key, None)
            self.bytes += value.nbytes - (0 if old is None else old.nbytes)
            self._items[key] = value
            while self.bytes > self.max_bytes and self._items:
                self.bytes -= self._items.popitem(last=False)[1].nbytes


class ModelIndex:
    """Lazily computed, thread-safe caches over one immutable :class:`DataModel`."""

    def __init__(self, model: DataModel) -> None:
        self._model = weakref.ref(model)
        self._lock = threading.Lock()
        self._present: dict[tuple[str, str], np.ndarray] = {}
        self._lookups: dict[tuple[str, str], KeyLookup] = {}
        self._field_cache: dict[tuple[str, str], object] = {}
        self._building: dict[tuple[str, str], threading.Lock] = {}
        #: propagation messages of large tables by what determines them (see ``selection._Propagation``):
        #: a user's next click usually leaves most of them as they were
        self.messages = ArrayLRU(MESSAGE_MEMO_BYTES)
        #: rows of a large table passing a set of constraints, by what determines them: the next click's
        #: rows are usually those of one constraint fewer, filtered once more
        self.rows = ArrayLRU(ROWS_MEMO_BYTES)
        self.warming = False
        self.keys_of: dict[str, tuple[str, ...]] = {
            t.name: tuple(f for f in t.columns if f in model.key_fields) for t in model.tables.values()
        }

    @property
    def model(self) -> DataModel:
        m = self._model()
        if m is None:  # pragma: no cover - the index is only reachable through a live model
            raise RuntimeError("model index outlived its model")
        return m

    def nsym(self, field_name: str) -> int:
        return len(self.model.fields[field_name].symbols)

    def present(self, table: str, field_name: str) -> np.ndarray:
        """Bool mask of length ``nsym + 1``: symbols occurring in the table's column; the last slot says
        whether the column holds NULLs. Callers must not modify it."""
        key = (table, field_name)
        hit = self._present.get(key)
        if hit is None:
            codes = self.model.tables[table].columns[field_name]
            hit = np.zeros(self.nsym(field_name) + 1, dtype=bool)
            hit[codes] = True  # -1 lands in the trailing NULL slot
            hit.flags.writeable = False
            with self._lock:
                self._present[key] = hit
        return hit

    def lookup(self, table: str, field_name: str) -> KeyLookup:
        """Key-symbol → rows of ``table`` (see :class:`KeyLookup`), built once: a second thread asking
        while it is built waits for it (a fact table's lookup takes seconds; two builds waste a core)."""
        key = (table, field_name)
        hit = self._lookups.get(key)
        if hit is not None:
            return hit
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            hit = self._lookups.get(key)
            if hit is None:
                hit = self._build_lookup(table, field_name)
                with self._lock:
                    self._lookups[key] = hit
        return hit

    def _build_lookup(self, table: str, field_name: str) -> KeyLookup:
        codes = self.model.tables[table].columns[field_name]
        n = self.nsym(field_name)
        valid = codes >= 0
        counts = np.bincount(codes[valid] if not valid.all() else codes, minlength=n)
        if counts.size == 0 or counts.max(initial=0) <= 1:
            row_of = np.full(n + 1, -1, dtype=np.int64)
            rows = np.flatnonzero(valid)
            row_of[codes.take(rows)] = rows
            return KeyLookup(True, row_of, None, None)
        rows = np.flatnonzero(valid)
        if len(codes) < 2**31:  # half the bytes of intp: a fact table's lookup is as long as the table
            rows = rows.astype(np.int32)
        valid_codes = codes.take(rows)
        if n <= 1 << 16:  # numpy's stable sort is a radix sort on 16-bit keys: several times faster
            valid_codes = valid_codes.astype(np.uint16)
        order = rows.take(np.argsort(valid_codes, kind="stable"))
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return KeyLookup(False, None, order, starts)

    @functools.cached_property
    def acyclic(self) -> bool:
        """Whether the association graph (tables and key fields, an edge where a table holds a key) is a
        forest: then a propagation's messages into a table carry no constraint of that table's own."""
        parent: dict[str, str] = {}

        def root(x: str) -> str:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        for table, keys in self.keys_of.items():
            for k in keys:
                a, b = root("t:" + table), root("k:" + k)
                if a == b:
                    return False
                parent[a] = b
        return True

    def field_cached(self, name: str, field_name: str, build: Callable[[], _T]) -> _T:
        """Cache an arbitrary per-field derived value (sort ranks, glyph counts) under ``name``; one
        ``name`` always caches one kind of value (its ``build``'s)."""
        key = (name, field_name)
        hit = self._field_cache.get(key)
        if hit is None:
            value = build()
            with self._lock:
                self._field_cache[key] = value
            return value
        return cast(_T, hit)  # stored by a build of the same name, so of the same type


_INDEXES: weakref.WeakKeyDictionary[DataModel, ModelIndex] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()


def model_index(model: DataModel) -> ModelIndex:
    """The shared :class:`ModelIndex` of ``model`` (created on first use)."""
    idx = _INDEXES.get(model)
    if idx is None:
        with _INDEX_LOCK:
            idx = _INDEXES.get(model)
            if idx is None:
                idx = ModelIndex(model)
                _INDEXES[model] = idx
    return idx
