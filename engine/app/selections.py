"""One session's selections on one app: the default state ``$`` and alternate states, with history.

Each state is an immutable :class:`SelectionState`; a change replaces it, records the previous one for
``Back``/``Forward`` and bumps the DocSession's selection version (handles whose layouts depend on the
state go stale). Inferences are cached per (model, state) so every layout of one request shares one
propagation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.model.datamodel import DataModel
from engine.model.selection import EMPTY_STATE, Inference, Reduction, SelectionState, infer
from engine.model.semantic import semantic_fields, transfer

#: how many earlier states Back can return to
_HISTORY = 64

_MODE_SERIALS = itertools.count(1)


@dataclass(frozen=True)
class SelectionMode:
    """One object in selection mode (BeginSelections … EndSelections): the selections it began in.

    Until the mode ends the object is computed in ``states``, the selections it began in, and shows each
    value's state as it is now: a chart keeps its rows and their order while the user picks some of them
    (Qlik: "the visualization is not sorted until the selection mode is ended"), so the pages it fetches
    still match the layout it drew, and a list keeps its order while its values turn selected. Every other
    object follows the selections at once; EndSelections(false) returns to ``states``.
    """

    states: dict[str, SelectionState]
    #: unique per BeginSelections: part of the object's version (its layout changes with the mode)
    serial: int = field(default_factory=lambda: next(_MODE_SERIALS))

    def key(self) -> tuple[object, ...]:
        """The selections the object is computed in, for cache keys."""
        return tuple(sorted((name, state.key()) for name, state in self.states.items()))


class StateHistory:
    """The current state of one selection state name, with back/forward stacks."""

    def __init__(self) -> None:
        self.current: SelectionState = EMPTY_STATE
        self.back: list[SelectionState] = []
        self.forward: list[SelectionState] = []

    def set(self, new: SelectionState) -> bool:
        if new is self.current or new.key() == self.current.key():
            return False
        self.back.append(self.current)
        del self.back[:-_HISTORY]
        self.forward.clear()
        self.current = new
        return True

    def step_back(self) -> bool:
        return self._step(self.back, self.forward)

    def step_forward(self) -> bool:
        return self._step(self.forward, self.back)

    def _step(self, source: list[SelectionState], other: list[SelectionState]) -> bool:
        """Move to the newest state of ``source``, remembering the current one in ``other``."""
        if not source:
            return False
        other.append(self.current)
        self.current = source.pop()
        return True


class Selections:
    """Selection states of a DocSession. ``on_change(state)`` is told about every effective change."""

    def __init__(
        self,
        model: Callable[[], DataModel],
        base: Callable[[], Reduction | None],
        on_change: Callable[[str], None],
    ) -> None:
        self._model = model
        self._base = base
        self._on_change = on_change
        self.states: dict[str, StateHistory] = {"$": StateHistory()}
        #: state name → (model, state key, base, inference): reused while all three are unchanged
        self._inference: dict[str, tuple[DataModel, tuple[object, ...], Reduction | None, Inference]] = {}
        #: fields in AND mode / with one-and-only-one, per field name (NxProperties)
        self.one_and_only_one: set[str] = set()

    def history(self, state: str) -> StateHistory:
        name = state or "$"
        hist = self.states.get(name)
        if hist is None:
            hist = self.states[name] = StateHistory()
        return hist

    def state(self, state: str = "$") -> SelectionState:
        return self.history(state).current

    def mode(self) -> SelectionMode:
        """A selection mode beginning now (see :class:`SelectionMode`)."""
        return SelectionMode({name: hist.current for name, hist in self.states.items()})

    def key(self) -> tuple[object, ...]:
        """Every state's current selections (equal keys: equal selections)."""
        return tuple(sorted((name, hist.current.key()) for name, hist in self.states.items()))

    def return_to(self, mode: SelectionMode) -> None:
        """EndSelections(false): each state back to the selections the mode began in (a step in the
        history, as any selection change is)."""
        for name, state in mode.states.items():
            self.set(name, state)

    def set(self, state: str, new: SelectionState) -> bool:
        model = self._model()
        if semantic_fields(model):
            new = transfer(model, new)      # a selected relation of a Semantic LOAD moves the selection
        changed = self.history(state).set(new)
        if changed:
            self._on_change(state or "$")
        return changed

    def back(self, state: str = "$") -> bool:
        changed = self.history(state).step_back()
        if changed:
            self._on_change(state or "$")
        return changed

    def forward(self, state: str = "$") -> bool:
        changed = self.history(state).step_forward()
        if changed:
            self._on_change(state or "$")
        return changed

    def inference(self, state: str = "$") -> Inference:
        """The propagation of ``state`` over the current model (cached until either changes)."""
        name = state or "$"
        model = self._model()
        current = self.state(name)
        base = self._base()
        key = current.key()
        cached = self._inference.get(name)
        # identity, not id(): a reloaded model may be allocated where the freed one was
        if cached is not None and cached[0] is model and cached[1] == key and cached[2] is base:
            return cached[3]
        inf = infer(model, current, base)
        self._inference[name] = (model, key, base, inf)
        return inf

    # -- selecting -------------------------------------------------------------------------------
    def select(
        self, state: str, field: str, symbols: np.ndarray, *, toggle: bool = False, soft_lock: bool = False
    ) -> bool:
        """Select ``symbols`` in ``field`` (toggle: add/remove them from the current selection)."""
        current = self.state(state)
        if current.is_locked(field) and not soft_lock:
            return False
        symbols = np.unique(np.asarray(symbols, dtype=np.int64))
        if toggle:
            now = current.selected(field)
            now = np.empty(0, dtype=np.int64) if now is None else now.astype(np.int64)
            symbols = np.setxor1d(now, symbols)
        if field in self.one_and_only_one and len(symbols) != 1:
            return False
        if soft_lock and current.is_locked(field):
            current = current.with_unlock(field)
        return self.set(state, current.with_selection(field, symbols))

    def clear(self, state: str, field: str) -> bool:
        if field in self.one_and_only_one:
            return False
        return self.set(state, self.state(state).cleared(field))

    def clear_all(self, state: str, locked_also: bool = False) -> bool:
        current = self.state(state)
        new = current.cleared_all(keep_locked=not locked_also)
        if self.one_and_only_one:
            for f in self.one_and_only_one:
                kept = current.selected(f)
                if kept is not None:
                    new = new.with_selection(f, kept)
        return self.set(state, new)

    # -- bookmarks -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Every state's selections by value (text and number), as a bookmark stores them."""
        model = self._model()
        data = []
        for name, hist in self.states.items():
            items = []
            for f in hist.current.fields:
                field = model.fields.get(f)
                if field is None:
                    continue
                idx = hist.current.selected(f)
                if idx is None:  # not reached: ``fields`` are the fields with a selection
                    continue
                syms = field.symbols
                values = [
                    {
                        "qText": syms.text[i],
                        "qIsNumeric": not np.isnan(syms.num[i]),
                        "qNumber": float(syms.num[i]) if not np.isnan(syms.num[i]) else 0,
                    }
                    for i in idx.tolist()
                    if i < len(syms)
                ]
                items.append(
                    {
                        "qDef": {"qName": f, "qType": "PRESENT"},
                        "qLocked": hist.current.is_locked(f),
                        "qSelectInfo": {
                            "qTextSearch": "",
                            "qRangeLo": "NaN",
                            "qRangeHi": "NaN",
                            "qNumberFormat": {},
                            "qRangeInfo": [],
                            "qContinuousRangeInfo": [],
                        },
                        "qValues": values,
                        "qExcludedValues": [],
                        "qAndModeValues": [],
                        "qAndModeFields": [],
                        "qOneAndOnlyOne": f in self.one_and_only_one,
                    }
                )
            data.append({"qStateName": name, "qFieldItems": items})
        return {"qStateData": data}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Re-select a snapshot's values (by number for numeric values, by text otherwise)."""
        model = self._model()
        for entry in snapshot.get("qStateData", []):
            name = entry.get("qStateName") or "$"
            new = EMPTY_STATE
            for item in entry.get("qFieldItems", []):
                fname = (item.get("qDef") or {}).get("qName")
                if not isinstance(fname, str) or fname not in model.fields:
                    continue
                field = model.fields[fname]
                symbols = symbols_for_values(field.symbols, item.get("qValues", []))
                new = new.with_selection(fname, symbols)
                if item.get("qLocked"):
                    new = new.with_lock(fname)
            self.set(name, new)


def symbol_of_each(syms: Any, values: list[dict[str, Any]]) -> np.ndarray:
    """The symbol index of each FieldValue dict (``-1`` when the field has no such value): numeric values
    match by number, the others by text. Vectorised over the symbols (no Python string per symbol)."""
    out = np.full(len(values), -1, dtype=np.int64)
    if not values or not len(syms):
        return out
    numeric = [
        i for i, v in enumerate(values) if v.get("qIsNumeric") and isinstance(v.get("qNumber"), int | float)
    ]
    if numeric:
        num = syms.num
        order = np.argsort(num, kind="stable")  # NaN (text-only symbols) sorts last and never matches
        wanted = np.asarray([float(values[i]["qNumber"]) for i in numeric])
        pos = np.minimum(np.searchsorted(num.take(order), wanted), len(order) - 1)
        hit = num.take(order.take(pos)) == wanted
        out[np.asarray(numeric)[hit]] = order.take(pos)[hit]
    by_text = [i for i, v in enumerate(values) if out[i] < 0 and isinstance(v.get("qText"), str)]
    if by_text:
        found = pc.index_in(
            pa.array([values[i]["qText"] for i in by_text], pa.string()), value_set=syms.text_array()
        ).to_numpy(zero_copy_only=False)
        found = np.where(np.isnan(found.astype(np.float64)), -1, found).astype(np.int64)
        out[np.asarray(by_text)] = found
    return out


def symbols_for_values(syms: Any, values: list[dict[str, Any]]) -> np.ndarray:
    """Sorted distinct symbol indexes of the FieldValue dicts that the field holds."""
    found = symbol_of_each(syms, values)
    return np.unique(found[found >= 0])
