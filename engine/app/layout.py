"""Layouts: properties with every ``…Def`` replaced by what it computes, at any depth.

Custom keys are copied through, inside defs too. Hypercubes, list objects, selection objects and
expressions are delegated to :class:`~engine.app.app.DocSession` hooks (which the calculation layer
fills); everything that lists entities (app objects, children, fields, library items, variables) is
answered here. A layout never fails because of what a client wrote: a bad expression shows its error
text, a calculation error becomes ``qError`` in an otherwise valid, empty cube.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from engine.app.library import (
    CONFIG_VARIABLES,
    RESERVED_VARIABLES,
    all_objects,
    all_variables,
    find_object,
    json_number,
    resolve_library_refs,
    safe_evaluate,
    variable_value,
)
from engine.app.objects import DEF_KEYS, MAX_EXTENDS, Entity, EntityView
from engine.app.patches import apply_patches, resolve
from engine.app.selections import symbol_of_each
from engine.calc.listobject import zero_state_counts
from engine.errors import CALC_CONDITION_UNMET, QixError
from engine.jsonmembers import dict_member, list_member
from engine.model.semantic import SEMANTIC_TAG

if TYPE_CHECKING:
    from engine.app.app import DocSession
    from engine.rpc.structs import HyperCubeDef, ListObjectDef

def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


# -- properties as the layout sees them -------------------------------------------------------------------
def effective_properties(doc: DocSession, view: EntityView) -> dict[str, Any]:
    """The properties after ``qExtendsId`` inheritance and this session's soft patches."""
    props = _extended(doc, view.entity, 0)
    if view.soft_patches:
        try:
            props = apply_patches(props, copy.deepcopy(view.soft_patches))
        except QixError:
            pass  # a soft patch that no longer fits the properties is dropped, as on a reset
    return props


def _extended(doc: DocSession, entity: Entity, depth: int) -> dict[str, Any]:
    props = copy.deepcopy(entity.properties)
    base_id = props.get("qExtendsId")
    if entity.kind == "object" and isinstance(base_id, str) and base_id and depth < MAX_EXTENDS:
        base = find_object(doc, base_id)
        if base is not None and base is not entity:
            merged = _merge(_extended(doc, base, depth + 1), props)
            merged["qInfo"] = props["qInfo"]
            return merged
    return props


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# -- generic object layout ------------------------------------------------------------------------------
def object_layout(doc: DocSession, view: EntityView) -> dict[str, Any]:
    """``GetLayout`` of a generic object."""
    entity = view.entity
    props = effective_properties(doc, view)
    state_name = props.get("qStateName")
    state = state_name if isinstance(state_name, str) and state_name else "$"
    renderer = _Renderer(doc, entity, state)
    layout: dict[str, Any] = renderer.node(props, "")
    layout.pop("qMetaDef", None)
    layout["qInfo"] = entity.info()
    layout["qMeta"] = _meta(props)
    layout.setdefault("qSelectionInfo", doc.selection_info(entity.id))
    return layout


def _meta(props: dict[str, Any]) -> dict[str, Any]:
    meta = copy.deepcopy(dict_member(props, "qMetaDef"))
    meta["privileges"] = ["read", "update", "delete", "exportdata"]
    return meta


class _Renderer:
    """One layout computation: walks the property tree and renders defs and expressions."""

    def __init__(self, doc: DocSession, owner: Entity, state: str) -> None:
        self.doc = doc
        self.owner = owner
        self.state = state
        #: the owner's selection mode: its calculations are made in it (see ``SelectionMode``)
        self.mode = doc.selection_mode(owner.id)
        self.defs: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "qHyperCubeDef": self.hypercube,
            "qListObjectDef": self.list_object,
            "qSelectionObjectDef": self.selection_object,
            "qFieldListDef": self.field_list,
            "qAppObjectListDef": self.app_object_list,
            "qDimensionListDef": lambda d, p: self.library_list(d, self.doc.app.dimensions),
            "qMeasureListDef": lambda d, p: self.library_list(d, self.doc.app.measures),
            "qBookmarkListDef": lambda d, p: self.library_list(d, self.doc.app.bookmarks),
            "qVariableListDef": self.variable_list,
            "qChildListDef": self.child_list,
            "qMediaListDef": lambda d, p: {"qItems": []},
            "qExtensionListDef": lambda d, p: {"qItems": []},
            "qUndoInfoDef": lambda d, p: {"qUndoCount": 0, "qRedoCount": 0},
        }

    def node(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            if "qStringExpression" in value:
                return self.string_expression(value["qStringExpression"])
            if "qValueExpression" in value:
                return self.value_expression(value["qValueExpression"])
            out: dict[str, Any] = {}
            for key, child in value.items():
                child_path = f"{path}/{_escape(key)}"
                if key in DEF_KEYS:
                    out[DEF_KEYS[key]] = self.definition(key, child, child_path)
                else:
                    out[key] = self.node(child, child_path)
            return out
        if isinstance(value, list):
            return [self.node(v, f"{path}/{i}") for i, v in enumerate(value)]
        return value

    def definition(self, key: str, definition: Any, path: str) -> dict[str, Any]:
        definition = definition if isinstance(definition, dict) else {}
        custom = {
            k: self.node(v, f"{path}/{_escape(k)}") for k, v in definition.items() if not k.startswith("q")
        }
        return {**custom, **self.defs[key](definition, path)}

    # -- expressions ----------------------------------------------------------------------------------
    @staticmethod
    def _expr(spec: Any) -> str:
        if isinstance(spec, dict):
            spec = spec.get("qExpr", "")
        return spec if isinstance(spec, str) else ""

    def string_expression(self, spec: Any) -> str:
        expr = self._expr(spec)
        if not expr.strip():
            return ""
        return safe_evaluate(self.doc, expr)[0]

    def value_expression(self, spec: Any) -> float | str:
        expr = self._expr(spec)
        if not expr.strip():
            return "NaN"
        return json_number(safe_evaluate(self.doc, expr)[1])

    # -- calculations (hooks) -------------------------------------------------------------------------
    def hypercube(self, definition: dict[str, Any], path: str) -> dict[str, object]:
        try:  # the properties passed rpc.validate's HyperCubeDef check on their way in
            resolved = cast("HyperCubeDef", resolve_library_refs(self.doc, definition))
            return self.doc.render_hypercube(resolved, path, self.mode)
        except QixError as err:
            cube = {**empty_hypercube(definition), "qError": _calc_error(err)}
            if err.code == CALC_CONDITION_UNMET:
                cube["qCalcCondMsg"] = err.parameter
            return cube

    def list_object(self, definition: dict[str, Any], path: str) -> dict[str, object]:
        try:  # the properties passed rpc.validate's ListObjectDef check on their way in
            resolved = cast("ListObjectDef", resolve_library_refs(self.doc, definition))
            return self.doc.render_list_object(resolved, path, self.mode)
        except QixError as err:
            return {**empty_list_object(definition), "qError": _calc_error(err)}

    def selection_object(self, definition: dict[str, Any], path: str) -> dict[str, Any]:
        state = definition.get("qStateName") or self.state
        back, forward = self.doc.selection_history(state)
        return {
            "qBackCount": back,
            "qForwardCount": forward,
            "qStateName": state,
            "qSelections": self.doc.current_selections(state),
        }

    # -- lists --------------------------------------------------------------------------------------------
    def field_list(self, definition: dict[str, Any], path: str) -> dict[str, Any]:
        model = self.doc.model
        show_system = bool(definition.get("qShowSystem"))
        show_hidden = bool(definition.get("qShowHidden"))
        show_tables = bool(definition.get("qShowSrcTables"))
        show_semantic = bool(definition.get("qShowSemantic"))
        items = []
        for name, fld in model.fields.items():
            is_system = fld.is_system or name.startswith("$")
            is_hidden = fld.is_hidden or "$hidden" in fld.tags or is_system
            is_semantic = SEMANTIC_TAG in fld.tags
            if (is_system and not show_system) or (is_hidden and not is_system and not show_hidden) or (
                    is_semantic and not show_semantic):
                continue
            item: dict[str, Any] = {
                "qName": name,
                "qCardinal": fld.cardinal,
                "qTags": list(fld.tags),
                "qIsHidden": is_hidden,
                "qIsSystem": is_system,
                "qIsSemantic": is_semantic,
                "qAndMode": False,
                "qIsDefinitionOnly": False,
            }
            if show_tables:
                item["qSrcTables"] = list(model.field_tables.get(name, ()))
            items.append(item)
        return {"qItems": items}

    def app_object_list(self, definition: dict[str, Any], path: str) -> dict[str, Any]:
        qtype = definition.get("qType")
        qdata = definition.get("qData") or {}
        items = [
            container_entry(obj, qdata)
            for obj in all_objects(self.doc, include_session=False)
            if obj.type == qtype
        ]
        return {"qItems": items}

    def child_list(self, definition: dict[str, Any], path: str) -> dict[str, Any]:
        qdata = definition.get("qData") or {}
        return {"qItems": [container_entry(child, qdata) for child in self.owner.children]}

    def library_list(self, definition: dict[str, Any], store: Any) -> dict[str, Any]:
        qtype = definition.get("qType")
        qdata = definition.get("qData") or {}
        items = [
            container_entry(e, qdata, functools.partial(_library_entity_layout, self.doc, e))
            for e in store
            if not qtype or e.type == qtype
        ]
        return {"qItems": items}

    def variable_list(self, definition: dict[str, Any], path: str) -> dict[str, Any]:
        return {"qItems": variable_list_items(self.doc, definition)}


def _calc_error(err: QixError) -> dict[str, Any]:
    return {"qErrorCode": err.code, "qContext": err.parameter, "qExtendedMessage": err.message}


def container_entry(
    entity: Entity, qdata: dict[str, Any], layout: Callable[[], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``{qInfo, qMeta, qData}``: qData maps names to JSON pointers into the entity's properties (then,
    for library entities, into its layout: ``/qDimInfos``, ``/qText``)."""
    data: dict[str, Any] = {}
    rendered: dict[str, Any] | None = None
    for name, pointer in qdata.items() if isinstance(qdata, dict) else ():
        if not isinstance(pointer, str):
            data[name] = None
            continue
        value = resolve(entity.properties, pointer, _ABSENT)
        if value is _ABSENT and layout is not None:
            if rendered is None:
                rendered = layout()
            value = resolve(rendered, pointer, _ABSENT)
        data[name] = None if value is _ABSENT else copy.deepcopy(value)
    return {"qInfo": entity.info(), "qMeta": entity.meta(), "qData": data}


_ABSENT = object()


def variable_list_items(doc: DocSession, definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Created variables (app, then session), then script variables, filtered by the show flags."""
    show_reserved = bool(definition.get("qShowReserved"))
    show_config = bool(definition.get("qShowConfig"))
    show_session = bool(definition.get("qShowSession"))
    qdata = definition.get("qData") or {}
    items = []
    for var in all_variables(doc):
        if not var.persistent and not show_session:
            continue
        name = str(var.properties.get("qName", ""))
        entry = container_entry(var, qdata, functools.partial(variable_layout, doc, var))
        items.append(
            {
                "qName": name,
                "qDescription": str(var.properties.get("qComment", "")),
                "qDefinition": str(var.properties.get("qDefinition", "")),
                "qIsConfig": False,
                "qIsReserved": False,
                "qIsScriptCreated": False,
                **entry,
            }
        )
    for name, text in doc.app.script_variables.items():
        is_config = name in CONFIG_VARIABLES
        is_reserved = name in RESERVED_VARIABLES
        if (is_reserved and not show_reserved) or (is_config and not show_config):
            continue
        items.append(
            {
                "qName": name,
                "qDescription": "",
                "qDefinition": text,
                "qIsConfig": is_config,
                "qIsReserved": is_reserved,
                "qIsScriptCreated": True,
                "qMeta": {"privileges": ["read"]},
                "qInfo": {"qId": script_variable_id(name), "qType": "variable"},
                "qData": {},
            }
        )
    return items


def visible_state_data(model: Any, state_data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A bookmark's stored selections as this session may see them: fields and values its model (under
    section access, the user's reduced model) does not hold are left out."""
    out = []
    for state in state_data:
        items = []
        for item in state.get("qFieldItems", []):
            field = model.fields.get((item.get("qDef") or {}).get("qName", ""))
            if field is None:
                continue
            stored = item.get("qValues", [])
            present = symbol_of_each(field.symbols, stored) >= 0
            values = [v for v, keep in zip(stored, present.tolist(), strict=True) if keep]
            items.append({**copy.deepcopy(item), "qValues": copy.deepcopy(values)})
        out.append({**state, "qFieldItems": items})
    return out


def script_variable_id(name: str) -> str:
    """The id a script variable is known by (stable across sessions, distinct from created ones)."""
    return f"script-variable-{name}"


# -- library entity layouts ------------------------------------------------------------------------------
def _custom(props: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in props.items() if not k.startswith("q")}


def entity_layout(doc: DocSession, view: EntityView) -> dict[str, Any]:
    """``GetLayout`` of a dimension, measure, bookmark or variable."""
    entity = view.entity
    if entity.kind == "object":
        return object_layout(doc, view)
    props = effective_properties(doc, view)
    base = {**_custom(props), "qInfo": entity.info(), "qMeta": _meta(props)}
    if entity.kind == "dimension":
        dim = copy.deepcopy(dict_member(props, "qDim"))
        dim.setdefault("qGrouping", "N")
        dim.setdefault("qFieldDefs", [])
        dim.setdefault("qFieldLabels", [])
        return {**base, "qDim": dim, "qDimInfos": [_dim_info(doc, f) for f in dim["qFieldDefs"]]}
    if entity.kind == "measure":
        measure = copy.deepcopy(dict_member(props, "qMeasure"))
        measure.setdefault("qDef", "")
        measure.setdefault("qGrouping", "N")
        measure.setdefault("qExpressions", [])
        measure.setdefault("qActiveExpression", 0)
        return {**base, "qMeasure": measure}
    if entity.kind == "bookmark":
        state = entity.state or {}
        bookmark = {
            "qStateData": visible_state_data(doc.model, state.get("qStateData", [])),
            "qUtcModifyTime": state.get("qUtcModifyTime", 0),
            "qVariableItems": [],
            "qPatches": [],
        }
        return {**base, "qBookmark": bookmark}
    return {**base, **_variable_values(doc, entity)}


def _library_entity_layout(doc: DocSession, entity: Entity) -> dict[str, Any]:
    return entity_layout(doc, doc.view(entity))


def variable_layout(doc: DocSession, var: Entity) -> dict[str, Any]:
    return entity_layout(doc, doc.view(var))


def _variable_values(doc: DocSession, var: Entity) -> dict[str, Any]:
    text, num = variable_value(doc, var)
    return {"qText": text, "qNum": json_number(num), "qIsScriptCreated": False}


def _dim_info(doc: DocSession, field_def: Any) -> dict[str, Any]:
    name = field_def if isinstance(field_def, str) else ""
    fld = doc.model.fields.get(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    if fld is None:
        return {"qApprMaxGlyphCount": 0, "qCardinal": 0, "qTags": []}
    glyphs = fld.symbols.max_text_length()
    return {"qApprMaxGlyphCount": glyphs, "qCardinal": fld.cardinal, "qTags": list(fld.tags)}


# -- structurally valid empty calculations -------------------------------------------------------------
def _num_format() -> dict[str, Any]:
    return {"qType": "U", "qnDec": 0, "qUseThou": 0}


def _field_defs(dim: dict[str, Any]) -> list[str]:
    inner = dict_member(dim, "qDef")
    defs = list_member(inner, "qFieldDefs")
    return [str(d) for d in defs]


def _dimension_info(dim: dict[str, Any]) -> dict[str, Any]:
    defs = _field_defs(dim)
    inner = dict_member(dim, "qDef")
    labels = list_member(inner, "qFieldLabels")
    title = str(labels[0]) if labels and labels[0] else (defs[0] if defs else "")
    return {
        "qFallbackTitle": title,
        "qApprMaxGlyphCount": 0,
        "qCardinal": 0,
        "qSortIndicator": "N",
        "qGroupFallbackTitles": defs[:1] if defs else [],
        "qGroupPos": 0,
        "qStateCounts": zero_state_counts(),
        "qTags": [],
        "qDimensionType": "D",
        "qGrouping": inner.get("qGrouping", "N") or "N",
        "qNumFormat": _num_format(),
        "qIsAutoFormat": True,
        "qGroupFieldDefs": defs,
        "qMin": "NaN",
        "qMax": "NaN",
        "qAttrExprInfo": [],
        "qAttrDimInfo": [],
        "qCardinalities": {"qCardinal": 0, "qHypercubeCardinal": 0, "qAllValuesCardinal": -1},
    }


def _measure_info(measure: dict[str, Any]) -> dict[str, Any]:
    inner = dict_member(measure, "qDef")
    title = inner.get("qLabel") or inner.get("qDef") or ""
    return {
        "qFallbackTitle": str(title),
        "qApprMaxGlyphCount": 0,
        "qCardinal": 0,
        "qSortIndicator": "N",
        "qNumFormat": _num_format(),
        "qMin": "NaN",
        "qMax": "NaN",
        "qIsAutoFormat": True,
        "qAttrExprInfo": [],
        "qAttrDimInfo": [],
        "qTrendLines": [],
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def empty_hypercube(definition: dict[str, Any]) -> dict[str, Any]:
    """A ``qHyperCube`` with the def's columns and no rows."""
    dims = _dicts(definition.get("qDimensions"))
    measures = _dicts(definition.get("qMeasures"))
    ncols = len(dims) + len(measures)
    return {
        "qStateName": definition.get("qStateName", "") or "",
        "qSize": {"qcx": ncols, "qcy": 0},
        "qDimensionInfo": [_dimension_info(d) for d in dims],
        "qMeasureInfo": [_measure_info(m) for m in measures],
        "qEffectiveInterColumnSortOrder": list(range(ncols)),
        "qGrandTotalRow": [],
        "qDataPages": [],
        "qPivotDataPages": [],
        "qStackedDataPages": [],
        "qMode": definition.get("qMode", "S") or "S",
        "qNoOfLeftDims": definition.get("qNoOfLeftDims", -1),
        "qTreeNodesOnDim": [],
        "qColumnOrder": [],
    }


def empty_list_object(definition: dict[str, Any]) -> dict[str, Any]:
    """A ``qListObject`` with its dimension info and no values."""
    return {
        "qStateName": definition.get("qStateName", "") or "",
        "qSize": {"qcx": 1, "qcy": 0},
        "qDimensionInfo": _dimension_info(definition),
        "qExpressions": [],
        "qDataPages": [],
    }
