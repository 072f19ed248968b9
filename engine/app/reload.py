"""Running a reload for an app and reporting its progress the way ``Global.GetProgress`` shows it.

The script runs in a worker thread; :class:`ReloadJob` is what the event loop reads meanwhile (progress
lines, errors, finished or not) and how it asks the runner to stop. A failed or cancelled reload leaves
the previous model in place: the app's data is swapped only when the whole script succeeded.

Stopping is one flag, ``ReloadJob.cancel_event``, which the runner checks at every statement, loop pass
and batch: ``Global.CancelReload``, an AbortRequest of the DoReload, the end of the caller's session
(its last socket gone and its TTL over: the session cancels its requests) and ``-S
ReloadTimeoutSeconds`` (a timer here) all set it. The error says which it was and names the line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.app import guard, store
from engine.app.app import App
from engine.app.guard import AppGuard
from engine.errors import RELOAD_IN_PROGRESS, QixError
from engine.expr import limits
from engine.model.datamodel import DataModel
from engine.script.errors import ReloadCancelled, ScriptError
from engine.script.paths import Connection
from engine.script.progress import Progress
from engine.script.runner import ScriptEnv, run_script
from engine.script.tables import tables_from_model
from engine.sources.web import WebOptions

if TYPE_CHECKING:
    from engine.app.registry import AppRegistry

log = logging.getLogger("qix.reload")


class ReloadJob:
    """One reload: its progress sink, cancel flag and outcome."""

    def __init__(self) -> None:
        self.progress = Progress()
        self.cancel_event = threading.Event()
        self.started = False
        self.finished = False
        self.succeeded = False
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self.errors: list[dict[str, Any]] = []
        self.log: list[str] = []
        #: seconds of ReloadTimeoutSeconds when the timeout cancelled the reload
        self.timed_out: float | None = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self.cancel_event.set()

    def time_out(self, seconds: float) -> None:
        self.timed_out = seconds
        self.cancel_event.set()

    def snapshot(self) -> dict[str, Any]:
        """``qProgressData``: persistent lines since the last call, the running statement, errors."""
        lines, transient = self.progress.drain()
        with self._lock:
            errors = list(self.errors)
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        return progress_data(
            started=self.started, finished=self.finished, completed=self.progress.statements,
            millisecs=int((end - self.started_at) * 1000), lines=lines, transient=transient, errors=errors)

    def fail(self, message: str, line_text: str = "", line: int = 0) -> None:
        with self._lock:
            self.errors.append({
                "qErrorString": message,
                "qLineEnd": line_text,
                "qLine": line_text,
                "qLineNumber": line,
                "qErrorDataCode": "EDC_ERROR",
                "qMessage": {"qMessageCode": 0, "qMessageParameters": [message]},
            })


def cancel_orphaned_reloads(session: Any, ttl: float) -> asyncio.TimerHandle | None:
    """When the last socket of ``session`` closes, its requests still run (the socket waits for them
    before it detaches and the TTL starts). A reload must not outlive its session that way: ``ttl``
    seconds on, if still no socket of the session is open, its running reloads are cancelled. Call on
    the event loop; cancel the returned timer once the socket's requests are done."""
    if not math.isfinite(ttl):
        return None

    def expire() -> None:
        if session.orphaned():
            for job in list(session.reloads.values()):
                if not job.finished:
                    job.cancel()

    return asyncio.get_running_loop().call_later(max(ttl, 0.0), expire)


def progress_data(*, started: bool = False, finished: bool = False, completed: int = 0, millisecs: int = 0,
                  lines: list[str] | None = None, transient: str = "",
                  errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The engine's ``ProgressData``; all defaults = nothing has run (GetProgress of an unknown id)."""
    lines = lines or []
    return {
        "qStarted": started,
        "qFinished": finished,
        "qCompleted": completed,
        "qTotal": 0,
        "qKB": 0,
        "qMillisecs": millisecs,
        "qUserInteractionWanted": False,
        "qPersistentProgress": "\n".join(lines),
        "qTransientProgress": transient,
        "qErrorData": errors or [],
        "qPersistentProgressMessages": [{"qMessageCode": 0, "qMessageParameters": [line]} for line in lines],
        "qTransientProgressMessage": {"qMessageCode": 0, "qMessageParameters": [transient] if transient else []},
    }


def connections_of(app: App) -> dict[str, Connection]:
    return {c["qName"]: Connection(c["qName"], c.get("qConnectionString", ""), c.get("qType", ""),
                                   c.get("qUserName", ""), c.get("qPassword", ""))
            for c in app.connections.values()}


BinaryLoader = Callable[[str], tuple[DataModel, Mapping[str, Any] | None]]


def binary_loader(apps: AppRegistry, app_guard: AppGuard, identity: Any) -> BinaryLoader:
    """What ``BINARY name`` reads: an app of the registry, after the checks OpenDoc makes (guard and
    section access); with section access the user must be ADMIN there, since BINARY takes every row."""
    def load(name: str) -> tuple[DataModel, Mapping[str, Any] | None]:
        facts = apps.facts(name)
        app_guard.check(identity, facts, guard.READ, script=True)
        app = apps.open_apps.get(facts.app_id)
        if app is not None:
            app.ensure_data()
            with app.lock:
                return app.model, app.section_access
        _, path = apps.resolve(facts.app_id)
        doc = store.load(path, with_data=True)
        return doc.model or DataModel.empty(), doc.section_access
    return load


def reload_app(app: App, job: ReloadJob, document_dir: Path, max_rows: int, *, legacy_paths: bool = False,
               folder_roots: tuple[Path, ...] = (), web: WebOptions | None = None, partial: bool = False,
               binary: BinaryLoader | None = None,
               approve: Callable[[dict[str, str]], None] | None = None) -> bool:
    """Run ``app``'s script (blocking: call it from a worker thread) and swap in the result.

    ``partial``: a partial reload; it starts from the app's current tables, runs only ADD/REPLACE
    loads, and keeps the app's section access unless the script loads it again.

    Files: ``lib://`` only unless ``legacy_paths`` (``StandardReload=0``); folder connections inside
    ``folder_roots``; the store's own files (apps, temp files) never. ``approve`` sees the script's
    variables before the result is installed and may refuse it with a QixError (ABAC: creating variables
    needs ``create`` on variable objects); the reload then fails and the old data stays.
    """
    with app.lock:
        if app.reloading:
            raise QixError(RELOAD_IN_PROGRESS, app.app_id)
        app.reloading = True
        script = app.script
        env = ScriptEnv(document_dir=document_dir, connections=connections_of(app), max_rows=max_rows,
                        legacy_paths=legacy_paths, folder_roots=folder_roots,
                        engine_owned=functools.partial(store.is_engine_file, document_dir),
                        web=web or WebOptions(), partial=partial, binary=binary,
                        initial_tables=tables_from_model(app.model) if partial and app.model is not None else None)
        previous_access = app.section_access
    job.started = True
    timeout = limits.current().reload_timeout
    timer = threading.Timer(timeout, job.time_out, (timeout,)) if timeout > 0 else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        result = run_script(script, env, progress=job.progress, cancel=job.cancel_event)
    except ScriptError as err:
        job.fail(err.message, err.statement_text, err.line)
        job.log = [f"Error: {err.message}", "Execution Failed", "Execution finished."]
        log.info("reload failed", extra={"event": "reload_failed", "app": app.app_id, "error": err.message})
        return False
    except ReloadCancelled as err:
        message = "Reload cancelled"
        if job.timed_out is not None:
            message = f"Reload cancelled: it ran longer than {job.timed_out:g} seconds (ReloadTimeoutSeconds)"
        if err.line:
            message += f" at line {err.line}"
        job.fail(message, err.statement_text, err.line)
        job.log = [f"Error: {message}", "Execution Failed", "Execution finished."]
        log.info("reload cancelled", extra={"event": "reload_cancelled", "app": app.app_id, "error": message})
        return False
    finally:
        if timer is not None:
            timer.cancel()
        job.finished = True
        job.ended_at = time.monotonic()
        app.reloading = False
    if approve is not None:
        try:
            approve(result.variables)
        except QixError as err:
            job.fail(err.parameter, "", 0)
            job.log = [f"Error: {err.parameter}", "Execution Failed", "Execution finished."]
            log.info("reload refused", extra={"event": "reload_failed", "app": app.app_id, "error": err.parameter})
            return False
    app.swap_data(result.model, result.section_access, result.variables)
    if partial and result.section_access is None and previous_access is not None:
        with app.lock:
            app.section_access = previous_access
    job.log = list(result.log)
    job.succeeded = True
    log.info("reload finished", extra={"event": "reload_finished", "app": app.app_id,
                                       "tables": len(result.model.tables)})
    return True
