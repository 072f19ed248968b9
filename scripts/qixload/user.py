"""``QixUser``: a Locust user that is one QIX user of the engine (its own JWT, WebSocket, session, document).

Each QIX call is a Locust request (``request_type`` ``QIX``, name = method plus the object type), the
handshake a ``WS connect`` request; failures carry the engine's JSON-RPC code. ``USER reconnect`` (the time
from a lost connection to working again, with ``--reconnect``) and ``USER stopped`` (a user that could not
go on) are requests too, so Locust adds them up across workers like the rest. The scenario (a
:class:`qixload.scenarios.QixTasks`) decides what the user opens and does; this class only holds the
connection and the per-process settings the locustfile gives it at test start.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import gevent
from locust import User
from locust.exception import StopUser

from qixload.client import USER, Budget, QixClient, QixFailure, session_url
from qixload.options import LoadSettings

if TYPE_CHECKING:
    from qixload.scenarios import QixTasks

FIRST_PAUSE = 0.05  # seconds before connecting again after a lost connection; doubles up to 1 s


class QixUser(User):
    """A simulated user; subclasses (the locustfile's) set ``tasks`` to one scenario."""

    abstract = True
    settings: ClassVar[LoadSettings | None] = None  # set for this process at test start
    budget: ClassVar[Budget | None] = None  # --max-requests share of this process
    numbering: ClassVar[tuple[int, int]] = (0, 1)  # (this process's index, processes): user n = index + k * count
    _made: ClassVar[itertools.count[int]] = itertools.count()

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        first, stride = self.numbering
        self.number = first + next(QixUser._made) * stride
        settings = self.require_settings()
        self.sub = f"{settings.user_prefix}{self.number}"
        self.rng = random.Random(settings.seed * 1_000_003 + self.number)
        self.qix: QixClient | None = None
        self.doc = -1
        self.lost_at: float | None = None  # perf_counter of the lost connection not yet replaced
        self.pause = FIRST_PAUSE  # before the next attempt to connect again

    @classmethod
    def require_settings(cls) -> LoadSettings:
        if cls.settings is None:
            raise RuntimeError("QixUser.settings is set by the locustfile at test start")
        return cls.settings

    def wait_time(self) -> float:
        """Think time: uniform between half and one and a half of ``--think``."""
        return self.require_settings().think * self.rng.uniform(0.5, 1.5)

    def report(self, request_type: str, name: str, ms: float, length: int, failure: QixFailure | None) -> None:
        self.environment.events.request.fire(request_type=request_type, name=name, response_time=ms,
                                             response_length=length, exception=failure, context={})

    def open_session(self, scenario: QixTasks) -> None:
        """Connect and open the document the scenario works on; a failure raises :class:`QixFailure`."""
        settings = self.require_settings()
        app = settings.app or scenario.shared_app
        url = session_url(settings.url, app, None if settings.minter else self.sub)
        self.qix = QixClient.connect(url, token=settings.token(self.sub), timeout=settings.timeout,
                                     insecure=settings.insecure, report=self.report, budget=self.budget)
        if app:
            self.doc = self.qix.open_doc(app)
            return
        self.doc = self.qix.create_session_app()
        script = settings.script or scenario.session_script
        if script:
            self.qix.reload(self.doc, script)

    def start_session(self, scenario: QixTasks) -> None:
        """Open the session and run the scenario's ``setup``. On failure (already reported): a refused
        handshake stops this user (asking again changes nothing), an engine error leaves it without a session
        (the next task tries again), a lost connection goes to :meth:`connection_lost`."""
        while True:
            try:
                self.open_session(scenario)
                scenario.setup()
            except QixFailure as failure:
                self.drop_session(failure)
                if failure.lost:
                    self.connection_lost()
                    continue
                if failure.handshake:
                    self.give_up()
                return
            if self.lost_at is not None:  # back at work: how long it took since the connection was lost
                self.report(USER, "reconnect", (time.perf_counter() - self.lost_at) * 1000, 0, None)
                self.lost_at, self.pause = None, FIRST_PAUSE
            return

    def connection_lost(self) -> None:
        """The socket is gone. Without ``--reconnect`` the user stops; with it, it pauses (50 ms, doubling up
        to 1 s) before the caller connects again, and stops once ``--timeout`` seconds have passed since
        the loss without getting back."""
        settings = self.require_settings()
        if not settings.reconnect:
            self.give_up()
        now = time.perf_counter()
        if self.lost_at is None:
            self.lost_at = now
        left = settings.timeout - (now - self.lost_at)
        if left <= 0:
            self.give_up()
        gevent.sleep(min(self.pause, left))
        self.pause = min(2 * self.pause, 1.0)

    def give_up(self) -> NoReturn:
        """This user cannot go on: counted (request ``USER stopped``) and stopped."""
        self.report(USER, "stopped", 0.0, 0, None)
        raise StopUser()

    def drop_session(self, failure: QixFailure | None = None) -> None:
        """Close the socket (after a failure, or at the end); the next task connects again."""
        if self.qix is not None:
            if failure is not None and failure.label == "closed":
                self.qix.abort()
            else:
                self.qix.close()
            self.qix = None

    def on_stop(self) -> None:
        self.drop_session()
