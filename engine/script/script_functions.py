"""Script-only functions that need the reload's state: AutoNumber counters, mapping tables
(MapSubString), loaded tables (LookUp), files through the reload's ``PathPolicy`` (FileSize,
FileTime, the Qvd* header readers, Attribute, GetFolderPath), the connection (ConnectString),
Evaluate and EngineVersion (IsPartialReload lives with the runner's state in context.py).

They join the script contexts' function table (``context._FUNCTIONS``), so the coverage report and
the evaluator see them like every other script function. File functions resolve every path with
``Runner.paths`` (``lib://`` only in standard mode, never an engine-owned file); a refused path fails
the statement, a missing file is NULL as in Qlik.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine import DEFAULT_ENGINE_VERSION
from engine.expr import Duals, Node, evaluate, parse_expression
from engine.expr.duals import map_distinct
from engine.expr.functions import as_numbers
from engine.expr.objects import NO_TEXT
from engine.script.context import _FUNCTIONS, ContextFunction, ScriptContext, _scalar_arg_text, column_duals
from engine.script.errors import GENERAL, TABLE_NOT_FOUND, StatementError

if TYPE_CHECKING:
    from engine.script.runner import Runner

_EPOCH = _dt.datetime(1899, 12, 30)
_QVD_HEADER_LIMIT = 16 * 1024 * 1024  # a QVD's XML header is read up to this size, never the data

# ==================================================================================================
# AutoNumber: one counter per (reload, AutoID)

_COUNTERS: weakref.WeakKeyDictionary[Runner, dict[str, dict[object, int]]] = weakref.WeakKeyDictionary()


def _counter(ctx: ScriptContext, auto_id: str) -> dict[object, int]:
    return _COUNTERS.setdefault(ctx.runner, {}).setdefault(auto_id, {})


def _number_keys(ctx: ScriptContext, keys: list[object], auto_id: str) -> Duals:
    seen = _counter(ctx, auto_id)
    out = np.full(len(keys), np.nan)
    for i, k in enumerate(keys):
        if k is None:
            continue
        out[i] = seen.setdefault(k, len(seen) + 1)
    return Duals.from_numbers(out)


def _value_keys(d: Duals) -> list[object]:
    texts = d.display_text()
    return [
        None if t is None and np.isnan(n) else (float(n) if not np.isnan(n) else t)
        for n, t in zip(d.num, texts, strict=True)
    ]


def f_autonumber(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    if not 1 <= len(args) <= 2:
        raise StatementError("AutoNumber takes 1 or 2 arguments", GENERAL)
    auto_id = (_scalar_arg_text(ctx, args[1]) or "") if len(args) > 1 else ""
    return _number_keys(ctx, _value_keys(ctx.eval(args[0])), "value:" + auto_id)


def _autonumber_hash(bits: int) -> ContextFunction:
    def fn(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
        if not args:
            raise StatementError(f"AutoNumberHash{bits} needs at least one argument", GENERAL)
        cols = [ctx.eval(a).display_text() for a in args]
        keys: list[object] = []
        for row in zip(*cols, strict=True):
            raw = "\x1f".join("" if t is None else str(t) for t in row).encode("utf-8")
            h = hashlib.md5(raw) if bits == 128 else hashlib.sha256(raw)
            keys.append(h.hexdigest())
        return _number_keys(ctx, keys, f"hash{bits}")

    return fn


# ==================================================================================================
# Mapping and tables


def f_mapsubstring(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    """Replace every occurrence of any key of the mapping by its value, longest key first."""
    if len(args) != 2:
        raise StatementError("MapSubString takes 2 arguments", GENERAL)
    name = _scalar_arg_text(ctx, args[0]) or ""
    m = ctx.runner.mappings.get(name)
    if m is None:
        raise StatementError(f"Mapping table not found: {name}", TABLE_NOT_FOUND)
    keys = column_duals(m.keys).display_text()
    values = column_duals(m.values).display_text()
    pairs: dict[str, str] = {}
    for k, v in zip(keys, values, strict=True):
        if k:
            pairs.setdefault(str(k), "" if v is None else str(v))
    ordered = sorted(pairs, key=len, reverse=True)

    def replace(text: str) -> str:
        out, i = [], 0
        while i < len(text):
            for k in ordered:
                if text.startswith(k, i):
                    out.append(pairs[k])
                    i += len(k)
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    return Duals.from_texts(map_distinct(ctx.eval(args[1]).display_text(), replace))


def f_lookup(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    """LookUp(field, match_field, match_value [, table]): ``field`` of the first row whose
    ``match_field`` equals ``match_value``; NULL when none does."""
    if not 3 <= len(args) <= 4:
        raise StatementError("LookUp takes 3 or 4 arguments", GENERAL)
    field = _scalar_arg_text(ctx, args[0]) or ""
    match = _scalar_arg_text(ctx, args[1]) or ""
    tname = _scalar_arg_text(ctx, args[3]) if len(args) > 3 else None
    table = ctx.runner.lookup_table(tname) if tname else ctx.runner.last_table()
    if table is None:
        raise StatementError(f"Table not found: {tname}", TABLE_NOT_FOUND)
    if field not in table.columns or match not in table.columns:
        missing = field if field not in table.columns else match
        raise StatementError(f"Field not found: {missing}", GENERAL)
    wanted = ctx.eval(args[2])
    source = column_duals(table.columns[match])
    first: dict[object, int] = {}
    for i, k in enumerate(_value_keys(source)):
        if k is not None:
            first.setdefault(k, i)
            if isinstance(k, float):
                t = source.display_text()[i]
                if t is not None:
                    first.setdefault(t, i)
    rows = np.array([first.get(k, -1) if k is not None else -1 for k in _value_keys(wanted)], dtype=np.int64)
    found = column_duals(table.columns[field]).take(np.maximum(rows, 0)) if len(rows) else Duals.nulls(0)
    if not table.nrows:
        return Duals.nulls(len(rows))
    miss = rows < 0
    return Duals(np.where(miss, np.nan, found.num), np.where(miss, NO_TEXT, found.text))


# ==================================================================================================
# System


def f_evaluate(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    """The value of each row's text parsed as an expression (NULL when it does not parse)."""
    if len(args) != 1:
        raise StatementError("Evaluate takes 1 argument", GENERAL)
    texts = ctx.eval(args[0]).display_text()
    num, text = np.full(len(texts), np.nan), np.full(len(texts), None, dtype=object)
    cache: dict[str, tuple[float, object]] = {}
    for i, t in enumerate(texts):
        if t is None:
            continue
        if t not in cache:
            try:
                d = evaluate(parse_expression(t), ScriptContext(ctx.runner, 1))
                cache[t] = (float(d.num[0]), d.text[0])
            except Exception:  # noqa: BLE001 - a text that is no valid expression is NULL, as in Qlik
                cache[t] = (np.nan, None)
        num[i], text[i] = cache[t]
    return Duals(num, text)


def f_engineversion(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    version = getattr(ctx.runner.env, "engine_version", None) or DEFAULT_ENGINE_VERSION
    return Duals.from_texts(np.full(ctx.nrows, version, dtype=object))


# ==================================================================================================
# Files, always through the reload's PathPolicy


def _file_arg(ctx: ScriptContext, args: tuple[Node, ...], what: str) -> Path | None:
    """The file a function names (or, with no argument, the file being loaded), resolved by the
    path policy; None when it does not exist."""
    path = _scalar_arg_text(ctx, args[0]) if args else ctx.file_path()
    if not path:
        return None
    target = ctx.runner.paths.resolve(path)
    return target if target.is_file() else None


def _serial_of(ts: float) -> float:
    return (_dt.datetime.fromtimestamp(ts) - _EPOCH).total_seconds() / 86400.0


def f_filesize(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    target = _file_arg(ctx, args, "FileSize")
    size = float(target.stat().st_size) if target else np.nan
    return Duals.from_numbers(np.full(ctx.nrows, size))


def f_filetime(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    from engine.expr.functions import _date_result

    target = _file_arg(ctx, args, "FileTime")
    serial = _serial_of(target.stat().st_mtime) if target else np.nan
    return _date_result(np.full(ctx.nrows, serial), ctx, "timestamp")


def _qvd_header(ctx: ScriptContext, args: tuple[Node, ...], what: str) -> ET.Element | None:
    if not args:
        raise StatementError(f"{what} needs a file name", GENERAL)
    target = _file_arg(ctx, args, what)
    if target is None:
        return None
    with target.open("rb") as fh:
        head = fh.read(_QVD_HEADER_LIMIT)
    end = head.find(b"</QvdTableHeader>")
    if end < 0:
        return None
    try:
        return ET.fromstring(head[: end + len("</QvdTableHeader>")].lstrip(b"\xef\xbb\xbf"))
    except ET.ParseError:
        return None


def _qvd_text(what: str, tag: str) -> ContextFunction:
    def fn(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
        root = _qvd_header(ctx, args, what)
        value = root.findtext(tag) if root is not None else None
        return Duals.from_texts(np.full(ctx.nrows, value, dtype=object))

    return fn


def _qvd_number(what: str, count: Callable[[ET.Element], float]) -> ContextFunction:
    def fn(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
        root = _qvd_header(ctx, args, what)
        value = float(count(root)) if root is not None else np.nan
        return Duals.from_numbers(np.full(ctx.nrows, value))

    return fn


def f_qvdcreatetime(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    from engine.expr.functions import _date_result

    root = _qvd_header(ctx, args, "QvdCreateTime")
    text = root.findtext("CreateUtcTime") if root is not None else None
    serial = np.nan
    if text:
        try:
            serial = (_dt.datetime.fromisoformat(text.strip()) - _EPOCH).total_seconds() / 86400.0
        except ValueError:
            serial = np.nan
    return _date_result(np.full(ctx.nrows, serial), ctx, "timestamp")


def f_qvdfieldname(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    if len(args) != 2:
        raise StatementError("QvdFieldName takes 2 arguments", GENERAL)
    root = _qvd_header(ctx, args, "QvdFieldName")
    names = [f.findtext("FieldName") for f in root.iter("QvdFieldHeader")] if root is not None else []
    k = as_numbers(ctx.eval(args[1]), ctx.locale)
    out = np.array(
        [names[int(i) - 1] if not np.isnan(i) and 1 <= int(i) <= len(names) else None for i in k],
        dtype=object,
    )
    return Duals.from_texts(np.resize(out, ctx.nrows) if len(out) else np.full(ctx.nrows, None, dtype=object))


def f_attribute(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    """Attribute(filename, attributename): a media file's meta tag as text (see engine.sources.media);
    NULL for a missing file, another format or a missing tag. Each distinct pair is read once."""
    from engine.sources.media import media_attribute

    if len(args) != 2:
        raise StatementError("Attribute takes 2 arguments", GENERAL)
    files = ctx.eval(args[0]).display_text()
    names = ctx.eval(args[1]).display_text()
    if len(names) != len(files):
        names = np.resize(names, len(files))
    # one key per row, joined by pyarrow; the tags are read once per distinct (file, name)
    keys = pc.binary_join_element_wise(
        pa.array(files, type=pa.string()), pa.array(names, type=pa.string()), "\x00"
    )

    def read(key: str) -> str | None:
        path, name = key.split("\x00", 1)
        return media_attribute(ctx.runner.paths.resolve(path), name)

    return Duals.from_texts(map_distinct(keys.to_numpy(zero_copy_only=False), read))


def f_connectstring(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    """ConnectString(): the name of the active data connection ("" before CONNECT or after DISCONNECT)."""
    if args:
        raise StatementError("ConnectString takes no arguments", GENERAL)
    return Duals.from_texts(np.full(ctx.nrows, ctx.runner.sources.name, dtype=object))


#: GetFolderPath names → folders under the engine user's home (the Windows known folders a script may name)
_KNOWN_FOLDERS = {
    "desktop": "Desktop",
    "mydocuments": "Documents",
    "documents": "Documents",
    "mymusic": "Music",
    "music": "Music",
    "mypictures": "Pictures",
    "pictures": "Pictures",
    "myvideos": "Videos",
    "videos": "Videos",
    "downloads": "Downloads",
    "profile": "",
}


def f_getfolderpath(ctx: ScriptContext, args: tuple[Node, ...]) -> Duals:
    """GetFolderPath(foldername): the full path of a known user folder. Qlik supports it in legacy mode
    only (it names folders outside any connection), so standard mode fails the statement; a name with no
    such folder on this machine (``Windows`` here) is NULL."""
    if len(args) != 1:
        raise StatementError("GetFolderPath takes 1 argument", GENERAL)
    if not ctx.runner.paths.legacy:
        raise StatementError(
            "GetFolderPath is not supported in standard mode: use a lib:// folder connection", GENERAL
        )
    home = Path.home()

    def folder(name: str) -> str | None:
        sub = _KNOWN_FOLDERS.get(name.replace(" ", "").lower())
        return None if sub is None else str(home / sub if sub else home)

    return Duals.from_texts(map_distinct(ctx.eval(args[0]).display_text(), folder))


_FUNCTIONS.update(
    {
        "ATTRIBUTE": f_attribute,
        "CONNECTSTRING": f_connectstring,
        "GETFOLDERPATH": f_getfolderpath,
        "AUTONUMBER": f_autonumber,
        "AUTONUMBERHASH128": _autonumber_hash(128),
        "AUTONUMBERHASH256": _autonumber_hash(256),
        "MAPSUBSTRING": f_mapsubstring,
        "LOOKUP": f_lookup,
        "EVALUATE": f_evaluate,
        "ENGINEVERSION": f_engineversion,
        "FILESIZE": f_filesize,
        "FILETIME": f_filetime,
        "QVDCREATETIME": f_qvdcreatetime,
        "QVDNOOFRECORDS": _qvd_number("QvdNoOfRecords", lambda r: float(r.findtext("NoOfRecords") or "nan")),
        "QVDNOOFFIELDS": _qvd_number("QvdNoOfFields", lambda r: sum(1 for _ in r.iter("QvdFieldHeader"))),
        "QVDFIELDNAME": f_qvdfieldname,
        "QVDTABLENAME": _qvd_text("QvdTableName", "TableName"),
    }
)
