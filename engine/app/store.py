"""Persistent apps in ``DocumentDirectory``: one SQLite file per app, ``<id>.qvf`` (our format, not Qlik's).

Why SQLite: one file, one transaction, stdlib only, and the small rows GetDocList needs (title, reload
time, section-access flag) can be read without touching the data model. The data model is stored as raw
numpy buffers (chunked BLOBs) and read back with ``np.frombuffer``, so a reload from disk is a memory copy,
not a re-encoding.

Crash safety comes from never writing the live file: :func:`save` builds a complete new database next to
it (``<id>.qvf.tmp-<writer>-<random>``), fsyncs it, renames it over the target with ``os.replace`` and
fsyncs the directory. A ``kill -9`` at any point leaves either the previous file or the new one, never a
mix; the orphaned temp file is ignored by :func:`list_documents` and removed by :func:`clean_temp_files`.
``<writer>`` names the writing process so that a restart can always tell a dead writer from a live one,
even as PID 1 in a container that restarts with the same PID (see :class:`Writer`).

Every save records a *generation* (a random token, new per save) and a *data token* (names the data model
it wrote; a save that did not reload writes the same one again) in the meta rows. Engines sharing the
directory (``engine.app.sync``) tell another engine's save from their own by the generation and skip
re-reading the data when the data token did not move; :func:`stamp` and :func:`read_versions` are the
cheap looks that need (a ``stat`` and the meta rows).

Arrays loaded from disk are read-only (models are immutable after the load, see DESIGN.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import APP_NOT_FOUND, PERSISTENCE_WRITE_FAILED, QixError
from engine.model.datamodel import CodeColumns, DataModel, Field, Table
from engine.model.symbols import SymbolTable

log = logging.getLogger(__name__)

#: Version of the file layout written by :func:`save`; :func:`load` refuses anything newer.
FORMAT_VERSION = 1
#: ``PRAGMA application_id`` of our files ("QIXA"), so another SQLite database is not taken for an app.
APPLICATION_ID = 0x51495841
SUFFIX = ".qvf"
TEMP_MARKER = ".tmp-"
#: an app's media folder: ``<DocumentDirectory>/<appid>.media/``
MEDIA_SUFFIX = ".media"
CORRUPT_DATA = 11
UNSUPPORTED_VERSION = 17

#: Largest BLOB we write in one row; SQLite's default length limit is 1e9 bytes.
_CHUNK_BYTES = 256 * 1024 * 1024
_ARRAY_KINDS = frozenset("biuf")

#: Test-only hook called with a stage name while :func:`save` runs (lets a test kill the process there).
_stage_hook: Callable[[str], None] | None = None

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE doc(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE arrays(id INTEGER PRIMARY KEY, dtype TEXT NOT NULL, length INTEGER NOT NULL);
CREATE TABLE chunks(array_id INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
                    PRIMARY KEY(array_id, seq));
CREATE TABLE fields(ord INTEGER PRIMARY KEY, name TEXT NOT NULL, nsym INTEGER NOT NULL,
                    num INTEGER NOT NULL, text_data INTEGER NOT NULL, text_offsets INTEGER NOT NULL,
                    text_valid INTEGER, tags TEXT NOT NULL, comment TEXT NOT NULL,
                    is_system INTEGER NOT NULL, is_hidden INTEGER NOT NULL);
CREATE TABLE tables(ord INTEGER PRIMARY KEY, name TEXT NOT NULL, nrows INTEGER NOT NULL,
                    comment TEXT NOT NULL, is_synthetic INTEGER NOT NULL);
CREATE TABLE columns(table_ord INTEGER NOT NULL, ord INTEGER NOT NULL, field TEXT NOT NULL,
                     codes INTEGER NOT NULL, dtype TEXT NOT NULL, PRIMARY KEY(table_ord, ord));
CREATE TABLE section_access(ord INTEGER PRIMARY KEY, name TEXT NOT NULL, text_data INTEGER NOT NULL,
                            text_offsets INTEGER NOT NULL, text_valid INTEGER);
"""

#: JSON-valued members of :class:`AppDocument` kept in the ``doc`` table.
_JSON_KEYS = (
    "properties",
    "objects",
    "variables",
    "connections",
    "bookmarks",
    "dimensions",
    "measures",
    "script_variables",
)


@dataclass
class AppDocument:
    """Everything an app persists. The JSON members are opaque: the store keeps what the app gives it."""

    app_id: str
    title: str = ""
    script: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    variables: list[dict[str, Any]] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)
    bookmarks: list[dict[str, Any]] = field(default_factory=list)
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    measures: list[dict[str, Any]] = field(default_factory=list)
    last_reload_time: str = ""
    model: DataModel | None = None
    #: ``{"columns": [names], "rows": [[str | None, ...], ...]}`` or None when the app has none
    section_access: dict[str, Any] | None = None
    script_variables: dict[str, str] = field(default_factory=dict)
    #: the save that wrote this version ("" for files written before generations were recorded)
    generation: str = ""
    #: names the data model of this version (see :func:`model_token`); "" when unknown
    data_token: str = ""
    #: the ``sub`` that created or imported the app (ABAC's ``resource.owner``)
    owner: str = ""

    @property
    def has_section_access(self) -> bool:
        return self.section_access is not None


@dataclass(frozen=True)
class Versions:
    """What a file's meta rows say about its version, read without touching the objects or the data."""

    generation: str
    data_token: str


#: file identity: a save renames a new file over the old one, so the inode changes on every save
Stamp = tuple[int, int, int, int, int]


def new_generation() -> str:
    return secrets.token_hex(16)


_tokens: weakref.WeakKeyDictionary[DataModel, str] = weakref.WeakKeyDictionary()
_tokens_lock = threading.Lock()


def model_token(model: DataModel | None) -> str:
    """The data token of a model loaded from or saved to a file ("" for one neither: a fresh reload).
    Models are immutable, so the token names the data for as long as the object lives."""
    if model is None:
        return ""
    with _tokens_lock:
        return _tokens.get(model, "")


def _token_for(model: DataModel) -> str:
    with _tokens_lock:
        token = _tokens.get(model)
        if token is None:
            token = _tokens[model] = secrets.token_hex(16)
        return token


def _remember_token(model: DataModel, token: str) -> None:
    if token:
        with _tokens_lock:
            _tokens[model] = token


@dataclass(frozen=True)
class DocEntry:
    """One GetDocList row, read from the file's meta rows only."""

    doc_name: str
    app_id: str
    title: str
    file_size: int
    #: POSIX seconds of the file's last modification (the rpc layer converts it to Qlik's format)
    file_time: float
    last_reload_time: str
    has_section_access: bool
    path: Path


def document_path(directory: Path, app_id: str) -> Path:
    """The file of ``app_id`` in ``directory``; an id already ending in ``.qvf`` is not suffixed twice."""
    name = app_id if app_id.endswith(SUFFIX) else app_id + SUFFIX
    if not app_id or "/" in app_id or "\\" in app_id or "\0" in app_id or name.startswith("."):
        raise QixError(1001, app_id)  # Invalid app name: keeps ids from escaping the directory
    return Path(directory) / name


# ---------------------------------------------------------------------------------------------- saving


def _stage(name: str) -> None:
    if _stage_hook is not None:
        _stage_hook(name)


class _Writer:
    """Appends numpy arrays as chunked BLOBs inside the open transaction."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self.next_id = 1

    def array(self, a: np.ndarray) -> int:
        a = np.ascontiguousarray(a)
        if a.dtype.kind not in _ARRAY_KINDS or a.ndim != 1:
            raise TypeError(f"cannot store array of dtype {a.dtype} and {a.ndim} dimensions")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        aid, self.next_id = self.next_id, self.next_id + 1
        self.con.execute("INSERT INTO arrays VALUES (?, ?, ?)", (aid, a.dtype.str, len(a)))
        raw = memoryview(a.data).cast("B")
        rows = (
            (aid, seq, raw[start : start + _CHUNK_BYTES])
            for seq, start in enumerate(range(0, max(len(raw), 1), _CHUNK_BYTES))
        )
        self.con.executemany("INSERT INTO chunks VALUES (?, ?, ?)", rows)
        return aid

    def strings(self, values: np.ndarray | list[str | None] | pa.Array) -> tuple[int, int, int | None]:
        """Store strings as one UTF-8 blob plus int64 offsets (and a validity mask if any is None)."""
        arr = (
            values.cast(pa.large_string())
            if isinstance(values, pa.Array)
            else pa.array(values, type=pa.large_string())
        )
        if arr.offset:
            arr = pa.concat_arrays([arr])  # buffers below must start at the array's first value
        n = len(arr)
        bufs = arr.buffers()
        offsets = (
            np.frombuffer(bufs[1], dtype=np.int64, count=n + 1)
            if bufs[1] is not None
            else np.zeros(n + 1, dtype=np.int64)
        )
        size = int(offsets[-1]) if n else 0
        data = np.frombuffer(bufs[2], dtype=np.uint8, count=size) if size else np.empty(0, dtype=np.uint8)
        valid = None
        if arr.null_count:
            valid = self.array(arr.is_valid().to_numpy(zero_copy_only=False))
        return self.array(data), self.array(offsets), valid


def _code_dtype(cardinal: int) -> np.dtype:
    """Smallest signed dtype holding codes ``-1 .. cardinal-1``."""
    if cardinal <= np.iinfo(np.int8).max:
        return np.dtype("<i1")
    if cardinal <= np.iinfo(np.int16).max:
        return np.dtype("<i2")
    return np.dtype("<i4")


def _write_model(w: _Writer, model: DataModel) -> None:
    for ord_, f in enumerate(model.fields.values()):
        text_data, text_offsets, text_valid = w.strings(f.symbols.text_array())
        w.con.execute(
            "INSERT INTO fields VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ord_,
                f.name,
                len(f.symbols),
                w.array(f.symbols.num),
                text_data,
                text_offsets,
                text_valid,
                orjson.dumps(list(f.tags)).decode(),
                f.comment,
                int(f.is_system),
                int(f.is_hidden),
            ),
        )
    _stage("fields")
    for t_ord, t in enumerate(model.tables.values()):
        w.con.execute(
            "INSERT INTO tables VALUES (?, ?, ?, ?, ?)",
            (t_ord, t.name, int(t.nrows), t.comment, int(t.is_synthetic)),
        )
        for c_ord, fname in enumerate(t.columns):
            codes = t.columns.raw(fname)
            fld = model.fields.get(fname)
            store = (
                _code_dtype(len(fld.symbols)) if fld is not None and codes.dtype.kind == "i" else codes.dtype
            )
            aid = w.array(codes.astype(store, copy=False))
            w.con.execute(
                "INSERT INTO columns VALUES (?, ?, ?, ?, ?)",
                (t_ord, c_ord, fname, aid, t.columns.dtype(fname).newbyteorder("<").str),
            )
        _stage("table")


def _write_section_access(w: _Writer, sa: dict[str, Any]) -> int:
    names = [str(c) for c in sa.get("columns", [])]
    rows = sa.get("rows", [])
    for ord_, name in enumerate(names):
        # section access tables are small (one row per user rule): a loop over rows is fine here
        col = [None if r[ord_] is None else str(r[ord_]) for r in rows]
        w.con.execute("INSERT INTO section_access VALUES (?, ?, ?, ?, ?)", (ord_, name, *w.strings(col)))
    return len(rows)


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(path: Path, doc: AppDocument, generation: str | None = None) -> str:
    """Write ``doc`` to ``path`` atomically: the previous file stays intact until the new one is durable.

    Returns the generation written (``generation`` when given: a caller that must know its own save before
    another process can see the file picks it first)."""
    path = Path(path)
    generation = generation or new_generation()
    tmp = path.with_name(f"{path.name}{TEMP_MARKER}{Writer.me().tag()}-{secrets.token_hex(4)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = None
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        # the temp file is thrown away on any failure, so no journal and no sqlite-level syncing
        con.execute("PRAGMA page_size=65536")
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA locking_mode=EXCLUSIVE")
        con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        con.execute("BEGIN")
        for statement in _SCHEMA.split(";"):  # not executescript: it would commit first
            if statement.strip():
                con.execute(statement)
        _stage("begin")
        w = _Writer(con)
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "app_id": doc.app_id,
            "title": doc.title,
            "owner": doc.owner,
            "last_reload_time": doc.last_reload_time,
            "has_section_access": int(doc.has_section_access),
            "has_model": int(doc.model is not None),
            "generation": generation,
            "data_token": _token_for(doc.model) if doc.model is not None else doc.data_token,
        }
        con.execute("INSERT INTO doc VALUES (?, ?)", ("script", orjson.dumps(doc.script)))
        for key in _JSON_KEYS:
            con.execute("INSERT INTO doc VALUES (?, ?)", (key, orjson.dumps(getattr(doc, key))))
        if doc.section_access is not None:
            meta["section_access_rows"] = _write_section_access(w, doc.section_access)
        if doc.model is not None:
            _write_model(w, doc.model)
            if doc.model.loose_tables:
                meta["loose_tables"] = orjson.dumps(sorted(doc.model.loose_tables)).decode()
            if doc.model.search_excluded:
                meta["search_excluded"] = orjson.dumps(sorted(doc.model.search_excluded)).decode()
        con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
        con.execute("COMMIT")
        con.close()
        con = None
        _stage("committed")
        _fsync_path(tmp)
        _stage("before_replace")
        os.replace(tmp, path)
        _fsync_path(path.parent, directory=True)
        return generation
    except BaseException as exc:
        if con is not None:
            con.close()
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError | sqlite3.OperationalError):  # disk full, quota, read-only volume
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            log.warning("saving %s failed: %s (the previous file is kept)", path.name, reason)
            raise QixError(PERSISTENCE_WRITE_FAILED, f"Cannot save {path.name}: {reason}") from exc
        raise


# --------------------------------------------------------------------------------------------- loading


@contextmanager
def _open(path: Path) -> Iterator[tuple[sqlite3.Connection, dict[str, str]]]:
    """Open read-only, check it is one of our files of a version we know; yield it with its meta rows."""
    path = Path(path)
    if not path.is_file():
        raise QixError(APP_NOT_FOUND, path.name)
    try:
        # immutable=1: files are never modified in place (saves replace them), so no locking is needed
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise QixError(CORRUPT_DATA, path.name) from exc
    with closing(con):
        try:
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            if app_id != APPLICATION_ID:
                raise QixError(CORRUPT_DATA, path.name)
            meta = dict(con.execute("SELECT key, value FROM meta"))
            version = int(meta["format_version"])
        except (sqlite3.Error, KeyError, ValueError, TypeError) as exc:
            raise QixError(CORRUPT_DATA, path.name) from exc
        if version > FORMAT_VERSION:
            raise QixError(
                UNSUPPORTED_VERSION,
                f"{path.name}: app file format version {version} is newer than the "
                f"{FORMAT_VERSION} this engine reads; open it with a newer engine",
            )
        if version < 1:
            raise QixError(CORRUPT_DATA, path.name)
        yield con, meta


class _Reader:
    """Reads arrays written by :class:`_Writer`; every inconsistency is a ValueError (→ corrupt data)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self.specs = {aid: (dt, n) for aid, dt, n in con.execute("SELECT id, dtype, length FROM arrays")}

    def array(self, aid: int) -> np.ndarray:
        dt_str, n = self.specs[aid]
        dt = np.dtype(dt_str)
        if dt.kind not in _ARRAY_KINDS:
            raise ValueError(f"bad dtype {dt_str}")
        parts = [
            r[0] for r in self.con.execute("SELECT data FROM chunks WHERE array_id = ? ORDER BY seq", (aid,))
        ]
        raw = parts[0] if len(parts) == 1 else b"".join(parts)
        if len(raw) != n * dt.itemsize:
            raise ValueError(f"array {aid}: {len(raw)} bytes for {n} x {dt}")
        a = np.frombuffer(raw, dtype=dt)
        if not dt.isnative:
            a = a.astype(dt.newbyteorder("="))
        a.flags.writeable = False
        return a

    def strings(self, data_id: int, offsets_id: int, valid_id: int | None) -> np.ndarray:
        arr = self.string_array(data_id, offsets_id, valid_id)
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)

    def string_array(self, data_id: int, offsets_id: int, valid_id: int | None) -> pa.Array:
        """The stored strings as an Arrow array (no Python objects); nulls where the mask says so."""
        data = self.array(data_id)
        offsets = self.array(offsets_id)
        n = len(offsets) - 1
        if n < 0:
            raise ValueError("empty offsets")
        arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        arr.validate(full=True)  # offsets in range, UTF-8 valid: a damaged file fails here, not later
        if valid_id is not None:
            valid = self.array(valid_id)
            if len(valid) != n:
                raise ValueError("validity length")
            arr = pc.if_else(pa.array(valid, type=pa.bool_()), arr, pa.scalar(None, pa.large_string()))
        return arr


def _read_model(r: _Reader, meta: dict[str, str]) -> DataModel:
    fields: dict[str, Field] = {}
    for name, nsym, num_id, td, to, tv, tags, comment, is_system, is_hidden in r.con.execute(
        "SELECT name, nsym, num, text_data, text_offsets, text_valid, tags, comment, is_system, is_hidden "
        "FROM fields ORDER BY ord"
    ).fetchall():
        num = r.array(num_id)
        text = r.string_array(td, to, tv)
        if len(num) != nsym or len(text) != nsym:
            raise ValueError(f"field {name}: symbol count")
        fields[name] = Field(
            name,
            SymbolTable.from_arrow(num, text),
            tags=list(orjson.loads(tags)),
            comment=comment,
            is_system=bool(is_system),
            is_hidden=bool(is_hidden),
        )
    cols_by_table: dict[int, list[tuple[str, int, str]]] = {}
    for t_ord, fname, aid, dt in r.con.execute(
        "SELECT table_ord, field, codes, dtype FROM columns ORDER BY table_ord, ord"
    ):
        cols_by_table.setdefault(t_ord, []).append((fname, aid, dt))
    tables = []
    for t_ord, name, nrows, comment, synthetic in r.con.execute(
        "SELECT ord, name, nrows, comment, is_synthetic FROM tables ORDER BY ord"
    ).fetchall():
        columns = CodeColumns()
        for fname, aid, dt in cols_by_table.get(t_ord, []):
            stored = r.array(aid)
            if len(stored) != nrows:
                raise ValueError(f"table {name}.{fname}: {len(stored)} codes for {nrows} rows")
            fld = fields.get(fname)
            if fld is not None and stored.dtype.kind == "i" and len(stored):
                lo, hi = int(stored.min()), int(stored.max())
                if lo < -1 or hi >= len(fld.symbols):
                    raise ValueError(f"table {name}.{fname}: codes out of range")
            mem = np.dtype(dt).newbyteorder("=")
            # integer codes stay in their stored (narrow) dtype: the table widens them when read
            col = (
                stored
                if stored.dtype == mem or (stored.dtype.kind == "i" and mem.kind == "i")
                else (stored.astype(mem))
            )
            col.flags.writeable = False
            columns.put(fname, col, mem)
        tables.append(Table(name, columns, int(nrows), comment=comment, is_synthetic=bool(synthetic)))
    # written only when the script used LOOSEN TABLE / SEARCH EXCLUDE (an older file has neither)
    return DataModel(tables, fields, loose_tables=frozenset(orjson.loads(meta.get("loose_tables", "[]"))),
                     search_excluded=frozenset(orjson.loads(meta.get("search_excluded", "[]"))))


def _read_section_access(r: _Reader) -> dict[str, Any]:
    names, cols = [], []
    for name, td, to, tv in r.con.execute(
        "SELECT name, text_data, text_offsets, text_valid FROM section_access ORDER BY ord"
    ).fetchall():
        names.append(name)
        cols.append(r.strings(td, to, tv).tolist())
    return {"columns": names, "rows": [list(row) for row in zip(*cols, strict=True)]}


def load(path: Path, with_data: bool = True) -> AppDocument:
    """Read an app; ``with_data=False`` (OpenDoc qNoData) skips the data model (``model`` is None)."""
    path = Path(path)
    with _open(path) as (con, meta):
        try:
            docs = {k: orjson.loads(v) for k, v in con.execute("SELECT key, value FROM doc")}
            doc = AppDocument(
                app_id=meta["app_id"],
                title=meta["title"],
                script=docs["script"],
                last_reload_time=meta["last_reload_time"],
                generation=meta.get("generation", ""),
                data_token=meta.get("data_token", ""),
                owner=meta.get("owner", ""),
                **{k: docs[k] for k in _JSON_KEYS},
            )
            r = _Reader(con)
            if meta["has_section_access"] == "1":
                # read even without data: it is small and access is decided on it either way
                doc.section_access = _read_section_access(r)
                if len(doc.section_access["rows"]) != int(meta["section_access_rows"]):
                    raise ValueError("section access row count")
            if with_data and meta["has_model"] == "1":
                doc.model = _read_model(r, meta)
                _remember_token(doc.model, doc.data_token)
        except (
            sqlite3.Error,
            KeyError,
            IndexError,
            ValueError,
            TypeError,
            OverflowError,
            orjson.JSONDecodeError,
            pa.ArrowException,
        ) as exc:
            raise QixError(CORRUPT_DATA, path.name) from exc
    return doc


def stamp(path: Path) -> Stamp:
    """The file's identity and size/times, from one ``stat`` (FileNotFoundError when it is gone). Equal
    stamps mean the same file; a different one means a save (or a copy) may have replaced it."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_versions(path: Path) -> Versions:
    """The generation and data token of the file now at ``path`` (the meta rows only)."""
    with _open(Path(path)) as (_con, meta):
        return Versions(meta.get("generation", ""), meta.get("data_token", ""))


def read_entry(path: Path) -> DocEntry:
    """A GetDocList row: file stat plus the meta rows, without reading the data model."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise QixError(APP_NOT_FOUND, path.name) from exc
    with _open(path) as (_con, meta):
        try:
            return DocEntry(
                doc_name=path.name,
                app_id=meta["app_id"],
                title=meta["title"],
                file_size=st.st_size,
                file_time=st.st_mtime,
                last_reload_time=meta["last_reload_time"],
                has_section_access=meta["has_section_access"] == "1",
                path=path,
            )
        except KeyError as exc:
            raise QixError(CORRUPT_DATA, path.name) from exc


# ------------------------------------------------------------------------------------- the directory


def media_dir(directory: Path, app_id: str) -> Path:
    """The folder of an app's media files (REST ``/v1/apps/{id}/media``), next to the app's file."""
    return document_path(directory, app_id).with_suffix(MEDIA_SUFFIX)


def is_engine_file(directory: Path, path: Path) -> bool:
    """True for a file this store owns in ``directory`` (an app, a save's temp file, SQLite side files, an
    app's media folder and what is in it): never to be read or written by anything but the engine, so a
    load script cannot reach it. ``path`` is already resolved."""
    root = Path(os.path.realpath(directory))
    if not (root == path or root in path.parents):
        return False
    if SUFFIX in path.name.lower():
        return True
    rel = path.relative_to(root).parts
    return bool(rel) and rel[0].lower().endswith(MEDIA_SUFFIX)


def _is_temp(path: Path) -> bool:
    return TEMP_MARKER in path.name


def list_documents(directory: Path) -> list[DocEntry]:
    """Entries for every readable ``*.qvf`` in ``directory``, by file name; bad files are logged and skipped."""
    out = []
    for p in sorted(Path(directory).glob(f"*{SUFFIX}")):
        if _is_temp(p) or not p.is_file():
            continue
        try:
            out.append(read_entry(p))
        except (QixError, OSError) as exc:
            log.warning("skipping unreadable app file %s: %s", p, exc)
    return out


def delete(path: Path) -> None:
    """Remove an app file; a missing one is ``App not found``."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError as exc:
        raise QixError(APP_NOT_FOUND, path.name) from exc
    _fsync_path(path.parent, directory=True)


#: a temp file of an engine on another host (sharing the volume) untouched this long belongs to a dead save
STALE_TEMP_SECONDS = 15 * 60
_WRITER_TAG = re.compile(r"^([0-9a-f]{8})([0-9a-f]{8})-(\d+)-(\d+)-[0-9a-f]+$")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int:
    """When process ``pid`` started (clock ticks since boot), 0 when unknown; with the pid and the boot it
    names one process for good, unlike the pid alone (PID 1 comes back after every container restart)."""
    stat = _read(f"/proc/{pid}/stat")
    try:
        return int(stat.rpartition(")")[2].split()[19])
    except (IndexError, ValueError):
        return 0


@dataclass(frozen=True)
class Writer:
    """Who writes a temp file: host (hashed), boot, pid and the pid's start time."""

    host: str
    boot: str
    pid: int
    start: int

    @classmethod
    def me(cls) -> Writer:
        boot = _read("/proc/sys/kernel/random/boot_id").strip().replace("-", "")[:8] or "0" * 8
        host = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
        return cls(host, boot, os.getpid(), _start_ticks(os.getpid()))

    def tag(self) -> str:
        return f"{self.host}{self.boot}-{self.pid}-{self.start}"

    def is_dead(self, me: Writer) -> bool | None:
        """True/False when this machine can tell; None for a writer on another host."""
        if self.host != me.host:
            return None
        if self.boot != me.boot:
            return True  # written before the last boot
        if (self.pid, self.start) == (me.pid, me.start):
            return False
        return not _pid_alive(self.pid) or _start_ticks(self.pid) != self.start


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_is_dead(path: Path, me: Writer, now: float) -> bool:
    tag = path.name.rsplit(TEMP_MARKER, 1)[1]
    m = _WRITER_TAG.match(tag)
    verdict = Writer(m[1], m[2], int(m[3]), int(m[4])).is_dead(me) if m else None
    if verdict is not None:
        return verdict
    try:  # another host's writer, or a name we did not write: dead once nobody has written to it for long
        return now - path.stat().st_mtime > STALE_TEMP_SECONDS
    except OSError:
        return False


def clean_temp_files(directory: Path) -> list[Path]:
    """Remove temp files left by saves that died; returns what was removed.

    Files of a live writer are kept: another engine may share the directory and be saving right now.
    """
    me, now = Writer.me(), time.time()
    removed = []
    for p in Path(directory).glob(f"*{SUFFIX}{TEMP_MARKER}*"):
        if not _temp_is_dead(p, me, now):
            continue
        try:
            p.unlink()
            removed.append(p)
            log.info("removed leftover temp file %s", p)
        except OSError as exc:
            log.warning("cannot remove leftover temp file %s: %s", p, exc)
    return removed
