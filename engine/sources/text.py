"""Big delimited text files, streamed: pyarrow's CSV reader hands out blocks, each block is encoded on its
own (trimmed, dictionary-encoded, number-interpreted over its distinct values) and the builder merges
the blocks' symbols at the end. The raw file is never in memory whole, so a 1 GB CSV costs about the
final model plus one block, not the file plus its Arrow copy.

Only regular files stream: UTF-8 (or a single-byte code page pyarrow can transcode), no ``comment is``,
every record with the header's number of values, no value quoted after leading blanks. Anything else
raises :class:`NotStreamable` before a row is used, and the caller reads the file whole with the general
reader (``engine.script.textfile``), which knows every irregular case.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine.sources.base import GENERAL, Interpreter, SourceError, SourceTable, unique_names
from engine.sources.columns import TableBuilder, text_column
from engine.sources.spec import FormatSpec

#: files at least this big stream (smaller ones take the whole-file reader and its fast paths)
STREAM_BYTES = 64 * 1024 * 1024
BLOCK_BYTES = 32 * 1024 * 1024
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


def read_stream(path: Path, spec: FormatSpec, interpret: Interpreter, max_rows: int, extension: str = "",
                on_rows: Callable[[int], None] = lambda _n: None) -> SourceTable:
    """Stream a regular delimited file; NotStreamable when it is not one."""
    if spec.comment or spec.msq:
        raise NotStreamable()
    with open(path, "rb") as f:
        head = f.read(_HEAD)
        encoding, offset = _codec(spec, head)
        text = head[offset:].decode("utf-8" if encoding == "utf8" else encoding, errors="replace")
        lines = text.split("\n")
        pos = offset
        for ln in lines[:spec.header_lines]:
            pos += len(ln.encode("utf-8" if encoding == "utf8" else encoding, errors="replace")) + 1
        body_lines = lines[spec.header_lines:]
        while body_lines and not body_lines[0].strip("\r"):
            pos += len(body_lines.pop(0)) + 1
        if len(body_lines) < 2:
            raise NotStreamable()          # a header line longer than the head: not worth streaming
        delim = spec.delimiter or ("\t" if extension == "tab" else _sniff(body_lines[0]))
        quote: str | bool = False if spec.no_quotes else '"'
        names: list[str] | None = None
        if spec.labels in ("embedded", "explicit"):
            first = body_lines[0].rstrip("\r")
            rec = next(csv.reader([first], delimiter=delim, quotechar='"',
                                  quoting=csv.QUOTE_NONE if spec.no_quotes else csv.QUOTE_MINIMAL), [])
            names = unique_names([v.strip() for v in rec])
            pos += len(body_lines[0].encode("utf-8" if encoding == "utf8" else encoding, errors="replace")) + 1
        f.seek(pos)
        internal = [f"c{i}" for i in range(len(names))] if names is not None else None
        read_opts = pacsv.ReadOptions(column_names=internal, autogenerate_column_names=internal is None,
                                      encoding=encoding, block_size=BLOCK_BYTES, use_threads=True)
        parse_opts = pacsv.ParseOptions(delimiter=delim, quote_char=quote, double_quote=True,
                                        ignore_empty_lines=True)
        builder = TableBuilder()
        try:
            reader = pacsv.open_csv(f, read_options=read_opts, parse_options=parse_opts,
                                    convert_options=pacsv.ConvertOptions(
                                        column_types={c: pa.string() for c in internal} if internal else None,
                                        strings_can_be_null=False, quoted_strings_can_be_null=False,
                                        null_values=[], auto_dict_encode=False))
            if names is None:
                names = [f"@{i + 1}" for i in range(len(reader.schema.names))]
            for batch in reader:
                cols = {}
                for name, col in zip(names, batch.columns, strict=True):
                    col = col if pa.types.is_string(col.type) else col.cast(pa.string())
                    if quote and pc.any(pc.starts_with(col, ' "')).as_py():
                        raise NotStreamable()   # a quoted value after blanks: the general reader's rule
                    cols[name] = text_column(pc.utf8_trim(col, " \t\r"), interpret)
                builder.add(cols, batch.num_rows)
                if builder.nrows > max_rows:
                    raise SourceError(f"Row limit exceeded: more than {max_rows} rows", GENERAL)
                on_rows(builder.nrows)
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise NotStreamable() from e
    return builder.finish()
