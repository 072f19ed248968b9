"""Scenarios: what a simulated user does, as Locust task sets on :class:`QixTasks`.

* ``light``: one small object, one ``GetLayout`` per think time (many idle dashboards);
* ``full``: a list object and a hypercube over the app's fields; select a value, read the list and a
  random hypercube page, clear every third round, thinking between steps;
* ``dashboard``: the eight objects of a star-schema dashboard (2 KPIs, a bar chart, a line chart by month,
  a 3-dimension x 2-measure table read in 50-row pages, 3 filter panes); select in a filter pane, then
  read the layout and first page of every object the engine reports changed; scroll the table; clear.

Your own: a file with a :class:`QixTasks` subclass, run with ``--scenario file.py`` (README, "Load
testing"). ``setup`` runs after every (re)connect; tasks use ``self.qix`` and ``self.doc``. A failed call
is already reported (with its JSON-RPC code); after an engine error the user starts a new session on its
next task, after a lost connection it stops, or with ``--reconnect`` connects again at once.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from typing import Any, ClassVar

from locust import TaskSet, task
from locust.exception import StopUser

from qixload.apps import (
    DASHBOARD,
    DASHBOARD_APP,
    PAGE,
    SMALL_FIELDS,
    SMALL_MEASURE,
    SMALL_SCRIPT,
    DashboardObject,
    star_schema_script,
)
from qixload.client import BudgetSpent, QixClient, QixFailure, session_url
from qixload.options import LoadSettings
from qixload.user import QixUser


class QixTasks(TaskSet):
    """Base of every scenario. Class attributes say what each user opens when no ``--app`` is given:
    ``shared_app`` (one app for everyone, built once before the run), else a session app of its own
    loaded with ``--script`` or ``session_script`` (none: an empty session app)."""

    shared_app: ClassVar[str | None] = None
    session_script: ClassVar[str | None] = None
    user: QixUser

    @property
    def qix(self) -> QixClient:
        if self.user.qix is None:
            raise QixFailure("no-session", "not connected")
        return self.user.qix

    @property
    def doc(self) -> int:
        return self.user.doc

    @property
    def rng(self) -> random.Random:
        return self.user.rng

    @property
    def settings(self) -> LoadSettings:
        return self.user.require_settings()

    @classmethod
    def shared_script(cls, settings: LoadSettings) -> str | None:
        """The script loaded into ``shared_app`` before the run when no ``--script`` is given."""
        return None

    def setup(self) -> None:
        """Create this scenario's objects; runs after every (re)connect. Override it (not ``on_start``)."""

    def on_start(self) -> None:
        self._connect()

    def on_stop(self) -> None:
        self.user.drop_session()

    def _connect(self) -> None:
        try:
            self.user.start_session(self)
        except BudgetSpent:
            raise StopUser() from None

    def execute_task(self, task: Any) -> None:
        if self.user.qix is None:
            self._connect()
            if self.user.qix is None:
                return
        try:
            super().execute_task(task)
        except QixFailure as failure:  # reported where it happened
            self.user.drop_session(failure)
            if failure.lost:  # stops the user, or (--reconnect) pauses, then connects again at once
                self.user.connection_lost()
                self._connect()
        except BudgetSpent:
            raise StopUser() from None


class Light(QixTasks):
    def setup(self) -> None:
        self.obj = self.qix.create_object(self.doc, {
            "qInfo": {"qType": "label"}, "title": {"qStringExpression": {"qExpr": "='user ' & 1 + 1"}}})

    @task
    def look(self) -> None:
        self.qix.get_layout(self.obj)


class Full(QixTasks):
    session_script = SMALL_SCRIPT

    def setup(self) -> None:
        names, measure = self._fields()
        self.listbox = self.qix.create_object(self.doc, {
            "qInfo": {"qType": "listbox"},
            "qListObjectDef": {"qDef": {"qFieldDefs": [names[0]]},
                               "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 50}]}})
        self.cube = self.qix.create_object(self.doc, {
            "qInfo": {"qType": "table"},
            "qHyperCubeDef": {"qDimensions": [{"qDef": {"qFieldDefs": [f]}} for f in names],
                              "qMeasures": [{"qDef": {"qDef": measure}}],
                              "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": len(names) + 1,
                                                     "qHeight": 20}]}})
        self.round = 0

    def _fields(self) -> tuple[list[str], str]:
        """The fields to chart: ``--fields``, the built-in script's, or the first two of the app's."""
        s = self.settings
        builtin = not (s.app or s.script or s.fields)
        if s.fields:
            names = list(s.fields)
        elif builtin:
            names = list(SMALL_FIELDS)
        else:
            fields = self.qix.create_object(self.doc, {"qInfo": {"qType": "fieldlist"}, "qFieldListDef": {}})
            names = [item["qName"] for item in self.qix.get_layout(fields)["qFieldList"]["qItems"]][:2]
            if not names:
                raise QixFailure("no-fields", "the app has no fields to chart")
        return names, s.measure or (SMALL_MEASURE if builtin else f"Count([{names[-1]}])")

    @task
    def explore(self) -> None:
        rows = [row[0] for page in self.qix.get_layout(self.listbox)["qListObject"]["qDataPages"]
                for row in page["qMatrix"]]
        if rows:
            pick = self.rng.choice(rows)["qElemNumber"]
            self.qix.call("SelectListObjectValues", self.listbox, "/qListObjectDef", [pick], True)
        self.wait()
        size = self.qix.get_layout(self.cube)["qHyperCube"]["qSize"]
        top = self.rng.randrange(max(1, size["qcy"]))
        self.qix.call("GetHyperCubeData", self.cube, "/qHyperCubeDef",
                      [{"qTop": top, "qLeft": 0, "qWidth": size["qcx"], "qHeight": 50}])
        self.round += 1
        if self.round % 3 == 0:
            self.wait()
            self.qix.call("ClearAll", self.doc, False)


class Dashboard(QixTasks):
    shared_app = DASHBOARD_APP

    @classmethod
    def shared_script(cls, settings: LoadSettings) -> str | None:
        return star_schema_script(settings.dashboard_rows)

    def setup(self) -> None:
        self.objects: dict[int, DashboardObject] = {}
        for obj in DASHBOARD:
            self.objects[self.qix.create_object(self.doc, obj.definition)] = obj
        self.filters = [h for h, obj in self.objects.items() if obj.is_list]
        self.table = next(h for h, obj in self.objects.items() if obj.definition["qInfo"]["qType"] == "table")
        self.values: dict[int, list[int]] = {}  # filter pane -> element numbers on its first page
        self.table_rows = 0
        self.table_top = 0
        self.qix.changed.update(self.objects)
        self.refresh()

    def page(self, handle: int, top: int = 0) -> list[list[dict[str, Any]]]:
        obj = self.objects[handle]
        area = [{"qTop": top, "qLeft": 0, "qWidth": obj.width, "qHeight": PAGE}]
        if obj.is_list:
            pages = self.qix.call("GetListObjectData", handle, obj.path, area)["qDataPages"]
        else:
            pages = self.qix.call("GetHyperCubeData", handle, obj.path, area)["qDataPages"]
        return pages[0]["qMatrix"] if pages else []

    def refresh(self) -> None:
        """Layout and first page of every object the engine said changed, in the dashboard's order."""
        changed = self.qix.take_changed()
        for handle, obj in self.objects.items():
            if handle not in changed:
                continue
            layout = self.qix.get_layout(handle)
            rows = self.page(handle)
            if obj.is_list:
                self.values[handle] = [row[0]["qElemNumber"] for row in rows]
            elif handle == self.table:
                self.table_rows = layout["qHyperCube"]["qSize"]["qcy"]
                self.table_top = 0

    @task(4)
    def select(self) -> None:
        pane = self.rng.choice(self.filters)
        values = self.values.get(pane)
        if values:
            self.qix.call("SelectListObjectValues", pane, "/qListObjectDef", [self.rng.choice(values)], False)
        self.refresh()

    @task(2)
    def scroll(self) -> None:
        if self.table_rows > PAGE:
            self.table_top = (self.table_top + PAGE) % self.table_rows
            self.page(self.table, self.table_top)

    @task(1)
    def clear(self) -> None:
        self.qix.call("ClearAll", self.doc, False)
        self.refresh()


BUILTIN: dict[str, type[QixTasks]] = {"light": Light, "full": Full, "dashboard": Dashboard}


class ScenarioError(ValueError):
    """``--scenario`` names no built-in scenario and no loadable file with a QixTasks subclass."""


def resolve(spec: str) -> type[QixTasks]:
    """A built-in scenario by name, or ``path.py`` / ``path.py:ClassName`` holding a QixTasks subclass."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    path_text, _, class_name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    path = Path(path_text)
    if path.suffix != ".py" or not path.is_file():
        raise ScenarioError(f"--scenario {spec!r}: not one of {', '.join(BUILTIN)} and not a .py file")
    module_name = f"qixload_scenario_{path.stem}"
    module = sys.modules.get(module_name)
    if module is None:
        loader = importlib.util.spec_from_file_location(module_name, path)
        if loader is None or loader.loader is None:
            raise ScenarioError(f"--scenario {spec!r}: cannot load {path}")
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        loader.loader.exec_module(module)
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, QixTasks) and v.__module__ == module_name
             and (not class_name or v.__name__ == class_name)]
    if len(found) != 1:
        raise ScenarioError(f"--scenario {spec!r}: expected one QixTasks subclass"
                            f"{' named ' + class_name if class_name else ''} in {path}, found {len(found)}")
    return found[0]


def prepare(settings: LoadSettings, scenario: type[QixTasks]) -> str | None:
    """Once, before any user starts: load the script into the app every user will open (``--app`` with
    ``--script``, or the scenario's shared app), creating the app if it is missing, and save it. Returns the
    app id prepared, None when there is nothing to prepare. Not measured: setup is not load."""
    app: str | None = settings.app or scenario.shared_app
    script = settings.script if settings.app else (settings.script or scenario.shared_script(settings))
    if not app or not script:
        return None
    owner = f"{settings.user_prefix}owner"
    url = session_url(settings.url, None, None if settings.minter else owner)
    client = QixClient.connect(url, token=settings.token(owner), timeout=max(settings.timeout, 600.0),
                               insecure=settings.insecure)
    try:
        try:
            client.call("CreateApp", -1, app)
        except QixFailure:
            pass  # it exists already: reload it in place
        doc = client.open_doc(app)
        client.reload(doc, script)
        client.call("DoSave", doc)
    finally:
        client.close()
    return app
