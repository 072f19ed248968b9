"""Resource limits of one request: the longest text an expression may build, the memory one request may
claim, how long a reload may run.

Why: the engine is shared. A single ``Repeat('x', 5e9)`` or a cross join of two large tables must fail
fast with a clear error *before* the allocation, not hold the GIL for seconds building gigabytes that
every other user waits behind (or end the process). Every place that can make a string or an array grow
multiplicatively predicts the size it is about to build and asks here first; the check itself is a few
integer comparisons.

The limits are process-wide (the engine configures them from its ``-S`` settings at start,
:func:`configure`); :func:`override` replaces them for the current context only (tests, a bench).

* ``max_string_length`` (``-S MaxStringLength``, characters): one text value. 8 Mi characters holds
  any real field value, label or ``Concat`` of a large field (100k values of 80 characters) while the
  worst allowed single build stays at a few milliseconds of CPU and at most 32 MiB as a Python string.
* ``max_request_bytes`` (``-S MaxRequestMemoryMB``): what one request may predict for one
  materialisation (a join frame, a hypercube, an ``Aggr`` table, the pages of one call, a LOAD's rows,
  the texts of a column). 2 GiB by default: ten times a large dashboard's cube, small enough that a
  few concurrent hostile requests cannot exhaust a server.
* ``reload_timeout`` (``-S ReloadTimeoutSeconds``): a reload running longer is cancelled; 0 = off.

Cancellation rides along: :func:`checkpoint` raises :class:`Cancelled` once the cancel flag of the
reload running in this context (:func:`cancellable`) is set, so long Python loops inside one statement
stop promptly too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.errors import ABORTED, QixError

from .objects import not_none

MIB = 1024 * 1024
DEFAULT_MAX_STRING_LENGTH = 8 * MIB
DEFAULT_MAX_REQUEST_MB = 2048

#: LOCERR_GENERIC_MEMORY_LIMIT_REACHED
MEMORY_LIMIT = 19
#: LOCERR_HC_RESULT_TOO_LARGE
RESULT_TOO_LARGE = 6001


class SettingsLike(Protocol):
    """The part of ``engine.settings.Settings`` the limits come from."""

    @property
    def max_string_length(self) -> int: ...
    @property
    def max_request_memory_mb(self) -> int: ...
    @property
    def reload_timeout_seconds(self) -> float: ...


@dataclass(frozen=True)
class Limits:
    """The limits in force; see the module docstring."""

    max_string_length: int = DEFAULT_MAX_STRING_LENGTH
    max_request_bytes: int = DEFAULT_MAX_REQUEST_MB * MIB
    reload_timeout: float = 0.0

    @classmethod
    def from_settings(cls, settings: SettingsLike) -> Limits:
        return cls(settings.max_string_length, settings.max_request_memory_mb * MIB,
                   float(settings.reload_timeout_seconds))


_process = Limits()
_override: ContextVar[Limits | None] = ContextVar("qix_limits", default=None)


def configure(limits: Limits) -> None:
    """Set the process-wide limits (the engine does this once at start)."""
    global _process
    _process = limits


def current() -> Limits:
    """The limits in force for this context."""
    return _override.get() or _process


@contextlib.contextmanager
def override(limits: Limits) -> Iterator[Limits]:
    """Use ``limits`` in this context (and the worker threads it starts) until the block ends."""
    token = _override.set(limits)
    try:
        yield limits
    finally:
        _override.reset(token)


class LimitExceeded(QixError):
    """A request would go over a resource limit; answered as the engine's memory-limit error."""

    def __init__(self, what: str, message: str, code: int = MEMORY_LIMIT) -> None:
        super().__init__(code, what, message)


def check_length(length: int, what: str) -> None:
    """Raise when a text of ``length`` characters is over ``MaxStringLength``."""
    limit = current().max_string_length
    if length > limit:
        raise LimitExceeded(what, f"{what} would build a text of {int(length):,} characters, over the limit "
                                  f"of {limit:,} (MaxStringLength)")


def check_bytes(nbytes: int | float, what: str, code: int = MEMORY_LIMIT) -> None:
    """Raise when a predicted allocation of ``nbytes`` is over ``MaxRequestMemoryMB``."""
    limit = current().max_request_bytes
    if nbytes > limit:
        raise LimitExceeded(what, f"{what} would need about {int(nbytes) // MIB:,} MB, over the request limit "
                                  f"of {limit // MIB:,} MB (MaxRequestMemoryMB)", code)


def check_rows(rows: int | float, row_bytes: int, what: str, code: int = MEMORY_LIMIT) -> None:
    """``check_bytes`` for ``rows`` rows of ``row_bytes`` each (integer overflow cannot hide a huge count)."""
    if rows * float(row_bytes) > current().max_request_bytes:
        limit = current().max_request_bytes
        raise LimitExceeded(what, f"{what} would make {int(rows):,} rows (about {rows * row_bytes / MIB:,.0f} "
                                  f"MB), over the request limit of {limit // MIB:,} MB (MaxRequestMemoryMB)",
                            code)


def text_lengths(texts: np.ndarray) -> np.ndarray:
    """Length of each text of an object array (None counts 0); one C-level pass, no copy of the texts."""
    out = np.zeros(len(texts), dtype=np.int64)
    idx = np.flatnonzero(not_none(texts))
    if len(idx):
        out[idx] = np.fromiter(map(len, texts.take(idx)), dtype=np.int64, count=len(idx))
    return out



# --------------------------------------------------------------------------------------------------
# Cancellation: long loops in the expression and script code poll the running reload's cancel flag.

_cancel: ContextVar[threading.Event | None] = ContextVar("qix_cancel", default=None)


class Cancelled(QixError):
    """The request running in this context was cancelled (CancelReload, AbortRequest, a timeout)."""

    def __init__(self) -> None:
        super().__init__(ABORTED, "", "Request cancelled")


@contextlib.contextmanager
def cancellable(event: threading.Event | None) -> Iterator[None]:
    """Let :func:`checkpoint` calls made in this context (this thread) see ``event``."""
    token = _cancel.set(event)
    try:
        yield
    finally:
        _cancel.reset(token)


def checkpoint() -> None:
    """Raise :class:`Cancelled` when this context's cancel flag is set; costs a context lookup."""
    event = _cancel.get()
    if event is not None and event.is_set():
        raise Cancelled()
