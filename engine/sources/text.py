"""Big delimited text files, streamed: the file is cut at line ends into pieces (a 32nd of the file, 1 to
16 MiB), pyarrow parses each piece, and each piece's columns are encoded on their own (dictionary-encoded,
trimmed and number-interpreted over their distinct values; plain-number columns cast as numbers) and join
the table being built (or the LOAD's per-batch work, see ``engine.script.batches``). The raw file is never
in memory whole, so a 1 GB CSV costs about the final model plus a few pieces, not the file plus its Arrow
copy.

Only regular files stream: UTF-8 (or a single-byte code page pyarrow can transcode), no ``comment is`` or
``msq``, every record with the header's number of values, no value quoted after leading blanks. Anything
else raises :class:`NotStreamable` (at once when the head shows it, else from the piece that shows it),
and the caller reads the file whole with the general reader (``engine.script.textfile``), which knows
every irregular case."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine.sources.base import GENERAL, Interpreter, SourceError, SourceTable, unique_names
from engine.sources.columns import (
    Encoded,
    dictionary_column,
    empty_column,
    join_batches,
    map_columns,
    numeric_column,
)
from engine.sources.spec import FormatSpec

#: files at least this big stream (smaller ones take the whole-file reader and its fast paths)
STREAM_BYTES = 64 * 1024 * 1024
#: bytes of the file parsed at a time (a batch) at most; pyarrow parses a piece on all cores
BLOCK_BYTES = 16 * 1024 * 1024
#: a file is cut in about this many pieces (not smaller than MIN_BLOCK_BYTES): what one piece costs while
#: it is parsed and encoded (~6x its size) stays a small share of what the whole file becomes
PIECES = 32
MIN_BLOCK_BYTES = 1024 * 1024
_HEAD = 1 << 16


class NotStreamable(Exception):
    """The file needs the whole-file reader."""


def _sniff(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _codec(spec: FormatSpec, head: bytes) -> tuple[str, int]:
    """(pyarrow encoding name, bytes of BOM to skip)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf8", 3
    enc = (spec.encoding or "utf-8").lower().replace("-", "").replace("_", "")
    if enc in ("utf8",):
        return "utf8", 0
    if enc.startswith("utf16") or enc == "unicode":
        raise NotStreamable()
    try:
        "a".encode(spec.encoding or "utf-8")
    except LookupError as e:
        raise NotStreamable() from e
    return spec.encoding or "utf-8", 0


def read_stream(
    path: Path,
    spec: FormatSpec,
    interpret: Interpreter,
    max_rows: int,
    extension: str = "",
    on_rows: Callable[[int], None] = lambda _n: None,
    decimal_point: bool = True,
) -> SourceTable:
    """Stream a regular delimited file into one table; NotStreamable when it is not one. ``decimal_point``:
    False when the script's thousands separator is ``.`` (then ``1.500`` is not one and a half)."""
    return join_batches(batches(path, spec, interpret, max_rows, extension, on_rows, decimal_point))


def batches(
    path: Path,
    spec: FormatSpec,
    interpret: Interpreter,
    max_rows: int,
    extension: str = "",
    on_rows: Callable[[int], None] = lambda _n: None,
    decimal_point: bool = True,
) -> Iterator[SourceTable]:
    """A regular delimited file as batches (pieces of a 32nd of the file, 1 to 16 MiB), every column
    encoded on its own (trimmed, number-interpreted). NotStreamable when the file is not regular: at once
    when its head shows it, else while iterating (nothing is kept of the batches by then, the caller
    starts over whole)."""
    if spec.comment or spec.msq:
        raise NotStreamable()
    f = open(path, "rb")  # noqa: SIM115 - closed by the generator below, or here on failure
    try:
        layout = _layout(f, spec, extension)
    except BaseException:
        f.close()
        raise
    size = min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, path.stat().st_size // PIECES))
    return _batches(f, layout, size, interpret, max_rows, on_rows, decimal_point)


@dataclass
class _Layout:
    """How the body of a file is parsed: pyarrow's options (every column as text) and the field names."""

    read: pacsv.ReadOptions
    parse: pacsv.ParseOptions
    convert: pacsv.ConvertOptions
    names: list[str] | None
    quote: bool


def _layout(f: BinaryIO, spec: FormatSpec, extension: str) -> _Layout:
    """Parse the head ourselves (header lines, labels with their quoting rules) and leave ``f`` at the
    first record."""
    head = f.read(_HEAD)
    encoding, offset = _codec(spec, head)
    codec = "utf-8" if encoding == "utf8" else encoding
    lines = head[offset:].decode(codec, errors="replace").split("\n")
    pos = offset
    for ln in lines[: spec.header_lines]:
        pos += len(ln.encode(codec, errors="replace")) + 1
    body_lines = lines[spec.header_lines :]
    while body_lines and not body_lines[0].strip("\r"):
        pos += len(body_lines.pop(0)) + 1
    if len(body_lines) < 2:
        raise NotStreamable()  # a header line longer than the head: not worth streaming
    delim = spec.delimiter or ("\t" if extension == "tab" else _sniff(body_lines[0]))
    names: list[str] | None = None
    if spec.labels in ("embedded", "explicit"):
        rec = next(
            csv.reader(
                [body_lines[0].rstrip("\r")],
                delimiter=delim,
                quotechar='"',
                quoting=csv.QUOTE_NONE if spec.no_quotes else csv.QUOTE_MINIMAL,
            ),
            [],
        )
        names = unique_names([v.strip() for v in rec])
        pos += len(body_lines[0].encode(codec, errors="replace")) + 1
    f.seek(pos)
    internal = [f"c{i}" for i in range(len(names))] if names is not None else None
    return _Layout(
        pacsv.ReadOptions(
            column_names=internal,
            autogenerate_column_names=internal is None,
            encoding=encoding,
            use_threads=True,
        ),
        pacsv.ParseOptions(
            delimiter=delim,
            quote_char=False if spec.no_quotes else '"',
            double_quote=True,
            ignore_empty_lines=True,
        ),
        pacsv.ConvertOptions(
            column_types={c: pa.string() for c in internal} if internal else None,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
            auto_dict_encode=False,
        ),
        names,
        not spec.no_quotes,
    )


def _pieces(f: BinaryIO, size: int) -> Iterator[pa.Buffer]:
    """The rest of the file in pieces of about ``size`` bytes, each ending at a line end (outside msq
    quoting, which does not stream, a line end always ends a record).

    Why not ``pyarrow.csv.open_csv``: its background reader runs up to 32 blocks ahead of the consumer,
    so a file read slower than it parses sits in memory almost whole."""
    rest = b""
    while True:
        data = f.read(size)
        if not data:
            if rest.strip():
                yield pa.py_buffer(rest)
            return
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        if not cut:
            rest = data  # a line longer than a block: read on
            continue
        yield pa.py_buffer(data)[:cut]
        rest = data[cut:]


def _batches(
    f: BinaryIO,
    layout: _Layout,
    size: int,
    interpret: Interpreter,
    max_rows: int,
    on_rows: Callable[[int], None],
    decimal_point: bool,
) -> Iterator[SourceTable]:
    rows = 0
    read = layout.read
    names = layout.names
    with f:
        for piece in _pieces(f, size):
            try:
                table = pacsv.read_csv(
                    pa.BufferReader(piece),
                    read_options=read,
                    parse_options=layout.parse,
                    convert_options=layout.convert,
                )
            except (pa.ArrowInvalid, UnicodeDecodeError) as e:
                raise NotStreamable() from e
            del piece
            if names is None:  # no labels: the first piece tells how many fields there are
                names = [f"@{i + 1}" for i in range(table.num_columns)]
                read = pacsv.ReadOptions(
                    column_names=table.column_names, encoding=read.encoding, use_threads=True
                )
            if table.num_columns != len(names):
                raise NotStreamable()
            cols = map_columns(
                lambda col: _column(
                    col.combine_chunks() if col.num_chunks != 1 else col.chunk(0),
                    layout.quote,
                    interpret,
                    decimal_point,
                ),
                table.columns,
            )
            rows += table.num_rows
            del table
            if rows > max_rows:
                raise SourceError(f"Row limit exceeded: more than {max_rows} rows", GENERAL)
            on_rows(rows)
            yield SourceTable(names, cols, len(cols[0][1]) if cols else 0)
            del cols
        if not rows and names is not None:
            yield SourceTable(names, [empty_column(0) for _ in names], 0)


def _column(col: pa.Array, quote: bool, interpret: Interpreter, decimal_point: bool) -> Encoded:
    """One block's column: distinct values trimmed and interpreted (work over distinct values only); a
    column of plain numbers (ids, amounts) is cast as numbers, its texts never kept (they are renderings)."""
    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    fast = numeric_column(pa.chunked_array([col]), decimal_point)
    if fast is not None:
        return fast
    enc = pc.dictionary_encode(col)
    dictionary = enc.dictionary
    if quote and pc.any(pc.starts_with(dictionary, ' "')).as_py():
        raise NotStreamable()  # a quoted value after blanks: the general reader's rule
    return dictionary_column(pc.utf8_trim(dictionary, " \t\r"), enc.indices, interpret)
