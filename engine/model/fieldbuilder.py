"""One field's symbol table and row codes, built batch by batch as a big source streams in.

Why: merging per-batch symbol tables at the end (or reading the whole file first) holds several full
copies of the data at once. Here each batch's symbols are looked up among the symbols so far as they
arrive (numbers by value, texts by two 64-bit hashes, see :mod:`texthash`, both in a
:class:`~engine.model.sortedindex.SortedIndex`), new ones get the next codes, and the batch's rows are
kept as codes in the narrowest integer type. Symbols are what :func:`~engine.model.symbols.encode` gives
for the same rows read at once: first-appearance order, one symbol per number (the first text seen wins),
one per text among values without a number. A batch's symbols that no row uses still become symbols,
as a column taken from a bigger one keeps its whole symbol table.

What is held while building: the row codes (1, 2 or 4 bytes a row), each symbol's number as an index key
(8 bytes + a 4-byte code; texts: two hashes + code, 20 bytes) and its text only where it is not the
rendering of its number (:class:`~engine.model.symbols.TextPart`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.model.sortedindex import SortedIndex
from engine.model.symbols import SymbolTable, TextPart, code_dtype, rendering, smallest_int_dtype
from engine.model.texthash import text_hashes


class FieldBuilder:
    """Symbols and row codes of one field, fed one batch column at a time."""

    def __init__(self) -> None:
        self._numbers = SortedIndex(np.float64)
        self._texts = SortedIndex(np.uint64, checked=True)
        #: texts whose first hash equals another text's: (hash 1, hash 2) → code (practically never used)
        self._collided: dict[tuple[int, int], int] = {}
        self._collided_keys = np.empty(0, dtype=np.uint64)
        self._parts: list[TextPart] = []
        self._rows: list[tuple[int, np.ndarray | None]] = []  # (rows, codes); None: all NULL
        self.nsymbols = 0
        self.nrows = 0
        #: the symbol table added last and its entries' codes (-1 appended, for NULL)
        self._last: tuple[SymbolTable | None, np.ndarray] = (None, np.empty(0, dtype=np.int64))

    def add_nulls(self, nrows: int) -> None:
        if nrows:
            self._rows.append((nrows, None))
            self.nrows += nrows

    def add(self, symbols: SymbolTable, codes: np.ndarray) -> None:
        """A batch: its own symbol table and its rows' codes into it (-1 = NULL)."""
        if not len(symbols):
            self.add_nulls(len(codes))
            return
        if symbols is not self._last[0]:  # slices of one batch share its symbol table
            self._last = (symbols, np.append(self.match(symbols), -1))
        mapping = self._last[1].astype(code_dtype(self.nsymbols))
        self._rows.append((len(codes), mapping.take(np.asarray(codes, dtype=np.int64))))
        self.nrows += len(codes)

    def match(self, symbols: SymbolTable) -> np.ndarray:
        """Each entry of a batch's symbol table as a symbol of this field (the new ones become symbols):
        their codes."""
        k = len(symbols)
        num = np.asarray(symbols.num, dtype=np.float64)
        code = np.full(k, -1, dtype=np.int64)  # each entry's symbol, once known
        rep = np.arange(k)  # the entry whose value each entry repeats
        num_keys, num_at = self._match_numbers(num, code, rep)
        text_keys, text_checks, text_at, collided = self._match_texts(
            symbols, np.flatnonzero(np.isnan(num)), code, rep
        )
        fresh = np.flatnonzero(code < 0)
        fresh = fresh[rep.take(fresh) == fresh]  # new symbols: entries no earlier entry repeats
        code[fresh] = self.nsymbols + np.arange(len(fresh))
        unknown = np.flatnonzero(code < 0)
        code[unknown] = code.take(rep.take(unknown))
        if len(fresh):
            self._parts.append(symbols.part(fresh))
            self._numbers.insert(num_keys, code.take(num_at))
            self._texts.insert(text_keys, code.take(text_at), text_checks)
            for pair, e in collided.items():
                self._collided[pair] = int(code[e])
            if collided:
                self._collided_keys = np.unique(np.array([a for a, _ in self._collided], dtype=np.uint64))
        self.nsymbols += len(fresh)
        return code

    def texts_of(self, code: np.ndarray, num: np.ndarray) -> pa.Array:
        """The texts of the symbols ``code`` whose numbers are ``num``: for a number, the text it was
        first seen with."""
        out: list[pa.Array] = []
        order = np.argsort(code, kind="stable")
        at = code.take(order)
        starts = np.cumsum([0] + [p.n for p in self._parts])
        which = np.searchsorted(starts, at, side="right") - 1
        bounds = np.searchsorted(which, np.arange(len(self._parts) + 1))
        for i, part in enumerate(self._parts):
            a, b = int(bounds[i]), int(bounds[i + 1])
            if b > a:
                sel = order[a:b]
                out.append(part.texts_at(at[a:b] - starts[i], num.take(sel)))
        if not out:
            return pa.array([], type=pa.string())
        merged = out[0] if len(out) == 1 else pa.concat_arrays([t.cast(pa.large_string()) for t in out])
        back = np.empty(len(order), dtype=np.int64)
        back[order] = np.arange(len(order))
        return merged.take(pa.array(back))

    def _match_numbers(
        self, num: np.ndarray, code: np.ndarray, rep: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Codes of entries whose number is a symbol already; repeats within the batch point at their
        first entry. Returns the new numbers (sorted) and their first entries."""
        idx = np.flatnonzero(~np.isnan(num))
        if not len(idx):
            return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64)
        values = num.take(idx)
        if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):
            # ascending and distinct (an id column, a batch of dates in order): nothing to sort
            top = self._numbers.top()
            if top is None or values[0] > top:
                return values, idx  # all above every symbol so far: all new, no lookup
            keys, first, inv = values, np.arange(len(values)), np.arange(len(values))
        else:
            keys, first, inv = np.unique(values, return_index=True, return_inverse=True)
        found, _ = self._numbers.lookup(keys)
        firsts = idx.take(first)
        rep[idx] = firsts.take(inv)
        code[idx] = found.take(inv)
        missing = np.flatnonzero(found < 0)
        return keys.take(missing), firsts.take(missing)

    def _match_texts(
        self, symbols: SymbolTable, idx: np.ndarray, code: np.ndarray, rep: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[tuple[int, int], int]]:
        """As :meth:`_match_numbers` for the entries without a number, keyed by their texts' hashes.
        Returns the new first hashes (sorted), their second hashes, their first entries, and the new
        texts whose first hash is shared with another text (hash pair → first entry)."""
        none = np.empty(0, dtype=np.uint64)
        if not len(idx):
            return none, none, np.empty(0, dtype=np.int64), {}
        h1, h2 = text_hashes(symbols.text_array(idx))
        keys, first, inv = np.unique(h1, return_index=True, return_inverse=True)
        checks = h2.take(first)
        found, found_checks = self._texts.lookup(keys)
        assert found_checks is not None
        # a first hash shared by different texts (in this batch, with a symbol so far, or earlier)
        odd = (found >= 0) & (found_checks != checks)
        odd[inv[h2 != checks.take(inv)]] = True
        if self._collided:
            odd |= np.isin(keys, self._collided_keys)
        firsts = idx.take(first)
        plain = ~odd.take(inv)
        rep[idx[plain]] = firsts.take(inv[plain])
        code[idx[plain]] = found.take(inv[plain])
        collided = self._resolve(idx[~plain], h1[~plain], h2[~plain], code, rep) if odd.any() else {}
        missing = np.flatnonzero((found < 0) & ~odd)
        return keys.take(missing), checks.take(missing), firsts.take(missing), collided

    def _resolve(
        self, entries: np.ndarray, h1: np.ndarray, h2: np.ndarray, code: np.ndarray, rep: np.ndarray
    ) -> dict[tuple[int, int], int]:
        """Entries whose first hash is shared, one Python step each, on the pair of hashes (this runs on a
        true 64-bit collision: for correctness, not speed). New pairs are kept apart from the index."""
        first_of: dict[tuple[int, int], int] = {}
        at, check = self._texts.lookup(np.unique(h1))
        assert check is not None
        indexed = {
            (int(a), int(c)): int(x)
            for a, c, x in zip(np.unique(h1).tolist(), check.tolist(), at.tolist(), strict=True)
            if x >= 0
        }
        for e, a, b in zip(entries.tolist(), h1.tolist(), h2.tolist(), strict=True):
            pair = (a, b)
            known = indexed.get(pair, self._collided.get(pair))
            if known is not None:
                code[e] = known
            elif pair in first_of:
                rep[e] = first_of[pair]
            else:
                first_of[pair] = e
        return first_of

    def finish(self) -> tuple[SymbolTable, np.ndarray]:
        """The field's symbol table and every row's code (in the narrowest type; -1 = NULL)."""
        self._last = (None, self._last[1][:0])
        out = np.empty(self.nrows, dtype=code_dtype(self.nsymbols))
        at = 0
        self._rows.reverse()
        while self._rows:  # each batch's codes released once copied
            n, rows = self._rows.pop()
            out[at : at + n] = -1 if rows is None else rows
            at += n
        parts, self._parts = self._parts, []
        dec = rendering(parts)
        span = (
            self._numbers.scaled_range(dec)
            if dec is not None and self.nsymbols >= 64 and not len(self._texts) and not self._collided
            else None
        )
        if dec is not None and span is not None:
            # numbers that are integers once scaled (ids, amounts in cents): the integers go straight
            # into the table, without a float copy of the numbers
            ints = np.empty(self.nsymbols, dtype=smallest_int_dtype(*span) or np.int32)
            for keys, codes in self._numbers.drain_scaled(dec):
                ints[codes] = keys
            return SymbolTable.from_scaled(ints, dec, parts), out
        # every symbol's number, written run by run as the index lets go of it (pages fill as runs empty)
        num = np.empty(self.nsymbols, dtype=np.float64)
        for keys, codes in self._numbers.drain():
            num[codes] = keys
        for _, codes in self._texts.drain():
            num[codes] = np.nan
        num[list(self._collided.values())] = np.nan
        return SymbolTable.from_parts(num, parts), out
