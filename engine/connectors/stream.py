"""Reading a result in a background thread, so fetching and encoding overlap.

A database driver (or a gRPC stream) spends its time waiting on the network and decoding in C++, with the
GIL released; encoding a batch into symbols is mostly Arrow and numpy work, also without the GIL. Running
the two in different threads with a small bounded queue between them keeps both busy on a multi-core
machine, and the bound keeps memory to a few batches. The consumer also watches the reload's cancel flag
and, for connectors, an idle timeout, and can stop a producer blocked in the network through ``abort``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL = 0.1


class Cancelled(Exception):
    """The reload's cancel flag was set while waiting for data."""


class IdleTimeout(Exception):
    """The producer delivered nothing for the allowed time."""


class _End:
    pass


_END = _End()


class Pump(Generic[T]):
    """Items of ``produce`` read in a daemon thread, handed out by :meth:`get` in order.

    ``abort`` is called (from the consumer's thread) to unblock a producer stuck in I/O when the consumer
    stops early: a cancelled reload, a timeout, an error while encoding, or simply :meth:`close`.
    """

    def __init__(self, produce: Iterator[T], abort: Callable[[], None], depth: int = 4,
                 name: str = "qix-source") -> None:
        self._produce = produce
        self._abort = abort
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._produce:
                if not self._put(item):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(err)
            return
        self._put(_END)

    def get(self, cancel: threading.Event | None = None, idle_timeout: float | None = None) -> T | None:
        """The next item; None at the end. Raises the producer's exception, :class:`Cancelled` or
        :class:`IdleTimeout`."""
        if self._done:
            return None
        deadline = None if idle_timeout is None else time.monotonic() + idle_timeout
        while True:
            if cancel is not None and cancel.is_set():
                self.close()
                raise Cancelled()
            wait = _POLL if deadline is None else min(_POLL, max(0.0, deadline - time.monotonic()))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    self.close()
                    raise IdleTimeout() from None
                continue
            if item is _END:
                self._done = True
                return None
            if isinstance(item, BaseException):
                self._done = True
                raise item
            return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer (aborting its I/O) and wait briefly for its thread."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._done = True
        if self._thread.is_alive():
            try:
                self._abort()
            except Exception:  # noqa: BLE001 - best effort: the thread is a daemon either way
                pass
            self._thread.join(5)
