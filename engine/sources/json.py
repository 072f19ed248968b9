"""``(json)``: JSON documents as Qlik loads them, parsed with orjson (already the engine's JSON library:
the fastest well-kept parser for Python, strict RFC 8259, and it hands out plain Python values).

The rules (Qlik help, "Working with JSON files"):

* the root array's elements are the rows (a root object is one row; JSON Lines, one value per line, work
  too); an object member that is itself an object adds fields named ``parent.child``;
* an array member is not loaded in place: the row gets a key field ``%Key_<name>`` holding a hash of the
  array's content, and ``table is [/*/<name>]`` loads the arrays' elements as a table of their own with
  the same key field, so the two tables associate. Path segments: ``*`` = every element of an array, a
  name = that member. Element fields are named ``<name>..<member>``, scalar elements ``<name>..@1``;
* a LOAD may list fields that are not in the data (``LOAD a.b, b.c``): they load as NULL instead of
  failing; ``<name>.@<n>`` in a field list reads the n-th element of an array of scalars.

The whole document is parsed at once (JSON has no row boundaries to stream on); the row limit applies.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson

from engine.sources.base import ReadRequest, SourceError, SourceTable
from engine.sources.columns import TableBuilder, python_column

_POSITIONAL = re.compile(r"^(?P<path>.+)\.@(?P<n>[1-9][0-9]*)$")


def _load(data: bytes, name: str) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as first:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(lines) > 1:
            try:
                return [orjson.loads(ln) for ln in lines]
            except orjson.JSONDecodeError:
                pass
        raise SourceError(f"Cannot read '{name}' as JSON: {first}") from first


def array_key(value: list[Any]) -> str:
    """The key of an array: a 128-bit hash of its content (22 characters, like Hash128)."""
    digest = hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()
    return base64.b64encode(digest).decode()[:22]


def _flatten(value: Any, prefix: str, out: dict[str, Any], positional: dict[str, list[tuple[str, int]]]) -> None:
    """One row's fields: nested objects become ``a.b``; arrays become a ``%Key_`` hash field."""
    if isinstance(value, dict):
        for key, v in value.items():
            name = f"{prefix}{key}"
            if isinstance(v, dict):
                _flatten(v, name + ".", out, positional)
            elif isinstance(v, list):
                out[f"%Key_{name}"] = array_key(v)
                for field, n in positional.get(name, ()):
                    item = v[n - 1] if n <= len(v) else None
                    out[field] = None if isinstance(item, (dict, list)) else item
            else:
                out[name] = v
    elif isinstance(value, list):
        out[f"{prefix}@1"] = orjson.dumps(value).decode()   # an array of arrays: its JSON text
    else:
        out[f"{prefix}@1"] = value


def _rows_at(root: Any, path: str) -> tuple[list[tuple[str, Any]], str]:
    """``table is [/*/a]`` → (key, element) pairs of every array the path names, and the array's name."""
    segments = [s for s in path.strip().strip("/").split("/") if s != ""]
    current: list[Any] = [root]
    name = "root"
    for seg in segments:
        nxt: list[Any] = []
        if seg == "*":
            for v in current:
                if isinstance(v, list):
                    nxt.extend(v)
        else:
            name = seg
            for v in current:
                if isinstance(v, dict) and seg in v:
                    nxt.append(v[seg])
        current = nxt
    rows: list[tuple[str, Any]] = []
    for v in current:
        if isinstance(v, list):
            key = array_key(v)
            rows.extend((key, item) for item in v)
    return rows, name


def read(req: ReadRequest) -> SourceTable:
    root = _load(req.bytes(), req.name)
    positional: dict[str, list[tuple[str, int]]] = {}
    for field in req.wanted:
        m = _POSITIONAL.match(field)
        if m:
            positional.setdefault(m.group("path"), []).append((field, int(m.group("n"))))
    table = (req.spec.table or "").strip()
    records: list[dict[str, Any]] = []
    if table:
        rows, name = _rows_at(root, table)
        for key, item in rows:
            rec: dict[str, Any] = {f"%Key_{name}": key}
            _flatten(item, f"{name}..", rec, positional)
            records.append(rec)
    else:
        items = root if isinstance(root, list) else [root]
        for item in items:
            rec = {}
            _flatten(item, "", rec, positional)
            records.append(rec)
    if len(records) > req.max_rows:
        raise SourceError(f"Row limit exceeded: {len(records)} rows exceed the limit of {req.max_rows}", 1)
    names: list[str] = []
    seen: set[str] = set()
    for rec in records:
        for k in rec:
            if k not in seen:
                seen.add(k)
                names.append(k)
    for field in req.wanted:
        if field not in seen and not field.startswith("@"):
            seen.add(field)
            names.append(field)
    builder = TableBuilder()
    builder.add({n: python_column([rec.get(n) for rec in records], req.locale, req.interpret) for n in names},
                len(records))
    req.on_rows(len(records))
    return builder.finish()
