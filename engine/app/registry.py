"""The apps this engine knows: session apps (memory only) and apps in ``DocumentDirectory``.

An app is loaded once and shared by every session that opens it; it is dropped from memory when the
last session holding it ends (unsaved changes die with it, as in the real engine).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from engine.app.app import App


class AppRegistry:
    def __init__(self, document_dir: Path) -> None:
        self.document_dir = Path(document_dir)
        self.document_dir.mkdir(parents=True, exist_ok=True)
        self.open_apps: dict[str, App] = {}
        self._holders: dict[str, int] = {}

    def create_session_app(self, app_id: str | None = None) -> App:
        app_id = app_id or f"SessionApp_{uuid.uuid4()}"
        app = App(app_id=app_id, title=app_id, is_session_app=True)
        self.open_apps[app_id] = app
        self._holders[app_id] = 0
        return app

    def hold(self, app: App) -> None:
        self._holders[app.app_id] = self._holders.get(app.app_id, 0) + 1

    def release(self, app: App) -> None:
        """A session let go of ``app``; the last one out unloads it."""
        left = self._holders.get(app.app_id, 1) - 1
        if left <= 0:
            self._holders.pop(app.app_id, None)
            if self.open_apps.get(app.app_id) is app:
                del self.open_apps[app.app_id]
        else:
            self._holders[app.app_id] = left

    @property
    def loaded(self) -> list[str]:
        return list(self.open_apps)
