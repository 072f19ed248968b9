"""The Field interface: selections in one field of the session's view of an app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import numpy as np

from engine.app.app import DocSession, FieldRef
from engine.app.calccache import computed_then, in_thread_then
from engine.app.selections import symbols_for_values
from engine.errors import QixError
from engine.model.selection import Inference
from engine.model.symbols import SymbolTable
from engine.rpc.dispatch import Answer, Call, rpc
from engine.rpc.structs import FieldValues, NxFieldProperties


def _parts(call: Call) -> tuple[DocSession, str, str]:
    ref: FieldRef = call.target  # a Field handle's target
    return ref.doc, ref.name, ref.state


def _symbols(call: Call) -> SymbolTable:
    doc, name, _state = _parts(call)
    return doc.model.fields[name].symbols


def _existing(call: Call, symbols: np.ndarray) -> np.ndarray:
    doc, name, _state = _parts(call)
    exists = doc.existing(name)
    if exists is None:  # the field went away with a reload
        raise QixError(2, name)
    symbols = symbols[symbols < len(exists)]
    return symbols[exists.take(symbols)] if len(symbols) else symbols



def _inference_mask(call: Call, mask_of: Callable[[Inference], np.ndarray]) -> Callable[[], np.ndarray]:
    """``mask_of`` the state's inference, to be computed where :func:`computed_then` decides (a
    propagation over a large model must not hold the event loop that answers everyone)."""
    doc, _name, state = _parts(call)
    return lambda: mask_of(doc.inference(state))


@rpc("Field", "GetCardinal")
def get_cardinal(call: Call) -> Answer:
    _doc, name, _state = _parts(call)
    exists = _inference_mask(call, lambda inf: inf.exists(name))
    return computed_then(exists, lambda m: {"qReturn": int(np.count_nonzero(m))})


@rpc("Field", "Select", qMatch="", qSoftLock=False, qExcludedValuesMode=0)
def select(call: Call, qMatch: str, qSoftLock: bool, qExcludedValuesMode: int) -> Answer:
    return _select_matches(call, qMatch, False, qSoftLock)


@rpc("Field", "ToggleSelect", qMatch="", qSoftLock=False, qExcludedValuesMode=0)
def toggle_select(call: Call, qMatch: str, qSoftLock: bool, qExcludedValuesMode: int) -> Answer:
    return _select_matches(call, qMatch, True, qSoftLock)


def _select_matches(call: Call, match: str, toggle: bool, soft_lock: bool) -> Awaitable[dict[str, object]]:
    """Select the values a search string matches: the search (over every value of the field, and the
    state's inference) in a worker, the selection on the event loop."""
    doc, name, state = _parts(call)

    def found() -> np.ndarray:
        hits: np.ndarray = doc.search(name, match, state)
        return hits

    def select(symbols: np.ndarray) -> dict[str, object]:
        return {"qReturn": doc.selections.select(state, name, symbols, toggle=toggle, soft_lock=soft_lock)}

    return in_thread_then(found, select)


@rpc("Field", "SelectValues", qFieldValues=[], qToggleMode=False, qSoftLock=False)
def select_values(
    call: Call, qFieldValues: FieldValues, qToggleMode: bool, qSoftLock: bool
) -> dict[str, object]:
    doc, name, state = _parts(call)
    values = [v if isinstance(v, dict) else {"qText": str(v)} for v in qFieldValues]
    found = _existing(call, symbols_for_values(_symbols(call), values))
    return {"qReturn": doc.selections.select(state, name, found, toggle=qToggleMode, soft_lock=qSoftLock)}


@rpc("Field", "LowLevelSelect", qValues=[], qToggleMode=False, qSoftLock=False)
def low_level_select(call: Call, qValues: list[int], qToggleMode: bool, qSoftLock: bool) -> dict[str, object]:
    doc, name, state = _parts(call)
    found = _existing(call, np.asarray([int(v) for v in qValues if int(v) >= 0], dtype=np.int64))
    return {"qReturn": doc.selections.select(state, name, found, toggle=qToggleMode, soft_lock=qSoftLock)}


def _select_where(call: Call, mask_of: Callable[[Inference], np.ndarray], soft_lock: bool) -> Answer:
    doc, name, state = _parts(call)

    def select(mask: np.ndarray) -> dict[str, object]:
        return {"qReturn": doc.selections.select(state, name, np.flatnonzero(mask), soft_lock=soft_lock)}

    return computed_then(_inference_mask(call, mask_of), select)


@rpc("Field", "SelectAll", qSoftLock=False)
def select_all(call: Call, qSoftLock: bool) -> Answer:
    _doc, name, _state = _parts(call)
    return _select_where(call, lambda inf: inf.exists(name), qSoftLock)


@rpc("Field", "SelectPossible", qSoftLock=False)
def select_possible(call: Call, qSoftLock: bool) -> Answer:
    _doc, name, _state = _parts(call)
    return _select_where(call, lambda inf: inf.possible(name), qSoftLock)


@rpc("Field", "SelectExcluded", qSoftLock=False)
def select_excluded(call: Call, qSoftLock: bool) -> Answer:
    _doc, name, _state = _parts(call)
    return _select_where(
        call, lambda inf: inf.exists(name) & ~inf.possible(name) & ~inf.selected_mask(name), qSoftLock
    )


@rpc("Field", "SelectAlternative", qSoftLock=False)
def select_alternative(call: Call, qSoftLock: bool) -> Answer:
    _doc, name, _state = _parts(call)
    return _select_where(call, lambda inf: inf.alternative(name) & ~inf.selected_mask(name), qSoftLock)


@rpc("Field", "ClearAllButThis", qSoftLock=False)
def clear_all_but_this(call: Call, qSoftLock: bool) -> dict[str, object]:
    doc, name, state = _parts(call)
    current = doc.selections.state(state)
    keep = current.selected(name)
    new = current.cleared_all(keep_locked=not qSoftLock)
    if keep is not None:
        new = new.with_selection(name, keep)
    return {"qReturn": doc.selections.set(state, new)}


@rpc("Field", "Clear")
def clear(call: Call) -> dict[str, object]:
    doc, name, state = _parts(call)
    return {"qReturn": doc.selections.clear(state, name)}


@rpc("Field", "Lock")
def lock(call: Call) -> dict[str, object]:
    doc, name, state = _parts(call)
    return {"qReturn": doc.selections.set(state, doc.selections.state(state).with_lock(name))}


@rpc("Field", "Unlock")
def unlock(call: Call) -> dict[str, object]:
    doc, name, state = _parts(call)
    return {"qReturn": doc.selections.set(state, doc.selections.state(state).with_unlock(name))}


@rpc("Field", "GetAndMode")
def get_and_mode(call: Call) -> dict[str, object]:
    return {"qReturn": False}


@rpc("Field", "SetAndMode", qAndMode=False)
def set_and_mode(call: Call, qAndMode: bool) -> dict[str, object]:
    # AND mode needs a field in a table of its own with a second, linked field; the engine refuses it
    # otherwise, which is every field of a model built from ordinary tables here
    return {}


@rpc("Field", "GetNxProperties")
def get_nx_properties(call: Call) -> dict[str, object]:
    doc, name, _state = _parts(call)
    return {"qProperties": {"qOneAndOnlyOne": name in doc.selections.one_and_only_one}}


@rpc("Field", "SetNxProperties", qProperties={})
def set_nx_properties(call: Call, qProperties: NxFieldProperties) -> Answer:
    doc, name, state = _parts(call)
    if not qProperties.get("qOneAndOnlyOne"):
        doc.selections.one_and_only_one.discard(name)
        return {}
    doc.selections.one_and_only_one.add(name)
    current = doc.selections.state(state).selected(name)
    if current is not None and len(current) == 1:
        return {}

    def first_possible(possible: np.ndarray) -> dict[str, object]:
        # one and only one: the first possible value becomes the selection
        first = np.flatnonzero(possible)[:1]
        if len(first):
            doc.selections.one_and_only_one.discard(name)
            doc.selections.select(state, name, first)
            doc.selections.one_and_only_one.add(name)
        return {}

    return computed_then(_inference_mask(call, lambda inf: inf.possible(name)), first_possible)
