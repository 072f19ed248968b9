"""Source values → columns of (SymbolTable, int32 codes), and the builder that joins streamed batches.

Typed sources keep their types as Qlik duals: integers and floats are numbers (text = their default
rendering), dates and timestamps are serial numbers (days since 1899-12-30) with the script's
``DateFormat`` / ``TimestampFormat`` as text, times ``TimeFormat``, durations ``IntervalFormat``, booleans
-1/0 with ``True``/``False``. Text values go through the script's number interpretation, like delimited
text does. All work is over *distinct* values (Arrow dictionary encoding), never per row in Python,
except for readers that hand over Python values (JSON, Excel, XML, HTML), where one pass sorts them.

:class:`TableBuilder` lets a reader stream: each batch is encoded on its own (its symbols and codes) and
joins the fields built so far at once (:class:`~engine.model.fieldbuilder.FieldBuilder`), so memory is
the final codes and symbols plus one batch; :func:`map_columns` runs a batch's column work on
:data:`WORKERS` threads (up to four) and hands freed heap pages back after each column.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from engine import workers
from engine.expr.formatting import Locale, format_datetimes
from engine.memory import release
from engine.model.fieldbuilder import FieldBuilder
from engine.model.numformat import format_default
from engine.model.symbols import CODE_DTYPE, SymbolTable, encode, render_fixed
from engine.sources.base import Interpreter, SourceTable

#: serial number of 1970-01-01 (the Unix epoch) in Qlik's day count from 1899-12-30
EPOCH_SERIAL = 25569.0
_EXCEL_ORIGIN = dt.datetime(1899, 12, 30)
_EXCEL_ORIGIN_DATE = _EXCEL_ORIGIN.date()

Encoded = tuple[SymbolTable, np.ndarray]


def empty_column(n: int) -> Encoded:
    return SymbolTable.empty(), np.full(n, -1, dtype=CODE_DTYPE)


def _from_dictionary(
    num: np.ndarray, texts: pa.Array | np.ndarray, indices: np.ndarray, compact: bool = True
) -> Encoded:
    """Distinct entries (number, text) + row indices (-1 = NULL) → symbols, merging equal numbers;
    ``compact`` False leaves the symbol table as :func:`encode` gives it."""
    if len(num) == 0:
        return empty_column(len(indices))
    sym, entry_code = encode(num, texts)
    mapping = np.append(entry_code, -1).astype(CODE_DTYPE)
    return sym.compact() if compact else sym, mapping.take(np.asarray(indices, dtype=np.int64))


def _indices(indices: pa.Array) -> np.ndarray:
    """A dictionary array's indices as int64, -1 for NULL."""
    if indices.null_count:
        indices = indices.fill_null(-1)
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def text_column(arr: pa.Array | pa.ChunkedArray, interpret: Interpreter | None) -> Encoded:
    """Strings (nulls = NULL) → a column; ``interpret`` None keeps them text (typed string columns)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    enc = pc.dictionary_encode(arr)
    dictionary = enc.dictionary
    num = (
        np.full(len(dictionary), np.nan)
        if interpret is None
        else np.asarray(interpret(dictionary), np.float64)
    )
    return _from_dictionary(num, dictionary, _indices(enc.indices))


def dictionary_column(dictionary: pa.Array, indices: pa.Array, interpret: Interpreter) -> Encoded:
    """A batch's distinct texts (which may repeat once trimmed) and its rows' indices into them → a column
    of interpreted texts, its symbols left as they are (a builder takes them apart again)."""
    num = np.asarray(interpret(dictionary), np.float64)
    return _from_dictionary(num, dictionary, _indices(indices), compact=False)


#: texts that are exactly the fixed rendering of their number (no leading zeros, no '+', no blanks)
_PLAIN_INT_RE = r"^-?(0|[1-9][0-9]*)$"
_FIXED_RE = r"^-?(0|[1-9][0-9]*)\.[0-9]{{{}}}$"
#: integer keys spanning at most this many values are encoded by direct address, whatever the row count
#: (a batch of a streamed file: amounts in cents); the table costs 12 bytes a value
_DENSE_SPAN = 1 << 20


def numeric_column(col: pa.ChunkedArray, decimal_point: bool) -> tuple[SymbolTable, np.ndarray] | None:
    """A high-cardinality column of plain numbers (``123``, ``-4.50``: one fixed count of decimals, every
    text exactly the fixed rendering of its number) is encoded by number, not by text: casting and hashing
    numbers beats hashing a million strings, and the symbol table needs no texts (they are renderings).

    Such texts are numbers under every interpretation the reader would apply, except ``.`` decimals when
    the thousands separator is ``.`` (``decimal_point`` False): then this path is skipped.
    """
    if len(col) < 4096:
        return None
    head = col.chunk(0).slice(0, 4096)
    if pc.count_distinct(head).as_py() < len(head) // 2:
        return None  # few distinct values: hashing the strings is cheaper
    pos = pc.find_substring(head, ".").to_numpy(zero_copy_only=False)
    length = pc.utf8_length(head).to_numpy(zero_copy_only=False)
    decimals = int(np.bincount(np.where(pos < 0, 0, length - pos - 1).clip(0, 15)).argmax())
    if decimals and not decimal_point:
        return None
    shape = _FIXED_RE.format(decimals) if decimals else _PLAIN_INT_RE
    if not pc.all(pc.match_substring_regex(head, shape)).as_py():
        return None  # a failing cast of a whole column is slow: look at the head first
    arr = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
    try:
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    scale = 10.0**decimals
    if not (np.isfinite(vals).all() and np.abs(vals).max(initial=0.0) * scale < 2.0**50):
        return None
    if (np.signbit(vals) & (vals == 0)).any():
        return None  # "-0": its text is not the rendering of 0
    # every text must be the fixed rendering of its number; for integers rendering and comparing is
    # cheapest, for decimals the shape test is (a text of that shape below 2**50 renders back to itself)
    if decimals:
        same = pc.all(pc.match_substring_regex(arr, shape))
    else:
        same = pc.all(pc.equal(render_fixed(vals, 0), arr))
    if not same.as_py():
        return None
    keys = np.rint(vals * scale).astype(np.int64) if decimals else vals.astype(np.int64)
    if len(keys) < 2 or np.all(keys[1:] > keys[:-1]):
        # ascending and distinct (an id column): each row is its own symbol, in load order
        return SymbolTable.fixed(keys, decimals), np.arange(len(keys), dtype=CODE_DTYPE)
    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo < max(2 * len(keys), _DENSE_SPAN):
        symbols, codes = dense_encode(keys, lo, hi - lo + 1)
        return SymbolTable.fixed(symbols, decimals), codes
    enc = pc.dictionary_encode(pa.array(keys))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(CODE_DTYPE, copy=False)
    return SymbolTable.fixed(enc.dictionary.to_numpy(zero_copy_only=False), decimals), codes


def dense_encode(keys: np.ndarray, lo: int, span: int) -> tuple[np.ndarray, np.ndarray]:
    """First-appearance encoding of integers spanning a small range (cents of amounts, quantities): a
    direct-address table instead of hashing.

    Each value's first row comes from one scattered write in reverse row order (later writes win, so the
    first row is what stays); the check after it proves that held, with ``minimum.at`` (3× slower) as the
    fallback. The rows that are their value's first row, in row order, are the symbols in load order."""
    rel = (keys - lo).astype(np.intp)
    rows = np.arange(len(keys))
    first = np.full(span, len(keys), dtype=np.int64)
    first[rel[::-1]] = rows[::-1]
    first_of_row = first.take(rel)
    if not np.all(first_of_row <= rows):
        first.fill(len(keys))
        np.minimum.at(first, rel, rows)
        first_of_row = first.take(rel)
    symbols = rel.take(np.flatnonzero(first_of_row == rows))
    code_of = np.empty(span, dtype=CODE_DTYPE)
    code_of[symbols] = np.arange(len(symbols), dtype=CODE_DTYPE)
    return symbols + lo, code_of.take(rel)


def _number_column(
    values: np.ndarray,
    valid: np.ndarray | None,
    texts_of: Callable[[np.ndarray], Sequence[str] | np.ndarray] | None = None,
) -> Encoded:
    """Numbers (float64) → a column; ``texts_of(distinct numbers)`` renders texts (None = default)."""
    n = len(values)
    if valid is not None and not valid.all():
        rows = np.flatnonzero(valid)
        vals = values.take(rows)
    else:
        rows, vals = None, values
    if not len(vals):
        return empty_column(n)
    uniq, first, inverse = np.unique(vals, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # symbols in first-appearance order
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    sym_num = uniq.take(order)
    if texts_of is None:
        sym = default_symbols(sym_num)
    else:
        sym = SymbolTable(sym_num, np.asarray(texts_of(sym_num), dtype=object)).compact()
    codes = rank.take(inverse).astype(CODE_DTYPE)
    if rows is None:
        return sym, codes
    out = np.full(n, -1, dtype=CODE_DTYPE)
    out[rows] = codes
    return sym, out


def default_symbols(nums: np.ndarray) -> SymbolTable:
    """Distinct numbers with their default rendering as text, stored compactly: whole numbers keep no
    texts at all; others get Arrow's shortest rendering, with ``format_default`` wherever that differs
    (long or exponent forms), so no Python string is made per symbol in the common case."""
    if not len(nums):
        return SymbolTable.empty()
    if (
        np.all(nums == np.rint(nums))
        and np.abs(nums).max() < 2.0**53
        and not (np.signbit(nums) & (nums == 0)).any()
    ):
        return SymbolTable.fixed(nums.astype(np.int64), 0)
    texts = pc.cast(pa.array(nums), pa.string())
    odd = np.flatnonzero(
        pc.or_(pc.greater(pc.utf8_length(texts), 15), pc.match_substring(texts, "e")).to_numpy(
            zero_copy_only=False
        )
    )
    if len(odd):
        fixed = pa.array([format_default(float(x)) for x in nums.take(odd)], type=pa.string())
        mask = np.zeros(len(nums), dtype=bool)
        mask[odd] = True
        texts = pc.replace_with_mask(texts, pa.array(mask), fixed)
    return SymbolTable(nums, texts).compact()


def _valid(arr: pa.Array) -> np.ndarray | None:
    return None if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)


def arrow_column(arr: pa.Array | pa.ChunkedArray, locale: Locale) -> Encoded:
    """A typed Arrow column (Parquet) → a column, keeping its type as duals."""
    if isinstance(arr, pa.ChunkedArray):
        arr = (
            arr.combine_chunks()
            if arr.num_chunks != 1
            else (arr.chunk(0) if arr.num_chunks else pa.array([], type=arr.type))
        )
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return text_column(arr, None)
    if pa.types.is_null(t):
        return empty_column(len(arr))
    if pa.types.is_boolean(t):
        num = np.where(arr.fill_null(False).to_numpy(zero_copy_only=False), -1.0, 0.0)
        return _number_column(num, _valid(arr), lambda u: ["True" if x else "False" for x in u])
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        num = arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        valid = ~np.isnan(num)
        return _number_column(num, None if valid.all() else valid)
    if pa.types.is_date(t):
        days = arr.cast(pa.date32()).cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        return _number_column(
            days + EPOCH_SERIAL, _valid(arr), lambda u: format_datetimes(u, locale.date_format, locale)
        )
    if pa.types.is_timestamp(t):
        per_day = {"s": 86400.0, "ms": 86400e3, "us": 86400e6, "ns": 86400e9}[t.unit]
        raw = arr.cast(pa.timestamp(t.unit)).cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return _number_column(
            raw / per_day + EPOCH_SERIAL,
            _valid(arr),
            lambda u: format_datetimes(u, locale.timestamp_format, locale),
        )
    if pa.types.is_time(t):
        per_day = {"s": 86400.0, "ms": 86400e3, "us": 86400e6, "ns": 86400e9}[t.unit]
        raw = (
            arr.cast(pa.int64() if t.bit_width == 64 else pa.int32())
            .fill_null(0)
            .to_numpy(zero_copy_only=False)
        )
        return _number_column(
            raw / per_day, _valid(arr), lambda u: format_datetimes(u, locale.time_format, locale)
        )
    if pa.types.is_duration(t):
        per_day = {"s": 86400.0, "ms": 86400e3, "us": 86400e6, "ns": 86400e9}[t.unit]
        raw = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return _number_column(
            raw / per_day,
            _valid(arr),
            lambda u: format_datetimes(u, locale.interval_format, locale, interval=True),
        )
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        texts = [None if v is None else v.decode("utf-8", errors="replace") for v in arr.to_pylist()]
        return text_column(pa.array(texts, type=pa.string()), None)
    # nested values (lists, structs, maps): their JSON text
    texts = [None if v is None else orjson.dumps(v, default=str).decode() for v in arr.to_pylist()]
    return text_column(pa.array(texts, type=pa.string()), None)


# ---------------------------------------------------------------------------------------------
# Python values (JSON, Excel, XML, HTML)


def serial_of(value: dt.date | dt.datetime | dt.time | dt.timedelta) -> float:
    """A date/time value as Qlik's serial number (days since 1899-12-30; times as a fraction of a day)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return (value - _EXCEL_ORIGIN) / dt.timedelta(days=1)
    if isinstance(value, dt.date):
        return float((value - _EXCEL_ORIGIN_DATE).days)
    if isinstance(value, dt.time):
        return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400.0
    return value / dt.timedelta(days=1)


def python_column(
    values: Sequence[object], locale: Locale, interpret: Interpreter | None, empty_is_null: bool = False
) -> Encoded:
    """Python cell values → a column. ``None`` is NULL (and ``''`` too with ``empty_is_null``);
    numbers stay numbers, dates/times become duals, strings are interpreted like text-file values."""
    n = len(values)
    num = np.full(n, np.nan)
    text = np.full(n, None, dtype=object)
    strings: list[int] = []
    kinds: dict[int, list[int]] = {}
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, str):
            if v == "" and empty_is_null:
                continue
            text[i] = v
            strings.append(i)
        elif isinstance(v, bool):
            num[i] = -1.0 if v else 0.0
            text[i] = "True" if v else "False"
        elif isinstance(v, (int, float)):
            f = float(v)
            if not math.isnan(f):
                num[i] = f
        elif isinstance(v, (dt.date, dt.time, dt.timedelta)):
            num[i] = serial_of(v)
            kind = (
                0
                if isinstance(v, dt.datetime)
                else 1
                if isinstance(v, dt.date)
                else (2 if isinstance(v, dt.time) else 3)
            )
            kinds.setdefault(kind, []).append(i)
        else:
            text[i] = str(v)
            strings.append(i)
    for kind, rows in kinds.items():
        idx = np.asarray(rows)
        fmt = (locale.timestamp_format, locale.date_format, locale.time_format, locale.interval_format)[kind]
        text[idx] = format_datetimes(num.take(idx), fmt, locale, interval=kind == 3)
    if strings and interpret is not None:
        idx = np.asarray(strings)
        enc = pc.dictionary_encode(pa.array(text.take(idx), type=pa.string()))
        got = np.asarray(interpret(enc.dictionary), np.float64)
        num[idx] = got.take(_indices(enc.indices))
    if not n:
        return empty_column(0)
    return encode(num, text)


# ---------------------------------------------------------------------------------------------


#: threads that encode a batch's columns and add them to their fields (numpy and Arrow let go of the GIL)
WORKERS = max(1, min(4, os.cpu_count() or 1))

T = TypeVar("T")
R = TypeVar("R")


def map_columns(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on the column workers (in order; the first exception is raised). After
    each item the heap's free pages go back to the system (``engine.memory.release``): a batch's
    temporaries would otherwise stay resident between the codes kept of it."""

    def run(x: T) -> R:
        try:
            return fn(x)
        finally:
            release()

    if len(items) < 2 or WORKERS < 2:
        return [run(x) for x in items]
    return list(workers.shared("qix-columns", WORKERS).map(run, items))


class TableBuilder:
    """Collects a table batch by batch (each batch's columns with their own symbol tables): every field's
    symbols and codes grow as batches arrive (:class:`~engine.model.fieldbuilder.FieldBuilder`), so the
    source is never held whole; columns first seen in a later batch are NULL before it."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._fields: dict[str, FieldBuilder] = {}
        self.nrows = 0

    def add(self, columns: dict[str, Encoded], nrows: int) -> None:
        for name in columns:
            if name not in self._fields:
                self.names.append(name)
                self._fields[name] = FieldBuilder()
                self._fields[name].add_nulls(self.nrows)
        for name, field in self._fields.items():
            if name not in columns:
                field.add_nulls(nrows)
        map_columns(lambda item: self._fields[item[0]].add(*item[1]), list(columns.items()))
        self.nrows += nrows

    def finish(self) -> SourceTable:
        """The table; fields are finished one by one, each releasing its batches as it goes."""
        cols = []
        for name in self.names:
            cols.append(self._fields.pop(name).finish())
            release()
        return SourceTable(list(self.names), cols, self.nrows)


def join_batches(batches: Iterable[SourceTable]) -> SourceTable:
    """The batches a streaming reader yields, built into one table."""
    builder = TableBuilder()
    for batch in batches:
        builder.add(dict(zip(batch.names, batch.columns, strict=True)), batch.nrows)
    return builder.finish()
