"""The engine process's memory: freed memory goes back to the operating system after big work.

Why: a reload allocates and frees many large temporaries (numpy and Arrow). glibc serves big arrays from
a heap once its mmap threshold has adapted (after the first big free, up to 32 MiB), and a heap shrinks
only from its top: a few long-lived blocks between the temporaries (a batch's codes) keep the freed rest
resident. Arrow's default pool (mimalloc) keeps freed pages for reuse as well. After loading a 300 MB
CSV the process held about three times the model.

Two measures, neither changing how memory is allocated (a fixed low mmap threshold did the same for
memory but made every big temporary a fresh mapping: hypercubes over 10M rows took 2-3x as long):

* :func:`configure` (the entry point calls it once) puts Arrow's buffers on malloc, so one allocator
  holds everything and one call can release it;
* :func:`release` hands free heap pages back (``malloc_trim``); the streaming readers call it after each
  batch's column work, so a reload's peak is its live data, not its live data plus what the heap kept.

Measured on the 6M-row reload (scripts/bench/stream_memory.py): peak resident growth 2.9x the model
with the default allocators, 1.8x (CSV) and 1.7x (Parquet) with both; resident after it 2.9x -> 1.1x.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

import pyarrow as pa


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # a C library without malloc_trim (musl)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release() -> None:
    """Give free heap pages back to the operating system (nothing where the C library cannot)."""
    if _TRIM is not None:
        _TRIM(0)


def configure() -> None:
    """Apply the policy to this process: Arrow allocates with malloc, so :func:`release` covers its
    buffers too. An explicit ``ARROW_DEFAULT_MEMORY_POOL`` keeps the pool it names."""
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
