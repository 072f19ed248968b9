"""Delimited text (files and INLINE data) → columns of (SymbolTable, int32 codes).

The fast path reads with ``pyarrow.csv`` straight into dictionary-encoded columns, so every later step
(trimming, number interpretation, merging symbols with equal numbers) runs over *distinct* values, never
per row in Python. Irregular input (rows with more or fewer values than labels, quotes after blanks,
INLINE text) goes through a small Python record splitter instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine.model.symbols import CODE_DTYPE, SymbolTable
from engine.script.ast import FormatSpec
from engine.sources.columns import WORKERS, numeric_column

#: number interpretation of distinct texts: object array of str → float64 (NaN = not a number)
Interpreter = Callable[[np.ndarray], np.ndarray]


class TextFormatError(Exception):
    """The data cannot be read as delimited text."""


class TooManyRows(Exception):
    """More rows than the reload's max-rows setting allows."""


@dataclass
class TextTable:
    names: list[str]
    columns: list[tuple[SymbolTable, np.ndarray]]
    nrows: int


def _decode(data: bytes, encoding: str | None) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if encoding and encoding.lower().replace("-", "") == "utf16":
        return data.decode("utf-16", errors="replace")
    if encoding and encoding.lower() not in ("utf-8", "utf8"):
        return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff_delimiter(first_line: str) -> str:
    """For a file read without a spec: the most frequent of ``,`` ``;`` tab (``,`` when none)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def split_records(text: str, delim: str, quotes: str, trim: bool = True) -> list[list[str]]:
    """Split delimited text into records. ``quotes``: 'std' (a value that starts with ``"`` or ``'``
    is quoted, no line breaks inside), 'msq' (``"`` quoting with line breaks allowed) or 'none'.
    Blank lines are skipped; values are trimmed of blanks unless they were quoted."""
    out: list[list[str]] = []
    if quotes == "none" or ('"' not in text and "'" not in text):
        for line in text.split("\n"):
            if not line.strip():
                continue
            parts = line.split(delim)
            out.append([p.strip() for p in parts] if trim else parts)
        return out
    qchars = "\"'" if quotes == "std" else '"'
    rec: list[str] = []
    i, n = 0, len(text)
    while i <= n:
        # at the start of a value: skip blanks (not the delimiter or a newline)
        j = i
        while j < n and text[j] in " \t" and text[j] != delim:
            j += 1
        if j < n and text[j] in qchars:
            q = text[j]
            k = j + 1
            buf = []
            closed = False
            while k < n:
                c = text[k]
                if c == q:
                    if k + 1 < n and text[k + 1] == q:
                        buf.append(q)
                        k += 2
                        continue
                    # a closing quote only if the value ends here
                    m = k + 1
                    while m < n and text[m] in " \t" and text[m] != delim:
                        m += 1
                    if m >= n or text[m] == delim or text[m] == "\n":
                        closed = True
                        k = m
                        break
                    buf.append(c)
                    k += 1
                    continue
                if c == "\n" and quotes != "msq":
                    break
                buf.append(c)
                k += 1
            if closed:
                rec.append("".join(buf))
                i = k
            else:  # not a well-formed quoted value: take it literally up to the delimiter
                e = j
                while e < n and text[e] != delim and text[e] != "\n":
                    e += 1
                rec.append(text[i:e].strip() if trim else text[i:e])
                i = e
        else:
            e = j
            while e < n and text[e] != delim and text[e] != "\n":
                e += 1
            rec.append(text[i:e].strip() if trim else text[i:e])
            i = e
        if i >= n or text[i] == "\n":
            if len(rec) > 1 or rec and rec[0] != "":
                out.append(rec)
            rec = []
        i += 1
    return out


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for nm in names:
        base = nm
        k = seen.get(base, 0)
        while nm in seen:
            k += 1
            nm = f"{base}{k}"
        seen[base] = k
        seen.setdefault(nm, 0)
        out.append(nm)
    return out


_INT_RE = r"^-?[0-9]{1,15}$"


def _fast_integers(arr: pa.Array) -> np.ndarray | None:
    """Plain integers (the common key/count column) read without the general interpreter."""
    if len(arr) < 1024:
        return None
    ok = pc.match_substring_regex(arr, _INT_RE)
    if not pc.all(ok).as_py():
        return None
    values: np.ndarray = pc.cast(arr, pa.int64()).to_numpy().astype(np.float64)
    return values


def encode_dictionary(
    dictionary: pa.Array | np.ndarray, indices: np.ndarray, interpret: Interpreter, trim: bool = True
) -> tuple[SymbolTable, np.ndarray]:
    """Dictionary (first-appearance order) + row indices (-1 = NULL) → SymbolTable + int32 codes.

    Trims the distinct texts, interprets them as numbers and merges entries that became equal (same
    trimmed text, or same number: the first text wins). Only the dictionary is touched, never the rows;
    Python objects are made only for the symbols that survive.
    """
    arr = dictionary if isinstance(dictionary, pa.Array) else pa.array(dictionary, type=pa.string())
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    k = len(arr)
    if k == 0:
        return SymbolTable.empty(), np.full(len(indices), -1, dtype=CODE_DTYPE)
    changed = False
    if trim:
        trimmed = pc.utf8_trim(arr, " \t\r")
        changed = not pc.all(pc.equal(arr, trimmed)).as_py()
        arr = trimmed
    num = _fast_integers(arr)
    if num is None:
        num = np.asarray(interpret(arr), dtype=np.float64)
    rep = np.arange(k)
    is_num = ~np.isnan(num)
    num_idx = np.flatnonzero(is_num)
    if len(num_idx):
        _, first, inv = np.unique(num.take(num_idx), return_index=True, return_inverse=True)
        if len(first) < len(num_idx):
            rep[num_idx] = num_idx.take(first).take(inv)
    txt_idx = np.flatnonzero(~is_num)
    if len(txt_idx) and changed:
        enc = pc.dictionary_encode(arr.take(pa.array(txt_idx)))
        codes = enc.indices.to_numpy(zero_copy_only=False)
        _, first, inv = np.unique(codes, return_index=True, return_inverse=True)
        rep[txt_idx] = txt_idx.take(first).take(inv)
    if np.array_equal(rep, np.arange(k)):
        codes = np.asarray(indices, dtype=CODE_DTYPE)
        return SymbolTable.from_arrow(num, arr), codes
    keep = np.flatnonzero(rep == np.arange(k))
    new_code = np.full(k, -1, dtype=np.int64)
    new_code[keep] = np.arange(len(keep))
    mapping = np.append(new_code.take(rep), -1).astype(CODE_DTYPE)
    codes = mapping.take(np.asarray(indices, dtype=np.int64))  # index -1 picks the trailing NULL
    return SymbolTable.from_arrow(num.take(keep), arr.take(pa.array(keep))), codes


def _column_from_strings(
    values: list[str | None], interpret: Interpreter, trim: bool
) -> tuple[SymbolTable, np.ndarray]:
    enc = pc.dictionary_encode(pa.array(values, type=pa.string()))
    idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return encode_dictionary(enc.dictionary, idx, interpret, trim)


def records_to_table(
    records: list[list[str]], labels: str, interpret: Interpreter, max_rows: int
) -> TextTable:
    """Records (first = labels when embedded) → a TextTable; short rows pad with NULL, extras drop."""
    if labels in ("embedded", "explicit"):
        if not records:
            return TextTable([], [], 0)
        names = _unique_names([r.strip() for r in records[0]])
        rows = records[1:]
    else:
        width = max((len(r) for r in records), default=0)
        names = [f"@{i + 1}" for i in range(width)]
        rows = records
    if len(rows) > max_rows:
        raise TooManyRows(f"{len(rows)} rows exceed the limit of {max_rows}")
    cols = []
    w = len(names)
    for c in range(w):
        vals = [r[c] if c < len(r) else None for r in rows]
        cols.append(_column_from_strings(vals, interpret, trim=False))
    return TextTable(names, cols, len(rows))


def read_inline(data: str, spec: FormatSpec, interpret: Interpreter, max_rows: int) -> TextTable:
    """INLINE data: read like a text file with embedded labels and ',' unless the spec says otherwise."""
    if data.count("\n") > max_rows + 2:
        raise TooManyRows(f"INLINE data has more than {max_rows} rows")
    delim = spec.delimiter or ","
    quotes = "none" if spec.no_quotes else ("msq" if spec.msq else "std")
    lines = data.split("\n")[spec.header_lines :] if spec.header_lines else data.split("\n")
    records = split_records("\n".join(lines), delim, quotes)
    return records_to_table(records, spec.labels, interpret, max_rows)


def read_text(
    data: bytes,
    spec: FormatSpec,
    interpret: Interpreter,
    max_rows: int,
    extension: str = "",
    decimal_point: bool = True,
) -> TextTable:
    """A delimited text file (bytes) → TextTable, with the pyarrow fast path when the file is regular."""
    text_head = data[:65536]
    encoding: str | None
    if text_head.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        text_head = text_head[3:]
        encoding = "utf-8"
    else:
        encoding = spec.encoding
    head = _decode(text_head, encoding)
    lines = head.split("\n")
    skip = spec.header_lines
    delim = spec.delimiter
    if delim is None:
        first = next((ln for ln in lines[skip:] if ln.strip()), "")
        delim = "\t" if extension == "tab" else sniff_delimiter(first)
    quotes = "none" if spec.no_quotes else ("msq" if spec.msq else "dq")
    try:
        return _read_arrow(data, spec, delim, quotes, encoding, interpret, max_rows, decimal_point)
    except TooManyRows:
        raise
    except (pa.ArrowInvalid, UnicodeDecodeError, _Irregular):
        text = _decode(data, encoding).replace("\r\n", "\n").replace("\r", "\n")
        if skip:
            text = "\n".join(text.split("\n")[skip:])
        if spec.comment:
            text = "\n".join(ln for ln in text.split("\n") if not ln.startswith(spec.comment))
        records = split_records(text, delim, quotes)
        return records_to_table(records, spec.labels, interpret, max_rows)


class _Irregular(Exception):
    """The fast path does not apply; use the record splitter."""


def _read_arrow(
    data: bytes,
    spec: FormatSpec,
    delim: str,
    quotes: str,
    encoding: str | None,
    interpret: Interpreter,
    max_rows: int,
    decimal_point: bool = True,
) -> TextTable:
    if spec.comment:
        raise _Irregular()
    enc = encoding or "utf-8"
    if enc.lower().replace("-", "") != "utf8":
        try:
            "".encode(enc)
        except LookupError as e:
            raise TextFormatError(f"Unknown character set {enc}") from e
    # labels: parse the header line ourselves so names keep their quoting rules
    body_start = 0
    for _ in range(spec.header_lines):
        nl = data.find(b"\n", body_start)
        body_start = len(data) if nl < 0 else nl + 1
    while body_start < len(data) and data[body_start : body_start + 1] in (b"\n", b"\r"):
        body_start += 1
    names: list[str]
    if spec.labels in ("embedded", "explicit"):
        nl = data.find(b"\n", body_start)
        header_bytes = data[body_start : len(data) if nl < 0 else nl]
        header = _decode(header_bytes, encoding).rstrip("\r")
        recs = split_records(header, delim, quotes)
        if not recs:
            return TextTable([], [], 0)
        names = _unique_names(recs[0])
        body_start = len(data) if nl < 0 else nl + 1
        ncols = len(names)
    else:
        ncols = 0
        names = []
    internal = None if not names else [f"c{i}" for i in range(ncols)]
    read_opts = pacsv.ReadOptions(
        column_names=internal,
        autogenerate_column_names=internal is None,
        encoding=enc if enc.lower().replace("-", "") != "utf8" else "utf8",
        block_size=1 << 22,
    )
    parse_opts = pacsv.ParseOptions(
        delimiter=delim,
        quote_char=False if quotes == "none" else '"',
        double_quote=True,
        newlines_in_values=quotes == "msq",
        ignore_empty_lines=True,
    )
    conv = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in internal} if internal else None,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
        auto_dict_encode=False,
    )
    # a zero-copy view of the body: slicing the bytes would copy the whole file once more
    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)[body_start:]),
        read_options=read_opts,
        parse_options=parse_opts,
        convert_options=conv,
    )
    if table.num_rows > max_rows:
        raise TooManyRows(f"{table.num_rows} rows exceed the limit of {max_rows}")
    if internal is None:
        names = [f"@{i + 1}" for i in range(table.num_columns)]

    def one(col: pa.ChunkedArray) -> tuple[SymbolTable, np.ndarray]:
        if col.type != pa.string():
            col = col.cast(pa.string())
        if col.num_chunks == 0 or len(col) == 0:
            return SymbolTable.empty(), np.empty(0, dtype=CODE_DTYPE)
        fast = numeric_column(col, decimal_point)
        if fast is not None:
            return fast
        enc_col = pc.dictionary_encode(col)  # one dictionary shared by all chunks
        dictionary = enc_col.chunk(0).dictionary
        if quotes != "none" and pc.any(pc.starts_with(dictionary.slice(0, 1000), ' "')).as_py():
            raise _Irregular()
        idx = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in enc_col.chunks])
        return encode_dictionary(dictionary, idx, interpret, trim=True)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        cols = list(pool.map(one, table.columns))
    return TextTable(names, cols, table.num_rows)
