"""``Duals``: a column of dual values, the one value type every expression operator works on.

A dual has a number part (``num``, float64, NaN = none) and a text part (``text``, object array of
``str`` or ``None``). NULL has neither. A pure number (the result of arithmetic) has no text and is
displayed with the default number format. Booleans are the pure numbers -1 (true) and 0 (false).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.model.numformat import format_default

from .limits import MIB, checkpoint, text_lengths
from .objects import not_none

TRUE = -1.0
FALSE = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class Duals:
    """``n`` dual values; ``num`` float64 (NaN = no number), ``text`` object (None = no text)."""

    num: np.ndarray
    text: np.ndarray

    def __len__(self) -> int:
        return len(self.num)

    def __repr__(self) -> str:
        items = ", ".join(f"({t!r}, {n})" for n, t in zip(self.num[:6], self.text[:6], strict=False))
        return f"Duals[{len(self)}]({items}{', ...' if len(self) > 6 else ''})"

    # -- construction ----------------------------------------------------------------------------
    @staticmethod
    def const(value: object, n: int) -> Duals:
        """``n`` copies of one value: None (NULL), a number, a str, a ``(text, num)`` pair or a 1-row
        ``Duals``."""
        if isinstance(value, Duals):
            return value.take(np.zeros(n, dtype=np.intp))
        num, text = _scalar(value)
        t = np.empty(n, dtype=object)
        t.fill(text)
        return Duals(np.full(n, num, dtype=np.float64), t)

    @staticmethod
    def from_numbers(values: Iterable[float] | np.ndarray) -> Duals:
        """Pure numbers (NaN entries are NULL)."""
        num = np.asarray(values, dtype=np.float64)
        return Duals(num, np.full(len(num), None, dtype=object))

    @staticmethod
    def from_texts(values: Iterable[str | None] | np.ndarray) -> Duals:
        """Pure texts (None entries are NULL); no number is interpreted."""
        text = values if isinstance(values, np.ndarray) and values.dtype == object else _object_array(values)
        return Duals(np.full(len(text), np.nan), text)

    @staticmethod
    def from_pairs(texts: Iterable[str | None], nums: Iterable[float]) -> Duals:
        return Duals(
            np.asarray(list(nums) if not isinstance(nums, np.ndarray) else nums, dtype=np.float64),
            _object_array(texts),
        )

    @staticmethod
    def nulls(n: int) -> Duals:
        return Duals(np.full(n, np.nan), np.full(n, None, dtype=object))

    @staticmethod
    def booleans(mask: np.ndarray) -> Duals:
        """Qlik booleans (-1 / 0) from a numpy bool mask."""
        return Duals.from_numbers(np.where(mask, TRUE, FALSE))

    @staticmethod
    def concat(parts: Iterable[Duals]) -> Duals:
        parts = list(parts)
        if not parts:
            return Duals.nulls(0)
        return Duals(np.concatenate([p.num for p in parts]), np.concatenate([p.text for p in parts]))

    # -- inspection ------------------------------------------------------------------------------
    def has_text(self) -> np.ndarray:
        return _not_none(self.text)

    def is_null(self) -> np.ndarray:
        """True where the value has neither text nor number."""
        result: np.ndarray = np.isnan(self.num) & ~self.has_text()
        return result

    def take(self, idx: np.ndarray) -> Duals:
        return Duals(self.num.take(idx), self.text.take(idx))

    def scalar(self, i: int = 0) -> tuple[str | None, float]:
        """``(text, num)`` of row ``i``."""
        return self.text[i], float(self.num[i])

    def display_text(self, null: str | None = None) -> np.ndarray:
        """The text of each value; pure numbers rendered with the default format, NULL as ``null``."""
        out = self.text.copy()
        missing = np.flatnonzero(~_not_none(out) & ~np.isnan(self.num))
        if len(missing):
            nums = self.num.take(missing)
            uniq, inv = np.unique(nums, return_inverse=True)
            rendered = np.array([format_default(float(x)) for x in uniq], dtype=object)
            out[missing] = rendered.take(inv)
        if null is not None:
            out[~_not_none(out)] = null
        return out

    def truthy(self) -> np.ndarray:
        """Qlik truth: a number is true when non-zero; a value without a number is false."""
        num = self.num
        result: np.ndarray = ~np.isnan(num) & (num != 0)
        return result

    def map_text(self, func: Callable[[str], object]) -> np.ndarray:
        """Apply ``func`` once per distinct display text (NULL rows give None)."""
        return map_distinct(self.display_text(), func)


def _scalar(value: object) -> tuple[float, str | None]:
    if value is None:
        return np.nan, None
    if isinstance(value, bool):
        return (TRUE if value else FALSE), None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value), None
    if isinstance(value, str):
        return np.nan, value
    if isinstance(value, tuple) and len(value) == 2:
        text, num = value
        return (np.nan if num is None else float(num)), text
    raise TypeError(f"cannot make a dual of {value!r}")


def _object_array(values: Iterable[str | None]) -> np.ndarray:
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _not_none(arr: np.ndarray) -> np.ndarray:
    """Vectorised ``x is not None`` for an object array (see ``objects.not_none``)."""
    return not_none(arr)


#: Above this many characters in a column, distinct texts are found by hashing the Python strings
#: rather than through an Arrow copy: a column of a million references to one long string (a constant
#: ``Repeat`` over a chart's groups) must not be copied a million times.
ARROW_TEXT_VOLUME = 64 * MIB


def map_distinct(texts: np.ndarray, func: Callable[[str], object]) -> np.ndarray:
    """``func`` applied per distinct non-None text (dictionary encoding), gathered back to rows.

    Text functions run per symbol, not per row: a 1M-row column of 1000 distinct values makes
    1000 Python calls.
    """
    n = len(texts)
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    if n <= 16:
        for i, t in enumerate(texts):
            out[i] = None if t is None else func(t)
        return out
    if int(text_lengths(texts).sum()) > ARROW_TEXT_VOLUME:
        done: dict[str, object] = {}
        for i, t in enumerate(texts):
            if not i & 4095:
                checkpoint()
            if t is not None:
                r = done.get(t, done)
                out[i] = r if r is not done else done.setdefault(t, func(t))
        return out
    arr = pa.array(texts, type=pa.string())
    enc = pc.dictionary_encode(arr)
    dictionary = enc.dictionary.to_pylist()
    results = np.empty(len(dictionary) + 1, dtype=object)
    for k in range(0, len(dictionary), 4096):
        checkpoint()
        results[k : min(k + 4096, len(dictionary))] = [func(t) for t in dictionary[k : k + 4096]]
    results[-1] = None
    idx = enc.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
    result: np.ndarray = results.take(idx)
    return result


def text_ranks(texts: np.ndarray) -> np.ndarray:
    """Dense rank of each text in code point order (``-1`` for None).

    The memory-safe spelling of ``np.unique(texts.astype(str), return_inverse=True)``: numpy's
    fixed-width copy takes rows × the longest text × 4 bytes (a million rows next to one 8 Mi
    character text would ask for 32 TB). Arrow sorts UTF-8 bytes, which is code point order too.
    """
    n = len(texts)
    rank = np.full(n, -1, dtype=np.int64)
    has = np.flatnonzero(_not_none(texts))
    if not len(has):
        return rank
    sub = texts.take(has)
    if len(sub) <= 16 or int(text_lengths(sub).sum()) > ARROW_TEXT_VOLUME:
        uniq = sorted(set(sub.tolist()))
        pos = {t: i for i, t in enumerate(uniq)}
        rank[has] = np.fromiter((pos[t] for t in sub), dtype=np.int64, count=len(sub))
        return rank
    enc = pc.dictionary_encode(pa.array(sub, type=pa.string()))
    order = np.asarray(pc.array_sort_indices(enc.dictionary), dtype=np.int64)
    dict_rank = np.empty(len(order), dtype=np.int64)
    dict_rank[order] = np.arange(len(order))
    rank[has] = dict_rank.take(np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64))
    return rank
