"""``(fix)``: fixed-record text, where each field is a run of character positions.

No library is needed (or exists in a well-kept form) for this: the format is "slice every record at the
same positions", which pyarrow's string kernels do for a whole column at once (``utf8_slice_codeunits``),
so the reader is a few lines over Arrow arrays rather than a dependency.

Fields, as Qlik specifies them (Load statement, ``@startpos:endpos``): positions are 1-based and both ends
are included, so ``LOAD @1:4 AS Code, @5:24 AS Name FROM f.txt (fix)`` reads characters 1-4 and 5-24 of
every record (a trailing type letter such as ``@5:24T`` is accepted and ignored). With ``embedded labels``
the first record holds the field names and the field breaks: a field starts where a label starts and runs
up to the next label. With ``no labels`` and no positions, the breaks are the character columns that are
blank in every record, and the fields are ``@1``, ``@2``, …. Values are trimmed of blanks.

Records: one per line (``record is line``, the default), ``record is n lines`` joins n lines into one
record, ``record is n`` cuts the text into records of n characters regardless of line breaks.
``header is n lines`` skips lines before the labels.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.sources.base import GENERAL, ReadRequest, SourceError, SourceTable, unique_names
from engine.sources.columns import TableBuilder, text_column

_POS = re.compile(r"^@(\d+):(\d+)[A-Za-z]?$")
_SAMPLE = 1000


def _decode(data: bytes, encoding: str | None) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if encoding:
        try:
            return data.decode(encoding, errors="replace")
        except LookupError as e:
            raise SourceError(f"Unknown character set {encoding}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _records(text: str, req: ReadRequest) -> list[str]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[req.spec.header_lines:]
    spec = req.spec
    if spec.record_chars:
        body = "\n".join(lines)
        n = spec.record_chars
        return [body[i:i + n] for i in range(0, len(body), n) if body[i:i + n].strip()]
    if spec.record_lines > 1:
        k = spec.record_lines
        return ["".join(lines[i:i + k]) for i in range(0, len(lines), k) if "".join(lines[i:i + k]).strip()]
    return [ln for ln in lines if ln.strip()]


def _label_breaks(line: str) -> list[tuple[str, int, int]]:
    """(label, start, stop) per label of a label line (0-based, stop exclusive; last runs to the end)."""
    starts = [m.start() for m in re.finditer(r"\S+", line)]
    out = []
    for i, s in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else 1 << 30
        out.append((line[s:stop].strip(), s, stop))
    return out


def _blank_breaks(records: list[str]) -> list[tuple[int, int]]:
    sample = records[:_SAMPLE]
    width = max((len(r) for r in sample), default=0)
    used = np.zeros(width + 1, dtype=bool)
    for r in sample:
        chars = np.frombuffer(r.encode("utf-32-le"), dtype=np.uint32)
        used[:len(chars)] |= chars != 32
    starts = [i for i in range(width) if used[i] and (i == 0 or not used[i - 1])]
    return [(s, starts[k + 1] if k + 1 < len(starts) else 1 << 30) for k, s in enumerate(starts)]


def read(req: ReadRequest) -> SourceTable:
    records = _records(_decode(req.bytes(), req.spec.encoding), req)
    fields: list[tuple[str, int, int]] = []
    if req.spec.labels != "none" and records:
        fields = _label_breaks(records[0])
        records = records[1:]
        names = unique_names([f[0] for f in fields])
        fields = [(n, s, e) for n, (_, s, e) in zip(names, fields, strict=True)]
    for name in req.wanted:
        m = _POS.match(name)
        if m:
            start, end = int(m.group(1)), int(m.group(2))
            if start < 1 or end < start:
                raise SourceError(f"Field position '{name}' is not a valid @start:end range", GENERAL)
            fields.append((name, start - 1, end))
    if not fields:
        fields = [(f"@{k + 1}", s, e) for k, (s, e) in enumerate(_blank_breaks(records))]
    if len(records) > req.max_rows:
        raise SourceError(f"Row limit exceeded: {len(records)} rows exceed the limit of {req.max_rows}", GENERAL)
    lines = pa.array(records, type=pa.string())
    builder = TableBuilder()
    cols = {}
    for name, start, stop in fields:
        if name in cols:
            continue
        part = pc.utf8_trim(pc.utf8_slice_codeunits(lines, start, stop), " \t")
        cols[name] = text_column(part, req.interpret)
    builder.add(cols, len(records))
    req.on_rows(len(records))
    return builder.finish()
