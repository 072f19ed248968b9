"""GenericDimension, GenericMeasure, GenericBookmark and GenericVariable interfaces.

A GenericVariable handle points either at a created variable (an entity view) or at a variable of the
load script (:class:`~engine.app.app.ScriptVariable`, from ``GetVariableByName``); both answer the same
methods. Setting a script variable's value changes it in the app until the next reload.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from engine.app import library
from engine.app.app import ScriptVariable
from engine.app.calccache import computed_then
from engine.app.layout import entity_layout
from engine.app.objects import EntityView
from engine.app.patches import apply_patches as apply_json_patches
from engine.errors import ALREADY_EXISTS, INVALID_PARAMETERS, QixError
from engine.rpc import entities
from engine.rpc.dispatch import Answer, Call, rpc
from engine.rpc.doc_objects import apply_bookmark
from engine.rpc.structs import LibraryProperties, Patches

LIBRARY_TYPES = ("GenericDimension", "GenericMeasure", "GenericBookmark", "GenericVariable")


def _register_common(qtype: str) -> None:
    """GetLayout, GetProperties, SetProperties, GetInfo, ApplyPatches for one interface."""

    @rpc(qtype, "GetLayout")
    def get_layout(call: Call) -> Answer:
        """A calculated variable's or measure's value is computed off the event loop unless cached."""
        call.session.mark_read(call.handle)
        target = call.target
        if isinstance(target, ScriptVariable):
            return {"qLayout": target.layout()}
        return computed_then(lambda: entity_layout(target.doc, target), lambda layout: {"qLayout": layout})

    @rpc(qtype, "GetProperties")
    def get_properties(call: Call) -> dict[str, object]:
        target = call.target
        if isinstance(target, ScriptVariable):
            return {"qProp": target.properties()}
        return {"qProp": copy.deepcopy(target.entity.properties)}

    @rpc(qtype, "GetInfo")
    def get_info(call: Call) -> dict[str, object]:
        target = call.target
        if isinstance(target, ScriptVariable):
            return {"qInfo": target.properties()["qInfo"]}
        return {"qInfo": target.entity.info()}

    @rpc(qtype, "SetProperties", qProp={})
    def set_properties(call: Call, qProp: LibraryProperties) -> dict[str, object]:
        _set_props(call, qProp)
        return {}

    @rpc(qtype, "ApplyPatches", qPatches=[], qSoftPatch=False)
    def apply_patches(call: Call, qPatches: Patches, qSoftPatch: bool) -> dict[str, object]:
        target = call.target
        if isinstance(target, ScriptVariable):
            _set_props(call, apply_json_patches(target.properties(), qPatches))
            return {}
        if qSoftPatch:
            entities.patch(target, qPatches, True)
            return {}
        patched = apply_json_patches(copy.deepcopy(target.entity.properties), qPatches)
        _set_props(call, entities.checked(target.entity, patched))
        return {}

    if qtype in ("GenericDimension", "GenericMeasure"):

        @rpc(qtype, "GetLinkedObjects")
        def get_linked_objects(call: Call) -> dict[str, object]:
            return {"qItems": []}


def _set_props(call: Call, props: dict[str, Any]) -> None:
    target = call.target
    if isinstance(target, ScriptVariable):
        target.set_text(str(props.get("qDefinition", "")))
        return
    entity = target.entity
    if entity.kind == "variable":
        name = props.get("qName", entity.properties.get("qName"))
        if not isinstance(name, str) or not name.strip():
            raise QixError(INVALID_PARAMETERS, "qName")
        other = library.variable_by_name(target.doc, name)
        if (other is not None and other is not entity) or name in target.doc.app.script_variables:
            raise QixError(ALREADY_EXISTS, name)
        props = {**props, "qName": name}
    target.clear_soft_patches()
    entity.set_properties(props)
    entities.changed(call, entity)


for _qtype in LIBRARY_TYPES:
    _register_common(_qtype)


@rpc("GenericDimension", "GetDimension")
def get_dimension(call: Call) -> dict[str, object]:
    props = call.target.entity.properties
    return {"qDim": copy.deepcopy(props.get("qDim") or {})}


@rpc("GenericMeasure", "GetMeasure")
def get_measure(call: Call) -> dict[str, object]:
    props = call.target.entity.properties
    return {"qMeasure": copy.deepcopy(props.get("qMeasure") or {})}


@rpc("GenericBookmark", "Apply")
def apply(call: Call) -> dict[str, object]:
    view: EntityView = call.target
    return {"qSuccess": apply_bookmark(view.doc, view.entity)}


# -- variable values ----------------------------------------------------------------------------------
def _set_value(call: Call, text: str, num: float | None) -> None:
    """A variable's value set from outside: the definition becomes the text; a number rides along."""
    target = call.target
    if isinstance(target, ScriptVariable):
        target.set_text(text)
        return
    var = target.entity
    props = copy.deepcopy(var.properties)
    props["qDefinition"] = text
    var.dual_text = text if num is not None else None
    var.dual_num = num
    target.clear_soft_patches()
    var.set_properties(props)
    entities.changed(call, var)


@rpc("GenericVariable", "SetStringValue", qVal="")
def set_string_value(call: Call, qVal: str) -> dict[str, object]:
    _set_value(call, qVal, None)
    return {}


@rpc("GenericVariable", "SetNumValue", qVal=0.0)
def set_num_value(call: Call, qVal: float) -> dict[str, object]:
    _set_value(call, library.format_value(qVal) if math.isfinite(qVal) else "", qVal)
    return {}


@rpc("GenericVariable", "SetDualValue", qText="", qNum=0.0)
def set_dual_value(call: Call, qText: str, qNum: float) -> dict[str, object]:
    _set_value(call, qText, qNum)
    return {}


@rpc("GenericVariable", "GetRawContent")
def get_raw_content(call: Call) -> dict[str, object]:
    target = call.target
    if isinstance(target, ScriptVariable):
        return {"qReturn": target.text}
    return {"qReturn": str(target.entity.properties.get("qDefinition", ""))}
