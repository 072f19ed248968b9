"""Worker threads for calculations, loads and encodes: run below the event loop's scheduling priority.

Why: a 10M-row cube keeps both cores busy with its worker and kernel threads. The event loop thread, which
answers every other user's small requests (a cached ``GetLayout`` in a fraction of a millisecond), then
waits for a time slice behind them: its p99 rose from 1 ms to 6-7 ms. Lowered priority (a Linux
thread's own nice value, ``-S WorkerThreadNice``) lets the scheduler run the loop first; the workers still
get every cycle it does not use. Where a thread's priority cannot be changed the thread runs as is.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

#: nice value of worker threads (0 = as the event loop); set from the settings at start
_nice = 19


def configure(nice: int) -> None:
    """The nice value of worker threads started from now on."""
    global _nice
    _nice = nice


def lower_priority() -> None:
    """Give the calling thread the configured nice value (an executor's ``initializer``)."""
    if _nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _nice)
    except OSError:  # not permitted (or not per thread) here: run at the process's priority
        pass


def executor(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads run at the configured lower priority."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=lower_priority)


_shared: dict[str, ThreadPoolExecutor] = {}
_shared_lock = threading.Lock()


def shared(name: str, workers: int) -> ThreadPoolExecutor:
    """The process's one pool called ``name`` (created with ``workers`` threads on first use)."""
    pool = _shared.get(name)
    if pool is None:
        with _shared_lock:
            pool = _shared.get(name)
            if pool is None:
                pool = _shared[name] = executor(workers, name)
    return pool


def default_workers() -> int:
    """As many threads as asyncio's default executor would have."""
    return min(32, (os.cpu_count() or 1) + 4)
