"""Symbol tables: the distinct dual values of one field, in load order.

A dual is a number (``NaN`` when the value has none) and a text. Two values with the same number are
the same symbol (the first text seen wins); values without a number are told apart by their text.
NULL is not a symbol: a column of codes holds ``-1`` for it.

Storage is compact because a model holds millions of symbols: texts live in one Arrow string array, not
one Python ``str`` each, and a field of plain numbers (``1234``, ``12.50``) keeps no texts at all: its
texts are the numbers rendered with a fixed count of decimals, plus the few exceptions whose text differs
(``007``). Numbers that are all integers (or fixed-point decimals) are kept as narrow integers. Readers
that need whole columns of Python objects still get them (``text``, cached; ``num``, built per call), but
hot paths ask for the symbols they need (``texts(idx)``, ``nums(idx)``, ``text_array()``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NULL = -1
CODE_DTYPE = np.int32

#: below this many symbols, compaction is not worth its bookkeeping
_COMPACT_MIN = 64
#: largest integer a float64 holds exactly
_EXACT = float(2**53)
#: symbol tables up to this size keep their texts as Python str (a few hundred KiB at most)
_SMALL = 4096


def _first_appearance_encode(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` (a sortable numpy array) in first-appearance order, and each key's rank."""
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    return first[order], rank[inverse]


def smallest_int_dtype(lo: int, hi: int) -> np.dtype | None:
    """The narrowest signed integer dtype holding ``lo..hi`` (int8 to int32), or None."""
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    return None


def code_dtype(nsymbols: int) -> np.dtype:
    """The narrowest signed type holding codes ``-1 .. nsymbols - 1`` (a field's code column)."""
    return smallest_int_dtype(-1, max(nsymbols - 1, 0)) or np.dtype(CODE_DTYPE)


def render_fixed(num: np.ndarray, decimals: int) -> pa.Array:
    """Texts of ``num`` with exactly ``decimals`` decimals, ``.`` as separator and a leading ``-`` for
    negatives (no thousands separator): the one rendering compact symbol tables store instead of texts.
    Values must be finite with ``|num| * 10**decimals < 2**53``."""
    scale = 10**decimals
    s = np.rint(num * scale).astype(np.int64) if decimals else np.rint(num).astype(np.int64)
    if not decimals:
        return pc.cast(pa.array(s), pa.string())
    whole_part, frac_part = np.divmod(np.abs(s), scale)
    whole = pc.cast(pa.array(whole_part), pa.string())
    frac = pc.utf8_slice_codeunits(pc.cast(pa.array(frac_part + scale), pa.string()), 1)
    body = pc.binary_join_element_wise(whole, frac, ".")
    neg = s < 0
    if neg.any():
        body = pc.if_else(pa.array(neg), pc.binary_join_element_wise("-", body, ""), body)
    return body


def _as_string_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type not in (pa.string(), pa.large_string()):
        values = values.cast(pa.string())
    return values


class SymbolTable:
    """Distinct values of a field: numbers (float64, NaN = no number) and texts.

    Construct with ``(num, text)`` where ``text`` is an object array of str or an Arrow string array;
    :meth:`compact` gives an equal table in the compact storage described in the module docstring.
    """

    __slots__ = (
        "_num",
        "_ints",
        "_nscale",
        "_obj",
        "_arr",
        "_dec",
        "_exc_idx",
        "_exc_text",
        "_numeric",
        "_compact",
    )

    def __init__(self, num: np.ndarray, text: np.ndarray | pa.Array | pa.ChunkedArray) -> None:
        self._num: np.ndarray | None = np.ascontiguousarray(num, dtype=np.float64)
        self._ints: np.ndarray | None = None
        self._nscale = 1.0
        self._obj: np.ndarray | None = None
        self._arr: pa.Array | None = None
        self._dec = -1
        self._exc_idx: np.ndarray | None = None
        self._exc_text: pa.Array | None = None
        self._numeric: bool | None = None
        self._compact = False
        if isinstance(text, (pa.Array, pa.ChunkedArray)):
            self._arr = _as_string_array(text)
        else:
            text = np.asarray(text)
            self._obj = text if text.dtype == object else text.astype(object)

    # -- numbers ------------------------------------------------------------------------------------
    @property
    def num(self) -> np.ndarray:
        """All numbers, float64 (NaN = no number). Built per call when stored as integers."""
        if self._num is not None:
            return self._num
        assert self._ints is not None
        out = self._ints.astype(np.float64)
        if self._nscale != 1.0:
            out /= self._nscale
        out.flags.writeable = False  # a copy, but writing to it would not change the table
        return out

    def nums(self, codes: np.ndarray) -> np.ndarray:
        """Numbers of the symbols ``codes`` (``-1`` = NULL → NaN)."""
        codes = np.asarray(codes)
        if self._num is not None:
            base = self._num
        else:
            assert self._ints is not None
            if not len(codes) or codes.min() >= 0:
                out = self._ints.take(codes).astype(np.float64)
                return out / self._nscale if self._nscale != 1.0 else out
            base = self.num
        return np.append(base, np.nan).take(codes) if len(codes) and codes.min() < 0 else base.take(codes)

    def num_at(self, i: int) -> float:
        if self._num is not None:
            return float(self._num[i])
        assert self._ints is not None
        return float(self._ints[i]) / self._nscale

    # -- texts --------------------------------------------------------------------------------------
    @property
    def text(self) -> np.ndarray:
        """All texts as an object array of str (made once and cached: prefer :meth:`texts`)."""
        if self._obj is None:
            self._obj = np.asarray(self._text_arrow(None).to_numpy(zero_copy_only=False), dtype=object)
        return self._obj

    def texts(self, codes: np.ndarray | None = None) -> np.ndarray:
        """Texts (object array) of the symbols ``codes`` (``-1`` = NULL → None); all when None."""
        if codes is None:
            return self.text
        codes = np.asarray(codes, dtype=np.int64)
        if self._obj is None and len(self) <= _SMALL:
            self.text  # noqa: B018 - small tables keep their str objects: pages read them on every call
        if self._obj is not None:
            if len(codes) and codes.min() < 0:
                with_null: np.ndarray = np.append(self._obj, np.array([None], dtype=object))
                return with_null.take(codes)
            taken: np.ndarray = self._obj.take(codes)
            return taken
        return np.asarray(self.text_array(codes).to_numpy(zero_copy_only=False), dtype=object)

    def text_at(self, i: int) -> str:
        if self._obj is not None or len(self) <= _SMALL:
            return str(self.text[i])
        return str(self._text_arrow(np.array([i], dtype=np.int64))[0].as_py())

    def text_array(self, codes: np.ndarray | None = None) -> pa.Array:
        """Texts as an Arrow string array (``-1`` codes = null), without making Python objects."""
        if codes is None:
            return self._text_arrow(None)
        codes = np.asarray(codes, dtype=np.int64)
        nulls = codes < 0
        if len(codes) and nulls.any():
            out = self._text_arrow(np.where(nulls, 0, codes) if len(self) else np.zeros(0, np.int64))
            if not len(self):
                return pa.nulls(len(codes), pa.string())
            return pc.if_else(pa.array(nulls), pa.scalar(None, out.type), out)
        return self._text_arrow(codes)

    def _text_arrow(self, idx: np.ndarray | None) -> pa.Array:
        if self._arr is not None:
            return self._arr if idx is None else self._arr.take(pa.array(idx))
        if self._dec < 0:
            assert self._obj is not None
            vals = self._obj if idx is None else self._obj.take(idx)
            return pa.array(vals, type=pa.string())
        exc, exc_text = self._exc_idx, self._exc_text
        assert exc is not None and exc_text is not None
        if idx is None:
            return _rendered(self.num, self._dec, exc, exc_text)
        return _rendered_at(self.nums(idx), idx, self._dec, exc, exc_text)

    # -- whole-table facts --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._num) if self._num is not None else len(self._ints)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self.texts(np.arange(min(5, len(self)))))
        return f"SymbolTable({len(self)}: {preview}{', …' if len(self) > 5 else ''})"

    @property
    def is_numeric(self) -> bool:
        """True when every symbol carries a number (an empty table is not numeric)."""
        if self._numeric is None:
            self._numeric = self._ints is not None or (bool(len(self)) and not bool(np.isnan(self.num).any()))
        return self._numeric

    @property
    def is_integer(self) -> bool:
        """True when every symbol's number is an integer (and there is at least one symbol)."""
        if self._ints is not None:
            return self._nscale == 1.0 or bool(np.all(self._ints % int(self._nscale) == 0))
        return self.is_numeric and bool(np.all(np.mod(self.num, 1) == 0))

    def max_text_length(self) -> int:
        """Length (characters) of the longest text."""
        if not len(self):
            return 0
        lengths = pc.utf8_length(self._text_arrow(None))
        return int(pc.max(lengths).as_py() or 0)

    def all_ascii(self, limit: int | None = None) -> bool:
        """True when every text (of the first ``limit`` symbols) is ASCII."""
        arr = self._text_arrow(None if limit is None or limit >= len(self) else np.arange(limit))
        return bool(pc.all(pc.fill_null(pc.string_is_ascii(arr), True)).as_py() is not False)

    @classmethod
    def empty(cls) -> SymbolTable:
        return cls(np.empty(0, dtype=np.float64), np.empty(0, dtype=object))

    def take(self, idx: np.ndarray) -> SymbolTable:
        idx = np.asarray(idx, dtype=np.int64)
        if self._obj is not None:
            return SymbolTable(self.nums(idx), self._obj.take(idx))
        return SymbolTable(self.nums(idx), self._text_arrow(idx))

    def nbytes(self) -> int:
        """Resident size: the arrays, Arrow buffers and (if made) the Python text objects."""
        total = 0
        for a in (self._num, self._ints, self._exc_idx):
            total += a.nbytes if a is not None else 0
        for arr in (self._arr, self._exc_text):
            total += arr.nbytes if arr is not None else 0
        if self._obj is not None:
            total += self._obj.nbytes
            n = len(self._obj)
            sample = self._obj if n <= 10_000 else self._obj[:: max(1, n // 10_000)]
            per = sum(sys.getsizeof(t) for t in sample) / max(len(sample), 1)
            total += int(per * n)
        return total

    # -- compaction ---------------------------------------------------------------------------------
    @classmethod
    def from_arrow(cls, num: np.ndarray, texts: pa.Array | pa.ChunkedArray) -> SymbolTable:
        """Numbers + Arrow texts → a compact table (no Python str is made)."""
        return cls(num, texts).compact()

    @classmethod
    def fixed(cls, keys: np.ndarray, decimals: int) -> SymbolTable:
        """Numbers ``keys / 10**decimals`` (``keys`` integers) whose texts are their fixed rendering
        (:func:`render_fixed`): nothing but the integers is stored."""
        keys = np.asarray(keys, dtype=np.int64)
        scale = float(10**decimals)
        out = cls.__new__(cls)
        out._obj, out._arr, out._dec, out._numeric, out._compact = None, None, decimals, bool(len(keys)), True
        out._exc_idx, out._exc_text = np.empty(0, dtype=np.int64), pa.array([], type=pa.string())
        dt = smallest_int_dtype(int(keys.min()), int(keys.max())) if len(keys) else np.dtype(np.int8)
        if dt is not None:
            out._ints, out._nscale, out._num = keys.astype(dt), scale, None
        else:
            num = keys.astype(np.float64)
            out._ints, out._nscale, out._num = None, 1.0, num / scale if decimals else num
        return out

    def compact(self) -> SymbolTable:
        """An equal table in compact storage (rendered numbers, Arrow texts, integer numbers)."""
        if self._compact or self._obj is None and (self._dec >= 0 or self._ints is not None):
            return self
        num = self.num
        return SymbolTable._assemble(num, text_part(num, self._text_arrow(None)), self._numeric)

    @classmethod
    def from_parts(cls, num: np.ndarray, parts: Sequence[TextPart]) -> SymbolTable:
        """A compact table of ``num`` (every symbol's number) whose texts come in consecutive parts (as a
        table built batch by batch keeps them): the rendering that most parts use is the table's, the
        other parts' texts become its exceptions, or the texts are kept whole when exceptions would be
        more than a quarter of the symbols (as :meth:`compact` decides for one table)."""
        num = np.ascontiguousarray(num, dtype=np.float64)
        n = len(num)
        d = rendering(parts)
        if n >= _COMPACT_MIN and d is not None:
            exc = _exceptions(lambda a, b: num[a:b], parts, d)
            if exc is not None:
                return cls._assemble(num, TextPart(n, d, None, *exc))
        texts = _concat_texts([part_texts(num[a:b], p) for p, a, b in _spans(parts)])
        if n >= _COMPACT_MIN and d is None:  # small parts: decide over the whole, like compact()
            return cls._assemble(num, text_part(num, texts))
        return cls._assemble(num, TextPart(n, -1, texts))

    @classmethod
    def from_scaled(cls, ints: np.ndarray, dec: int, parts: Sequence[TextPart]) -> SymbolTable:
        """:meth:`from_parts` for numbers given as ``ints / 10**dec`` (int32 or narrower, exact), ``dec``
        the parts' :func:`rendering`: the table keeps the integers, and no float copy of the numbers is
        made unless the texts turn out mostly not renderings."""
        scale = float(10**dec)
        exc = _exceptions(lambda a, b: ints[a:b] / scale, parts, dec)
        if exc is None:
            return cls.from_parts(ints / scale, parts)
        out = cls.__new__(cls)
        out._num, out._ints, out._nscale, out._compact = None, ints, scale, True
        out._obj, out._arr, out._dec, out._numeric = None, None, dec, bool(len(ints))
        out._exc_idx, out._exc_text = exc
        return out

    def part(self, idx: np.ndarray) -> TextPart:
        """The texts of the symbols ``idx`` (ascending) as a compact part, without rendering numbers when
        this table already stores them as renderings."""
        idx = np.asarray(idx, dtype=np.int64)
        if self._dec >= 0 and self._arr is None and self._obj is None:
            exc = self._exc_idx if self._exc_idx is not None else np.empty(0, dtype=np.int64)
            hit = np.searchsorted(idx, exc)
            inside = (
                (hit < len(idx)) & (idx.take(np.minimum(hit, max(len(idx) - 1, 0))) == exc)
                if len(idx)
                else (np.zeros(len(exc), dtype=bool))
            )
            assert self._exc_text is not None
            return TextPart(
                len(idx),
                self._dec,
                None,
                hit[inside],
                self._exc_text.take(pa.array(np.flatnonzero(inside), type=pa.int64())),
            )
        return text_part(self.nums(idx), self._text_arrow(idx))

    @classmethod
    def _assemble(cls, num: np.ndarray, part: TextPart, numeric: bool | None = None) -> SymbolTable:
        """A table of ``num`` with the texts of ``part``, numbers narrowed to integers where exact."""
        out = cls.__new__(cls)
        out._num, out._ints, out._nscale, out._compact = num, None, 1.0, True
        out._obj, out._arr, out._dec = None, part.texts, part.dec
        out._exc_idx = part.exc_idx if part.dec >= 0 else None
        out._exc_text = part.exc_text if part.dec >= 0 else None
        out._numeric = numeric
        if len(num) >= _COMPACT_MIN:
            d = max(part.dec, 0)
            ints = _as_ints(num, d)
            if ints is not None:
                out._ints, out._nscale, out._num, out._numeric = ints, float(10**d), None, True
        return out


def _as_ints(num: np.ndarray, dec: int) -> np.ndarray | None:
    """``num * 10**dec`` as the narrowest integers (int8 to int32) when that is exact for every number
    (the integers times ``10**-dec`` give back each number bit for bit; no NaN, no -0), else None.
    Works in slices, so a field of millions of numbers needs no full-size temporaries."""
    scale = float(10**dec)
    step = 1 << 20
    lo, hi = 0, 0

    def scaled(a: int) -> np.ndarray | None:
        blk = num[a : a + step]
        if not np.isfinite(blk).all() or (np.signbit(blk) & (blk == 0)).any():
            return None
        out = np.rint(blk * scale) if dec else blk
        if not (
            np.all(np.abs(out) < 2**31)
            and np.array_equal(out, np.rint(out))
            and np.array_equal(out / scale if dec else out, blk)
        ):
            return None
        return out

    for a in range(0, len(num), step):
        blk = scaled(a)
        if blk is None:
            return None
        lo, hi = min(lo, int(blk.min())), max(hi, int(blk.max()))
    dt = smallest_int_dtype(lo, hi)
    if dt is None:
        return None
    ints = np.empty(len(num), dtype=dt)
    for a in range(0, len(num), step):
        ints[a : a + step] = scaled(a)
    return ints


@dataclass(frozen=True)
class TextPart:
    """The texts of ``n`` consecutive symbols, compactly: with ``dec >= 0`` each text is its number's
    fixed rendering with ``dec`` decimals, except at ``exc_idx`` (ascending positions in the part) whose
    texts are ``exc_text``; with ``dec < 0`` every text is in ``texts``."""

    n: int
    dec: int
    texts: pa.Array | None
    exc_idx: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    exc_text: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))

    def texts_at(self, idx: np.ndarray, num: np.ndarray) -> pa.Array:
        """The texts at positions ``idx`` (ascending) of the part, whose numbers are ``num``."""
        if self.dec < 0:
            assert self.texts is not None
            return self.texts.take(pa.array(idx, type=pa.int64()))
        return _rendered_at(num, idx, self.dec, self.exc_idx, self.exc_text)


def rendering(parts: Sequence[TextPart]) -> int | None:
    """The decimals most of the parts' symbols are rendered with (None when no part is rendered)."""
    votes: dict[int, int] = {}
    for p in parts:
        if p.dec >= 0:
            votes[p.dec] = votes.get(p.dec, 0) + p.n - len(p.exc_idx)
    return max(votes, key=lambda k: votes[k]) if votes else None


def _exceptions(
    num_of: Callable[[int, int], np.ndarray], parts: Sequence[TextPart], dec: int
) -> tuple[np.ndarray, pa.Array] | None:
    """The parts' symbols whose texts are not their numbers rendered with ``dec`` decimals: (positions,
    texts); None when they are more than a quarter of the symbols. ``num_of(a, b)``: numbers a..b."""
    idx: list[np.ndarray] = []
    txt: list[pa.Array] = []
    n = 0
    for p, a, b in _spans(parts):
        n = b
        if p.dec == dec:
            idx.append(p.exc_idx + a)
            txt.append(p.exc_text)
            continue
        num = num_of(a, b)
        texts = part_texts(num, p)
        exc = np.flatnonzero(~_is_rendering(num, texts, dec))
        idx.append(exc + a)
        txt.append(texts.take(pa.array(exc, type=pa.int64())))
    positions = np.concatenate(idx) if idx else np.empty(0, dtype=np.int64)
    if len(positions) * 4 > n:
        return None
    return positions, _concat_texts(txt)


def _is_rendering(num: np.ndarray, texts: pa.Array, dec: int) -> np.ndarray:
    """Per symbol: its text is its number rendered with ``dec`` decimals."""
    ok: np.ndarray = np.isfinite(num) & (np.abs(num) * 10.0**dec < _EXACT)
    rendered = render_fixed(np.where(ok, num, 0.0), dec)
    same: np.ndarray = np.asarray(
        pc.fill_null(pc.equal(rendered, texts.cast(pa.string())), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    out: np.ndarray = same & ok
    return out


def text_part(num: np.ndarray, texts: pa.Array) -> TextPart:
    """The compact form of these symbols' texts: the renderings with the decimals most texts show, and
    the exceptions, when at least three quarters of the symbols are numbers and at most a quarter are
    exceptions; else the texts as they are."""
    n = len(num)
    whole = TextPart(n, -1, texts)
    if n < _COMPACT_MIN:
        return whole
    cand = np.flatnonzero(np.isfinite(num))
    if len(cand) * 4 < n * 3:
        return whole
    ct = texts if len(cand) == n else texts.take(pa.array(cand))
    pos = pc.find_substring(ct, ".").to_numpy(zero_copy_only=False)
    length = pc.fill_null(pc.utf8_length(ct), 0).to_numpy(zero_copy_only=False)
    d = int(np.bincount(np.where(pos < 0, 0, length - pos - 1).clip(0, 15)).argmax())
    keep = np.zeros(n, dtype=bool)
    keep[cand] = _is_rendering(num.take(cand), ct, d)
    exc = np.flatnonzero(~keep)
    if len(exc) * 4 > n:
        return whole
    return TextPart(n, d, None, exc, texts.take(pa.array(exc, type=pa.int64())))


def part_texts(num: np.ndarray, part: TextPart) -> pa.Array:
    """Every text of a part."""
    if part.dec < 0:
        assert part.texts is not None
        return part.texts
    return _rendered(num, part.dec, part.exc_idx, part.exc_text)


def _rendered(num: np.ndarray, dec: int, exc_idx: np.ndarray, exc_text: pa.Array) -> pa.Array:
    ok = np.isfinite(num) & (np.abs(num) * 10.0**dec < _EXACT)
    out = render_fixed(np.where(ok, num, 0.0), dec)
    if not len(exc_idx):
        return out
    mask = np.zeros(len(out), dtype=bool)
    mask[exc_idx] = True
    return pc.replace_with_mask(out, pa.array(mask), exc_text.cast(out.type))


def _rendered_at(
    num: np.ndarray, idx: np.ndarray, dec: int, exc_idx: np.ndarray, exc_text: pa.Array
) -> pa.Array:
    """:func:`_rendered` for the symbols ``idx`` only (``num``: their numbers), ``exc_idx`` (ascending)
    and ``exc_text`` being the exceptions of all the symbols."""
    if not len(exc_idx):
        return _rendered(num, dec, exc_idx, exc_text)
    j = np.minimum(np.searchsorted(exc_idx, idx), len(exc_idx) - 1)
    hit = exc_idx.take(j) == idx
    return _rendered(num, dec, np.flatnonzero(hit), exc_text.take(pa.array(j[hit])))


def _spans(parts: Sequence[TextPart]) -> Iterator[tuple[TextPart, int, int]]:
    start = 0
    for p in parts:
        yield p, start, start + p.n
        start += p.n


def _concat_texts(arrays: Sequence[pa.Array]) -> pa.Array:
    """One string array of several (a large_string one past 2 GiB of text)."""
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        return pa.array([], type=pa.string())
    if len(arrays) == 1:
        return arrays[0]
    size = sum(a.nbytes for a in arrays)
    kind = pa.string() if size < 2**31 - 1 else pa.large_string()
    return pa.concat_arrays([a if a.type == kind else a.cast(kind) for a in arrays])


def encode(num: np.ndarray, text: np.ndarray | pa.Array) -> tuple[SymbolTable, np.ndarray]:
    """Dictionary-encode a column of duals.

    ``num`` is float64 (NaN = no number); ``text`` an object array (``None`` = no text) or an Arrow string
    array (null = no text). A row with neither is NULL. Returns the symbol table (first-appearance order)
    and int32 codes (``-1`` = NULL). A pure number without text gets its default rendering as text. With
    Arrow texts the table keeps Arrow texts (no Python str per symbol).
    """
    n = len(num)
    num = np.asarray(num, dtype=np.float64)
    has_num = ~np.isnan(num)
    codes = np.full(n, NULL, dtype=CODE_DTYPE)
    arrow_in = isinstance(text, (pa.Array, pa.ChunkedArray))
    if arrow_in:
        tarr = _as_string_array(text)
        text_obj = None
    else:
        text_obj = np.asarray(text, dtype=object)
        tarr = pa.array(text_obj, type=pa.string())

    num_rows = np.flatnonzero(has_num)
    str_rows = (
        np.flatnonzero(~has_num & pc.is_valid(tarr).to_numpy(zero_copy_only=False))
        if n
        else np.empty(0, dtype=np.int64)
    )

    # numeric symbols: keyed by number
    if len(num_rows):
        first_n, rank_n = _first_appearance_encode(num.take(num_rows))
        pos_n = num_rows.take(first_n)  # row where each numeric symbol first appears
    else:
        rank_n = np.empty(0, dtype=np.int64)
        pos_n = np.empty(0, dtype=np.int64)
    # text symbols: keyed by text (hash-based, in C++)
    if len(str_rows):
        enc = pc.dictionary_encode(tarr.take(pa.array(str_rows)))
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
        codes[str_rows] = final[len(pos_n) :].take(rank_t)

    sym_rows = pos.take(order)
    sym_num = num.take(sym_rows)
    from engine.model.numformat import format_default

    if text_obj is not None:
        sym_text = text_obj.take(sym_rows)
        for i in np.flatnonzero(np.equal(sym_text, np.array(None, dtype=object))):
            sym_text[i] = format_default(float(sym_num[i]))
        return SymbolTable(sym_num, sym_text), codes
    sym_arr = tarr.take(pa.array(sym_rows))
    if sym_arr.null_count:
        missing = np.flatnonzero(sym_arr.is_null().to_numpy(zero_copy_only=False))
        fill = pa.array([format_default(float(x)) for x in sym_num.take(missing)], type=sym_arr.type)
        mask = np.zeros(len(sym_arr), dtype=bool)
        mask[missing] = True
        sym_arr = pc.replace_with_mask(sym_arr, pa.array(mask), fill)
    return SymbolTable(sym_num, sym_arr), codes


def merge(tables: list[SymbolTable]) -> tuple[SymbolTable, list[np.ndarray]]:
    """Unify several symbol tables of one field; returns the union and, per input, old → new code maps."""
    if len(tables) == 1:
        return tables[0], [np.arange(len(tables[0]), dtype=CODE_DTYPE)]
    num = np.concatenate([t.num for t in tables])
    if all(t._obj is not None for t in tables):
        union, codes = encode(num, np.concatenate([t.text for t in tables]))
    else:
        union, codes = encode(num, pa.concat_arrays([t.text_array().cast(pa.large_string()) for t in tables]))
    maps, start = [], 0
    for t in tables:
        maps.append(codes[start : start + len(t)])
        start += len(t)
    return union, maps


def remap(
    codes: np.ndarray, mapping: np.ndarray, dtype: type[np.signedinteger] | np.dtype = CODE_DTYPE
) -> np.ndarray:
    """Translate a code column through ``mapping`` keeping NULL (-1) as NULL; the result in ``dtype``
    (wide enough for the mapped codes)."""
    if len(mapping) == 0:
        return codes.copy()
    ext = np.append(mapping, NULL).astype(dtype)
    return ext.take(codes)  # codes == -1 picks the trailing NULL
