"""Handing out, invalidating and closing handles of generic objects and library entities.

Shared by the Doc, GenericObject and Generic{Dimension,Measure,Bookmark,Variable} interface modules. A
handle's target is the session's :class:`~engine.app.objects.EntityView` of an entity, so every handle of
the same entity in a session is found (and closed) through that one view. Persisted entities are shared
by every session on the app: changing or destroying one is news for those sessions too.
"""

from __future__ import annotations

import copy
from typing import Any

from engine.app.app import DocSession
from engine.app.objects import Entity, EntityView
from engine.app.patches import apply_patches
from engine.errors import INVALID_PARAMS, QixError
from engine.rpc.dispatch import NOT_FOUND_INTERFACE, Call
from engine.rpc.structs import LibraryProperties, ObjectProperties
from engine.rpc.validate import Mismatch, compile_hint

QTYPES = {
    "object": "GenericObject",
    "dimension": "GenericDimension",
    "measure": "GenericMeasure",
    "bookmark": "GenericBookmark",
    "variable": "GenericVariable",
}


def doc_of(call: Call) -> DocSession:
    """The session's doc, whether the call is on the Doc handle or on an entity's handle."""
    target = call.target
    return target if isinstance(target, DocSession) else target.doc


def interface(call: Call, entity: Entity | None, *, report_change: bool = False) -> dict[str, Any]:
    """A new handle on ``entity`` (each Get* call gets its own), or the not-found form for None."""
    if entity is None:
        return dict(NOT_FOUND_INTERFACE)
    view = doc_of(call).view(entity)
    return call.object_interface(
        QTYPES[entity.kind], view, generic_id=entity.id, generic_type=entity.type, report_change=report_change
    )


def created(call: Call, entity: Entity) -> dict[str, Any]:
    """The answer to a Create* call: the new entity's info and a handle on it, reported in ``change``."""
    return {"qInfo": entity.info(), "qReturn": interface(call, entity, report_change=True)}


def changed(call: Call, entity: Entity) -> None:
    """After a change: persisted entities are shared, so other sessions on the app check their handles."""
    if entity.persistent:
        call.shared_change = True


def close(call: Call, entities: list[Entity]) -> None:
    """Release every handle of ``entities`` in this session (``close`` list) and in the other sessions
    on the same app (an id-less close frame each)."""
    doc = doc_of(call)
    for entity in entities:
        view = doc.forget_view(entity)
        if view is not None:
            call.closed(view)
    if not any(e.persistent for e in entities):
        return
    call.shared_change = True
    for peer in call.session.peers():
        peer_doc = peer.active_doc
        if peer_doc is None:  # not reached: peers have the app open
            continue
        gone: list[int] = []
        for entity in entities:
            view = peer_doc.forget_view(entity)
            if view is not None:
                gone.extend(peer.drop_target(view))
        if gone:
            peer.push([], sorted(gone))


_PROPERTIES = {"object": compile_hint(ObjectProperties), "library": compile_hint(LibraryProperties)}


def checked(entity: Entity, props: dict[str, Any]) -> dict[str, Any]:
    """Properties that patches (JSON text values) made: checked as properties given whole would be."""
    try:
        out: dict[str, Any] = _PROPERTIES["object" if entity.kind == "object" else "library"](props)
        return out
    except Mismatch as bad:
        raise QixError(INVALID_PARAMS, "qPatches make " + bad.describe("qProp")) from None


def patch(view: EntityView, patches: list[dict[str, Any]], soft: bool) -> None:
    """ApplyPatches: soft patches stay in this session's view; hard ones change the entity."""
    if soft:  # check now what the layout will apply: every soft patch of the view so far, and these
        checked(
            view.entity,
            apply_patches(copy.deepcopy(view.entity.properties), copy.deepcopy(view.soft_patches + patches)),
        )
        view.add_soft_patches(patches)
        return
    view.entity.set_properties(
        checked(view.entity, apply_patches(copy.deepcopy(view.entity.properties), patches))
    )
