"""Arrow batches → the model's columns: a symbol table of duals and int32 codes per field.

A database result arrives as typed Arrow batches; each batch is dictionary-encoded as it arrives (hashing
in Arrow's C++, no Python object per value), so what is kept between batches is one int32 code per row
plus each batch's distinct values. At the end the batches' distinct values are merged once (again a hash
over distinct values only) into one symbol table in load order, as the model needs. Integer keys that
arrive ascending (an ``id`` column) skip hashing: each row is its own symbol.

How typed values become duals (Qlik's rules for database values):

* integers (and booleans as 1/0) and floats are numbers; their text is the engine's default rendering;
  decimals are read as numbers (float64);
* strings are text, interpreted like file values (``'0123'`` becomes the number 123 with that text);
* dates, timestamps and times are their serial numbers (days since 1899-12-30) with texts in the script's
  ``DateFormat``/``TimestampFormat``/``TimeFormat``; intervals are days with ``IntervalFormat`` texts;
  timestamps with a time zone are shown as UTC;
* anything else (binary, JSON, UUID, lists) is its text; SQL NULL (and NaN) is NULL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine import workers
from engine.expr.formatting import (
    EPOCH_OFFSET,
    Locale,
    _date_parts,
    format_datetimes,
    time_parts,
    weekday_monday0,
    ymd_from_serial,
)
from engine.model.numformat import format_default
from engine.model.symbols import CODE_DTYPE, SymbolTable, encode
from engine.script.textfile import encode_dictionary
from engine.sources.columns import dense_encode

Interpreter = Callable[[pa.Array], np.ndarray]
Encoded = tuple[SymbolTable, np.ndarray]

_EXACT_INT = 2**53
_UNITS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


class ColumnError(Exception):
    """A column cannot be loaded (its type changed between batches, duplicate names…)."""


@dataclass(frozen=True)
class Render:
    """What typed values need from the script: its number formats and its text interpretation."""

    locale: Locale
    interpret: Interpreter


# ---------------------------------------------------------------------------------------------
# first-appearance codes over batches


class _Keys:
    """Codes of hashable Arrow values (ints, floats, strings) added batch by batch, in load order.

    Three ways to keep a batch, chosen as the data shows itself: an ascending run of distinct keys (an id)
    is its own dictionary, no hashing at all; a batch with few distinct values is dictionary-encoded at
    once (only its codes and its few values are kept); a column whose first batch is mostly distinct
    values is kept as it is and hashed once at the end (encoding it per batch would hash each value twice).
    """

    def __init__(self, ascending: bool) -> None:
        self.parts: list[pa.Array] = []  # per batch: its values, or its dictionary
        self.codes: list[np.ndarray | None] = []  # per batch: codes into its dictionary; None: values
        self._try_ascending = ascending
        self._only_ascending = True
        self._raw = False
        self._last: object = None

    def add(self, arr: pa.Array) -> None:
        if self._try_ascending and self._ascending(arr):
            self.parts.append(arr)
            self.codes.append(None)
            return
        self._try_ascending = False
        self._only_ascending = False
        if self._raw:
            self.parts.append(arr)
            self.codes.append(None)
            return
        enc = pc.dictionary_encode(arr)
        if len(arr) >= 1024 and len(enc.dictionary) * 2 > len(arr):
            self._raw = True  # mostly distinct: hash once, at the end
            self.parts.append(arr)
            self.codes.append(None)
            return
        idx = enc.indices
        if idx.null_count:
            idx = idx.fill_null(-1)
        self.parts.append(enc.dictionary)
        self.codes.append(idx.to_numpy(zero_copy_only=False).astype(CODE_DTYPE, copy=False))

    def _ascending(self, arr: pa.Array) -> bool:
        n = len(arr)
        if n == 0 or arr.null_count:
            return n == 0
        if n > 1 and not pc.all(pc.greater(arr.slice(1), arr.slice(0, n - 1))).as_py():
            return False
        first, last = arr[0].as_py(), arr[n - 1].as_py()
        if self._last is not None and not first > self._last:
            return False
        self._last = last
        return True

    def finish(self) -> tuple[pa.Array, np.ndarray]:
        """The distinct values in load order and every row's code (-1 = NULL)."""
        total = sum(len(p) if c is None else len(c) for p, c in zip(self.parts, self.codes, strict=True))
        filled = [p for p in self.parts if len(p)]
        if not filled:
            return pa.array([], type=self.parts[0].type if self.parts else pa.null()), np.full(
                total, -1, dtype=CODE_DTYPE
            )
        if self._only_ascending:
            values = filled[0] if len(filled) == 1 else pa.concat_arrays(filled)
            return values, np.arange(len(values), dtype=CODE_DTYPE)
        if all(c is None for c in self.codes):
            dense = _dense(filled[0] if len(filled) == 1 else pa.concat_arrays(filled))
            if dense is not None:
                return dense
        if len(self.parts) == 1 and self.codes[0] is not None:
            return self.parts[0], self.codes[0]
        merged = pc.dictionary_encode(pa.chunked_array(filled, type=filled[0].type))
        chunks = iter(merged.chunks)  # one per non-empty part, in order
        out = np.full(total, -1, dtype=CODE_DTYPE)
        row = 0
        for part, c in zip(self.parts, self.codes, strict=True):
            n = len(part) if c is None else len(c)
            if len(part):
                idx = next(chunks).indices
                m = (
                    (idx.fill_null(-1) if idx.null_count else idx)
                    .to_numpy(zero_copy_only=False)
                    .astype(CODE_DTYPE, copy=False)
                )
                out[row : row + n] = m if c is None else np.append(m, CODE_DTYPE(-1)).take(c)
            row += n
        return merged.chunk(0).dictionary, out


def _dense(values: pa.Array) -> tuple[pa.Array, np.ndarray] | None:
    """First-appearance codes without hashing, for numbers that are integers, or decimals with at most 4
    places, over a range no wider than twice the row count (amounts in cents, quantities, days): a
    direct-address table. None when the values are not like that."""
    t = values.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)) or len(values) < 1024:
        return None
    valid = None if not values.null_count else pc.is_valid(values).to_numpy(zero_copy_only=False)
    raw = (
        values.fill_null(0).to_numpy(zero_copy_only=False)
        if values.null_count
        else values.to_numpy(zero_copy_only=False)
    )
    present = raw if valid is None else raw[valid]
    if not len(present):
        return None
    scale = 1
    if pa.types.is_floating(t):
        if not np.isfinite(present).all() or np.abs(present).max() >= 2.0**40:
            return None
        head = present[:4096]
        for decimals in range(5):  # the fewest places that hold the first values, then all of them
            scale = 10**decimals
            if np.array_equal(np.rint(head * scale) / scale, head):
                break
        else:
            return None
        keys = present * scale
        np.rint(keys, out=keys)
        if not np.array_equal(keys / scale if decimals else keys, present):
            return None
        keys = keys.astype(np.int64)
    else:
        keys = present.astype(np.int64, copy=False)
    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo >= 2 * len(keys):
        return None
    symbols, codes = dense_encode(keys, lo, hi - lo + 1)
    if valid is not None:
        full = np.full(len(values), -1, dtype=CODE_DTYPE)
        full[valid] = codes
        codes = full
    dictionary = pa.array(symbols / scale if pa.types.is_floating(t) else symbols).cast(t)
    return dictionary, codes.astype(CODE_DTYPE, copy=False)


# ---------------------------------------------------------------------------------------------
# rendering


def render_numbers(num: np.ndarray) -> pa.Array:
    """The engine's default texts of numbers, vectorised. Arrow's shortest round-trip text is the default
    rendering whenever it has no exponent and at most 14 significant digits (then rounding to 14 digits
    gives the same digits) and the number is below 1e15; a text of at most 15 characters besides the sign
    has at most 14 digits besides the point. The rest (rare in real data) go through
    :func:`format_default` one by one."""
    num = np.asarray(num, dtype=np.float64)
    texts = pc.cast(pa.array(num, type=pa.float64()), pa.string())
    if not len(num):
        return texts
    length = pc.binary_length(texts).to_numpy(zero_copy_only=False) - np.signbit(num)
    odd = (
        (length > 15) | ~(np.abs(num) < 1e15) | pc.match_substring(texts, "e").to_numpy(zero_copy_only=False)
    )
    bad = np.flatnonzero(odd)
    if not len(bad):
        return texts
    mask = np.zeros(len(num), dtype=bool)
    mask[bad] = True
    fill = pa.array([format_default(float(x)) for x in num[bad]], type=pa.string())
    return pc.replace_with_mask(texts, pa.array(mask), fill)


def render_datetimes(serials: np.ndarray, fmt: str, locale: Locale) -> pa.Array:
    """Texts of finite serial numbers in a date/time format code, vectorised (the same texts as
    :func:`engine.expr.formatting.format_datetimes`, which assembles each text in Python: too slow for
    a million distinct timestamps)."""
    serials = np.asarray(serials, dtype=np.float64)
    if not len(serials):
        return pa.array([], type=pa.string())
    parts = _date_parts(fmt)
    y, mo, d = ymd_from_serial(serials)
    h, mi, s, ms = time_parts(serials)
    ampm = any(p.kind == "T" for p in parts)

    def digits(values: np.ndarray, width: int) -> pa.Array:
        text = pc.cast(pa.array(values), pa.string())
        return pc.utf8_lpad(text, width, "0") if width > 1 else text

    def names(table: tuple[str, ...], index: np.ndarray) -> pa.Array:
        return pa.array(table, type=pa.string()).take(pa.array(index))

    pieces: list[pa.Array | str] = []
    for p in parts:
        k = p.kind
        if k == "lit":
            pieces.append(p.text)
        elif k == "Y":
            pieces.append(digits(y % 100, 2) if p.width == 2 else digits(y, 1))
        elif k == "M":
            if p.width >= 4:
                pieces.append(names(locale.long_month_names, mo - 1))
            elif p.width == 3:
                pieces.append(names(locale.month_names, mo - 1))
            else:
                pieces.append(digits(mo, p.width))
        elif k == "D":
            pieces.append(digits(d, min(p.width, 2)))
        elif k == "W":
            wd = weekday_monday0(serials)
            if p.width >= 4:
                pieces.append(names(locale.long_day_names, wd))
            elif p.width == 3:
                pieces.append(names(locale.day_names, wd))
            else:
                pieces.append(digits(wd, 1))
        elif k == "h":
            pieces.append(digits(np.where(h % 12 == 0, 12, h % 12) if ampm else h, min(p.width, 2)))
        elif k == "m":
            pieces.append(digits(mi, min(p.width, 2)))
        elif k == "s":
            pieces.append(digits(s, min(p.width, 2)))
        elif k == "f":
            frac = pc.utf8_slice_codeunits(digits(ms, 3), 0, p.width)
            pieces.append(pc.utf8_rpad(frac, p.width, "0"))
        elif k == "T":
            pieces.append(pa.array(np.where(h < 12, "AM", "PM"), type=pa.string()))
    arrays = [x for x in pieces if isinstance(x, pa.Array)]
    if not arrays:
        return pa.array(["".join(x for x in pieces if isinstance(x, str))] * len(serials), type=pa.string())
    return pc.binary_join_element_wise(*pieces, "")


def _formatted(
    serials: np.ndarray, fmt: str, locale: Locale, interval: bool = False
) -> pa.Array | np.ndarray:
    if interval:
        return format_datetimes(serials, fmt, locale, interval=True)
    return render_datetimes(serials, fmt, locale)


# ---------------------------------------------------------------------------------------------
# one encoder per kind of Arrow type


class _Encoder(ABC):
    """Collects one field's batches; :meth:`finish` gives its symbol table and codes."""

    @abstractmethod
    def add(self, arr: pa.Array) -> None:
        """Take the next batch of this field's values."""

    @abstractmethod
    def finish(self, render: Render) -> Encoded:
        """The field's symbol table and every row's code."""


class _Integers(_Encoder):
    def __init__(self) -> None:
        self.keys = _Keys(ascending=True)

    def add(self, arr: pa.Array) -> None:
        if arr.type != pa.int64():
            arr = pc.cast(arr, pa.int64())
        self.keys.add(arr)

    def finish(self, render: Render) -> Encoded:
        values, codes = self.keys.finish()
        ints = values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        if not len(ints) or int(np.abs(ints).max()) < _EXACT_INT:
            return SymbolTable.fixed(ints, 0), codes
        return SymbolTable(ints.astype(np.float64), pc.cast(values, pa.string())), codes


class _Floats(_Encoder):
    def __init__(self) -> None:
        self.keys = _Keys(ascending=False)

    def add(self, arr: pa.Array) -> None:
        if arr.type != pa.float64():
            arr = pc.cast(arr, pa.float64(), safe=False)  # decimals and huge uint64: nearest double
        if len(arr) and pc.any(pc.is_nan(arr)).as_py():
            arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, pa.float64()), arr)
        self.keys.add(pc.add(arr, 0.0))  # -0.0 + 0.0 is 0.0: one symbol for zero

    def finish(self, render: Render) -> Encoded:
        values, codes = self.keys.finish()
        num = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        if len(num) and np.all(np.isfinite(num)) and np.all(num == np.rint(num)) and np.abs(num).max() < 1e15:
            return SymbolTable.fixed(num.astype(np.int64), 0), codes
        return SymbolTable(num, render_numbers(num)), codes


class _Strings(_Encoder):
    def __init__(self) -> None:
        self.keys = _Keys(ascending=False)

    def add(self, arr: pa.Array) -> None:
        if arr.type not in (pa.string(), pa.large_string()):
            arr = pc.cast(arr, pa.string())
        self.keys.add(arr)

    def finish(self, render: Render) -> Encoded:
        values, codes = self.keys.finish()
        if not len(values):
            return SymbolTable.empty(), codes
        return encode_dictionary(values.cast(pa.string()), codes, render.interpret, trim=False)


class _Temporal(_Encoder):
    """Dates, timestamps, times and durations: integer keys in the type's unit, serial numbers at the end."""

    def __init__(self, unit_per_day: float, offset: float, fmt: str, interval: bool = False) -> None:
        self.keys = _Keys(ascending=True)
        self.unit_per_day = unit_per_day
        self.offset = offset
        self.fmt = fmt  # which Locale format: date_format, timestamp_format, time_format, interval
        self.interval = interval

    def add(self, arr: pa.Array) -> None:
        storage = pa.int32() if pa.types.is_date32(arr.type) or pa.types.is_time32(arr.type) else pa.int64()
        self.keys.add(arr.view(storage) if arr.type != storage else arr)

    def finish(self, render: Render) -> Encoded:
        values, codes = self.keys.finish()
        raw = values.to_numpy(zero_copy_only=False).astype(np.float64)
        serials = raw / self.unit_per_day + self.offset
        fmt = getattr(render.locale, self.fmt)
        texts = _formatted(serials, fmt, render.locale, self.interval)
        return SymbolTable(serials, texts), codes


class _Intervals(_Encoder):
    """PostgreSQL/DuckDB intervals (months, days, nanoseconds): days, a month counted as 30 days."""

    def __init__(self) -> None:
        self.inner = _Floats()

    def add(self, arr: pa.Array) -> None:
        days = [
            None if v is None else v.months * 30 + v.days + v.nanoseconds / 86_400e9 for v in arr.to_pylist()
        ]
        self.inner.add(pa.array(days, type=pa.float64()))

    def finish(self, render: Render) -> Encoded:
        values, codes = self.inner.keys.finish()
        num = values.to_numpy(zero_copy_only=False).astype(np.float64)
        texts = _formatted(num, render.locale.interval_format, render.locale, interval=True)
        return SymbolTable(num, texts), codes


class _Nulls(_Encoder):
    def __init__(self) -> None:
        self.n = 0

    def add(self, arr: pa.Array) -> None:
        self.n += len(arr)

    def finish(self, render: Render) -> Encoded:
        return SymbolTable.empty(), np.full(self.n, -1, dtype=CODE_DTYPE)


def _as_text(arr: pa.Array) -> pa.Array:
    """Texts of values Arrow cannot hash as they are (binary as hex, lists and structs as their text)."""
    if (
        pa.types.is_binary(arr.type)
        or pa.types.is_large_binary(arr.type)
        or pa.types.is_fixed_size_binary(arr.type)
    ):
        return pa.array([None if v is None else v.hex() for v in arr.to_pylist()], type=pa.string())
    try:
        return pc.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], type=pa.string())


class _Texts(_Encoder):
    def __init__(self) -> None:
        self.inner = _Strings()

    def add(self, arr: pa.Array) -> None:
        self.inner.add(_as_text(arr))

    def finish(self, render: Render) -> Encoded:
        return self.inner.finish(render)


class _Numeric(_Encoder):
    """Decimal numbers sent as text (PostgreSQL ``numeric`` through ADBC): numbers when every value parses,
    else interpreted text."""

    def __init__(self) -> None:
        self.floats = _Floats()
        self.texts: _Strings | None = None
        self.pending: list[pa.Array] = []

    def add(self, arr: pa.Array) -> None:
        storage = arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
        if self.texts is None:
            try:
                self.floats.add(pc.cast(storage, pa.float64()))
                self.pending.append(storage)
                return
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self.texts = _Strings()
                for p in self.pending:
                    self.texts.add(p)
        self.texts.add(storage)

    def finish(self, render: Render) -> Encoded:
        return self.texts.finish(render) if self.texts is not None else self.floats.finish(render)


def _encoder_for(t: pa.DataType) -> _Encoder:
    if isinstance(t, pa.BaseExtensionType):
        if str(getattr(t, "type_name", "")).lower() in ("numeric", "decimal"):
            return _Numeric()
        return _Texts()
    if pa.types.is_null(t):
        return _Nulls()
    if pa.types.is_boolean(t) or pa.types.is_integer(t) and not (pa.types.is_uint64(t)):
        return _Integers()
    if pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_uint64(t):
        return _Floats()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _Strings()
    if pa.types.is_dictionary(t):
        return _Texts()
    if pa.types.is_date32(t):
        return _Temporal(1.0, EPOCH_OFFSET, "date_format")
    if pa.types.is_date64(t):
        return _Temporal(86_400_000.0, EPOCH_OFFSET, "date_format")
    if pa.types.is_timestamp(t):
        return _Temporal(float(_UNITS_PER_DAY[t.unit]), EPOCH_OFFSET, "timestamp_format")
    if pa.types.is_time32(t) or pa.types.is_time64(t):
        return _Temporal(float(_UNITS_PER_DAY[t.unit]), 0.0, "time_format")
    if pa.types.is_duration(t):
        return _Temporal(float(_UNITS_PER_DAY[t.unit]), 0.0, "interval_format", interval=True)
    if pa.types.is_interval(t):
        return _Intervals()
    return _Texts()


# ---------------------------------------------------------------------------------------------


class _Field:
    """One output field: its encoder, chosen by the first batch whose type is not NULL."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.type: pa.DataType | None = None
        self.encoder: _Encoder | None = None
        self.leading_nulls = 0

    def add(self, arr: pa.Array) -> None:
        if pa.types.is_null(arr.type):
            if self.encoder is None:
                self.leading_nulls += len(arr)
            else:
                self.encoder.add(pa.nulls(len(arr), self.type))
            return
        if self.encoder is None:
            self.type = arr.type
            self.encoder = _encoder_for(arr.type)
        elif arr.type != self.type:
            try:
                arr = pc.cast(arr, self.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise ColumnError(f"Field '{self.name}' changed type from {self.type} to {arr.type}") from err
        self.encoder.add(arr)

    def finish(self, render: Render) -> Encoded:
        if self.encoder is None:
            return SymbolTable.empty(), np.full(self.leading_nulls, -1, dtype=CODE_DTYPE)
        sym, codes = self.encoder.finish(render)
        if self.leading_nulls:
            codes = np.concatenate([np.full(self.leading_nulls, -1, dtype=CODE_DTYPE), codes])
        return sym, codes


class ColumnSink:
    """Receives a result's batches (same field names in each) and builds its columns at the end."""

    def __init__(self, names: list[str]) -> None:
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ColumnError(f"Field names must be unique within table: '{dup}' appears twice")
        self.names = list(names)
        self._fields = [_Field(n) for n in names]
        self.nrows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        for f, arr in zip(self._fields, batch.columns, strict=True):
            f.add(arr)
        self.nrows += batch.num_rows

    def finish(self, render: Render) -> list[Encoded]:
        """Every field's symbol table and codes. Fields are finished on two threads: the work is Arrow and
        numpy kernels, which run without the GIL, so two cores finish a wide result in about half the time."""
        if self.nrows < 100_000 or len(self._fields) < 2:
            return [f.finish(render) for f in self._fields]
        with workers.executor(2, "qix-encode") as pool:
            return list(pool.map(lambda f: f.finish(render), self._fields))


def encode_duals(num: np.ndarray, text: pa.Array) -> Encoded:
    """Rows already given as duals (a number, NaN for none, and a text, null for none) → one column."""
    return encode(num, text)
