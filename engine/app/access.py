"""Section access: from the security table and a user to a denial or a reduced data model.

The security table (``App.section_access``: ``{"columns": [...], "rows": [[...]]}``, names and values
upper-cased by the script runner) is read in three steps:

1. :func:`grant_for` (table only): the rows that apply to the user, their access level, the reduction
   values per field and the omitted fields. No data is looked at, so it is cheap and its
   :meth:`Grant.key` names the *distinct reduction* a user has.
2. :func:`decide` (table + model): the reduction values are selected in their fields and propagated
   associatively (:func:`engine.model.selection.infer`), exactly like a user selection; strict exclusion
   denies a user whose values match nothing that remains possible.
3. :func:`reduce_model`: everything the selection excluded is dropped for good, giving a new
   :class:`DataModel` with only the user's rows, each field's symbol table compacted to the values still
   present, and omitted fields gone.

Why a reduced model rather than row masks applied by each path: every part of the engine that returns
data (hypercubes, list objects, GetTableData, cardinals, search, bookmarks, Evaluate, field lists) reads
``doc.model``. Handing a session a model in which excluded data does not exist makes all of them safe by
construction, including code written later, and an omitted field is simply absent. It also makes
``ClearAll``, ``{1}`` set analysis and alternate states unable to bring anything back: there is nothing
to bring back. The reduced model is shared, through :class:`AccessCache`, by every user with the same
reduction on the same model, and it costs memory in proportion to the rows it keeps (unchanged tables
and symbol tables are shared with the full model, not copied).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.model.datamodel import CodeColumns, DataModel, Field, Table
from engine.model.index import model_index
from engine.model.selection import Inference, Reduction, SelectionState, infer
from engine.model.symbols import CODE_DTYPE, remap

ACCESS = "ACCESS"
USERID = "USERID"
GROUP = "GROUP"
OMIT = "OMIT"
STAR = "*"
#: access levels that let a user in
LEVELS = ("ADMIN", "USER")
#: columns with a meaning of their own: never reduction columns. NTNAME, SERIAL… identify Windows or
#: QlikView users, which a JWT cannot; rows are matched on USERID and GROUP only.
SYSTEM_COLUMNS = frozenset(
    {ACCESS, USERID, GROUP, OMIT, "PASSWORD", "SERIAL", "NTNAME", "NTDOMAINSID", "NTSID", "USER.EMAIL"}
)

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


# ---------------------------------------------------------------------------------------------------------
# step 1: the security table alone


@dataclass(frozen=True)
class Grant:
    """What the security table gives one user, before looking at the data.

    ``values``: reduction field → the security values the user may see (a field absent from it is not
    reduced). ``omit``: fields removed from the user's model.
    """

    admin: bool
    values: Mapping[str, frozenset[str]]
    omit: frozenset[str]

    def key(self) -> tuple[object, ...]:
        """Identifies the distinct reduction: two users with equal keys see exactly the same data."""
        return (
            tuple(sorted((f, tuple(sorted(v))) for f, v in self.values.items())),
            tuple(sorted(self.omit)),
        )


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


class SecurityTable:
    """A security table read once: cells normalised (upper-cased, blank = ``""``), rows indexed by USERID
    and GROUP so that finding a user's rows costs their number, not the table's size."""

    def __init__(self, section_access: Mapping[str, Any]) -> None:
        self.columns = [str(c).strip().upper() for c in section_access.get("columns", ())]
        self.rows = [[_cell(v).upper() for v in r] for r in section_access.get("rows", ())]
        self.pos = {c: i for i, c in enumerate(self.columns)}
        self._by: dict[str, dict[str, list[int]]] = {}
        for col in (USERID, GROUP):
            if col in self.pos:
                i = self.pos[col]
                index: dict[str, list[int]] = {}
                for n, r in enumerate(self.rows):
                    index.setdefault(r[i], []).append(n)
                self._by[col] = index
        self._listed: dict[str, frozenset[str]] = {}

    def applying(self, user: str, groups: Collection[str]) -> list[list[str]]:
        """Rows whose identity columns all match, with a valid access level, in table order."""
        if ACCESS not in self.pos:
            return []
        candidates: set[int] | None = None
        if USERID in self._by:
            by = self._by[USERID]
            candidates = set(by.get(user, ())) | set(by.get(STAR, ())) if user else set(by.get(STAR, ()))
        if GROUP in self._by:
            by = self._by[GROUP]
            hit = set(by.get(STAR, ()))
            for g in groups:
                if g:
                    hit.update(by.get(g, ()))
            candidates = hit if candidates is None else candidates & hit
        order = range(len(self.rows)) if candidates is None else sorted(candidates)
        a = self.pos[ACCESS]
        return [r for n in order if (r := self.rows[n])[a] in LEVELS]

    def listed(self, col: str) -> frozenset[str]:
        """What ``*`` stands for in ``col``: every value listed in that column of the table."""
        hit = self._listed.get(col)
        if hit is None:
            i = self.pos[col]
            hit = self._listed[col] = frozenset(r[i] for r in self.rows if r[i] and r[i] != STAR)
        return hit


_PARSED: OrderedDict[int, tuple[Mapping[str, Any], SecurityTable]] = OrderedDict()
_PARSED_LOCK = threading.Lock()


def security_table(section_access: Mapping[str, Any]) -> SecurityTable:
    """The parsed form of an app's security table, kept while the app keeps the same table object."""
    key = id(section_access)
    with _PARSED_LOCK:
        hit = _PARSED.get(key)
        if hit is not None and hit[0] is section_access:
            _PARSED.move_to_end(key)
            return hit[1]
    parsed = SecurityTable(section_access)
    with _PARSED_LOCK:
        _PARSED[key] = (section_access, parsed)
        while len(_PARSED) > 64:
            _PARSED.popitem(last=False)
    return parsed


def grant_for(
    section_access: Mapping[str, Any], user: str, groups: Collection[str], data_fields: Collection[str]
) -> Grant | None:
    """The user's :class:`Grant`, or ``None`` when no row with a valid access level applies.

    A row applies when each identity column the table has matches: USERID is the user or ``*``, GROUP is
    one of the user's groups or ``*`` (blank identity cells match nobody). Identities are compared
    upper-cased, as the table's values are. ``data_fields`` tells which other columns are reduction
    columns (those named like a data field).
    """
    table = security_table(section_access)
    pos = table.pos
    mine = table.applying(user.strip().upper(), {g.strip().upper() for g in groups})
    if not mine:
        return None
    a = pos[ACCESS]
    values: dict[str, frozenset[str]] = {}
    for col in table.columns:
        if col in SYSTEM_COLUMNS or col not in data_fields:
            continue
        i = pos[col]
        allowed: set[str] = set()
        unreduced = False
        for r in mine:
            v = r[i]
            if not v:
                # ADMIN with a blank cell sees the whole field; USER with a blank cell contributes nothing
                unreduced = unreduced or r[a] == "ADMIN"
            elif v == STAR:
                allowed |= table.listed(col)
            else:
                allowed.add(v)
        if not unreduced:
            values[col] = frozenset(allowed)
    omit: set[str] = set()
    if OMIT in pos:
        i = pos[OMIT]
        for r in mine:
            v = r[i]
            if v == STAR:
                omit |= table.listed(OMIT)
            elif v:
                omit.add(v)
    admin = any(r[a] == "ADMIN" for r in mine)
    return Grant(admin, values, frozenset(f for f in omit if f in data_fields))


# ---------------------------------------------------------------------------------------------------------
# step 2: the table against the data


def _text_index(model: DataModel, field_name: str) -> dict[str, int]:
    """Symbol text → symbol index of a field (built once per model and field, shared by all users)."""
    syms = model.fields[field_name].symbols

    def build() -> dict[str, int]:
        out: dict[str, int] = {}
        for i, t in enumerate(syms.text.tolist()):  # once per distinct value, not per row
            out.setdefault(t, i)
        return out

    return model_index(model).field_cached("access_text", field_name, build)


def match_symbols(model: DataModel, field_name: str, values: Collection[str]) -> np.ndarray:
    """Symbol indexes of ``field_name`` equal to any of the security ``values``.

    A value equals a symbol with the same text, or, when it reads as a number, the symbol with that
    number (a field stores one symbol per number, as associations match numbers, not their texts).
    """
    syms = model.fields[field_name].symbols
    by_text = _text_index(model, field_name)
    hits = [by_text[v] for v in values if v in by_text]
    nums = [float(v) for v in values if _NUMBER.fullmatch(v)]
    if nums and len(syms):
        hits.extend(np.flatnonzero(np.isin(syms.num, np.asarray(nums))).tolist())
    return np.unique(np.asarray(hits, dtype=np.int64)).astype(np.int32)


@dataclass(frozen=True)
class AccessDecision:
    """The outcome of section access for one user on one model.

    ``reduction`` is None when nothing is reduced (or the user is denied); otherwise its row masks and
    symbol masks say what exists for the user. ``key`` is the grant's key (None when denied by the table).
    """

    denied: bool
    admin: bool
    reduction: Reduction | None
    omit: frozenset[str]
    key: tuple[object, ...] | None
    reason: str = ""


@dataclass
class _Selected:
    """The reduction values applied as a selection (see :func:`_select`)."""

    reason: str = ""  # why the user is denied ("" = not denied)
    chosen: dict[str, np.ndarray] = field(default_factory=dict)  # field → matched symbol indexes
    inference: Inference | None = None  # None: nothing to select (no reduction)

    def row_index(self) -> dict[str, np.ndarray] | None:
        """Kept row indexes of the tables the selection reached (the inference already computed them)."""
        inf = self.inference
        if inf is None:
            return None
        return {t: inf.row_index(t) for t in inf.restricted_tables if inf.rows(t) is not None}


def _select(model: DataModel, grant: Grant) -> _Selected:
    """Select the grant's values in their fields and propagate; strict exclusion on values matching
    nothing in the data."""
    if not grant.values:
        return _Selected()
    state = SelectionState()
    chosen: dict[str, np.ndarray] = {}
    for f, values in grant.values.items():
        sym = match_symbols(model, f, values)
        if not len(sym):
            return _Selected(f"no value of {f} in the data")
        chosen[f] = sym
        state = state.with_selection(f, sym)
    return _Selected("", chosen, infer(model, state))


def _excluded_reason(sel: _Selected, kept: Mapping[str, np.ndarray | None]) -> str:
    """Strict exclusion after propagation: a reduction field none of whose values remains possible
    (e.g. two reduction fields whose values never occur together) denies the user."""
    for f, sym in sel.chosen.items():
        if f in kept:
            mask = kept[f]
            ok = mask is None or bool(mask[sym].any())
        else:  # omitted or held by no kept table: ask the inference
            ok = sel.inference is not None and bool(sel.inference.possible(f)[sym].any())
        if not ok:
            return f"nothing of {f} remains"
    return ""


def decide(
    section_access: Mapping[str, Any], model: DataModel, user: str, groups: Collection[str] = ()
) -> AccessDecision:
    """Section access for ``user`` (with ``groups``) on ``model``; see the module docstring."""
    grant = grant_for(section_access, user, groups, model.fields)
    if grant is None:
        return AccessDecision(
            True, False, None, frozenset(), None, "no applying row with a valid access level"
        )
    sel = _select(model, grant)
    reason = sel.reason
    reduction = None
    if not reason and sel.inference is not None:
        _, kept = _reduce(model, sel.row_index(), frozenset())
        reason = _excluded_reason(sel, kept)
        inf = sel.inference
        masks = {t: m for t in inf.restricted_tables if (m := inf.rows(t)) is not None}
        symbols = {
            f: (np.ones(len(model.fields[f].symbols), dtype=bool) if m is None else m)
            for f, m in kept.items()
        }
        reduction = Reduction(masks, symbols)
    if reason:
        return AccessDecision(True, grant.admin, None, grant.omit, grant.key(), reason)
    return AccessDecision(False, grant.admin, reduction, grant.omit, grant.key())


# ---------------------------------------------------------------------------------------------------------
# step 3: the reduced model


def reduce_model(model: DataModel, rows: Mapping[str, np.ndarray] | None, omit: frozenset[str]) -> DataModel:
    """A new model with only the rows in ``rows`` (table → bool row mask or ascending row indexes; absent
    table = every row), the
    ``omit`` fields removed and each field's symbols compacted to the values still present.

    Returns ``model`` itself when nothing changes. Unchanged code columns and symbol tables are shared
    with ``model`` (models are immutable), so a reduction costs memory for what it keeps and changes only.
    """
    return _reduce(model, rows, omit)[0]


def _reduce(
    model: DataModel, rows: Mapping[str, np.ndarray] | None, omit: frozenset[str]
) -> tuple[DataModel, dict[str, np.ndarray | None]]:
    """:func:`reduce_model`, and per kept field the bool mask of the symbols kept (None = all)."""
    rows = rows or {}
    keep_rows: dict[str, np.ndarray | None] = {}
    for name, t in model.tables.items():
        m = rows.get(name)
        if m is None:
            keep_rows[name] = None
            continue
        idx = np.flatnonzero(m) if m.dtype == bool else m
        keep_rows[name] = None if len(idx) == t.nrows else idx
    if not omit and all(v is None for v in keep_rows.values()):
        return model, dict.fromkeys(model.fields)

    idx_cache = model_index(model)
    taken: dict[str, dict[str, np.ndarray]] = {}
    for name, t in model.tables.items():
        rows_kept = keep_rows[name]
        # stored (possibly narrow) arrays: untouched columns are shared with the full model, not copied
        cols = {
            f: (t.columns.raw(f) if rows_kept is None else t.columns.raw(f).take(rows_kept))
            for f in t.columns
            if f not in omit
        }
        if cols:
            taken[name] = cols

    fields: dict[str, Field] = {}
    maps: dict[str, np.ndarray | None] = {}
    kept: dict[str, np.ndarray | None] = {}
    for fname, fld in model.fields.items():
        holders = [t for t in model.field_tables.get(fname, ()) if t in taken]
        if fname in omit or not holders:
            continue
        n = len(fld.symbols)
        present = np.zeros(n + 1, dtype=bool)
        for holder in holders:
            if keep_rows[holder] is None:
                present |= idx_cache.present(holder, fname)
            else:
                present[taken[holder][fname]] = True
        present = present[:n]
        if present.all():
            maps[fname] = kept[fname] = None
            syms = fld.symbols
        else:
            keep = np.flatnonzero(present)
            mapping = np.full(n, -1, dtype=CODE_DTYPE)
            mapping[keep] = np.arange(len(keep), dtype=CODE_DTYPE)
            maps[fname] = mapping
            kept[fname] = present
            syms = fld.symbols.take(keep)
        fields[fname] = Field(
            fname,
            syms,
            tags=list(fld.tags),
            comment=fld.comment,
            is_system=fld.is_system,
            is_hidden=fld.is_hidden,
        )

    tables = []
    for name, cols in taken.items():
        src = model.tables[name]
        out = CodeColumns()
        for f, c in cols.items():
            symbol_map = maps[f]
            out.put(f, c if symbol_map is None else remap(c, symbol_map), src.columns.dtype(f))
        kept_rows = keep_rows[name]
        nrows = src.nrows if kept_rows is None else len(kept_rows)
        tables.append(Table(name, out, nrows, comment=src.comment, is_synthetic=src.is_synthetic))
    reduced = DataModel(tables, fields, loose_tables=model.loose_tables, search_excluded=model.search_excluded)
    for reduced_field in reduced.fields.values():
        if "$key" in reduced_field.tags and reduced_field.name not in reduced.key_fields:
            reduced_field.tags = [t for t in reduced_field.tags if t != "$key"]
    return reduced, kept


def private_nbytes(reduced: DataModel, base: DataModel) -> int:
    """Bytes a reduced model holds beyond what it shares with ``base``."""
    if reduced is base:
        return 0
    shared_cols = {id(t.columns.raw(f)) for t in base.tables.values() for f in t.columns}
    shared_syms = {id(f.symbols) for f in base.fields.values()}
    cols = sum(
        t.columns.raw(f).nbytes
        for t in reduced.tables.values()
        for f in t.columns
        if id(t.columns.raw(f)) not in shared_cols
    )
    # a compacted symbol table's texts are the full model's str objects (numpy ``take`` on an object array
    # copies references): only its number and reference arrays are its own
    syms = sum(
        f.symbols.num.nbytes + f.symbols.text.nbytes
        for f in reduced.fields.values()
        if id(f.symbols) not in shared_syms
    )
    return cols + syms


# ---------------------------------------------------------------------------------------------------------
# sharing


@dataclass(frozen=True)
class AccessView:
    """One distinct reduction of one model, shared by every user who has it."""

    key: tuple[object, ...]
    denied: bool
    reason: str
    model: DataModel | None
    nbytes: int


@dataclass(frozen=True)
class UserAccess:
    """One user's access to one model: their grant (admin or not) and the shared view of their data."""

    admin: bool
    view: AccessView | None  # None: denied by the table itself

    @property
    def denied(self) -> bool:
        return self.view is None or self.view.denied


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0


@dataclass
class _Entry:
    model_ref: weakref.ref[DataModel]
    view: AccessView


class AccessCache:
    """Reduced models by (model, distinct reduction), least recently used first out.

    ``max_bytes`` bounds the private memory of the cached reductions (views sessions still hold stay
    alive through them; the cache only forgets them). A model that is swapped out by a reload and no
    longer referenced takes its entries with it.
    """

    def __init__(self, max_bytes: int = 2 << 30, max_entries: int = 100_000) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, tuple[object, ...]], _Entry] = OrderedDict()
        self._watched: set[int] = set()
        self.nbytes = 0
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def user_access(
        self, section_access: Mapping[str, Any], model: DataModel, user: str, groups: Collection[str] = ()
    ) -> UserAccess:
        grant = grant_for(section_access, user, groups, model.fields)
        if grant is None:
            return UserAccess(False, None)
        return UserAccess(grant.admin, self.view(model, grant))

    def view(self, model: DataModel, grant: Grant) -> AccessView:
        key = (id(model), grant.key())
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.model_ref() is model:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return entry.view
        view = compute_view(model, grant)  # outside the lock: a race computes twice, never wrongly
        with self._lock:
            self.stats.misses += 1
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old.view.nbytes
            self._entries[key] = _Entry(weakref.ref(model), view)
            self.nbytes += view.nbytes
            if id(model) not in self._watched:
                self._watched.add(id(model))
                weakref.finalize(model, self._forget_model, id(model))
            while self._entries and (self.nbytes > self.max_bytes or len(self._entries) > self.max_entries):
                _, gone = self._entries.popitem(last=False)
                self.nbytes -= gone.view.nbytes
                self.stats.evictions += 1
        return view

    def _forget_model(self, model_id: int) -> None:
        with self._lock:
            self._watched.discard(model_id)
            for k in [k for k in self._entries if k[0] == model_id]:
                self.nbytes -= self._entries.pop(k).view.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.nbytes = 0


def compute_view(model: DataModel, grant: Grant) -> AccessView:
    """Select, propagate and reduce (about the cost of one selection plus copying what is kept)."""
    sel = _select(model, grant)
    if sel.reason:
        return AccessView(grant.key(), True, sel.reason, None, 0)
    reduced, kept = _reduce(model, sel.row_index(), grant.omit)
    reason = _excluded_reason(sel, kept)
    if reason:
        return AccessView(grant.key(), True, reason, None, 0)
    return AccessView(grant.key(), False, "", reduced, private_nbytes(reduced, model))


#: the engine-wide cache (one per process: models are shared between apps and sessions by identity)
ACCESS_CACHE = AccessCache()


@dataclass
class SessionAccess:
    """What a :class:`DocSession` remembers of its access: recomputed when the model or table changes."""

    model: DataModel
    table: Any
    access: UserAccess = field(repr=False)
