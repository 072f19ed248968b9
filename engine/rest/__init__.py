"""The engine's REST API (``/v1/apps/...``, ``/v1/rules/reload``) on the WebSocket port's HTTP router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.rest import apps, media
from engine.transport import Router

if TYPE_CHECKING:
    from engine.server import Engine


def register(router: Router, engine: Engine) -> None:
    """Add every REST route to ``router`` (called from ``Engine.__post_init__``)."""
    media.register(router, apps.register(router, engine), engine)
