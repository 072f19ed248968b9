"""GenericObject methods that calculate: hypercube and list-object pages, selections made through an
object, search in list objects, selection mode (Begin/End/ResetMadeSelections), locks.

Each method finds the definition at ``qPath`` in the object's effective properties, builds the
calculation over the session's inference for the definition's state, and turns element numbers or cell
coordinates into symbol selections on that state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import numpy as np

from engine.app.app import DocSession
from engine.app.calccache import computed_then, in_thread_then
from engine.app.layout import effective_properties
from engine.app.library import resolve_library_refs
from engine.app.objects import EntityView
from engine.app.patches import resolve
from engine.calc.hypercube import HyperCube
from engine.calc.listobject import ListObject, element_symbols, list_field
from engine.errors import INVALID_PARAMETERS, QixError
from engine.rpc.dispatch import Answer, Call, rpc
from engine.rpc.structs import HyperCubeDef, ListObjectDef, NxRangeSelectInfo, Pages, SelectionCells

OBJECT = "GenericObject"


def _definition(call: Call, path: str, default_key: str) -> tuple[DocSession, dict[str, Any], str]:
    """(doc, definition with library refs resolved, state name) of the def at ``path``."""
    view: EntityView = call.target  # a GenericObject handle's target
    doc = view.doc
    props = effective_properties(doc, view)
    pointer = path or f"/{default_key}"
    definition = resolve(props, pointer)
    if not isinstance(definition, dict):
        raise QixError(INVALID_PARAMETERS, pointer)
    state = definition.get("qStateName") or props.get("qStateName") or "$"
    return doc, resolve_library_refs(doc, definition), state


def _cube(call: Call, path: str) -> tuple[DocSession, HyperCube, str]:
    """The object's cube, in its selection mode if it is in one (pages and cell selections then address the
    rows its layout showed)."""
    doc, definition, state = _definition(call, path, "qHyperCubeDef")
    view: EntityView = call.target
    # properties pass rpc.validate's HyperCubeDef check (structs.DEFINITIONS) when they are set
    return doc, doc.hypercube(cast("HyperCubeDef", definition), doc.selection_mode(view.entity.id)), state


def _list(call: Call, path: str) -> tuple[DocSession, ListObject, str]:
    doc, definition, state = _definition(call, path, "qListObjectDef")
    view: EntityView = call.target
    lst = doc.list_object(
        cast("ListObjectDef", definition), doc.selection_mode(view.entity.id)
    )  # as in _cube
    if not lst.exists:
        raise QixError(INVALID_PARAMETERS, lst.field)
    return doc, lst, state


#: pages of at most this many cells of a cached cube are read on the event loop (no thread hand-off)
LOOP_CELLS = 2000


def _pages(pages: list[dict[str, object]]) -> dict[str, object]:
    return {"qDataPages": pages}


def _in_thread(work: Callable[[], list[dict[str, object]]]) -> Awaitable[dict[str, object]]:
    return in_thread_then(work, _pages)


@rpc(OBJECT, "GetHyperCubeData", read=True, qPath="", qPages=[])
def get_hypercube_data(call: Call, qPath: str, qPages: Pages) -> Answer:
    """Small pages of a cube in the shared cache are answered on the event loop; the rest in a thread."""

    def work() -> list[dict[str, object]]:
        return _cube(call, qPath)[1].data_pages(qPages)

    cells = sum(max(0, int(p.get("qWidth", 0) or 0)) * max(0, int(p.get("qHeight", 0) or 0)) for p in qPages)
    return computed_then(work, _pages) if cells <= LOOP_CELLS else _in_thread(work)


@rpc(OBJECT, "GetListObjectData", read=True, qPath="", qPages=[])
def get_list_object_data(call: Call, qPath: str, qPages: Pages) -> Answer:
    def work() -> list[dict[str, object]]:
        return _list(call, qPath)[1].data_pages(qPages)

    return _in_thread(work)


@rpc(OBJECT, "GetHyperCubePivotData", read=True, qPath="", qPages=[])
def get_hypercube_pivot_data(call: Call, qPath: str, qPages: Pages) -> Answer:
    def work() -> list[dict[str, object]]:
        return _cube(call, qPath)[1].pivot_data_pages(qPages)

    return _in_thread(work)


@rpc(OBJECT, "GetHyperCubeReducedData", read=True, qPath="", qPages=[], qZoomFactor=-1, qReductionMode="N")
def get_hypercube_reduced_data(
    call: Call, qPath: str, qPages: Pages, qZoomFactor: int, qReductionMode: str
) -> Answer:
    def work() -> list[dict[str, object]]:
        return _cube(call, qPath)[1].reduced_data_pages(qPages, qZoomFactor, qReductionMode)

    return _in_thread(work)


@rpc(OBJECT, "GetHyperCubeStackData", read=True, qPath="", qPages=[], qMaxNbrCells=10000)
def get_hypercube_stack_data(
    call: Call, qPath: str, qPages: Pages, qMaxNbrCells: int
) -> Answer:
    def work() -> list[dict[str, object]]:
        return _cube(call, qPath)[1].stack_data_pages(qPages, qMaxNbrCells)

    return _in_thread(work)


@rpc(OBJECT, "SelectPivotCells", qPath="", qSelections=[], qSoftLock=False, qDeselectOnlyOneSelected=False)
def select_pivot_cells(
    call: Call, qPath: str, qSelections: SelectionCells, qSoftLock: bool, qDeselectOnlyOneSelected: bool
) -> Answer:
    def picks() -> dict[str, np.ndarray]:
        return _cube(call, qPath)[1].pivot_cell_selections(qSelections)

    return _select_picks(call, qPath, picks, qSoftLock)


def _select_picks(
    call: Call, qPath: str, picks: Callable[[], dict[str, np.ndarray]], soft_lock: bool, toggle: bool = False
) -> Answer:
    """Select ``picks()`` (symbols per field, read from the object's cube): the cube on the event loop when
    it is cached, else in a worker; the selections on the loop."""
    doc, _def, state = _definition(call, qPath, "qHyperCubeDef")

    def select(found: dict[str, np.ndarray]) -> dict[str, object]:
        changed = False
        for field, symbols in found.items():
            changed |= doc.selections.select(state, field, symbols, toggle=toggle, soft_lock=soft_lock)
        return {"qSuccess": changed}

    return computed_then(picks, select)


# -- selections through a hypercube ---------------------------------------------------------------------
@rpc(OBJECT, "SelectHyperCubeValues", qPath="", qDimNo=0, qValues=[], qToggleMode=False)
def select_hypercube_values(
    call: Call, qPath: str, qDimNo: int, qValues: list[int], qToggleMode: bool
) -> Answer:
    symbols = np.asarray([v for v in qValues if isinstance(v, int) and v >= 0], dtype=np.int64)

    def picks() -> dict[str, np.ndarray]:
        cube = _cube(call, qPath)[1]
        if not 0 <= qDimNo < len(cube.dims):
            raise QixError(INVALID_PARAMETERS, "qDimNo")
        return {cube.dimension_field(qDimNo): symbols}

    return _select_picks(call, qPath, picks, False, toggle=qToggleMode)


@rpc(
    OBJECT,
    "SelectHyperCubeCells",
    qPath="",
    qRowIndices=[],
    qColIndices=[],
    qSoftLock=False,
    qDeselectOnlyOneSelected=False,
)
def select_hypercube_cells(
    call: Call,
    qPath: str,
    qRowIndices: list[int],
    qColIndices: list[int],
    qSoftLock: bool,
    qDeselectOnlyOneSelected: bool,
) -> Answer:
    rows, cols = [int(r) for r in qRowIndices], [int(c) for c in qColIndices]
    return _select_picks(call, qPath, lambda: _cube(call, qPath)[1].cell_selections(rows, cols), qSoftLock)


@rpc(
    OBJECT,
    "RangeSelectHyperCubeValues",
    qPath="",
    qRanges=[],
    qColumnsToSelect=[],
    qOrMode=False,
    qDeselectOnlyOneSelected=False,
)
def range_select_hypercube_values(
    call: Call,
    qPath: str,
    qRanges: list[NxRangeSelectInfo],
    qColumnsToSelect: list[int],
    qOrMode: bool,
    qDeselectOnlyOneSelected: bool,
) -> Answer:
    return _select_picks(call, qPath, lambda: _range_picks(_cube(call, qPath)[1], qRanges, qColumnsToSelect, qOrMode), False)


def _range_picks(
    cube: HyperCube, qRanges: list[NxRangeSelectInfo], qColumnsToSelect: list[int], qOrMode: bool
) -> dict[str, np.ndarray]:
    """Symbols per dimension field of the cube rows whose measures fall in the ranges."""
    nd = len(cube.dims)
    keep = np.zeros(cube.nrows, dtype=bool) if qOrMode else np.ones(cube.nrows, dtype=bool)
    for r in qRanges:
        rng = r.get("qRange") or {}
        measure = r.get("qMeasureIx", 0)
        if not 0 <= measure < len(cube.values):
            raise QixError(INVALID_PARAMETERS, "qMeasureIx")
        values = cube.values[measure].num
        lo, hi = float(rng.get("qMin", -np.inf)), float(rng.get("qMax", np.inf))
        low_ok = values >= lo if rng.get("qMinInclEq", True) else values > lo
        high_ok = values <= hi if rng.get("qMaxInclEq", True) else values < hi
        hit = low_ok & high_ok
        keep = keep | hit if qOrMode else keep & hit
    rows = np.flatnonzero(keep)
    columns = [int(c) for c in qColumnsToSelect] or list(range(nd))
    picks: dict[str, np.ndarray] = {}
    for c in columns:
        if 0 <= c < nd:
            symbols = cube.gcodes[c].take(rows)
            picks[cube.dimension_field(c)] = symbols[symbols >= 0]
    return picks


# -- selections through a list object ---------------------------------------------------------------------
@rpc(OBJECT, "SelectListObjectValues", qPath="", qValues=[], qToggleMode=False, qSoftLock=False)
def select_list_object_values(
    call: Call, qPath: str, qValues: list[int], qToggleMode: bool, qSoftLock: bool
) -> dict[str, object]:
    doc, definition, state = _definition(call, qPath, "qListObjectDef")
    field = list_field(cast("ListObjectDef", definition))
    symbols = element_symbols(field, doc.existing(field), [int(v) for v in qValues])
    return {"qSuccess": doc.selections.select(state, field, symbols, toggle=qToggleMode, soft_lock=qSoftLock)}


def _select_states(call: Call, qPath: str, letters: set[str], soft_lock: bool) -> Answer:
    """Select the list object's values in ``letters``' states: the list object on the event loop when it
    is cached, else in a worker; the selection on the loop."""

    def found() -> tuple[DocSession, str, str, np.ndarray]:
        doc, lst, state = _list(call, qPath)
        return doc, state, lst.field, lst.symbols_in_states(letters)

    def select(hit: tuple[DocSession, str, str, np.ndarray]) -> dict[str, object]:
        doc, state, field, symbols = hit
        return {"qSuccess": doc.selections.select(state, field, symbols, soft_lock=soft_lock)}

    return computed_then(found, select)


@rpc(OBJECT, "SelectListObjectAll", qPath="", qSoftLock=False)
def select_list_object_all(call: Call, qPath: str, qSoftLock: bool) -> Answer:
    return _select_states(call, qPath, {"S", "O", "A", "X", "XS", "L", "XL"}, qSoftLock)


@rpc(OBJECT, "SelectListObjectPossible", qPath="", qSoftLock=False)
def select_list_object_possible(call: Call, qPath: str, qSoftLock: bool) -> Answer:
    return _select_states(call, qPath, {"S", "O", "L"}, qSoftLock)


@rpc(OBJECT, "SelectListObjectExcluded", qPath="", qSoftLock=False)
def select_list_object_excluded(call: Call, qPath: str, qSoftLock: bool) -> Answer:
    return _select_states(call, qPath, {"A", "X", "XS", "XL"}, qSoftLock)


@rpc(OBJECT, "SelectListObjectAlternative", qPath="", qSoftLock=False)
def select_list_object_alternative(call: Call, qPath: str, qSoftLock: bool) -> Answer:
    return _select_states(call, qPath, {"A"}, qSoftLock)


@rpc(OBJECT, "SearchListObjectFor", qPath="", qMatch="")
def search_list_object_for(call: Call, qPath: str, qMatch: str) -> Awaitable[dict[str, object]]:
    """The search (over every value of the field) in a worker; its result kept on the event loop."""

    def found() -> np.ndarray:
        doc, lst, state = _list(call, qPath)
        hits: np.ndarray = doc.list_search(lst.field, qMatch, state)
        return hits

    def keep(hits: np.ndarray) -> dict[str, object]:
        call.target.search = (qPath, hits)
        return {"qSuccess": bool(len(hits))}

    return in_thread_then(found, keep)


@rpc(OBJECT, "AcceptListObjectSearch", qPath="", qToggleMode=False, qSoftLock=False)
def accept_list_object_search(
    call: Call, qPath: str, qToggleMode: bool, qSoftLock: bool
) -> dict[str, object]:
    pending = getattr(call.target, "search", None)
    call.target.search = None
    if pending is None:
        return {}
    doc, lst, state = _list(call, pending[0])
    doc.selections.select(state, lst.field, pending[1], toggle=qToggleMode, soft_lock=qSoftLock)
    return {}


@rpc(OBJECT, "AbortListObjectSearch", qPath="")
def abort_list_object_search(call: Call, qPath: str) -> dict[str, object]:
    call.target.search = None
    return {}


# -- clearing, locking, selection mode -------------------------------------------------------------------
def _fields_at(call: Call, path: str, columns: list[int]) -> tuple[DocSession, list[str], str]:
    """(doc, the dimension fields of the list object or hypercube at ``path``, state name); for a
    hypercube, only the dimension columns in ``columns`` when given."""
    default = "qListObjectDef" if _has(call, "/qListObjectDef") else "qHyperCubeDef"  # when no path
    doc, definition, state = _definition(call, path, default)
    if "qDimensions" in definition:
        fields = [((d.get("qDef") or {}).get("qFieldDefs") or [""])[0] for d in definition["qDimensions"]]
        if columns:
            fields = [fields[int(c)] for c in columns if 0 <= int(c) < len(fields)]
    else:
        fields = [((definition.get("qDef") or {}).get("qFieldDefs") or [""])[0]]
    return doc, [f.lstrip("=") for f in fields if f], state


def _has(call: Call, pointer: str) -> bool:
    view = call.target
    return isinstance(resolve(effective_properties(view.doc, view), pointer), dict)


@rpc(OBJECT, "ClearSelections", qPath="", qColIndices=[])
def clear_selections(call: Call, qPath: str, qColIndices: list[int]) -> dict[str, object]:
    doc, fields, state = _fields_at(call, qPath, qColIndices)
    for f in fields:
        doc.selections.clear(state, f)
    return {}


def _lock(call: Call, path: str, columns: list[int], lock: bool) -> dict[str, object]:
    doc, fields, state = _fields_at(call, path, columns)
    current = doc.selections.state(state)
    for f in fields:
        current = current.with_lock(f) if lock else current.with_unlock(f)
    doc.selections.set(state, current)
    return {}


@rpc(OBJECT, "Lock", qPath="", qColIndices=[])
def lock(call: Call, qPath: str, qColIndices: list[int]) -> dict[str, object]:
    return _lock(call, qPath, qColIndices, True)


@rpc(OBJECT, "Unlock", qPath="", qColIndices=[])
def unlock(call: Call, qPath: str, qColIndices: list[int]) -> dict[str, object]:
    return _lock(call, qPath, qColIndices, False)


@rpc(OBJECT, "BeginSelections", qPaths=[])
def begin_selections(call: Call, qPaths: list[str]) -> dict[str, object]:
    view = call.target
    view.doc.begin_selection_mode(view.entity.id)
    return {}


@rpc(OBJECT, "EndSelections", qAccept=False)
def end_selections(call: Call, qAccept: bool) -> dict[str, object]:
    view = call.target
    view.doc.end_selection_mode(view.entity.id, accept=qAccept)
    return {}


@rpc(OBJECT, "ResetMadeSelections")
def reset_made_selections(call: Call) -> dict[str, object]:
    view = call.target
    view.doc.end_selection_mode(view.entity.id, accept=False, stay=True)
    return {}
