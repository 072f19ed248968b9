"""Apps (documents) and the per-session view of an app.

An :class:`App` is shared by every session that opens it: script, properties, objects, the current data
model. A :class:`DocSession` is one session's view of an app: its selections, its session objects, its
section-access reduction. Versions are counters the session layer compares to know what went stale.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import orjson

from engine.app import store
from engine.app.access import ACCESS_CACHE, SessionAccess, UserAccess
from engine.app.calccache import CALC_CACHE, require_compute, volatile
from engine.app.guard import AppFacts
from engine.app.library import expand_dollars, variable_text
from engine.app.objects import Entity, EntityView, ObjectStore
from engine.app.selections import SelectionMode, Selections
from engine.calc.current import current_selection_items
from engine.calc.evaluation import calc_condition_message, evaluate_expression, symbol_truth
from engine.calc.hypercube import HyperCube
from engine.calc.listobject import ListObject
from engine.calc.search import list_search, search_mask
from engine.errors import (
    ACCESS_DENIED,
    CALC_CONDITION_UNMET,
    MODAL_OBJECT,
    PERSONAL_SECTION_ACCESS,
    SESSION_APP_NOT_PERSISTED,
    QixError,
)
from engine.expr.formatting import Locale
from engine.model.datamodel import DataModel
from engine.model.selection import Inference, Reduction, SelectionState, infer, warm

if TYPE_CHECKING:
    from engine.rpc.structs import HyperCubeDef, ListObjectDef

_T = TypeVar("_T")

DEFAULT_SCRIPT = (
    "SET ThousandSep=',';\n"
    "SET DecimalSep='.';\n"
    "SET MoneyThousandSep=',';\n"
    "SET MoneyDecimalSep='.';\n"
    "SET MoneyFormat='$#,##0.00;-$#,##0.00';\n"
    "SET TimeFormat='h:mm:ss TT';\n"
    "SET DateFormat='M/D/YYYY';\n"
    "SET TimestampFormat='M/D/YYYY h:mm:ss[.fff] TT';\n"
    "SET FirstWeekDay=6;\n"
    "SET BrokenWeeks=1;\n"
    "SET ReferenceDay=0;\n"
    "SET FirstMonthOfYear=1;\n"
    "SET CollationLocale='en-US';\n"
    "SET MonthNames='Jan;Feb;Mar;Apr;May;Jun;Jul;Aug;Sep;Oct;Nov;Dec';\n"
    "SET LongMonthNames='January;February;March;April;May;June;July;August;September;October;November;December';\n"
    "SET DayNames='Mon;Tue;Wed;Thu;Fri;Sat;Sun';\n"
    "SET LongDayNames='Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday';\n"
)


def utc_timestamp() -> str:
    """The engine's timestamp form, e.g. ``2026-11-28T18:39:00.000Z``."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


@dataclass
class App:
    """A document, shared by all sessions that have it open."""

    app_id: str
    title: str
    is_session_app: bool = False
    file_path: Path | None = None
    script: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    model: DataModel = field(default_factory=DataModel.empty)
    #: the security table of ``section access`` (columns upper-cased), None when the script has none
    section_access: dict[str, Any] | None = None
    #: script variables after the last reload (name → text)
    script_variables: dict[str, str] = field(default_factory=dict)
    #: the ``sub`` that created or imported the app (ABAC's ``resource.owner``)
    owner: str = ""
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_reload_time: str = ""
    reloading: bool = False
    #: False while the app was opened without data and nobody needed the model yet
    data_loaded: bool = True
    #: bumped when the data model is swapped (reload)
    data_version: int = 0
    #: bumped by SetAppProperties
    props_version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    #: persisted generic objects and library entities (see ``engine.app.objects``)
    objects: ObjectStore = field(default_factory=lambda: ObjectStore("object", True))
    dimensions: ObjectStore = field(default_factory=lambda: ObjectStore("dimension", True))
    measures: ObjectStore = field(default_factory=lambda: ObjectStore("measure", True))
    bookmarks: ObjectStore = field(default_factory=lambda: ObjectStore("bookmark", True))
    variables: ObjectStore = field(default_factory=lambda: ObjectStore("variable", True))
    #: the file version (``store`` generation) this app holds, and the last ones this engine wrote: a file
    #: showing one of them is not another engine's change (``engine.app.sync``)
    generation: str = ""
    written: deque[str] = field(default_factory=lambda: deque(maxlen=16), repr=False)

    @property
    def locale(self) -> Locale:
        """The number and date conventions of the last reload's script (``SET DateFormat`` and the
        other interpretation variables): chart expressions format and read values with them."""
        return Locale.from_variables(self.script_variables)

    # -- persistence ---------------------------------------------------------------------------------------
    @classmethod
    def from_document(cls, doc: store.AppDocument, path: Path) -> App:
        app = cls(
            app_id=doc.app_id,
            title=doc.title or doc.app_id,
            file_path=path,
            script=doc.script,
            properties=dict(doc.properties),
            model=doc.model or DataModel.empty(),
            section_access=doc.section_access,
            script_variables=dict(doc.script_variables),
            connections={c["qId"]: c for c in doc.connections if "qId" in c},
            last_reload_time=doc.last_reload_time,
            data_loaded=doc.model is not None,
            generation=doc.generation,
            owner=doc.owner,
        )
        for name, items in app.entity_lists(doc).items():
            app.stores[name].load_json(items)
        return app

    def to_document(self) -> store.AppDocument:
        return store.AppDocument(
            app_id=self.app_id,
            title=self.title,
            script=self.script,
            properties=copy.deepcopy(self.properties),
            connections=list(self.connections.values()),
            last_reload_time=self.last_reload_time,
            model=self.model if self.data_loaded else None,
            section_access=self.section_access,
            script_variables=dict(self.script_variables),
            owner=self.owner,
            objects=self.objects.to_json(),
            dimensions=self.dimensions.to_json(),
            measures=self.measures.to_json(),
            bookmarks=self.bookmarks.to_json(),
            variables=self.variables.to_json(),
        )

    @functools.cached_property
    def stores(self) -> dict[str, ObjectStore]:
        """The persisted entity stores by their ``AppDocument`` member name (the stores are never replaced,
        and layouts listing one read its version on every request)."""
        return {
            "objects": self.objects,
            "dimensions": self.dimensions,
            "measures": self.measures,
            "bookmarks": self.bookmarks,
            "variables": self.variables,
        }

    @staticmethod
    def entity_lists(doc: store.AppDocument) -> dict[str, list[dict[str, Any]]]:
        return {
            "objects": doc.objects,
            "dimensions": doc.dimensions,
            "measures": doc.measures,
            "bookmarks": doc.bookmarks,
            "variables": doc.variables,
        }

    def ensure_data(self) -> None:
        """Load the data model of an app first opened without data."""
        if not self.data_loaded and self.file_path is not None:
            require_compute()  # a load from disk, never on the event loop
        with self.lock:
            if not self.data_loaded and self.file_path is not None:
                self.model = store.load(self.file_path, with_data=True).model or DataModel.empty()
                self.data_loaded = True

    def save(self, document: store.AppDocument | None = None) -> None:
        """Write the app atomically (see ``store.save``); session apps cannot be saved (9009).
        ``document`` is a snapshot taken on the event loop, where objects change (``to_document``)."""
        if self.is_session_app or self.file_path is None:
            raise QixError(SESSION_APP_NOT_PERSISTED, self.app_id)
        if document is None:
            with self.lock:
                document = self.to_document()
        if document.model is None:  # opened without data: the file keeps its data
            self.ensure_data()
            document.model = self.model
        generation = store.new_generation()
        self.written.append(generation)  # before the file can show it
        store.save(self.file_path, document, generation)

    def copy_from(self, source: App) -> None:
        """Take a copy of another app's script, properties, connections and data (session app from app)."""
        with source.lock:
            self.script = source.script
            self.properties = copy.deepcopy(source.properties)
            self.connections = copy.deepcopy(source.connections)
            self.model = source.model  # models are immutable: sharing is safe
            self.section_access = source.section_access
            self.script_variables = dict(source.script_variables)
            self.last_reload_time = source.last_reload_time
            for name, items in {n: s.to_json() for n, s in source.stores.items()}.items():
                self.stores[name].load_json(items)

    def facts(self) -> AppFacts:
        """What an access check needs of this app."""
        return AppFacts(
            self.app_id,
            self.section_access,
            owner=self.owner,
            name=self.title,
            description=str(self.properties.get("description", "")),
        )

    # -- properties -------------------------------------------------------------------------------------------
    def app_properties(self) -> dict[str, Any]:
        props = {
            "qTitle": self.title,
            "qLastReloadTime": self.last_reload_time,
            "qMigrationHash": "",
            "qSavedInProductVersion": "",
            "qThumbnail": {"qUrl": ""},
            "qHasSectionAccess": self.section_access is not None,
        }
        props.update(copy.deepcopy(self.properties))
        return props

    def set_app_properties(self, props: dict[str, Any]) -> None:
        props = copy.deepcopy(props)
        title = props.get("qTitle")
        if isinstance(title, str) and title:
            self.title = title
        self.properties = {
            k: v for k, v in props.items() if k not in ("qLastReloadTime", "qHasSectionAccess")
        }
        self.props_version += 1

    # -- data -------------------------------------------------------------------------------------------------
    def swap_data(self, model: DataModel, section_access: Any, variables: dict[str, str]) -> None:
        """Install a reload's result whole; queries already running finish on the old model.

        ``section_access`` is the runner's security table (upper-cased columns → values); it is kept in
        the persisted ``{"columns": [...], "rows": [[...]]}`` form.
        """
        table = section_access.columns if section_access is not None else None
        with self.lock:
            self.model = model
            self.section_access = (
                None
                if table is None
                else {"columns": list(table), "rows": [list(r) for r in zip(*table.values(), strict=True)]}
            )
            self.script_variables = variables
            self.data_loaded = True
            self.last_reload_time = utc_timestamp()
            self.data_version += 1
        warm(model)


class DocSession:
    """One session's view of an app (the target of the ``Doc`` handle)."""

    def __init__(self, app: App, identity: Any, no_data: bool = False) -> None:
        self.app = app
        self.identity = identity
        self.no_data = no_data
        #: session objects and session variables die with the session
        self.session_objects = ObjectStore("object", False)
        self.session_variables = ObjectStore("variable", False)
        #: alternate states added by AddAlternateState (they appear in GetAppLayout ``qStateNames``)
        self.state_names: list[str] = []
        self.states_version = 0
        #: one view per entity: every handle of an entity in this session shares it (see ``view``)
        self._views: dict[Entity, EntityView] = {}
        self._selection_versions: dict[str, int] = {}
        #: the object in selection mode (BeginSelections), by object id: one at a time, as in Qlik
        self._selection_mode: dict[str, SelectionMode] = {}
        self.selections = Selections(lambda: self.model, self.reduction_base, self.bump_selection_version)
        #: section access: this user's view of the current model (recomputed after a reload)
        self._access: SessionAccess | None = None

    def version(self) -> tuple[int, int, int]:
        return (self.app.props_version, self.app.data_version, self.states_version)

    # -- entities -------------------------------------------------------------------------------------------
    def view(self, entity: Entity) -> EntityView:
        """This session's view of ``entity`` (the target of all its handles here)."""
        view = self._views.get(entity)
        if view is None:
            view = self._views[entity] = EntityView(self, entity)
        return view

    def existing_view(self, entity: Entity) -> EntityView | None:
        return self._views.get(entity)

    def forget_view(self, entity: Entity) -> EntityView | None:
        """Drop ``entity``'s view (it was destroyed): a selection mode it was in ends, keeping the
        selections."""
        self._selection_mode.pop(entity.id, None)
        return self._views.pop(entity, None)

    # -- hooks the calculation layer overrides -----------------------------------------------------------
    # These keep layouts valid before selections and hypercubes exist; ``engine.calc`` replaces their
    # bodies. Every layout that computes something calls them; nothing else stores selection state.
    def selection_version(self, state: str = "$") -> int:
        """A counter that moves whenever the selections of ``state`` change (stale handles follow)."""
        return self._selection_versions.get(state, 0)

    def bump_selection_version(self, state: str | None = None) -> None:
        """Record a selection change in ``state`` (None = every state)."""
        states = (set(self._selection_versions) | {"$", *self.state_names}) if state is None else {state}
        for s in states:
            self._selection_versions[s] = self._selection_versions.get(s, 0) + 1

    def selection_snapshot(self) -> dict[str, Any]:
        """The session's selections as a bookmark stores them: a JSON dict whose ``qStateData`` list is
        what bookmark layouts show (``[{qStateName, qFieldItems}]``)."""
        return self.selections.snapshot()

    def restore_selections(self, snapshot: dict[str, Any]) -> None:
        """Apply a snapshot taken by :meth:`selection_snapshot` (ApplyBookmark)."""
        self.selections.restore(snapshot)

    def inference(self, state: str = "$") -> Inference:
        """The propagation of ``state``: shared by every session that sees the same model (reduction) in
        the same selections (see ``engine.app.calccache``)."""
        name = state or "$"
        return self._shared_inference(self.selections.state(name), lambda: self.selections.inference(name))

    def _shared_inference(self, selection: SelectionState, compute: Callable[[], Inference]) -> Inference:
        """``compute()``, the propagation of ``selection``, through the shared cache (by model, selections
        and reduction)."""
        model = self.model
        key = ("inference", id(model), selection.key(), id(self.reduction_base()))
        return CALC_CACHE.get_or_compute(key, model, compute)

    def existing(self, field: str) -> np.ndarray | None:
        """Bool mask of the field's symbols that exist for this session (None: no such field), as
        ``Inference.exists`` answers it but without a propagation: selecting by value needs no inference of
        the state being left (which may have been evicted, and must not be recomputed on the event loop)."""
        model = self.model
        if field not in model.fields:
            return None
        base = self.reduction_base()
        if base is not None and field in base.symbols:
            return base.symbols[field]
        return np.ones(len(model.fields[field].symbols), dtype=bool)

    def reduction_base(self) -> Reduction | None:
        """The section-access reduction every inference starts from (None = the whole model)."""
        return None

    def current_selections(self, state: str = "$") -> list[dict[str, Any]]:
        """``qSelections`` of a selection object: ``NxCurrentSelectionItem`` dicts."""
        require_compute()  # states and alternatives of every selected field: not on the event loop
        return current_selection_items(self.model, self.inference(state), self.selections)

    def selection_history(self, state: str = "$") -> tuple[int, int]:
        """(qBackCount, qForwardCount) of a selection object."""
        hist = self.selections.history(state)
        return (len(hist.back), len(hist.forward))

    def selection_mode(self, object_id: str) -> SelectionMode | None:
        """The selection mode ``object_id`` is in (None when it is not in one)."""
        return self._selection_mode.get(object_id)

    def selection_info(self, object_id: str) -> dict[str, Any]:
        """``qSelectionInfo`` of an object's layout (``{qInSelections, qMadeSelections}`` in selection mode)."""
        mode = self._selection_mode.get(object_id)
        if mode is None:
            return {}
        return {"qInSelections": True, "qMadeSelections": self.selections.key() != mode.key()}

    def begin_selection_mode(self, object_id: str) -> None:
        """BeginSelections: the object is computed in the selections it began in until the mode ends (see
        ``SelectionMode``). Another object already in selection mode: 6003, as in Qlik (clients end it
        with AbortModal and begin again); the same object again: nothing changes."""
        if object_id in self._selection_mode:
            return
        if self._selection_mode:
            raise QixError(MODAL_OBJECT, next(iter(self._selection_mode)))
        self._selection_mode[object_id] = self.selections.mode()

    def end_selection_mode(self, object_id: str, accept: bool, stay: bool = False) -> None:
        """EndSelections (``stay`` False) or ResetMadeSelections (``stay`` True: revert and go on)."""
        mode = self._selection_mode.get(object_id)
        if mode is None:
            return
        if not accept:
            self.selections.return_to(mode)
        if not stay:
            del self._selection_mode[object_id]

    def abort_selection_mode(self, accept: bool) -> None:
        """AbortModal: end whichever selection mode is on, keeping (``accept``) or reverting the selections."""
        for object_id in list(self._selection_mode):
            self.end_selection_mode(object_id, accept)

    def variable_text(self, name: str) -> str | None:
        """A variable's text for bare-name lookups in expressions (None when undefined)."""
        return variable_text(self, name)

    def render_hypercube(
        self, definition: HyperCubeDef, path: str, mode: SelectionMode | None = None
    ) -> dict[str, object]:
        """The ``qHyperCube`` layout of ``definition`` found at ``path`` (e.g. ``/qHyperCubeDef``), in the
        selection ``mode`` of its object if it is in one."""
        return self._shared(
            "cube-layout", definition, lambda: self.hypercube(definition, mode).layout(), mode
        )

    def render_list_object(
        self, definition: ListObjectDef, path: str, mode: SelectionMode | None = None
    ) -> dict[str, object]:
        """The ``qListObject`` layout of ``definition`` found at ``path`` (e.g. ``/qListObjectDef``)."""
        return self._shared(
            "list-layout", definition, lambda: self.list_object(definition, mode).layout(), mode
        )

    def list_object(self, definition: ListObjectDef, mode: SelectionMode | None = None) -> ListObject:
        """A list object over the current selections; in a selection ``mode`` its values keep the order
        they had when the mode began."""
        state = definition.get("qStateName") or "$"
        order = None if mode is None else self._mode_inference(state, mode)
        return ListObject(
            self.model,
            self.inference(state),
            definition,
            states=self.state_lookup,
            order_inf=order,
            locale=self.app.locale,
        )

    def hypercube(self, definition: HyperCubeDef, mode: SelectionMode | None = None) -> HyperCube:
        """The computed cube of a (library-resolved) ``qHyperCubeDef`` in its selection state (the one its
        selection ``mode`` began in, cells showing the current states); 7005 when its calculation
        condition does not hold (nothing is computed then)."""
        return self._shared("cube", definition, lambda: self._compute_hypercube(definition, mode), mode)

    def _compute_hypercube(self, definition: HyperCubeDef, mode: SelectionMode | None) -> HyperCube:
        state = definition.get("qStateName") or "$"
        live = self.inference(state)
        inf = live if mode is None else self._mode_inference(state, mode)
        unmet = calc_condition_message(self.model, inf, definition, self.variable_text, self.state_lookup)
        if unmet is not None:
            raise QixError(CALC_CONDITION_UNMET, unmet)
        # a shared cube outlives this session's state: later page reads see the state it was computed in
        states = self._frozen_states()
        if mode is not None:
            states.update(mode.states)
        variables = self._frozen_variables()
        return HyperCube(
            self.model,
            inf,
            definition,
            variables=variables.get,
            states=states.get,
            cell_inf=None if mode is None else live,
            locale=self.app.locale,
        )

    def _mode_inference(self, state: str, mode: SelectionMode) -> Inference:
        """The propagation of ``state`` as a selection mode began (shared as :meth:`inference` is)."""
        name = state or "$"
        selection = mode.states.get(name)
        if selection is None:  # a state added since the mode began
            return self.inference(name)
        model, base = self.model, self.reduction_base()
        return self._shared_inference(selection, lambda: infer(model, selection, base))

    def _shared(
        self,
        kind: str,
        definition: Mapping[str, object],
        compute: Callable[[], _T],
        mode: SelectionMode | None = None,
    ) -> _T:
        """``compute()`` through the shared cache under (kind, model, context, definition, the selections a
        selection ``mode`` began in); volatile definitions (Now(), Rand()…) are computed every time."""
        raw = orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)
        if volatile(raw):
            require_compute()
            return compute()
        model = self.model
        key = (kind, id(model), self.calc_context(), raw, None if mode is None else mode.key())
        value = CALC_CACHE.get_or_compute(key, model, compute)
        if isinstance(value, dict):  # a copy: the caller may add members to a shared layout
            return cast(_T, dict(value))
        return value

    def calc_context(self) -> tuple[object, ...]:
        """Everything besides the model and the definition that a result may depend on: the data and
        library versions, every selection state (set analysis may read any: ``{1}``, ``{$1}``, alternate
        states; locks included), AND/one-and-only-one fields and the variables this session can see.
        Not the session: two sessions with equal contexts share results."""
        app, sel = self.app, self.selections
        return (
            app.data_version,
            app.variables.version,
            app.dimensions.version,
            app.measures.version,
            tuple(self.state_names),
            tuple(sorted(sel.one_and_only_one)),
            tuple(sorted((name, hist.current.key()) for name, hist in sel.states.items())),
            self._session_variables_key(),
        )

    def _session_variables_key(self) -> tuple[object, ...]:
        store = self.session_variables
        if not len(store):
            return ()
        return tuple(
            (str(v.properties.get("qName")), str(v.properties.get("qDefinition", ""))) for v in store
        )

    def _frozen_states(self) -> dict[str, SelectionState]:
        names = set(self.selections.states) | set(self.state_names)
        return {n: self.selections.state(n) for n in names}

    def _frozen_variables(self) -> dict[str, str]:
        """Every variable this session can see, by name (app over session over script variables, as
        ``variable_text`` looks them up)."""
        out = dict(self.app.script_variables)
        for entities in (self.session_variables, self.app.variables):  # later wins, as in lookups
            for var in entities:
                name = var.properties.get("qName")
                if isinstance(name, str):
                    out[name] = str(var.properties.get("qDefinition", ""))
        return out

    def state_lookup(self, name: str) -> SelectionState | None:
        """Set-analysis identifiers: alternate state names (and ``$``) → their selections."""
        if name in self.selections.states or name in self.state_names:
            return self.selections.state(name)
        return None

    def evaluate(self, expr_text: str, state: str = "$") -> tuple[str | None, float]:
        """(text, number) of an expression over the session's possible data; an invalid expression
        gives the engine's error value (``Error: …`` text, NaN)."""
        expanded = expand_dollars(self, expr_text)
        return self._shared(
            "evaluate",
            {"e": expanded, "s": state},
            lambda: evaluate_expression(
                self.model,
                self.inference(state),
                expanded,
                self.variable_text,
                self.state_lookup,
                self.app.locale,
            ),
        )

    def search(self, field: str, match: str, state: str = "$") -> np.ndarray:
        """Symbols of ``field`` matched by a Field.Select search string (text, wildcards, numeric
        conditions, ``=expr``) among the values that exist for this session."""
        model, inf, locale = self.model, self.inference(state), self.app.locale

        def truth(f: str, expr: str) -> np.ndarray:
            return symbol_truth(
                model, inf, f, expr, variables=self.variable_text, states=self.state_lookup, locale=locale
            )

        return np.flatnonzero(search_mask(model, inf, field, match, evaluate_symbols=truth, locale=locale))

    def list_search(self, field: str, match: str, state: str = "$") -> np.ndarray:
        """Symbols matched by a list-object search (words prefix-match, case-insensitive)."""
        return list_search(self.model, self.inference(state), field, match)

    @property
    def model(self) -> DataModel:
        """The data model as this session may see it: on a section-access app, the user's reduced model
        (excluded rows and omitted fields do not exist in it), so every path reading it is safe."""
        if self.app.section_access is None:
            self.app.ensure_data()
            return self.app.model
        access = self.user_access()
        if access is None:  # the section access went away between the two reads (a reload)
            return self.app.model
        assert access.view is not None and access.view.model is not None
        return access.view.model

    # -- section access (see engine.app.access) ---------------------------------------------------------
    def user_access(self) -> UserAccess | None:
        """This user's access to the app's current data, None when the app has no section access.

        Raises 12002 when the engine does not validate JWTs (no user to match), 5 when the user has no
        access (checked again after every reload: a user who lost access fails on the next call).
        """
        app = self.app
        if app.section_access is None:
            return None
        if not getattr(self.identity, "authenticated", False):
            raise QixError(PERSONAL_SECTION_ACCESS, app.app_id)
        app.ensure_data()  # strict exclusion needs the data, even for an app opened without data
        with app.lock:
            model, table = app.model, app.section_access
        if table is None:
            return None
        cached = self._access
        if cached is None or cached.model is not model or cached.table is not table:
            access = ACCESS_CACHE.user_access(table, model, self.identity.user, self.identity.groups)
            cached = self._access = SessionAccess(model, table, access)
        if cached.access.denied:
            raise QixError(ACCESS_DENIED, app.app_id)
        return cached.access

    @property
    def locale_info(self) -> dict[str, Any]:
        return locale_info(self.app.script_variables)

    def app_layout(self) -> dict[str, Any]:
        app = self.app
        # section access: the user's model, and 5 for a user who lost access
        model = self.model if app.section_access is not None else app.model
        return {
            "qTitle": app.title,
            "qFileName": str(app.file_path) if app.file_path else app.app_id,
            "qLastReloadTime": app.last_reload_time,
            "qModified": False,
            "qHasScript": bool(app.script.strip()),
            "qStateNames": list(self.state_names),
            "qMeta": {"privileges": ["read", "update", "delete", "reload", "export", "exportdata"]},
            "qLocaleInfo": self.locale_info,
            "qHasData": bool(model.tables),
            "qReadOnly": False,
            "qIsOpenedWithoutData": self.no_data,
            "qIsSessionApp": app.is_session_app,
            "qProhibitBinaryLoad": False,
            "qThumbnail": {"qUrl": ""},
            "qUnsupportedFeatures": [],
            "qUsage": "ANALYTICS",
            "qHasSectionAccess": app.section_access is not None,
            **{k: v for k, v in copy.deepcopy(app.properties).items() if not k.startswith("q")},
        }


_NUMERICAL_ABBREVIATION = "3:k;6:M;9:G;12:T;15:P;18:E;21:Z;24:Y;-3:m;-6:μ;-9:n;-12:p;-15:f;-18:a;-21:z;-24:y"


def locale_info(script_variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``GetLocaleInfo``: the number and date conventions of the app's script (``SET DateFormat``...;
    ``Locale``'s defaults where it sets none), the calendar settings the en-US defaults of a new
    app's script give unless the script sets its own."""
    variables = script_variables or {}
    loc = Locale.from_variables(variables)

    def setting(name: str, default: int) -> int:
        try:
            return int(float(variables[name]))
        except (KeyError, ValueError):
            return default

    return {
        "qDecimalSep": loc.decimal_sep,
        "qThousandSep": loc.thousand_sep,
        "qListSep": ";",
        "qMoneyDecimalSep": loc.money_decimal_sep,
        "qMoneyThousandSep": loc.money_thousand_sep,
        "qCurrentYear": time.gmtime().tm_year,
        "qMoneyFmt": loc.money_format,
        "qTimeFmt": loc.time_format,
        "qDateFmt": loc.date_format,
        "qTimestampFmt": loc.timestamp_format,
        "qCalendarStrings": {
            "qDayNames": list(loc.day_names),
            "qMonthNames": list(loc.month_names),
            "qLongDayNames": list(loc.long_day_names),
            "qLongMonthNames": list(loc.long_month_names),
        },
        "qFirstWeekDay": setting("FirstWeekDay", 6),
        "qBrokenWeeks": setting("BrokenWeeks", 1) != 0,
        "qReferenceDay": setting("ReferenceDay", 0),
        "qFirstMonthOfYear": loc.first_month_of_year,
        "qCollation": variables.get("CollationLocale") or "en-US",
        "qNumericalAbbreviation": variables.get("NumericalAbbreviation") or _NUMERICAL_ABBREVIATION,
    }


@dataclass(eq=False)
class FieldRef:
    """The target of a ``Field`` handle: a field name in one state of a session's view of an app."""

    doc: DocSession
    name: str
    state: str = "$"

    def version(self) -> int:
        return self.doc.app.data_version


@dataclass(eq=False)
class ScriptVariable:
    """A variable the load script defined (``SET``/``LET``), read through ``GetVariableByName``."""

    doc: DocSession
    name: str

    @property
    def id(self) -> str:
        return f"script-variable-{self.name}"

    def version(self) -> tuple[int, int]:
        # variable stores move when any variable (script ones included, see set_text) is set
        return (self.doc.app.data_version, self.doc.app.variables.version)

    def set_text(self, text: str) -> None:
        """A value set by a client (SetStringValue…): kept until the next reload replaces the variables."""
        app = self.doc.app
        app.script_variables[self.name] = text
        app.variables.version += 1

    @property
    def text(self) -> str:
        return self.doc.app.script_variables.get(self.name, "")

    def layout(self) -> dict[str, Any]:
        text = self.text
        try:
            num: float | str = float(text)
        except ValueError:
            num = "NaN"
        return {
            "qInfo": {"qId": self.id, "qType": "variable"},
            "qMeta": {"privileges": ["read"]},
            "qText": text,
            "qNum": num,
            "qIsScriptCreated": True,
        }

    def properties(self) -> dict[str, Any]:
        return {
            "qInfo": {"qId": self.id, "qType": "variable"},
            "qMetaDef": {},
            "qName": self.name,
            "qComment": "",
            "qNumberPresentation": {"qType": "U", "qnDec": 10, "qUseThou": 0},
            "qIncludeInBookmark": False,
            "qDefinition": self.text,
        }
