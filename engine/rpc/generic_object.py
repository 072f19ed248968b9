"""The GenericObject interface: properties, layout, patches, children and the full property tree.

Calculation methods on objects (hypercube pages, selections in list objects) are registered by the
calculation layer's module; this one covers the object as a property tree.
"""

from __future__ import annotations

import copy
from typing import Any

from engine.app import library
from engine.app.calccache import computed_then
from engine.app.layout import effective_properties, object_layout
from engine.app.objects import Entity, EntityView
from engine.jsonmembers import dict_member
from engine.rpc import entities
from engine.rpc.dispatch import Answer, Call, rpc
from engine.rpc.structs import ObjectProperties, Patches, PropertyTree

OBJECT = "GenericObject"


def _view(call: Call) -> EntityView:
    view: EntityView = call.target  # a GenericObject handle's target
    return view


@rpc(OBJECT, "GetLayout", read=True)
def get_layout(call: Call) -> Answer:
    """Answered at once from the view's last layout while its version holds, or on the event loop when
    every result it needs is in the shared calculation cache (another user in the same state computed
    it); otherwise computed in a worker thread (hypercubes over large models take a while; an AbortRequest
    answers error 15), so no request waits behind another's calculation for a thread."""
    view = _view(call)
    version = call.session.mark_read(call.handle)
    layout = view.cached_layout(version)
    if layout is not None:
        return {"qLayout": layout}

    def keep(layout: dict[str, object]) -> dict[str, object]:
        view.keep_layout(version, layout)
        return {"qLayout": layout}

    return computed_then(lambda: object_layout(view.doc, view), keep)


@rpc(OBJECT, "GetProperties")
def get_properties(call: Call) -> dict[str, object]:
    return {"qProp": copy.deepcopy(_view(call).entity.properties)}


@rpc(OBJECT, "GetEffectiveProperties")
def get_effective_properties(call: Call) -> dict[str, object]:
    view = _view(call)
    return {"qProp": effective_properties(view.doc, view)}


@rpc(OBJECT, "SetProperties", qProp={})
def set_properties(call: Call, qProp: ObjectProperties) -> dict[str, object]:
    view = _view(call)
    view.clear_soft_patches()
    view.entity.set_properties(qProp)
    entities.changed(call, view.entity)
    return {}


@rpc(OBJECT, "ApplyPatches", qPatches=[], qSoftPatch=False)
def apply_patches(call: Call, qPatches: Patches, qSoftPatch: bool) -> dict[str, object]:
    view = _view(call)
    entities.patch(view, qPatches, qSoftPatch)
    if not qSoftPatch:
        entities.changed(call, view.entity)
    return {}


@rpc(OBJECT, "GetInfo")
def get_info(call: Call) -> dict[str, object]:
    return {"qInfo": _view(call).entity.info()}


@rpc(OBJECT, "GetLinkedObjects")
def get_linked_objects(call: Call) -> dict[str, object]:
    return {"qItems": []}


# -- children ---------------------------------------------------------------------------------------------
def _set_parent_props(view: EntityView, props: Any) -> None:
    """``qPropForThis``: new properties for the parent, applied with the child change (when given)."""
    if isinstance(props, dict) and props:
        view.clear_soft_patches()
        view.entity.set_properties(props)


@rpc(OBJECT, "CreateChild", qProp={}, qPropForThis={})
def create_child(call: Call, qProp: ObjectProperties, qPropForThis: ObjectProperties) -> dict[str, object]:
    view = _view(call)
    parent = view.entity
    child = library.create_object(view.doc, qProp, parent.home, parent)
    _set_parent_props(view, qPropForThis)
    parent.touch()
    entities.changed(call, parent)
    return entities.created(call, child)


def _child(parent: Entity, child_id: str) -> Entity | None:
    return next((c for c in parent.children if c.id == child_id), None)


@rpc(OBJECT, "GetChild", qId="")
def get_child(call: Call, qId: str) -> dict[str, object]:
    return {"qReturn": entities.interface(call, _child(_view(call).entity, qId))}


@rpc(OBJECT, "GetChildInfos")
def get_child_infos(call: Call) -> dict[str, object]:
    return {"qInfos": [c.info() for c in _view(call).entity.children]}


@rpc(OBJECT, "GetParent")
def get_parent(call: Call) -> dict[str, object]:
    return {"qReturn": entities.interface(call, _view(call).entity.parent)}


@rpc(OBJECT, "DestroyChild", qId="", qPropForThis={})
def destroy_child(call: Call, qId: str, qPropForThis: ObjectProperties) -> dict[str, object]:
    view = _view(call)
    parent = view.entity
    child = _child(parent, qId)
    if child is None:
        return {"qSuccess": False}
    entities.close(call, parent.home.remove(child))
    _set_parent_props(view, qPropForThis)
    parent.touch()
    entities.changed(call, parent)
    return {"qSuccess": True}


@rpc(OBJECT, "DestroyAllChildren", qPropForThis={})
def destroy_all_children(call: Call, qPropForThis: ObjectProperties) -> dict[str, object]:
    view = _view(call)
    parent = view.entity
    gone: list[Entity] = []
    for child in list(parent.children):
        gone.extend(parent.home.remove(child))
    entities.close(call, gone)
    _set_parent_props(view, qPropForThis)
    parent.touch()
    entities.changed(call, parent)
    return {}


# -- full property tree ----------------------------------------------------------------------------------
def property_tree(entity: Entity) -> dict[str, Any]:
    """``{qProperty, qChildren: [same shape], qEmbeddedSnapshotRef: null}``."""
    return {
        "qProperty": copy.deepcopy(entity.properties),
        "qChildren": [property_tree(c) for c in entity.children],
        "qEmbeddedSnapshotRef": None,
    }


@rpc(OBJECT, "GetFullPropertyTree")
def get_full_property_tree(call: Call) -> dict[str, object]:
    return {"qPropEntry": property_tree(_view(call).entity)}


def _set_tree(call: Call, entity: Entity, entry: dict[str, Any]) -> None:
    """Replace ``entity``'s properties and children by ``entry``: children are matched by id (kept and
    updated), new ones created, missing ones destroyed; the order becomes the entry's."""
    props = entry.get("qProperty")
    if isinstance(props, dict):
        entity.set_properties(props)
    wanted = [c for c in entry.get("qChildren") or [] if isinstance(c, dict)]
    existing = {c.id: c for c in entity.children}
    keep_ids = set()
    for child_entry in wanted:
        info = (child_entry.get("qProperty") or {}).get("qInfo") or {}
        if isinstance(info, dict) and info.get("qId") in existing:
            keep_ids.add(info["qId"])
    gone: list[Entity] = []
    for old in list(entity.children):
        if old.id not in keep_ids:
            gone.extend(entity.home.remove(old))
    entities.close(call, gone)
    order: list[Entity] = []
    for child_entry in wanted:
        child_props = dict_member(child_entry, "qProperty")
        child_id = (
            (child_props.get("qInfo") or {}).get("qId")
            if isinstance(child_props.get("qInfo"), dict)
            else None
        )
        child = existing.get(child_id) if isinstance(child_id, str) and child_id in keep_ids else None
        if child is None:
            doc = entities.doc_of(call)
            child = library.create_object(doc, child_props, entity.home, entity)
        _set_tree(call, child, {**child_entry, "qProperty": child_props if child_id in keep_ids else None})
        order.append(child)
    entity.children[:] = order
    entity.touch()


@rpc(OBJECT, "SetFullPropertyTree", qPropEntry={})
def set_full_property_tree(call: Call, qPropEntry: PropertyTree) -> dict[str, object]:
    view = _view(call)
    view.clear_soft_patches()
    _set_tree(call, view.entity, qPropEntry)
    entities.changed(call, view.entity)
    return {}
