"""A QIX JSON-RPC client for one simulated user, on websocket-client's blocking socket.

Blocking suits Locust: under gevent's monkey-patching a blocked ``recv`` yields to the other users, so each
user reads like a script (send, wait for the answer with that id) without an event loop of its own. Frames
that arrive meanwhile are kept as the engine meant them: ``change`` and ``close`` lists (in answers and in
id-less pushes) update :attr:`QixClient.changed` / :attr:`QixClient.closed`, notifications are collected.

Every call and the handshake are timed and handed to a ``report`` callback (Locust's request event in a
run, anything else in tools and tests): this module knows nothing of Locust.
"""

from __future__ import annotations

import itertools
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import websocket

QIX = "QIX"  # request_type of every JSON-RPC call
WS = "WS"  # request_type of the handshake (name "connect")
USER = "USER"  # request_type of what happens to a user: "reconnect" (time to go on again), "stopped"

Report = Callable[[str, str, float, int, "QixFailure | None"], None]
"""``report(request_type, name, milliseconds, response_bytes, failure)``."""


class QixFailure(Exception):
    """A call or handshake that did not succeed.

    ``label`` is how reports group it: the engine's JSON-RPC error code (``"-128"``, ``"2"``), ``http-<status>``
    for a refused handshake, ``timeout``, ``closed``, or the OS error's name when the socket never opened.
    Its repr starts with the label because Locust names failures by repr. ``handshake`` marks a failure to
    open the socket."""

    def __init__(self, label: str, detail: str = "", *, handshake: bool = False) -> None:
        super().__init__(label, detail)
        self.label = label
        self.detail = detail
        self.handshake = handshake

    @property
    def lost(self) -> bool:
        """The connection is gone or unusable (closed, a call timed out, the socket did not open, the proxy or
        engine answered the handshake with 5xx): only a new connection can help. A 4xx handshake is the
        engine saying no to this user, and a JSON-RPC error comes over a socket that still works."""
        if self.label in ("closed", "timeout"):
            return True
        return self.handshake and not self.label.startswith("http-4")

    def __repr__(self) -> str:
        return f"{self.label}: {self.detail}" if self.detail else self.label

    __str__ = __repr__


class BudgetSpent(Exception):
    """Raised instead of sending once the run's request budget (``--max-requests``) is used up."""


class Budget:
    """How many calls this process may still send, and how many of those are unanswered; ``on_spent`` runs
    once, when the last one is taken (it should wait for ``in_flight`` to reach zero before ending the run,
    so every call sent is also counted)."""

    def __init__(self, limit: int, on_spent: Callable[[], None]) -> None:
        self.left = limit
        self.in_flight = 0
        self.on_spent = on_spent

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        self.in_flight += 1
        if self.left == 0:
            self.on_spent()
        return True

    def settle(self) -> None:
        self.in_flight -= 1


def session_url(base: str, app: str | None, identity: str | None) -> str:
    """The URL a user connects to: ``/app/<id>`` for an app, ``/app/engineData`` for session apps, a path in
    ``base`` kept as given. ``identity`` appends ``/identity/<name>``: without tokens every user would be the
    same user to the engine and share one session."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    if not path:
        path = f"/app/{app}" if app else "/app/engineData"
    if identity is not None and "/identity/" not in path:
        path += f"/identity/{identity}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _ignore(request_type: str, name: str, ms: float, length: int, failure: QixFailure | None) -> None:
    """The report of a client whose calls are not measured (app preparation)."""


class QixClient:
    """One WebSocket to the engine. ``call`` sends a request and returns its ``result``, or raises
    :class:`QixFailure` after reporting it."""

    def __init__(self, ws: websocket.WebSocket, report: Report = _ignore, budget: Budget | None = None) -> None:
        self.ws = ws
        self.report = report
        self.budget = budget
        self.types: dict[int, str] = {}  # object handle -> qInfo.qType, for request names
        self.changed: set[int] = set()  # handles the engine said changed and nobody has read since
        self.closed: set[int] = set()
        self.notifications: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    @classmethod
    def connect(cls, url: str, *, token: str | None = None, timeout: float = 30.0, insecure: bool = False,
                report: Report = _ignore, budget: Budget | None = None) -> QixClient:
        """Open the WebSocket (``Authorization: Bearer`` when ``token``), timed as request ``WS connect``."""
        headers = [f"Authorization: Bearer {token}"] if token else []
        sslopt: dict[str, Any] = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False} if insecure else {}
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(url, timeout=timeout, header=headers, sslopt=sslopt,
                                             skip_utf8_validation=True, enable_multithread=False)
        except websocket.WebSocketBadStatusException as err:
            failure = QixFailure(f"http-{err.status_code}", str(err.status_message or ""), handshake=True)
        except websocket.WebSocketTimeoutException:
            failure = QixFailure("timeout", "handshake", handshake=True)
        except (OSError, websocket.WebSocketException) as err:
            failure = QixFailure(type(err).__name__, str(err), handshake=True)
        else:
            report(WS, "connect", (time.perf_counter() - started) * 1000, 0, None)
            return cls(ws, report, budget)
        report(WS, "connect", (time.perf_counter() - started) * 1000, 0, failure)
        raise failure

    # -- the wire ----------------------------------------------------------------------------------------
    def call(self, method: str, handle: int = -1, *params: Any, name: str | None = None) -> dict[str, Any]:
        """Send ``method`` on ``handle`` and wait for its answer; named ``method`` plus the object's type."""
        if self.budget is not None and not self.budget.take():
            raise BudgetSpent
        if name is None:
            kind = self.types.get(handle)
            name = f"{method} {kind}" if kind else method
        rid = next(self._ids)
        request = orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle,
                                "params": list(params)})
        try:
            return self._exchange(rid, name, method, request)
        finally:
            if self.budget is not None:
                self.budget.settle()

    def _exchange(self, rid: int, name: str, method: str, request: bytes) -> dict[str, Any]:
        started = time.perf_counter()
        length = 0
        try:
            self.ws.send(request, websocket.ABNF.OPCODE_TEXT)
            while True:
                raw = self.ws.recv()
                length += len(raw)
                msg = orjson.loads(raw)
                self._note(msg)
                if msg.get("id") == rid:
                    break
        except websocket.WebSocketTimeoutException:
            failure = QixFailure("timeout", method)
        except (OSError, websocket.WebSocketException) as err:
            failure = QixFailure("closed", str(err) or type(err).__name__)
        except orjson.JSONDecodeError as err:
            failure = QixFailure("bad-frame", str(err))
        else:
            ms = (time.perf_counter() - started) * 1000
            error = msg.get("error")
            if error is None:
                self.report(QIX, name, ms, length, None)
                result: dict[str, Any] = msg.get("result") or {}
                return result
            failure = QixFailure(str(error.get("code")), f"{error.get('message', '')} {error.get('parameter', '')}"
                                 .strip())
            self.report(QIX, name, ms, length, failure)
            raise failure
        self.report(QIX, name, (time.perf_counter() - started) * 1000, length, failure)
        raise failure

    def _note(self, msg: dict[str, Any]) -> None:
        """Keep what a frame says besides its answer: changed and closed handles, notifications."""
        change = msg.get("change")
        if change:
            self.changed.update(change)
        close = msg.get("close")
        if close:
            self.closed.update(close)
            for handle in close:
                self.types.pop(handle, None)
        if "method" in msg and "id" not in msg:
            self.notifications.append(msg)

    def close(self) -> None:
        """Close the socket without waiting long for the engine's closing frame."""
        try:
            self.ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            self.ws.shutdown()

    def abort(self) -> None:
        """Drop a socket that is known to be dead, without a closing handshake nobody would answer."""
        self.ws.shutdown()

    # -- the few calls every scenario makes -----------------------------------------------------------------
    def open_doc(self, app: str) -> int:
        return int(self.call("OpenDoc", -1, app)["qReturn"]["qHandle"])

    def create_session_app(self) -> int:
        return int(self.call("CreateSessionApp", -1)["qReturn"]["qHandle"])

    def reload(self, doc: int, script: str) -> None:
        """Set the script and reload; a reload that reports failure is a failure here too."""
        self.call("SetScript", doc, script)
        if self.call("DoReload", doc, 0, False, False).get("qReturn") is not True:
            raise QixFailure("reload-failed", "DoReload answered false")

    def create_object(self, doc: int, definition: dict[str, Any]) -> int:
        """A session object; later calls on it are named by its ``qInfo.qType``."""
        kind = definition.get("qInfo", {}).get("qType")
        handle = int(self.call("CreateSessionObject", doc, definition,
                               name=f"CreateSessionObject {kind}" if kind else None)["qReturn"]["qHandle"])
        if kind:
            self.types[handle] = kind
        return handle

    def get_layout(self, handle: int) -> dict[str, Any]:
        self.changed.discard(handle)
        layout: dict[str, Any] = self.call("GetLayout", handle)["qLayout"]
        return layout

    def take_changed(self) -> set[int]:
        """The handles changed since the last look (and forget them)."""
        changed, self.changed = self.changed, set()
        return changed
