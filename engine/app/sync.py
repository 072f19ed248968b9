"""Document synchronisation between engines that share ``DocumentDirectory`` (``-S EnableFilePolling=1``).

Engines share nothing but the folder, as Qlik's engines do: no protocol between them, no lock server.
Every ``FilePollingInterval`` seconds the poller looks at the file of each app this engine has open:

1. one ``stat`` per app (:func:`store.stamp`). A save renames a complete new file over the old one, so a
   save always shows as a new file identity; an unchanged stamp costs nothing more;
2. a changed stamp costs a read of the file's meta rows (:func:`store.read_versions`). A generation that
   the app already holds, or that this engine wrote itself (``App.written``), is not news;
3. news costs loading the document, and its data only when the data token moved (a save after a reload).
   The poller only ever opens the final file name, which is always a whole file: half-written saves live
   under temp names until their rename.

The new version is applied on the event loop, between two requests, so a request sees the old version or
the new one, never a mix (one already computing in a worker thread finishes on the model it started
with). Persisted objects keep their identity when they still exist (so do the handles on them); changed
ones are touched (their handles go stale), deleted ones are handed to the listener to close. The
listener (the session layer) then sends the change/close notifications, as it does for a change made by
another session of this engine.

What survives a sync: each session's selections (re-selected by value in the new data, dropped for
values or fields that are gone), session objects and variables, soft patches, alternate states. What does
not: unsaved changes to the app itself (script, properties, persisted objects) made on this engine — the
other engine's save is the later one, and of two saves the later wins, as on one engine. A deleted file
closes the app: every handle of every session on it is closed and the app is unloaded.

Section access and app-level access checks read ``App.section_access``, ``App.model`` and ``App.facts()``
on every call, so the new version's reductions and rules apply from the next request on; reductions for
the sessions on the app are computed in the worker thread before the swap (``ACCESS_CACHE``), not on the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.app import store
from engine.app.access import ACCESS_CACHE
from engine.app.app import App, DocSession
from engine.app.objects import Entity, ObjectStore, scan_dependencies
from engine.app.registry import AppRegistry
from engine.app.selections import symbols_for_values
from engine.errors import QixError
from engine.model.datamodel import DataModel
from engine.model.selection import SelectionState

log = logging.getLogger("qix.sync")


class SyncListener(Protocol):
    """What the poller needs from the sessions (``engine.session.SessionManager``)."""

    def docs_of(self, app: App) -> list[DocSession]:
        """Every session's view of ``app``."""

    def app_changed(self, app: App, removed: list[Entity]) -> None:
        """``app`` now holds another engine's version: close the handles of ``removed``, report stale ones."""

    def app_deleted(self, app: App) -> None:
        """``app``'s file is gone: close every handle on it."""


@dataclass
class _Look:
    """What one poll found for one app (read in a worker thread)."""

    app: App
    stamp: store.Stamp | None  # None: the file is gone
    versions: store.Versions | None = None  # None: not read (stamp unchanged) or unreadable


@dataclass
class Outcome:
    """What one poll did, for logs and tests."""

    brought_in: list[str]
    deleted: list[str]


class DocumentSync:
    """Polls the files of the open apps and brings in versions saved by other engines."""

    def __init__(self, registry: AppRegistry, listener: SyncListener, interval: float) -> None:
        self.registry = registry
        self.listener = listener
        self.interval = interval
        #: app id → (the App object, the file stamp it was last checked at)
        self._stamps: dict[str, tuple[App, store.Stamp]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    # -- running ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Poll every ``interval`` seconds on the running loop (a timer between polls, a task during one)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._schedule()

    async def stop(self) -> None:
        loop, self._loop = self._loop, None
        if self._timer is not None:
            self._timer.cancel()
        task, self._task = self._task, None
        if loop is not None and task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _schedule(self) -> None:
        if self._loop is not None:
            self._timer = self._loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        if self._loop is not None:
            self._task = self._loop.create_task(self._poll_then_schedule(), name="document-sync")

    async def _poll_then_schedule(self) -> None:
        try:
            await self.poll()
        except Exception:  # one bad poll must not end synchronisation
            log.exception("document sync poll failed")
        finally:
            self._task = None
            self._schedule()

    # -- one poll ----------------------------------------------------------------------------------------
    async def poll(self) -> Outcome:
        """Look at every open app's file once; bring in other engines' versions."""
        apps = [
            app
            for app in list(self.registry.open_apps.values())
            if app.file_path is not None and not app.is_session_app
        ]
        for app_id in [
            a for a, (app, _) in self._stamps.items() if self.registry.open_apps.get(a) is not app
        ]:
            del self._stamps[app_id]  # unloaded (or reloaded as a new object) since
        outcome = Outcome([], [])
        if not apps:
            return outcome
        for look in await asyncio.to_thread(self._look, apps):
            app = look.app
            if self.registry.open_apps.get(app.app_id) is not app:
                continue  # unloaded while we looked
            if look.stamp is None:
                self._deleted(app)
                outcome.deleted.append(app.app_id)
                continue
            versions = look.versions
            if versions is None:
                continue
            if versions.generation and _holds(app, versions.generation):
                app.generation = versions.generation
                self._stamps[app.app_id] = (app, look.stamp)
                continue
            if await self._bring_in(app, versions):
                self._stamps[app.app_id] = (app, look.stamp)
                outcome.brought_in.append(app.app_id)
        return outcome

    def _look(self, apps: Iterable[App]) -> list[_Look]:
        """Worker thread: a stat per app, the meta rows of the files whose stamp moved."""
        out = []
        for app in apps:
            assert app.file_path is not None
            try:
                stamp = _stamp_unless_gone(app.file_path)
            except FileNotFoundError:
                out.append(_Look(app, None))
                continue
            except OSError as exc:
                log.warning("cannot stat %s: %s", app.file_path, exc)
                continue
            known = self._stamps.get(app.app_id)
            if known is not None and known[0] is app and known[1] == stamp:
                continue
            try:
                out.append(_Look(app, stamp, store.read_versions(app.file_path)))
            except FileNotFoundError:
                out.append(_Look(app, None))
            except (QixError, OSError) as exc:  # replaced by something we cannot read: keep what we have
                log.warning("cannot read %s: %s", app.file_path, exc)
                self._stamps[app.app_id] = (app, stamp)  # once per file version, not every poll
        return out

    def _deleted(self, app: App) -> None:
        self._stamps.pop(app.app_id, None)
        self.registry.forget(app)
        self.listener.app_deleted(app)
        log.info("app deleted by another engine", extra={"event": "app_sync_deleted", "app": app.app_id})

    async def _bring_in(self, app: App, versions: store.Versions) -> bool:
        """Load the new version and apply it; False when it has to wait for the next poll."""
        if app.reloading:
            return False  # this engine's reload will swap data in a moment: look again next time
        path = app.file_path
        assert path is not None
        try:
            doc = await asyncio.to_thread(self._load, app, path, versions)
        except FileNotFoundError:
            return False  # deleted meanwhile: the next poll sees it gone
        except (QixError, OSError) as exc:
            log.warning("cannot load %s: %s", path, exc)
            return False
        if doc.generation and _holds(app, doc.generation):
            return True  # replaced again, by a save of ours
        if self.registry.open_apps.get(app.app_id) is not app or app.reloading:
            return False
        docs = self.listener.docs_of(app)
        removed = apply(app, doc, docs)
        self.listener.app_changed(app, removed)
        log.info(
            "app changed by another engine",
            extra={
                "event": "app_synced",
                "app": app.app_id,
                "data": doc.model is not None,
                "sessions": len(docs),
                "closed": len(removed),
            },
        )
        return True

    def _load(self, app: App, path: Path, versions: store.Versions) -> store.AppDocument:
        """Worker thread: the document, with its data only when the data is new to this app; the
        section-access reductions of the sessions on it computed in advance."""
        doc = store.load(path, with_data=app.data_loaded and _data_moved(app, versions.data_token))
        if doc.model is None and app.data_loaded and _data_moved(app, doc.data_token):
            doc = store.load(path, with_data=True)  # replaced by a reload's save since we looked
        if doc.model is not None and doc.section_access is not None:
            for d in self.listener.docs_of(app):
                identity = d.identity
                if getattr(identity, "authenticated", False):
                    ACCESS_CACHE.user_access(doc.section_access, doc.model, identity.user, identity.groups)
        return doc


#: a file found missing is looked for again after this long before its app is closed (a shared filesystem
#: that answers "no such file" for a moment must not close every session on the app)
MISSING_RECHECK = 0.2


def _stamp_unless_gone(path: Path) -> store.Stamp:
    try:
        return store.stamp(path)
    except FileNotFoundError:
        time.sleep(MISSING_RECHECK)  # a worker thread: nobody waits on this but the poll
        return store.stamp(path)


def _holds(app: App, generation: str) -> bool:
    return generation == app.generation or generation in app.written


def _data_moved(app: App, token: str) -> bool:
    return not token or token != store.model_token(app.model)


# ------------------------------------------------------------------------------------ applying a version


def apply(app: App, doc: store.AppDocument, docs: list[DocSession]) -> list[Entity]:
    """Make ``app`` hold ``doc`` (on the event loop); returns the persisted entities that are gone.

    ``doc.model`` is None when the data did not change (or the app holds no data yet)."""
    data_moved = _data_moved(app, doc.data_token)
    before = {d: _model_of(d) for d in docs if doc.model is not None and _has_selections(d)}
    with app.lock:
        if data_moved:
            if doc.model is not None:
                app.model = doc.model
                app.data_loaded = True
            app.section_access = doc.section_access
            app.script_variables = dict(doc.script_variables)
            app.last_reload_time = doc.last_reload_time
            app.data_version += 1
            app.variables.version += 1  # script variables are read through the variable store's version
        app.script = doc.script
        title = doc.title or doc.app_id
        if doc.properties != app.properties or title != app.title:
            app.properties = copy.deepcopy(doc.properties)
            app.title = title
            app.props_version += 1
        app.connections = {c["qId"]: copy.deepcopy(c) for c in doc.connections if "qId" in c}
        app.generation = doc.generation
    removed: list[Entity] = []
    for name, items in App.entity_lists(doc).items():
        removed += merge_store(app.stores[name], items)
    for d, old in before.items():
        if old is not None:
            remap_selections(d, old, _model_of(d))
    return removed


def _has_selections(doc: DocSession) -> bool:
    return any(not h.current.is_empty or h.back or h.forward for h in doc.selections.states.values())


def _model_of(doc: DocSession) -> DataModel | None:
    """The session's (reduced) model; None when its user has no access to this version."""
    try:
        return doc.model
    except QixError:
        return None


def merge_store(target: ObjectStore, items: list[dict[str, Any]]) -> list[Entity]:
    """Make ``target`` hold ``items`` (``ObjectStore.to_json`` form), keeping the entity objects whose id
    still exists; touches the changed ones and returns those that are gone."""
    old = target.by_id
    before = {eid: e.to_json() for eid, e in old.items()}
    by_id: dict[str, Entity] = {}
    parent_of: dict[str, str] = {}
    for item in items or []:
        props = item.get("qProperty")
        if not isinstance(props, dict) or not isinstance(props.get("qInfo"), dict):
            continue
        eid = str(props["qInfo"].get("qId") or "")
        if not eid or eid in by_id:
            continue
        entity = old.get(eid)
        if entity is None:
            entity = Entity(target.kind, copy.deepcopy(props))
            entity.store = target
        elif entity.properties != props:
            entity.properties = copy.deepcopy(props)
            entity.deps = scan_dependencies(entity.properties, entity.kind)
        state = item.get("qState")
        entity.state = copy.deepcopy(state) if isinstance(state, dict) else None
        dual = item.get("qDual")
        entity.dual_text, entity.dual_num = (
            (dual[0], dual[1]) if isinstance(dual, list) and len(dual) == 2 else (None, None)
        )
        by_id[eid] = entity
        parent_of[eid] = item.get("qParent") or ""
    for entity in by_id.values():
        entity.children = []
    for eid, entity in by_id.items():
        parent = by_id.get(parent_of[eid])
        entity.parent = parent
        if parent is not None:
            parent.children.append(entity)
    removed = [e for eid, e in old.items() if eid not in by_id]
    for entity in removed:
        entity.parent = None
    target.by_id = by_id
    moved = bool(removed) or list(before) != list(by_id)
    for eid, entity in by_id.items():
        if before.get(eid) != entity.to_json():
            entity.counter += 1  # this entity's handles go stale
            moved = True
    if moved:
        target.version += 1
    return removed


def remap_selections(doc: DocSession, old: DataModel, new: DataModel | None) -> None:
    """Re-select each state's selections (history included) by value in the new model."""
    cache: dict[tuple[str, bytes], np.ndarray] = {}

    def translate(state: SelectionState) -> SelectionState:
        if state.is_empty:
            return state
        selected: dict[str, np.ndarray] = {}
        for name in state.fields:
            idx = state.selected(name)
            was, now = old.fields.get(name), new.fields.get(name) if new is not None else None
            if idx is None or was is None or now is None:
                continue
            key = (name, idx.tobytes())
            if key not in cache:
                syms = was.symbols
                values = [
                    {
                        "qText": syms.text[i],
                        "qIsNumeric": not np.isnan(syms.num[i]),
                        "qNumber": float(syms.num[i]),
                    }
                    for i in idx.tolist()
                    if i < len(syms)
                ]
                cache[key] = symbols_for_values(now.symbols, values)
            if cache[key].size:
                selected[name] = cache[key]
        return SelectionState(selected, [f for f in state.locked if f in selected])

    for hist in doc.selections.states.values():
        hist.current = translate(hist.current)
        hist.back = [translate(s) for s in hist.back]
        hist.forward = [translate(s) for s in hist.forward]
    doc.bump_selection_version()
