"""Worker threads run below the event loop's priority (engine.workers)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from engine import workers
from engine.settings import SettingsError, parse_args


def _nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_worker_threads_get_the_configured_nice_value_and_the_caller_keeps_its_own() -> None:
    mine = _nice_of_this_thread()
    try:
        workers.configure(15)
        with workers.executor(2, "test-worker") as pool:
            seen = set(pool.map(lambda _: _nice_of_this_thread(), range(8)))
        workers.configure(0)
        with workers.executor(1, "test-same") as pool:
            same = pool.submit(_nice_of_this_thread).result()
    finally:
        workers.configure(19)
    assert seen == {max(15, mine)}  # a thread may only lower its priority
    assert same == mine
    assert _nice_of_this_thread() == mine


def test_worker_thread_nice_setting() -> None:
    assert parse_args([]).worker_thread_nice == 19
    assert parse_args(["-S", "WorkerThreadNice=0"]).worker_thread_nice == 0
    with pytest.raises(SettingsError):
        parse_args(["-S", "WorkerThreadNice=20"])
