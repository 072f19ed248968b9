"""One calculation cache for every session of every app: results keyed by what determines them.

A key names the model the session sees (the app's model, or the reduced model of its section-access
grant: one object per distinct grant, see ``engine.app.access``), every selection state, the variables
and the definition, never the session. Entries hold the model they were computed on and are only served
to a lookup on that same object, so a result cannot cross a reload or a reduction even if an ``id`` is
reused. Bounded by bytes (``-S CalcCacheMemory=<MiB>``) and evicted least recently used first.

Concurrent lookups of a key being computed wait for the first computation (one computation per key,
which is what makes fifty users in one state cost one dashboard). Requests run through
:func:`compute_in_thread` do that waiting on the event loop, not in a worker thread: a dashboard's eight
layouts waiting for one inference would otherwise hold every worker, and no second user's work could
start on the other core.

Inside :func:`cached_only` a lookup that would compute raises :class:`NotCached` instead (and one that would
wait, :class:`InFlight`): the event loop answers a request whose results are all cached without a worker
thread, and hands the rest to one (after the result being computed, if that is what it lacks).
"""

from __future__ import annotations

import asyncio
import heapq
import re
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import orjson

from engine import workers
from engine.model.datamodel import DataModel
from engine.model.index import ModelIndex
from engine.model.selection import Inference

T = TypeVar("T")

#: default bound of the cache (MiB)
DEFAULT_MEMORY_MIB = 512

#: expressions whose value moves with the clock or a random draw are never cached
_VOLATILE = re.compile(rb"\b(now|today|rand|random)\s*\(", re.IGNORECASE)


_CACHED_ONLY: ContextVar[bool] = ContextVar("qix_cached_only", default=False)
_NO_WAIT: ContextVar[bool] = ContextVar("qix_no_wait", default=False)


class NotCached(BaseException):
    """Raised inside :func:`cached_only` where a result would have to be computed. A BaseException so the
    layout's "show any error as text" handlers (``except Exception``) cannot turn it into a result."""


@contextmanager
def cached_only() -> Iterator[None]:
    """Within: results come from the cache or :class:`NotCached` is raised (nothing is computed)."""
    token = _CACHED_ONLY.set(True)
    try:
        yield
    finally:
        _CACHED_ONLY.reset(token)


class InFlight(BaseException):
    """Raised inside :func:`compute_in_thread`'s worker or :func:`cached_only` where a lookup finds its key
    being computed by another thread: the request waits for ``done`` on the event loop, holding no worker.
    A BaseException for the same reason as :class:`NotCached`."""

    def __init__(self, done: Future[None]) -> None:
        super().__init__()
        self.done = done


def _attempt(fn: Callable[[], T]) -> tuple[T, None] | tuple[None, Future[None]]:
    token = _NO_WAIT.set(True)
    try:
        return fn(), None
    except InFlight as busy:
        return None, busy.done
    finally:
        _NO_WAIT.reset(token)


class _Gate:
    """At most ``slots`` calculations in worker threads at once, handed out oldest request first.

    Why: a request woken after waiting for another thread's result must not queue behind every request
    that arrived meanwhile, or the last layout of a dashboard waits a whole round of other users' work.
    Runs on the event loop only (no locks)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.busy = 0
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    async def acquire(self, since: float) -> None:
        if self.busy < self.slots and not self._waiting:
            self.busy += 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiting, (since, self._seq, granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # the slot was handed over just as the request was cancelled
            raise

    def release(self) -> None:
        while self._waiting:
            granted = heapq.heappop(self._waiting)[2]
            if not granted.done():
                granted.set_result(None)  # the slot passes straight to the oldest waiter
                return
        self.busy -= 1


#: one gate per event loop (an engine per process, but tests run several engines on loops of their own);
#: as many slots as the default executor has threads, so the gate, not the executor, orders the work
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = weakref.WeakKeyDictionary()


def _gate() -> _Gate:
    loop = asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None:
        gate = _GATES[loop] = _Gate(workers.default_workers())
    return gate


async def compute_in_thread(fn: Callable[[], T], after: Future[None] | None = None) -> T:
    """``fn()`` in a worker thread (once ``after`` is done, when given); where it would wait for another
    thread's computation of a key, the thread is freed, the wait happens here, and ``fn`` runs again (then
    finding that result cached) ahead of requests that arrived after it."""
    since = time.monotonic()
    if after is not None:
        await asyncio.wrap_future(after)
    gate = _gate()
    while True:
        await gate.acquire(since)
        try:
            value, busy = await asyncio.to_thread(_attempt, fn)
        finally:
            gate.release()
        if busy is None:
            return cast(T, value)
        await asyncio.wrap_future(busy)


R = TypeVar("R")


def computed_then(compute: Callable[[], R], then: Callable[[R], T]) -> T | Awaitable[T]:
    """``then(compute())`` with ``then`` (which may change the session's state) on the event loop:
    at once when everything ``compute`` needs is cached (no thread hop), else once a worker computed it
    (after the result another request is computing, when that is what it lacks)."""
    try:
        with cached_only():
            value = compute()
    except NotCached:
        return _then_later(compute, then, None)
    except InFlight as busy:
        return _then_later(compute, then, busy.done)
    return then(value)


def in_thread_then(compute: Callable[[], R], then: Callable[[R], T]) -> Awaitable[T]:
    """``then(compute())``, ``compute`` always in a worker (work that no cache bounds, such as a search
    over a field's values), ``then`` on the event loop."""
    return _then_later(compute, then, None)


async def _then_later(compute: Callable[[], R], then: Callable[[R], T], after: Future[None] | None) -> T:
    return then(await compute_in_thread(compute, after))


def require_compute() -> None:
    """Called before computing anything outside the cache: raises :class:`NotCached` inside
    :func:`cached_only`."""
    if _CACHED_ONLY.get():
        raise NotCached


def volatile(text: str | bytes) -> bool:
    """True when ``text`` calls a function whose result is not determined by data and state."""
    raw = text.encode() if isinstance(text, str) else text
    return _VOLATILE.search(raw) is not None


@dataclass
class CacheStats:
    """Counters of ``/healthcheck``'s ``cache`` block and the Prometheus cache families."""

    hits: int = 0
    lookups: int = 0
    added: int = 0
    replaced: int = 0
    bytes_added: int = 0


@dataclass
class _Entry:
    owner: DataModel
    value: object
    size: int


class CalcCache:
    """A byte-bounded LRU of calculation results shared by all sessions (thread-safe)."""

    def __init__(self, max_bytes: int = DEFAULT_MEMORY_MIB * 2**20) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.stats = CacheStats()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, Future[None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def configure(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def get(self, key: Hashable, owner: DataModel) -> object | None:
        """The value stored for ``key`` on ``owner`` (None when absent); counts a lookup."""
        with self._lock:
            return self._get(key, owner)

    def _get(self, key: Hashable, owner: DataModel) -> object | None:
        self.stats.lookups += 1
        entry = self._entries.get(key)
        if entry is None or entry.owner is not owner:
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry.value

    def put(self, key: Hashable, owner: DataModel, value: object, size: int | None = None) -> None:
        size = estimate_size(value) if size is None else size
        with self._lock:
            if size > self.max_bytes:
                return
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.size
                self.stats.replaced += 1
            self._entries[key] = _Entry(owner, value, size)
            self.bytes += size
            self.stats.added += 1
            self.stats.bytes_added += size
            self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _key, entry = self._entries.popitem(last=False)
            self.bytes -= entry.size

    def get_or_compute(self, key: Hashable, owner: DataModel, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``compute()`` stored under it. A lookup that finds the key being
        computed by another thread waits for that result (or raises :class:`InFlight` inside
        :func:`compute_in_thread`); an error is raised to its caller only (nothing is stored, and waiters
        compute for themselves)."""
        while True:
            with self._lock:
                value = self._get(key, owner)
                if value is not None:
                    return cast(T, value)  # keys name what they hold: a key's value is what its compute makes
                pending = self._computing.get(key)
                if _CACHED_ONLY.get():
                    self.stats.lookups -= 1  # the computing call looks again and counts it
                    raise NotCached if pending is None else InFlight(pending)
                if pending is None:
                    done = self._computing[key] = Future()
                    break
                if _NO_WAIT.get():
                    self.stats.lookups -= 1  # the retry looks again and counts it
                    raise InFlight(pending)
            pending.result()
            with self._lock:  # the waiter's second look is the same lookup, not another one
                self.stats.lookups -= 1
        try:
            value = compute()
            self.put(key, owner, value)
            return value
        finally:
            with self._lock:
                self._computing.pop(key, None)
            done.set_result(None)

    def health(self) -> dict[str, int]:
        s = self.stats
        return {
            "hits": s.hits,
            "lookups": s.lookups,
            "added": s.added,
            "replaced": s.replaced,
            "bytes_added": s.bytes_added,
        }


#: the process's cache (one engine per process; ``configure`` sets its bound from the settings)
CALC_CACHE = CalcCache()

#: shared objects a cached value points to without owning them (an inference reaches its model's index,
#: whose key -> rows lookups are as long as the fact table)
_SHARED = (DataModel, Inference, ModelIndex)


def estimate_size(value: Any, _depth: int = 0, _seen: set[int] | None = None) -> int:
    """Bytes a value holds: numpy buffers, containers and object attributes, once each; models and
    inferences are shared and not counted (an inference's lazily filled masks are counted where an
    inference is the cached value itself)."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return sys.getsizeof(value)
    if _depth > 8:
        return 64
    if _depth == 0 and isinstance(value, dict):
        try:  # a layout is JSON-shaped: measured in C, about twice its JSON text
            return 2 * len(orjson.dumps(value))
        except TypeError:
            pass
    if isinstance(value, list | tuple) and len(value) > 32:  # long lists: measured by a sample
        sample = sum(estimate_size(v, _depth + 1, seen) for v in value[:16])
        return sys.getsizeof(value) + sample * len(value) // 16
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(
            estimate_size(k, _depth + 1, seen) + estimate_size(v, _depth + 1, seen) for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return sys.getsizeof(value) + sum(estimate_size(v, _depth + 1, seen) for v in value)
    if isinstance(value, _SHARED) and _depth > 0:
        return 0
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        return sys.getsizeof(value) + sum(
            estimate_size(v, _depth + 1, seen) for v in attrs.values() if not callable(v)
        )
    return sys.getsizeof(value)
