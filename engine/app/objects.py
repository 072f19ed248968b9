"""Generic objects and library entities (dimensions, measures, bookmarks, variables) and their stores.

Every entity is a property tree (JSON, with any custom keys) identified by ``qInfo.qId``. Persisted ones
live in the :class:`~engine.app.app.App` and are saved with it; session ones live in the
:class:`~engine.app.app.DocSession` and die with it. A store keeps a ``version`` that moves whenever one of
its members is created, destroyed or changed: layouts that list other objects (app-object lists, child
lists, variable lists) or evaluate expressions depend on it.

Handles do not point at an entity directly but at an :class:`EntityView`: one session's view of it. Its
``version()`` mixes what the session layer must watch to report the handle in ``change``: the app's data
version, the entity's own counter, the soft patches this session applied, and exactly the sources its
layout reads (:class:`Dependencies`): the stores it lists, its own children, the object it extends, the
variables its expressions may read, the selection states it computes in. Nothing else: a client re-fetches
every handle reported changed, so an object that moves with unrelated ones costs a round trip each time.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.jsonmembers import dict_member

if TYPE_CHECKING:
    from engine.app.app import DocSession

#: ``qInfo.qType`` given to library entities when the properties leave it out
DEFAULT_TYPES = {
    "dimension": "dimension",
    "measure": "measure",
    "bookmark": "bookmark",
    "variable": "variable",
}

#: properties keys whose layout is computed (the rest is copied)
DEF_KEYS = {
    "qHyperCubeDef": "qHyperCube",
    "qListObjectDef": "qListObject",
    "qSelectionObjectDef": "qSelectionObject",
    "qFieldListDef": "qFieldList",
    "qAppObjectListDef": "qAppObjectList",
    "qDimensionListDef": "qDimensionList",
    "qMeasureListDef": "qMeasureList",
    "qVariableListDef": "qVariableList",
    "qBookmarkListDef": "qBookmarkList",
    "qChildListDef": "qChildList",
    "qMediaListDef": "qMediaList",
    "qExtensionListDef": "qExtensionList",
    "qUndoInfoDef": "qUndoInfo",
}
#: what each def's layout reads besides the data model: the entity stores it lists (``objects``: the app's
#: persisted objects, ``children``: the entity's own), and ``variables`` for anything holding expressions
DEF_SOURCES: dict[str, frozenset[str]] = {
    "qHyperCubeDef": frozenset({"variables"}),
    "qListObjectDef": frozenset({"variables"}),
    "qAppObjectListDef": frozenset({"objects"}),
    "qDimensionListDef": frozenset({"dimensions"}),
    "qMeasureListDef": frozenset({"measures"}),
    "qVariableListDef": frozenset({"variables"}),
    "qBookmarkListDef": frozenset({"bookmarks"}),
    "qChildListDef": frozenset({"children"}),
}
EXPRESSION_KEYS = frozenset({"qStringExpression", "qValueExpression"})
#: a library reference reads the master item, and the variables its expression may use
LIBRARY_SOURCES = frozenset({"dimensions", "measures", "variables"})

#: how many ``qExtendsId`` links a layout follows (a longer chain, or a cycle, stops there)
MAX_EXTENDS = 16

_ID_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    """An object id in the engine's style: short, random, URL safe."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


@dataclass(frozen=True)
class Dependencies:
    """What an entity's layout depends on besides its own properties (computed when they change)."""

    computed: bool = False  # any def or expression: the layout depends on data and selections
    #: the sources it reads: entity stores by kind, ``children``, ``extends`` (``qExtendsId``)
    sources: frozenset[str] = frozenset()
    states: tuple[str, ...] = ("$",)


def scan_dependencies(props: dict[str, Any], kind: str = "object") -> Dependencies:
    """Walk a property tree once for defs, expressions and the selection states they use."""
    computed = False
    sources: set[str] = {"variables"} if kind == "variable" else set()  # a definition may read others
    states = {"$"}
    base = props.get("qExtendsId")
    if kind == "object" and isinstance(base, str) and base:
        sources.add("extends")
    stack: list[Any] = [props]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in DEF_KEYS:
                    computed = True
                    sources.update(DEF_SOURCES.get(key, ()))
                elif key in EXPRESSION_KEYS:
                    computed = True
                    sources.add("variables")
                elif key == "qStateName" and isinstance(value, str) and value:
                    states.add(value)
                elif key == "qLibraryId" and value:
                    sources.update(LIBRARY_SOURCES)
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return Dependencies(computed, frozenset(sources), tuple(sorted(states)))


_SERIALS = itertools.count(1)


@dataclass(eq=False)
class Entity:
    """A generic object or library entity; ``kind`` is one of ``object``, ``dimension``, ``measure``,
    ``bookmark``, ``variable``. Identity (not value) equality: handles and views key on the instance."""

    kind: str
    properties: dict[str, Any]
    #: the store holding the entity (None only while it is being made)
    store: ObjectStore | None = None
    parent: Entity | None = None
    children: list[Entity] = field(default_factory=list)
    #: bumped on every property change: handles of this entity go stale
    counter: int = 0
    #: bookmarks: the selection snapshot taken by ``DocSession.selection_snapshot()``
    state: dict[str, Any] | None = None
    #: variables: the number set by SetNumValue/SetDualValue, valid while the definition is ``dual_text``
    dual_num: float | None = None
    dual_text: str | None = None
    deps: Dependencies = field(default_factory=Dependencies)
    #: unique for the life of the process: tells a re-created entity from the one it replaces (same id)
    serial: int = field(default_factory=lambda: next(_SERIALS))

    def __post_init__(self) -> None:
        self.deps = scan_dependencies(self.properties, self.kind)

    @property
    def home(self) -> ObjectStore:
        """``store``, for an entity that is in one (every entity a handle can reach)."""
        assert self.store is not None, "an entity outside any store"
        return self.store

    @property
    def id(self) -> str:
        qid: str = self.properties["qInfo"]["qId"]  # set by normalise_properties and the store
        return qid

    @property
    def type(self) -> str:
        qtype: str = self.properties["qInfo"].get("qType", "")
        return qtype

    @property
    def persistent(self) -> bool:
        return self.store is not None and self.store.persistent

    def info(self) -> dict[str, str]:
        return {"qId": self.id, "qType": self.type}

    def meta(self) -> dict[str, Any]:
        """``qMeta`` of layouts and list items: ``qMetaDef`` contents plus the caller's privileges."""
        meta = copy.deepcopy(self.properties.get("qMetaDef") or {})
        if not isinstance(meta, dict):
            meta = {}
        meta["privileges"] = ["read", "update", "delete", "exportdata"]
        return meta

    def set_properties(self, props: dict[str, Any]) -> None:
        """Replace the properties; the id never changes through SetProperties (nor does a missing type)."""
        props = copy.deepcopy(props)
        info = dict_member(props, "qInfo")
        props["qInfo"] = {**info, "qId": self.id, "qType": info.get("qType") or self.type}
        self.properties = props
        self.deps = scan_dependencies(props, self.kind)
        self.touch()

    def touch(self) -> None:
        self.counter += 1
        if self.store is not None:
            self.store.version += 1

    def descendants(self) -> Iterator[Entity]:
        """This entity and every child below it, parents first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"qProperty": copy.deepcopy(self.properties)}
        if self.parent is not None:
            out["qParent"] = self.parent.id
        if self.children:
            out["qChildren"] = [c.id for c in self.children]
        if self.state is not None:
            out["qState"] = copy.deepcopy(self.state)
        if self.dual_text is not None:
            out["qDual"] = [self.dual_text, self.dual_num]
        return out


def normalise_properties(props: Any, kind: str) -> dict[str, Any]:
    """A deep copy with ``qInfo`` present (``qId`` may still be empty; the store assigns one)."""
    out: dict[str, Any] = copy.deepcopy(props) if isinstance(props, dict) else {}
    info = dict_member(out, "qInfo")
    qtype = info.get("qType") or DEFAULT_TYPES.get(kind, "")
    out["qInfo"] = {**info, "qId": str(info.get("qId") or ""), "qType": qtype}
    return out


class ObjectStore:
    """The entities of one kind owned by an app (persistent) or a session (not persistent)."""

    def __init__(self, kind: str, persistent: bool) -> None:
        self.kind = kind
        self.persistent = persistent
        self.by_id: dict[str, Entity] = {}
        #: moves on any create/destroy/change of a member
        self.version = 0

    def __len__(self) -> int:
        return len(self.by_id)

    def __iter__(self) -> Iterator[Entity]:
        return iter(list(self.by_id.values()))

    def get(self, entity_id: str) -> Entity | None:
        return self.by_id.get(entity_id)

    def add(self, entity: Entity, parent: Entity | None = None) -> Entity:
        entity.store = self
        entity.parent = parent
        self.by_id[entity.id] = entity
        if parent is not None:
            parent.children.append(entity)
        self.version += 1
        return entity

    def remove(self, entity: Entity) -> list[Entity]:
        """Remove ``entity`` and its descendants; returns every removed entity."""
        gone = list(entity.descendants())
        for e in gone:
            self.by_id.pop(e.id, None)
        if entity.parent is not None and entity in entity.parent.children:
            entity.parent.children.remove(entity)
        entity.parent = None
        self.version += 1
        return gone

    def roots(self) -> list[Entity]:
        return [e for e in self.by_id.values() if e.parent is None]

    # -- persistence ----------------------------------------------------------------------------------------
    def to_json(self) -> list[dict[str, Any]]:
        """Parents before children, children in their order, so :meth:`load_json` can rebuild the tree."""
        return [e.to_json() for root in self.roots() for e in root.descendants()]

    def load_json(self, items: list[dict[str, Any]]) -> None:
        for item in items or []:
            props = item.get("qProperty")
            if not isinstance(props, dict) or not isinstance(props.get("qInfo"), dict):
                continue
            entity = Entity(self.kind, copy.deepcopy(props))
            if entity.id in self.by_id:
                continue
            state = item.get("qState")
            entity.state = copy.deepcopy(state) if isinstance(state, dict) else None
            dual = item.get("qDual")
            if isinstance(dual, list) and len(dual) == 2:
                entity.dual_text, entity.dual_num = dual[0], dual[1]
            self.add(entity, self.by_id.get(item.get("qParent") or ""))


@dataclass(eq=False)
class EntityView:
    """The target of a handle: one session's view of an entity (soft patches live here)."""

    doc: DocSession
    entity: Entity
    #: ApplyPatches with qSoftPatch: kept per session, re-applied on top of the current properties
    soft_patches: list[dict[str, Any]] = field(default_factory=list)
    soft_counter: int = 0
    #: (version, layout) of the last GetLayout: dashboards poll unchanged objects, and a layout is a pure
    #: function of what ``version()`` tracks (the same contract that drives change notifications)
    _layout: tuple[object, dict[str, Any]] | None = field(default=None, repr=False)
    #: (stamp, actions, privileges) of the session's document rules for this object: see guard.view_actions
    access: tuple[tuple[Any, ...], frozenset[str], tuple[str, ...]] | None = field(default=None, repr=False)
    #: (layout, privileges, GetLayout answer with them) last answered with ABAC on: see guard._with_privileges
    shown_layout: tuple[dict[str, Any], tuple[str, ...], dict[str, Any]] | None = field(
        default=None, repr=False
    )

    def cached_layout(self, version: object) -> dict[str, Any] | None:
        cached = self._layout
        return cached[1] if cached is not None and cached[0] == version else None

    def keep_layout(self, version: object, layout: dict[str, Any]) -> None:
        self._layout = (version, layout)

    def add_soft_patches(self, patches: list[dict[str, Any]]) -> None:
        self.soft_patches.extend(copy.deepcopy(patches))
        self.soft_counter += 1

    def clear_soft_patches(self) -> None:
        if self.soft_patches:
            self.soft_patches = []
            self.soft_counter += 1

    def version(self) -> tuple[object, ...]:
        entity, doc = self.entity, self.doc
        deps = entity.deps
        v: tuple[object, ...] = (doc.app.data_version, entity.counter, self.soft_counter)
        for source in sorted(deps.sources):
            v += (self._source_version(source),)
        if deps.computed or entity.kind in ("variable", "dimension"):
            v += tuple(map(doc.selection_version, deps.states))
        if entity.kind == "object":  # BeginSelections/EndSelections change this object's layout only
            mode = doc.selection_mode(entity.id)
            v += (0 if mode is None else mode.serial,)
        return v

    def _source_version(self, source: str) -> object:
        """The version of one thing the layout reads (see :class:`Dependencies`)."""
        entity, doc = self.entity, self.doc
        if source == "children":  # the child list shows each child's properties (qData)
            return tuple((c.serial, c.counter) for c in entity.children)
        if source == "extends":
            return self._bases()
        if source == "variables":
            return (doc.app.variables.version, doc.session_variables.version)
        return doc.app.stores[source].version

    def _bases(self) -> tuple[object, ...]:
        """``qExtendsId``: the chain of objects this one inherits from, as the layout resolves it (a missing
        base is part of the version too: creating it changes the layout)."""
        doc, chain = self.doc, list[tuple[object, object]]()
        base_id = self.entity.properties.get("qExtendsId")
        while isinstance(base_id, str) and base_id and len(chain) < MAX_EXTENDS:
            base = doc.session_objects.get(base_id) or doc.app.objects.get(base_id)
            if base is None or base is self.entity:
                chain.append((base_id, None))
                break
            chain.append((base.serial, base.counter))
            base_id = base.properties.get("qExtendsId")
        return tuple(chain)
