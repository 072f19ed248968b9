"""Helpers for the hub's browser tests: a QIX probe that joins the browser's session, and a page wrapper that
records console errors and JSON-RPC error frames and writes screenshots.

The probe is how a test reads *the engine's* state while the browser drives it: a second WebSocket on the same
route (and user) attaches to the browser's session (SESSION_ATTACHED), so its session objects see the very
selection state the charts were rendered from. Nothing here reaches into the engine's internals.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect

from tests.harness import REPO, RpcError

ARTIFACTS = REPO / "tests" / "browser" / "artifacts"
CHROMIUM = next((p for p in (os.environ.get("HUB_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                             shutil.which("chromium-browser")) if p and Path(p).exists()), None)
SEED_SCRIPT = REPO / "scripts" / "section-access-seed.qvs"

class Probe:
    """A blocking QIX client (websockets' sync client) for arranging and checking engine state."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.connected = self._next()  # OnConnected

    @classmethod
    @contextlib.contextmanager
    def open(cls, port: int, path: str, token: str | None = None) -> Iterator[Probe]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with connect(f"ws://127.0.0.1:{port}{path}", additional_headers=headers, max_size=None,
                     open_timeout=10) as ws:
            yield cls(ws)

    def _next(self) -> dict[str, Any]:
        return orjson.loads(self.ws.recv(timeout=60))

    def call(self, method: str, handle: int = -1, *params: Any) -> dict[str, Any]:
        rid = next(self._ids)
        self.ws.send(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle,
                                   "params": list(params)}).decode())
        while True:
            msg = self._next()
            if msg.get("id") == rid:
                if "error" in msg:
                    raise RpcError(msg["error"])
                return msg["result"]

    # -- reading the state the browser's charts are computed from ------------------------------------------
    def active_doc(self) -> int:
        return self.call("GetActiveDoc")["qReturn"]["qHandle"]

    def session_object(self, doc: int, props: dict[str, Any]) -> int:
        return self.call("CreateSessionObject", doc, props)["qReturn"]["qHandle"]

    def layout(self, handle: int) -> dict[str, Any]:
        return self.call("GetLayout", handle)["qLayout"]

    def selections(self, handle: int) -> dict[str, str]:
        """``{field: qSelected}`` of a current-selections object."""
        return {s["qField"]: s["qSelected"] for s in self.layout(handle)["qSelectionObject"]["qSelections"]}

    def states(self, handle: int) -> dict[str, str]:
        """``{value text: qState}`` of a list object."""
        lo = self.layout(handle)["qListObject"]
        return {row[0]["qText"]: row[0]["qState"] for page in lo["qDataPages"] for row in page["qMatrix"]}


def list_object_props(field: str) -> dict[str, Any]:
    """A list object on ``field`` defined as nebula.js's listbox defines it (alternatives shown as such)."""
    return {"qInfo": {"qType": "probe-list"}, "qListObjectDef": {
        "qDef": {"qFieldDefs": [field]}, "qShowAlternatives": True,
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 100}]}}


SELECTIONS_PROPS = {"qInfo": {"qType": "probe-selections"}, "qSelectionObjectDef": {}}


def seed_app(port: int, app_id: str, script: str, token: str | None = None) -> None:
    """Create (or replace) an app with ``script``, reload and save it: arranged over the public API."""
    with Probe.open(port, "/app/engineData", token) as probe:
        with contextlib.suppress(RpcError):
            probe.call("DeleteApp", -1, app_id)
        probe.call("CreateApp", -1, app_id)
    with Probe.open(port, f"/app/{app_id}", token) as probe:
        doc = probe.call("OpenDoc", -1, app_id)["qReturn"]["qHandle"]
        probe.call("SetScript", doc, script)
        assert probe.call("DoReload", doc)["qReturn"] is True
        probe.call("DoSave", doc)


def wait_until(check: Any, timeout: float = 20, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy (for engine state that follows a browser action)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as err:
            last = err
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


class HubPage:
    """One browser tab on the hub, recording what a person would not see but a test must: console errors,
    uncaught exceptions and JSON-RPC error frames."""

    def __init__(self, browser: Any, port: int, name: str) -> None:
        self.port = port
        self.name = name
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.rpc_errors: list[dict[str, Any]] = []
        #: every request the page sent with the engine's answer, written to ``rpc-calls.jsonl`` on close (the
        #: record of what nebula.js asks the engine, for checking answers against the documented shapes)
        self.calls: list[dict[str, Any]] = []
        self.sockets: list[Any] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        self.page.on("websocket", self._websocket)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def _websocket(self, ws: Any) -> None:
        socket_no = len(self.sockets)
        self.sockets.append(ws)
        sent: dict[Any, str] = {}

        requests: dict[Any, dict[str, Any]] = {}

        def on_sent(payload: str | bytes) -> None:
            with contextlib.suppress(ValueError):
                msg = json.loads(payload)
                if isinstance(msg, dict) and "id" in msg:
                    sent[msg["id"]] = msg.get("method", "")
                    requests[msg["id"]] = msg

        def on_received(payload: str | bytes) -> None:
            with contextlib.suppress(ValueError):
                msg = json.loads(payload)
                if isinstance(msg, dict) and "error" in msg:
                    self.rpc_errors.append({**msg["error"], "method": sent.get(msg.get("id"), "")})
                if isinstance(msg, dict) and msg.get("id") in requests:
                    self.calls.append({"socket": socket_no, "request": requests.pop(msg["id"]), "response": msg})

        ws.on("framesent", on_sent)
        ws.on("framereceived", on_received)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/"

    def open(self, route: str = "#/apps") -> None:
        """Load the hub at ``route`` (a full page load)."""
        self.page.goto(self.url + route)

    def go(self, route: str) -> None:
        """Navigate inside the loaded hub (hash change: no reload, the app's connection is kept)."""
        self.page.evaluate("route => { location.hash = route; }", route)

    def ready(self, page_class: str) -> Any:
        """Wait until the page's view has finished loading (its section gets data-ready)."""
        return self.page.wait_for_selector(f"section.page.{page_class}[data-ready=true]")

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        assert self.page_errors == [], self.page_errors
        assert self.console_errors == [], self.console_errors
        assert self.rpc_errors == [], self.rpc_errors

    def close(self) -> None:
        self.context.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with (ARTIFACTS / "rpc-calls.jsonl").open("a") as out:
            for call in self.calls:
                out.write(json.dumps({"page": self.name, **call}) + "\n")
