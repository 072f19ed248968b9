"""Decoding Qlik connector ``DataChunk`` messages into columns of duals.

A chunk is a flat run of values (field after field, row after row, starting anywhere in a row). Each value
has a string code (an index into ``stringBucket``, -1 none, -2 empty) and a number code (an index into
``doubleBucket``, -1 none, -2 followed by the integer itself, -3 "my string continues the previous value's
string"). The inline integers make the number codes variable-length; where the codes are is found without
a Python loop: in a run of consecutive -2 entries the code and value positions alternate from the run's
start, so run starts and parities give every code position at once.

Values are collected per chunk (numbers as float64, texts as Arrow strings) and split into fields at the
end, where the fields' declared types are applied (see :func:`field_duals`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.connectors.columns import Render, render_datetimes, render_numbers
from engine.connectors.errors import ConnectorError
from engine.expr.formatting import EPOCH_OFFSET, format_datetimes, parse_datetime_texts

# FieldAttrType and SemanticType numbers of the Data Connector API
UNKNOWN, TEXT, REAL, DATE, TIME, TIMESTAMP, INTERVAL, INTEGER, FIX, MONEY = 0, 1, 2, 3, 4, 5, 6, 10, 11, 12
DEFAULT, UNIX_SECONDS, ISO_8601 = 0, 1, 2

_ISO_FORMATS = ("YYYY-MM-DDThh:mm:ss[.fff]", "YYYY-MM-DD hh:mm:ss[.fff]", "YYYY-MM-DDThh:mm", "YYYY-MM-DD hh:mm",
                "YYYY-MM-DD", "hh:mm:ss[.fff]")


def code_positions(number_codes: np.ndarray) -> np.ndarray:
    """Indices of the entries of ``numberCodes`` that are codes (the others are inline integers)."""
    n = len(number_codes)
    is_value = np.zeros(n, dtype=bool)
    m2 = np.flatnonzero(number_codes == -2)
    if len(m2):
        starts = np.ones(len(m2), dtype=bool)
        starts[1:] = m2[1:] != m2[:-1] + 1
        run_start = m2[starts][np.cumsum(starts) - 1]
        codes_m2 = m2[(m2 - run_start) % 2 == 0]
        if len(codes_m2) and codes_m2[-1] + 1 >= n:
            raise ConnectorError("Connector sent a chunk that ends inside a value")
        is_value[codes_m2 + 1] = True
    return np.flatnonzero(~is_value)


@dataclass
class ChunkValues:
    """All values received so far, in order: numbers (NaN = none), texts (null = none), continuations."""

    nums: list[np.ndarray] = field(default_factory=list)
    texts: list[pa.Array] = field(default_factory=list)
    continued: list[np.ndarray] = field(default_factory=list)
    count: int = 0

    def add(self, chunk: object) -> None:
        string_codes = np.asarray(chunk.stringCodes, dtype=np.int64)  # type: ignore[attr-defined]
        number_codes = np.asarray(chunk.numberCodes, dtype=np.int64)  # type: ignore[attr-defined]
        doubles = np.asarray(chunk.doubleBucket, dtype=np.float64)  # type: ignore[attr-defined]
        strings = list(chunk.stringBucket)  # type: ignore[attr-defined]
        pos = code_positions(number_codes)
        if len(pos) != len(string_codes):
            raise ConnectorError(f"Connector sent {len(string_codes)} string codes for {len(pos)} number codes")
        if not len(pos):
            return
        codes = number_codes.take(pos)
        if codes.min() < -3 or (len(doubles) and codes.max() >= len(doubles)) or (
                not len(doubles) and codes.max() >= 0):
            raise ConnectorError("Connector sent a number code outside its chunk")
        if string_codes.min() < -2 or string_codes.max() >= len(strings):
            raise ConnectorError("Connector sent a string code outside its chunk")
        num = np.full(len(pos), np.nan)
        bucket = codes >= 0
        num[bucket] = doubles.take(codes[bucket])
        inline = codes == -2
        num[inline] = number_codes.take(pos[inline] + 1).astype(np.float64)
        bucket_arr = pa.array(strings + [""], type=pa.string())
        idx = np.where(string_codes == -2, len(strings), string_codes)
        texts = bucket_arr.take(pa.array(idx, mask=string_codes == -1))
        self.nums.append(num)
        self.texts.append(texts)
        self.continued.append(codes == -3)
        self.count += len(pos)

    def fields(self, nfields: int) -> list[tuple[np.ndarray, pa.Array]]:
        """Per field: (numbers, texts) of every row."""
        if not self.nums:
            return [(np.empty(0), pa.array([], type=pa.string())) for _ in range(nfields)]
        num = np.concatenate(self.nums)
        texts = pa.concat_arrays(self.texts)
        cont = np.concatenate(self.continued)
        if cont.any():
            num, texts = _join_continuations(num, texts, cont)
        if nfields == 0 or len(num) % nfields:
            raise ConnectorError(f"Connector sent {len(num)} values, not whole rows of {nfields} fields")
        return [(num[j::nfields], texts.take(pa.array(np.arange(j, len(num), nfields)))) for j in range(nfields)]


def _join_continuations(num: np.ndarray, texts: pa.Array, cont: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Strings sent in pieces (number code -3): each piece is appended to the value before it."""
    if cont[0]:
        raise ConnectorError("Connector sent a string continuation before any value")
    out = texts.to_pylist()
    keep = np.flatnonzero(~cont)
    owner = np.maximum.accumulate(np.where(cont, -1, np.arange(len(cont))))
    for i in np.flatnonzero(cont):
        piece = out[i] or ""
        j = int(owner[i])
        out[j] = (out[j] or "") + piece
    return num.take(keep), pa.array([out[i] for i in keep], type=pa.string())


def field_duals(num: np.ndarray, texts: pa.Array, attr: int, semantic: int, render: Render) -> tuple[
        np.ndarray, pa.Array]:
    """One field's values as duals, the connector's declared types applied: seconds since 1970 and ISO
    texts become serial numbers; numbers without a text get the text their type displays (dates in
    ``DateFormat``…); texts without a number are interpreted like file values."""
    num = num.copy()
    has_text = pc.is_valid(texts).to_numpy(zero_copy_only=False)
    if semantic == UNIX_SECONDS:
        num = num / 86_400.0 + EPOCH_OFFSET
    elif semantic == ISO_8601:
        pending = np.flatnonzero(has_text & np.isnan(num))
        for fmt in _ISO_FORMATS:
            if not len(pending):
                break
            got = parse_datetime_texts(texts.take(pa.array(pending)), fmt, render.locale)
            hit = ~np.isnan(got)
            num[pending[hit]] = got[hit]
            pending = pending[~hit]
        parsed = ~np.isnan(num) & has_text
        texts = pc.if_else(pa.array(parsed), pa.scalar(None, pa.string()), texts)
        has_text = has_text & ~parsed
    need_text = np.flatnonzero(~has_text & ~np.isnan(num))
    if len(need_text):
        uniq, inv = np.unique(num.take(need_text), return_inverse=True)
        shown = _render(uniq, attr, render)
        mask = np.zeros(len(num), dtype=bool)
        mask[need_text] = True
        texts = pc.replace_with_mask(texts, pa.array(mask), shown.take(pa.array(inv)))
    need_num = np.flatnonzero(has_text & np.isnan(num))
    if len(need_num):
        enc = pc.dictionary_encode(texts.take(pa.array(need_num)))
        interpreted = np.asarray(render.interpret(enc.dictionary), dtype=np.float64)
        num[need_num] = interpreted.take(enc.indices.to_numpy(zero_copy_only=False))
    return num, texts


def _render(uniq: np.ndarray, attr: int, render: Render) -> pa.Array:
    loc = render.locale
    finite = np.isfinite(uniq)
    if attr in (DATE, TIMESTAMP, TIME) and finite.all():
        fmt = {DATE: loc.date_format, TIMESTAMP: loc.timestamp_format, TIME: loc.time_format}[attr]
        return render_datetimes(uniq, fmt, loc)
    if attr == INTERVAL:
        return pa.array(format_datetimes(uniq, loc.interval_format, loc, interval=True), type=pa.string())
    return render_numbers(uniq)
