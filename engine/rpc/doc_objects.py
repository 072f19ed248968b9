"""Doc methods for generic objects, variables, dimensions, measures, bookmarks and alternate states.

Get* on a missing id answers the not-found form ``{"qReturn": {"qType": null, "qHandle": null}}`` rather
than an error (clients test for it); every Get* hands out a new handle; Destroy* closes every handle of
the entity and of its children, in this session and in the others on the same app.
"""

from __future__ import annotations

import time
from typing import Any

from engine.app import library
from engine.app.app import DocSession, ScriptVariable
from engine.app.layout import container_entry, script_variable_id
from engine.app.objects import Entity, ObjectStore
from engine.errors import INVALID_PARAMETERS, QixError
from engine.rpc import entities
from engine.rpc.dispatch import NOT_FOUND_INTERFACE, Call, rpc
from engine.rpc.structs import LibraryProperties, NxGetObjectOptions, ObjectProperties


def _doc(call: Call) -> DocSession:
    doc: DocSession = call.target  # a Doc handle's target
    return doc


# -- generic objects ------------------------------------------------------------------------------------
@rpc("Doc", "CreateSessionObject", qProp={})
def create_session_object(call: Call, qProp: ObjectProperties) -> dict[str, object]:
    doc = _doc(call)
    obj = library.create_object(doc, qProp, doc.session_objects)
    return {"qReturn": entities.interface(call, obj)}


@rpc("Doc", "CreateObject", qProp={})
def create_object(call: Call, qProp: ObjectProperties) -> dict[str, object]:
    doc = _doc(call)
    obj = library.create_object(doc, qProp, doc.app.objects)
    entities.changed(call, obj)
    return entities.created(call, obj)


@rpc("Doc", "GetObject", qId="")
def get_object(call: Call, qId: str) -> dict[str, object]:
    return {"qReturn": entities.interface(call, library.find_object(_doc(call), qId))}


@rpc("Doc", "GetObjects", qOptions={})
def get_objects(call: Call, qOptions: NxGetObjectOptions) -> dict[str, object]:
    types = qOptions.get("qTypes") or []
    qdata = qOptions.get("qData") or {}
    include_session = bool(qOptions.get("qIncludeSessionObjects"))
    items = [
        container_entry(obj, qdata)
        for obj in library.all_objects(_doc(call), include_session)
        if not types or obj.type in types
    ]
    return {"qList": items}


def _destroy(call: Call, store: ObjectStore, qId: str) -> dict[str, object]:
    """Remove an entity (and its children) from ``store``, closing every handle of it."""
    entity = store.get(qId)
    if entity is None:
        return {"qSuccess": False}
    entities.close(call, store.remove(entity))
    return {"qSuccess": True}


@rpc("Doc", "DestroySessionObject", qId="")
def destroy_session_object(call: Call, qId: str) -> dict[str, object]:
    return _destroy(call, _doc(call).session_objects, qId)


@rpc("Doc", "DestroyObject", qId="")
def destroy_object(call: Call, qId: str) -> dict[str, object]:
    return _destroy(call, _doc(call).app.objects, qId)


@rpc("Doc", "GetAllInfos")
def get_all_infos(call: Call) -> dict[str, object]:
    doc = _doc(call)
    infos = [o.info() for o in library.all_objects(doc)]
    for store in (
        doc.app.dimensions,
        doc.app.measures,
        doc.app.bookmarks,
        doc.app.variables,
        doc.session_variables,
    ):
        infos.extend(e.info() for e in store)
    return {"qInfos": infos}


# -- variables ------------------------------------------------------------------------------------------
@rpc("Doc", "CreateSessionVariable", qProp={})
def create_session_variable(call: Call, qProp: LibraryProperties) -> dict[str, object]:
    doc = _doc(call)
    var = library.create_variable(doc, qProp, doc.session_variables)
    return {"qReturn": entities.interface(call, var)}


@rpc("Doc", "CreateVariableEx", qProp={})
def create_variable_ex(call: Call, qProp: LibraryProperties) -> dict[str, object]:
    doc = _doc(call)
    var = library.create_variable(doc, qProp, doc.app.variables)
    entities.changed(call, var)
    return entities.created(call, var)


@rpc("Doc", "CreateVariable", qName="")
def create_variable(call: Call, qName: str) -> dict[str, object]:
    doc = _doc(call)
    var = library.create_variable(doc, {"qName": qName}, doc.app.variables)
    entities.changed(call, var)
    return {"qReturn": True}


def _script_variable(call: Call, name: str | None) -> dict[str, object]:
    doc = _doc(call)
    if name is None or name not in doc.app.script_variables:
        return {"qReturn": dict(NOT_FOUND_INTERFACE)}
    var = ScriptVariable(doc, name)
    return {
        "qReturn": call.object_interface("GenericVariable", var, generic_id=var.id, generic_type="variable")
    }


def _script_name_of(doc: DocSession, variable_id: str) -> str | None:
    for name in doc.app.script_variables:
        if script_variable_id(name) == variable_id:
            return name
    return None


@rpc("Doc", "GetVariableById", qId="")
def get_variable_by_id(call: Call, qId: str) -> dict[str, object]:
    doc = _doc(call)
    var = library.variable_by_id(doc, qId)
    if var is None:
        return _script_variable(call, _script_name_of(doc, qId))
    return {"qReturn": entities.interface(call, var)}


@rpc("Doc", "GetVariableByName", qName="")
def get_variable_by_name(call: Call, qName: str) -> dict[str, object]:
    var = library.variable_by_name(_doc(call), qName)
    if var is None:
        return _script_variable(call, qName)
    return {"qReturn": entities.interface(call, var)}


def _destroy_variable(call: Call, var: Entity | None, session_only: bool) -> dict[str, object]:
    doc = _doc(call)
    if var is None or (session_only and var.persistent):
        return {"qSuccess": False}
    return _destroy(call, doc.app.variables if var.persistent else doc.session_variables, var.id)


@rpc("Doc", "DestroySessionVariable", qId="")
def destroy_session_variable(call: Call, qId: str) -> dict[str, object]:
    return _destroy_variable(call, _doc(call).session_variables.get(qId), True)


@rpc("Doc", "DestroyVariableById", qId="")
def destroy_variable_by_id(call: Call, qId: str) -> dict[str, object]:
    return _destroy_variable(call, library.variable_by_id(_doc(call), qId), False)


@rpc("Doc", "DestroyVariableByName", qName="")
def destroy_variable_by_name(call: Call, qName: str) -> dict[str, object]:
    return _destroy_variable(call, library.variable_by_name(_doc(call), qName), False)


# -- dimensions, measures, bookmarks ----------------------------------------------------------------------
def _create(call: Call, store: ObjectStore, props: Any) -> tuple[Entity, dict[str, object]]:
    entity = library.create_entity(store, props)
    entities.changed(call, entity)
    return entity, entities.created(call, entity)


def _register_library(noun: str, attr: str) -> None:
    """Doc.Create<noun>/Get<noun>/Destroy<noun> over the app's ``attr`` store (dimensions, measures)."""

    @rpc("Doc", f"Create{noun}", qProp={})
    def create(call: Call, qProp: LibraryProperties) -> dict[str, object]:
        return _create(call, getattr(_doc(call).app, attr), qProp)[1]

    @rpc("Doc", f"Get{noun}", qId="")
    def get(call: Call, qId: str) -> dict[str, object]:
        return {"qReturn": entities.interface(call, getattr(_doc(call).app, attr).get(qId))}

    @rpc("Doc", f"Destroy{noun}", qId="")
    def destroy(call: Call, qId: str) -> dict[str, object]:
        return _destroy(call, getattr(_doc(call).app, attr), qId)


_register_library("Dimension", "dimensions")
_register_library("Measure", "measures")


def utc_days() -> float:
    """Now as the engine's UTC timestamps in layouts: days since 1899-12-30."""
    return time.time() / 86400.0 + 25569.0


def take_snapshot(doc: DocSession) -> dict[str, Any]:
    snapshot = doc.selection_snapshot()
    snapshot.setdefault("qStateData", [])
    snapshot["qUtcModifyTime"] = utc_days()
    return snapshot


@rpc("Doc", "CreateBookmark", qProp={})
def create_bookmark(call: Call, qProp: LibraryProperties) -> dict[str, object]:
    doc = _doc(call)
    store = doc.app.bookmarks
    bookmark, result = _create(call, store, qProp)
    bookmark.state = take_snapshot(doc)
    return result


@rpc("Doc", "GetBookmark", qId="")
def get_bookmark(call: Call, qId: str) -> dict[str, object]:
    return {"qReturn": entities.interface(call, _doc(call).app.bookmarks.get(qId))}


@rpc("Doc", "DestroyBookmark", qId="")
def destroy_bookmark(call: Call, qId: str) -> dict[str, object]:
    return _destroy(call, _doc(call).app.bookmarks, qId)


def apply_bookmark(doc: DocSession, bookmark: Entity) -> bool:
    """Restore the bookmark's selections in this session."""
    state = {k: v for k, v in (bookmark.state or {}).items() if k != "qUtcModifyTime"}
    state.setdefault("qStateData", [])
    doc.restore_selections(state)
    return True


@rpc("Doc", "ApplyBookmark", qId="")
def apply_bookmark_rpc(call: Call, qId: str) -> dict[str, object]:
    doc = _doc(call)
    bookmark = doc.app.bookmarks.get(qId)
    if bookmark is None:
        return {"qSuccess": False}
    return {"qSuccess": apply_bookmark(doc, bookmark)}


# -- alternate states -----------------------------------------------------------------------------------
def _add_state(call: Call, name: str) -> dict[str, object]:
    doc = _doc(call)
    if not name or name == "$":
        raise QixError(INVALID_PARAMETERS, name)
    if name not in doc.state_names:
        doc.state_names.append(name)
        doc.states_version += 1
    return {}


def _remove_state(call: Call, name: str) -> dict[str, object]:
    doc = _doc(call)
    if name in doc.state_names:
        doc.state_names.remove(name)
        doc.states_version += 1
    return {}


@rpc("Doc", "AddAlternateState", qStateName="")
def add_alternate_state(call: Call, qStateName: str) -> dict[str, object]:
    return _add_state(call, qStateName)


@rpc("Doc", "AddSessionAlternateState", qStateName="", qSourceStateName="")
def add_session_alternate_state(call: Call, qStateName: str, qSourceStateName: str) -> dict[str, object]:
    return _add_state(call, qStateName)


@rpc("Doc", "RemoveAlternateState", qStateName="")
def remove_alternate_state(call: Call, qStateName: str) -> dict[str, object]:
    return _remove_state(call, qStateName)


@rpc("Doc", "RemoveSessionAlternateState", qStateName="")
def remove_session_alternate_state(call: Call, qStateName: str) -> dict[str, object]:
    return _remove_state(call, qStateName)
