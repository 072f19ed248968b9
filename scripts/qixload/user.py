"""``QixUser``: a Locust user that is one QIX user of the engine (its own JWT, WebSocket, session, document).

Each QIX call is a Locust request (``request_type`` ``QIX``, name = method plus the object type), the
handshake a ``WS connect`` request; failures carry the engine's JSON-RPC code. The scenario (a
:class:`qixload.scenarios.QixTasks`) decides what the user opens and does; this class only holds the
connection and the per-process settings the locustfile gives it at test start.
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any, ClassVar

from locust import User
from locust.exception import StopUser

from qixload.client import Budget, QixClient, QixFailure, session_url
from qixload.options import LoadSettings

if TYPE_CHECKING:
    from qixload.scenarios import QixTasks


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
        """Connect and open the document the scenario works on. A refused handshake stops this user (the
        engine said no; asking again changes nothing); a failed call raises :class:`QixFailure`."""
        settings = self.require_settings()
        app = settings.app or scenario.shared_app
        url = session_url(settings.url, app, None if settings.minter else self.sub)
        try:
            self.qix = QixClient.connect(url, token=settings.token(self.sub), timeout=settings.timeout,
                                         insecure=settings.insecure, report=self.report, budget=self.budget)
        except QixFailure:
            raise StopUser() from None
        if app:
            self.doc = self.qix.open_doc(app)
            return
        self.doc = self.qix.create_session_app()
        script = settings.script or scenario.session_script
        if script:
            self.qix.reload(self.doc, script)

    def drop_session(self) -> None:
        """Close the socket (after a failure, or at the end); the next task connects again."""
        if self.qix is not None:
            self.qix.close()
            self.qix = None

    def on_stop(self) -> None:
        self.drop_session()
