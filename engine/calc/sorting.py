"""Sort keys over a field's symbols, from a SortCriteria (qSortByState, qSortByFrequency, ...).

Every key is an array over symbol indexes; a list object or a hypercube dimension sorts its values by
gathering these keys. Priority between criteria of one SortCriteria: state > frequency > numeric >
ascii > load order; the symbol index breaks remaining ties.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, SupportsInt

import numpy as np

from engine.expr.duals import text_ranks
from engine.model.datamodel import DataModel
from engine.model.index import model_index
from engine.model.selection import (
    ALTERNATIVE,
    EXCL_LOCKED,
    EXCL_SELECTED,
    EXCLUDED,
    LOCKED,
    OPTION,
    SELECTED,
)
from engine.model.symbols import SymbolTable

if TYPE_CHECKING:
    from engine.rpc.structs import SortCriteria


_CRITERIA = ("qSortByState", "qSortByFrequency", "qSortByNumeric", "qSortByAscii", "qSortByLoadOrder")
#: Default criteria of a list object without qSortCriterias (selected first, then numbers, then text).
LIST_DEFAULT = {"qSortByState": 1, "qSortByNumeric": 1, "qSortByAscii": 1, "qSortByLoadOrder": 1}
#: Default criteria of a hypercube dimension without qSortCriterias.
DIM_DEFAULT = {"qSortByNumeric": 1, "qSortByAscii": 1, "qSortByLoadOrder": 1}

_STATE_RANK = np.zeros(8, dtype=np.int64)
_STATE_RANK[[SELECTED, LOCKED, EXCL_SELECTED, EXCL_LOCKED]] = 0
_STATE_RANK[OPTION] = 1
_STATE_RANK[ALTERNATIVE] = 2
_STATE_RANK[EXCLUDED] = 3


def _sign(v: object) -> int:
    if not isinstance(v, str | bytes | SupportsInt):
        return 0
    try:
        x = int(v)
    except (TypeError, ValueError):
        return 0
    return (x > 0) - (x < 0)


def criteria(raw: list[SortCriteria] | None, default: dict[str, int]) -> dict[str, int]:
    """The effective criteria: the first SortCriteria given (signs only), else ``default``."""
    if not raw:
        return dict(default)
    first = raw[0] or {}
    return {k: _sign(first.get(k, 0)) for k in _CRITERIA}


def sort_indicator(crit: dict[str, int]) -> str:
    """``A``/``D`` from the first non-state criterion, ``N`` when nothing but state sorts."""
    for k in _CRITERIA[1:]:
        if crit.get(k):
            return "A" if crit[k] > 0 else "D"
    return "N"


def ascii_rank(model: DataModel, field_name: str) -> np.ndarray:
    """Rank of each symbol in case-insensitive text order (cached per model and field)."""
    syms = model.fields[field_name].symbols

    def build() -> np.ndarray:
        texts = syms.texts(np.arange(len(syms)))  # not cached on the symbol table: the rank is
        keys = np.array([t.casefold() for t in texts], dtype=object)
        order = (
            np.lexsort((text_ranks(np.asarray(texts, dtype=object)), text_ranks(keys)))
            if len(texts)
            else np.empty(0, np.int64)
        )
        rank = np.empty(len(texts), dtype=np.int64)
        rank[order] = np.arange(len(texts))
        return rank

    return model_index(model).field_cached("ascii_rank", field_name, build)


def symbol_keys(
    model: DataModel,
    field_name: str,
    crit: dict[str, int],
    *,
    states: np.ndarray | None = None,
    frequency: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Sort keys over the field's symbols, most significant first (for ``np.lexsort`` reversed).

    ``states`` (uint8 state codes) is needed for qSortByState, ``frequency`` for qSortByFrequency.
    """
    syms = model.fields[field_name].symbols
    n = len(syms)
    keys: list[np.ndarray] = []
    s = crit.get("qSortByState", 0)
    if s and states is not None:
        keys.append(_STATE_RANK.take(states) * s)
    s = crit.get("qSortByFrequency", 0)
    if s and frequency is not None:
        keys.append(frequency.astype(np.int64) * s)
    s = crit.get("qSortByNumeric", 0)
    if s:
        isnum = ~np.isnan(syms.num)
        keys.append((~isnum).astype(np.int64))  # values without a number always come last
        keys.append(np.where(isnum, syms.num, 0.0) * s)
    s = crit.get("qSortByAscii", 0)
    if s:
        keys.append(ascii_rank(model, field_name) * s)
    s = crit.get("qSortByLoadOrder", 0)
    if s:
        keys.append(np.arange(n, dtype=np.int64) * s)
    return keys


def _static_keys(model: DataModel, field_name: str, crit: dict[str, int]) -> tuple[str, list[np.ndarray]]:
    """(cache key, sort keys) of the criteria that depend on the model only (numeric, text, load order),
    computed once per model, field and criteria."""
    static_crit = {k: v for k, v in crit.items() if k not in ("qSortByState", "qSortByFrequency") and v}
    key = ",".join(f"{k}{v:+d}" for k, v in sorted(static_crit.items()))

    def build() -> list[np.ndarray]:
        return symbol_keys(model, field_name, static_crit)

    return key, model_index(model).field_cached(f"keys:{key}", field_name, build)


def static_symbol_keys(model: DataModel, field_name: str, crit: dict[str, int]) -> list[np.ndarray]:
    """``symbol_keys`` for criteria without state or frequency, cached per model (callers must not modify
    the arrays)."""
    return _static_keys(model, field_name, crit)[1]


def field_order(
    model: DataModel, field_name: str, crit: dict[str, int], states: np.ndarray | None, exists: np.ndarray
) -> np.ndarray:
    """The existing symbols of a field sorted as :func:`sorted_symbols` sorts them by ``symbol_keys``
    without frequency, in O(n) per state: the order by the numeric, text and load-order criteria depends on
    the model only (cached per model, field and criteria); the state is a stable sort by a small rank."""
    key, keys = _static_keys(model, field_name, crit)

    def build() -> np.ndarray:
        n = len(model.fields[field_name].symbols)
        return sorted_symbols(np.arange(n, dtype=np.int64), keys)

    order = model_index(model).field_cached(f"order:{key}", field_name, build)
    if not exists.all():
        order = order[exists.take(order)]
    s = crit.get("qSortByState", 0)
    if s and states is not None:
        rank = (_STATE_RANK.take(states) * s).astype(np.int8)
        order = order.take(np.argsort(rank.take(order), kind="stable"))
    return order


def sorted_symbols(symbols: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
    """``symbols`` reordered by the per-symbol ``keys`` (most significant first); ties by index."""
    if not len(symbols):
        return symbols
    # np.lexsort sorts by its last key first: tie-break (symbol index) first, primary key last
    order = np.lexsort([symbols] + [k.take(symbols) for k in reversed(keys)])
    return symbols.take(order)


def keys_for_symbols(syms: SymbolTable, crit: dict[str, int]) -> list[np.ndarray]:
    """Sort keys (numeric, ascii, load order) over a symbol table that is not a model field (the
    values of a calculated dimension); computed on the spot."""
    n = len(syms)
    keys: list[np.ndarray] = []
    s = crit.get("qSortByNumeric", 0)
    if s:
        isnum = ~np.isnan(syms.num)
        keys.append((~isnum).astype(np.int64))
        keys.append(np.where(isnum, syms.num, 0.0) * s)
    s = crit.get("qSortByAscii", 0)
    if s and n:
        texts = syms.text
        folded = np.array([t.casefold() for t in texts], dtype=object)
        order = np.lexsort((text_ranks(np.asarray(texts, dtype=object)), text_ranks(folded)))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        keys.append(rank * s)
    s = crit.get("qSortByLoadOrder", 0)
    if s:
        keys.append(np.arange(n, dtype=np.int64) * s)
    return keys


def code_rank(keys: list[np.ndarray], size: int) -> np.ndarray:
    """Position of each code (index ``code + 1``; NULL ``-1`` at index 0 sorts last) in the order
    the keys define; ties by code."""
    codes = np.arange(size, dtype=np.int64)
    order = np.lexsort([codes] + [k for k in reversed(keys) if len(k) == size]) if size else codes
    rank = np.empty(size + 1, dtype=np.int64)
    rank[1:][order] = np.arange(size)
    rank[0] = size
    return rank
