"""Semantic fields (``Semantic LOAD``): selecting a relation moves the selection along it.

A semantic table holds (from, relation, to) rows. Its relation field is tagged ``$semantic`` and
``$semantic:<object field>``; the two ends are hidden fields of its own, so the table links to no other
and a selection never fails on it. Qlik describes the relation field as one to navigate with: selecting
``Parent`` while some objects are selected selects their parents instead. :func:`transfer` carries such a
selection out: the object field gets the ends of the chosen relations starting at its selected values
(at any value when none is selected) and the relation field's selection is dropped again. With no end
found only the relation selection is dropped.
"""

from __future__ import annotations

import numpy as np

from engine.model.datamodel import DataModel
from engine.model.selection import SelectionState
from engine.model.symbols import SymbolTable, merge

SEMANTIC_TAG = "$semantic"


def semantic_fields(model: DataModel) -> list[str]:
    """The model's relation fields (the middle field of each semantic table)."""
    return [f.name for f in model.fields.values() if SEMANTIC_TAG in f.tags]


def object_field(model: DataModel, relation: str) -> str | None:
    """The field a relation field moves the selection in (from its ``$semantic:<field>`` tag)."""
    for tag in model.fields[relation].tags:
        if tag.startswith(SEMANTIC_TAG + ":"):
            name = tag[len(SEMANTIC_TAG) + 1 :]
            return name if name in model.fields else None
    return None


def transfer(model: DataModel, state: SelectionState) -> SelectionState:
    """``state`` with every selection in a semantic relation field carried out as a move."""
    for rel in semantic_fields(model):
        chosen = state.selected(rel)
        obj = object_field(model, rel)
        holders = model.field_tables.get(rel, ())
        if chosen is None or obj is None or not holders:
            continue
        table = model.tables[holders[0]]
        ends = [f for f in table.columns if f != rel]
        if len(ends) != 2:
            continue
        start, end = ends
        nrel = len(model.fields[rel].symbols)
        want = np.zeros(nrel + 1, dtype=bool)
        want[chosen[chosen < nrel]] = True
        rows = want.take(table.columns[rel])
        picked = state.selected(obj)
        if picked is not None:
            here = _in_field(model.fields[obj].symbols, picked, model.fields[start].symbols)
            rows &= np.append(here, False).take(table.columns[start])
        codes = table.columns[end][rows]
        codes = np.unique(codes[codes >= 0])
        moved = state.without(rel)
        if len(codes):
            mask = _in_field(model.fields[end].symbols, codes, model.fields[obj].symbols)
            moved = moved.with_selection(obj, np.flatnonzero(mask))
        state = moved
    return state


def _in_field(src: SymbolTable, codes: np.ndarray, dst: SymbolTable) -> np.ndarray:
    """Bool mask over ``dst``'s symbols: those equal (same value) to ``src``'s symbols ``codes``."""
    _, (smap, dmap) = merge([src, dst])
    size = int(max(smap.max(initial=-1), dmap.max(initial=-1))) + 1
    hit = np.zeros(size, dtype=bool)
    hit[smap.take(codes[codes < len(smap)])] = True
    return hit.take(dmap) if len(dmap) else np.zeros(0, dtype=bool)
