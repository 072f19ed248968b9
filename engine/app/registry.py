"""The apps this engine knows: session apps (memory only) and apps in ``DocumentDirectory``.

An app is loaded once and shared by every session that opens it; it is dropped from memory when the
last session holding it ends (unsaved changes die with it, as in the real engine).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import uuid
from pathlib import Path

from engine.app import store
from engine.app.app import App
from engine.app.guard import AppFacts
from engine.errors import ACCESS_DENIED, APP_ALREADY_EXISTS, APP_NOT_FOUND, QixError

log = logging.getLogger("qix.apps")

_BAD_NAME = re.compile(r"[\x00-\x1f/\\:*?\"<>|]")
INVALID_APP_NAME = 1001


class AppRegistry:
    def __init__(self, document_dir: Path) -> None:
        self.document_dir = Path(document_dir).resolve()
        self.document_dir.mkdir(parents=True, exist_ok=True)
        store.clean_temp_files(self.document_dir)
        self.open_apps: dict[str, App] = {}
        self._holders: dict[str, int] = {}
        self._lock = threading.RLock()

    # -- names and paths ---------------------------------------------------------------------------------
    def path_of(self, app_id: str) -> Path:
        return store.document_path(self.document_dir, app_id)

    def resolve(self, name: str) -> tuple[str, Path]:
        """An app id, file name or absolute path inside ``DocumentDirectory`` → (app id, file path).

        Anything that points outside the folder is refused with 5 (Access denied); a name that points
        nowhere is 1003 (App not found).
        """
        if not name:
            raise QixError(APP_NOT_FOUND, name)
        candidate = Path(name)
        if not candidate.is_absolute():
            candidate = self.document_dir / name
        resolved = Path(os.path.realpath(candidate))
        if resolved.parent != self.document_dir:  # symlinks and ".." resolved first
            raise QixError(ACCESS_DENIED, name)
        file_name = resolved.name
        app_id = file_name[: -len(store.SUFFIX)] if file_name.endswith(store.SUFFIX) else file_name
        path = self.path_of(app_id)
        if not path.is_file():
            raise QixError(APP_NOT_FOUND, name)
        return app_id, path

    # -- life cycle ------------------------------------------------------------------------------------------
    def create_session_app(self, app_id: str | None = None) -> App:
        """A new session app, private to the session that creates it: it is never registered for others
        to open, so two users with the same ``/app/SessionApp_<x>`` URL each get their own."""
        app_id = app_id or f"SessionApp_{uuid.uuid4()}"
        return App(app_id=app_id, title=app_id, is_session_app=True)

    def create_app(self, name: str, owner: str = "") -> str:
        """Write a new empty app file; returns its id (1000 if it exists, 1001 for a bad name)."""
        app_id = name[: -len(store.SUFFIX)] if name.endswith(store.SUFFIX) else name
        app_id = app_id or str(uuid.uuid4())
        if _BAD_NAME.search(app_id) or app_id in (".", ".."):
            raise QixError(INVALID_APP_NAME, name)
        path = self.path_of(app_id)
        with self._lock:
            if path.exists() or app_id in self.open_apps:
                raise QixError(APP_ALREADY_EXISTS, name)
            app = App(app_id=app_id, title=name or app_id, file_path=path, owner=owner)
            store.save(path, app.to_document())
        log.info("app created", extra={"event": "app_created", "app": app_id})
        return app_id

    def open(self, name: str, with_data: bool = True) -> App:
        """The shared :class:`App` for ``name``, loading it on first use."""
        app = self.open_apps.get(name)  # already loaded, by id
        if app is None:
            app_id, path = self.resolve(name)
            with self._lock:
                app = self.open_apps.get(app_id)
                if app is None:
                    app = App.from_document(store.load(path, with_data=with_data), path)
                    self.open_apps[app_id] = app
        if with_data:
            app.ensure_data()
        return app

    def facts(self, name: str) -> AppFacts:
        """What an access check needs of an app, from memory when loaded, else from its file (no data)."""
        app = self.open_apps.get(name)
        if app is None:
            app_id, path = self.resolve(name)
            app = self.open_apps.get(app_id)
            if app is None:
                doc = store.load(path, with_data=False)
                return AppFacts(
                    app_id,
                    doc.section_access,
                    owner=doc.owner,
                    name=doc.title,
                    description=str(doc.properties.get("description", "")),
                )
        return app.facts()

    def delete(self, name: str) -> bool:
        """Remove an app's file; False when there is none (the caller checked access first)."""
        try:
            app_id, path = self.resolve(name)
        except QixError:
            return False
        with self._lock:
            store.delete(path)
            shutil.rmtree(store.media_dir(self.document_dir, app_id), ignore_errors=True)
            self.open_apps.pop(app_id, None)
            self._holders.pop(app_id, None)
        log.info("app deleted", extra={"event": "app_deleted", "app": app_id})
        return True

    def doc_list(self) -> list[dict[str, object]]:
        out = []
        for entry in store.list_documents(self.document_dir):
            out.append(
                {
                    "qDocName": entry.doc_name,
                    "qConnectedUsers": self._holders.get(entry.app_id, 0),
                    "qFileTime": entry.file_time,
                    "qFileSize": entry.file_size,
                    "qDocId": entry.app_id,
                    "qMeta": {},
                    "qLastReloadTime": entry.last_reload_time,
                    "qReadOnly": False,
                    "qTitle": entry.title,
                    "qThumbnail": {"qUrl": ""},
                    "qHasSectionAccess": entry.has_section_access,
                    "qIsDirectQueryMode": False,
                    "qUsage": "ANALYTICS",
                }
            )
        return out

    # -- sharing ------------------------------------------------------------------------------------------------
    def hold(self, app: App) -> None:
        with self._lock:
            self._holders[app.app_id] = self._holders.get(app.app_id, 0) + 1

    def release(self, app: App) -> None:
        """A session let go of ``app``; the last one out unloads it."""
        with self._lock:
            left = self._holders.get(app.app_id, 1) - 1
            if left <= 0:
                self._holders.pop(app.app_id, None)
                if self.open_apps.get(app.app_id) is app:
                    del self.open_apps[app.app_id]
            else:
                self._holders[app.app_id] = left

    def forget(self, app: App) -> None:
        """Drop ``app`` from memory, leaving the folder alone (another engine deleted its file)."""
        with self._lock:
            if self.open_apps.get(app.app_id) is app:
                del self.open_apps[app.app_id]
                self._holders.pop(app.app_id, None)

    @property
    def loaded(self) -> list[str]:
        return list(self.open_apps)
