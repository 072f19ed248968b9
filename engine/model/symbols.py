"""Symbol tables: the distinct dual values of one field, in load order.

A dual is a number (``NaN`` when the value has none) and a text. Two values with the same number are
the same symbol (the first text seen wins); values without a number are told apart by their text.
NULL is not a symbol: a column of codes holds ``-1`` for it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NULL = -1
CODE_DTYPE = np.int32


def _first_appearance_encode(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` (a sortable numpy array) in first-appearance order, and each key's rank."""
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    return first[order], rank[inverse]


class SymbolTable:
    """Distinct values of a field: ``num`` (float64, NaN = no number) and ``text`` (object array of str)."""

    __slots__ = ("num", "text", "_numeric")

    def __init__(self, num: np.ndarray, text: np.ndarray) -> None:
        self.num = np.ascontiguousarray(num, dtype=np.float64)
        self.text = text if text.dtype == object else text.astype(object)
        self._numeric: bool | None = None

    def __len__(self) -> int:
        return len(self.num)

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self.text[:5])
        return f"SymbolTable({len(self)}: {preview}{', …' if len(self) > 5 else ''})"

    @property
    def is_numeric(self) -> bool:
        """True when every symbol carries a number (an empty table is not numeric)."""
        if self._numeric is None:
            self._numeric = bool(len(self.num)) and not bool(np.isnan(self.num).any())
        return self._numeric

    @classmethod
    def empty(cls) -> SymbolTable:
        return cls(np.empty(0, dtype=np.float64), np.empty(0, dtype=object))

    def take(self, idx: np.ndarray) -> SymbolTable:
        return SymbolTable(self.num.take(idx), self.text.take(idx))

    def nbytes(self) -> int:
        """Approximate resident size: the arrays plus the text objects."""
        import sys

        texts = sum(sys.getsizeof(t) for t in self.text) if len(self.text) < 200_000 else (
            len(self.text) * (sys.getsizeof(self.text[0]) if len(self.text) else 0))
        return self.num.nbytes + self.text.nbytes + texts


def encode(num: np.ndarray, text: np.ndarray) -> tuple[SymbolTable, np.ndarray]:
    """Dictionary-encode a column of duals.

    ``num`` is float64 (NaN = no number); ``text`` an object array (``None`` = no text). A row with
    neither is NULL. Returns the symbol table (first-appearance order) and int32 codes (``-1`` = NULL).
    A pure number without text gets its default rendering as text.
    """
    n = len(num)
    num = np.asarray(num, dtype=np.float64)
    has_num = ~np.isnan(num)
    codes = np.full(n, NULL, dtype=CODE_DTYPE)
    text_obj = np.asarray(text, dtype=object)

    num_rows = np.flatnonzero(has_num)
    str_rows = np.flatnonzero(~has_num & pc.is_valid(pa.array(text_obj, type=pa.string())).to_numpy(
        zero_copy_only=False)) if n else np.empty(0, dtype=np.int64)

    # numeric symbols: keyed by number
    if len(num_rows):
        first_n, rank_n = _first_appearance_encode(num.take(num_rows))
        pos_n = num_rows.take(first_n)            # row where each numeric symbol first appears
    else:
        rank_n = np.empty(0, dtype=np.int64)
        pos_n = np.empty(0, dtype=np.int64)
    # text symbols: keyed by text (hash-based, in C++)
    if len(str_rows):
        enc = pc.dictionary_encode(pa.array(text_obj.take(str_rows), type=pa.string()))
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        n_t = len(enc.dictionary)
        first_t = np.full(n_t, len(str_rows), dtype=np.int64)
        np.minimum.at(first_t, idx, np.arange(len(str_rows)))
        pos_t = str_rows.take(first_t)
        rank_t = idx
    else:
        pos_t = np.empty(0, dtype=np.int64)
        rank_t = np.empty(0, dtype=np.int64)

    # interleave both kinds by first appearance
    pos = np.concatenate([pos_n, pos_t])
    order = np.argsort(pos, kind="stable")
    final = np.empty(len(pos), dtype=np.int64)
    final[order] = np.arange(len(pos))
    if len(num_rows):
        codes[num_rows] = final[: len(pos_n)].take(rank_n)
    if len(str_rows):
        codes[str_rows] = final[len(pos_n):].take(rank_t)

    sym_rows = pos.take(order)
    sym_num = num.take(sym_rows)
    sym_text = text_obj.take(sym_rows)
    missing = np.flatnonzero(np.equal(sym_text, None))
    if len(missing):
        from engine.model.numformat import format_default

        for i in missing:
            sym_text[i] = format_default(float(sym_num[i]))
    return SymbolTable(sym_num, sym_text), codes


def merge(tables: list[SymbolTable]) -> tuple[SymbolTable, list[np.ndarray]]:
    """Unify several symbol tables of one field; returns the union and, per input, old → new code maps."""
    if len(tables) == 1:
        return tables[0], [np.arange(len(tables[0]), dtype=CODE_DTYPE)]
    num = np.concatenate([t.num for t in tables])
    text = np.concatenate([t.text for t in tables])
    union, codes = encode(num, text)
    maps, start = [], 0
    for t in tables:
        maps.append(codes[start: start + len(t)])
        start += len(t)
    return union, maps


def remap(codes: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Translate a code column through ``mapping`` keeping NULL (-1) as NULL."""
    if len(mapping) == 0:
        return codes.copy()
    ext = np.append(mapping.astype(CODE_DTYPE), CODE_DTYPE(NULL))
    return ext.take(codes)  # codes == -1 picks the trailing NULL
