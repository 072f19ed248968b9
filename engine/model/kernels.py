"""Large-array primitives split into cache-sized chunks and run on two threads.

Why: numpy converts an int8/16/32 index array to ``intp`` before a ``take`` (a full-size copy: on a
10M-row code column that copy costs more than the gather itself), and runs every call on one core.
Gathering chunk by chunk keeps the converted indexes in cache, and numpy releases the GIL inside
``take`` so two chunks really run at once. Below ``PARALLEL_MIN``
elements the plain numpy call is used (the thread hand-off would cost more than it saves).

Tasks submitted here never wait on other tasks, so callers on any thread (including the asyncio
``to_thread`` workers) may use them without risk of a pool deadlock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from engine import workers

#: arrays shorter than this are handled by one plain numpy call
PARALLEL_MIN = 1 << 20
_T = TypeVar("_T")
#: elements per chunk (indexes converted to intp stay in cache)
CHUNK = 1 << 17
WORKERS = max(1, min(2, os.cpu_count() or 1))


def _executor() -> ThreadPoolExecutor:
    return workers.shared("qix-kernel", WORKERS)


def split(n: int, parts: int = WORKERS) -> list[tuple[int, int]]:
    """``parts`` contiguous ``[lo, hi)`` ranges covering ``range(n)``, chunk-aligned."""
    if parts <= 1 or n < PARALLEL_MIN:
        return [(0, n)]
    step = -(-n // parts)
    step = -(-step // CHUNK) * CHUNK
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def run_parts(fn: Callable[[int, int], _T], n: int) -> list[_T]:
    """``fn(lo, hi)`` over the ranges of :func:`split`, the first on this thread (and any other that no
    kernel thread has picked up by the time the first is done); results in order."""
    parts = split(n)
    if len(parts) == 1:
        return [fn(0, n)]
    futures: list[Future[_T]] = [_executor().submit(fn, lo, hi) for lo, hi in parts[1:]]
    out = [fn(*parts[0])]
    for (lo, hi), f in zip(parts[1:], futures, strict=True):
        # a part no kernel thread has started yet (they are busy with other requests' parts) is run
        # here rather than waited for: concurrent callers never queue behind each other
        out.append(fn(lo, hi) if f.cancel() else f.result())
    return out


def take(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``table.take(idx)`` (negative indexes count from the end, as with ``take``)."""
    n = len(idx)
    if n < PARALLEL_MIN:
        return table.take(idx)
    out = np.empty(n, dtype=table.dtype)

    def work(lo: int, hi: int) -> None:
        for s in range(lo, hi, CHUNK):
            e = min(s + CHUNK, hi)
            np.take(table, idx[s:e], out=out[s:e], mode="wrap")  # wrap: -1 is the last slot, unbuffered

    if len(table) == 0:
        return table.take(idx)  # raises on any index, as numpy does
    run_parts(work, n)
    return out


def scatter_true(size: int, codes: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Bool mask of ``size`` slots set at ``codes`` (``codes[rows]`` when ``rows`` is given;
    ``-1`` sets the last slot)."""
    n = len(codes) if rows is None else len(rows)
    parts = split(n)
    if len(parts) == 1:
        out = np.zeros(size, dtype=bool)
        out[codes if rows is None else codes.take(rows)] = True
        return out

    def work(lo: int, hi: int) -> np.ndarray:
        part = np.zeros(size, dtype=bool)
        buf = np.empty(CHUNK, dtype=codes.dtype)
        for s in range(lo, hi, CHUNK):
            e = min(s + CHUNK, hi)
            if rows is None:
                part[codes[s:e]] = True
            else:
                c = buf[: e - s]
                np.take(codes, rows[s:e], out=c, mode="wrap")
                part[c] = True
        return part

    masks = [np.asarray(m, dtype=bool) for m in run_parts(work, n)]
    merged = masks[0]
    for m in masks[1:]:
        np.logical_or(merged, m, out=merged)
    return merged
