"""Selection state and the associative inference over a :class:`DataModel`.

A :class:`SelectionState` is an immutable value (a new instance per change) so that it can be shared
between sessions, kept on a back/forward stack and used as a cache key. Alternate states are simply
separate instances, kept by the app in a dict ``state name → SelectionState``.

:func:`infer` propagates a state over the model: tables holding a selected field keep the rows whose
symbol is selected, and the restriction crosses to the other tables through key fields until a fixed
point. The resulting :class:`Inference` answers which rows are possible per table and which symbols
are selected / possible / alternative / excluded per field.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from engine import workers
from engine.model import kernels
from engine.model.datamodel import DataModel
from engine.model.index import ModelIndex, model_index
from engine.model.loose import loose_view

# State codes of ``Inference.states``; ``STATE_LETTERS[code]`` is the engine's StateEnumType letter.
LOCKED, SELECTED, OPTION, DESELECTED, ALTERNATIVE, EXCLUDED, EXCL_SELECTED, EXCL_LOCKED = range(8)
STATE_LETTERS: tuple[str, ...] = ("L", "S", "O", "D", "A", "X", "XS", "XL")
#: the state counts of NxDimensionInfo (``qStateCounts``), in ``STATE_LETTERS``' order
STATE_COUNT_KEYS: tuple[str, ...] = (
    "qLocked",
    "qSelected",
    "qOption",
    "qDeselected",
    "qAlternative",
    "qExcluded",
    "qSelectedExcluded",
    "qLockedExcluded",
)
_EMPTY_SEL = np.empty(0, dtype=np.int32)
#: tables with at least this many rows may propagate over row indexes instead of full-length masks
SPARSE_MIN = 1 << 20
#: ... when the most selective incoming key keeps at most 1/SPARSE_DENSITY of the rows
SPARSE_DENSITY = 8
#: rows per slice when a message walks them (see ``_Propagation.sparse_message``)
SLICE_ROWS = 1 << 16
_EMPTY_ROWS = np.empty(0, dtype=np.intp)


def _as_symbols(idx: Iterable[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(idx if isinstance(idx, np.ndarray) else list(idx), dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError("symbol indexes must be >= 0")
    out = np.unique(arr).astype(np.int32)
    out.flags.writeable = False
    return out


class SelectionState:
    """Selected symbols per field (sorted int32 arrays) and locked fields; immutable.

    Changing methods return a new instance, or ``self`` when nothing changes (a locked field refuses
    changes), so ``new is old`` tells the caller that the request had no effect.
    """

    __slots__ = ("_selected", "_locked", "_key")

    def __init__(self, selected: Mapping[str, np.ndarray] | None = None, locked: Iterable[str] = ()) -> None:
        sel: dict[str, np.ndarray] = {}
        for f, idx in (selected or {}).items():
            arr = idx if isinstance(idx, np.ndarray) and not idx.flags.writeable else _as_symbols(idx)
            if arr.size:
                sel[f] = arr
        self._selected = sel
        self._locked = frozenset(f for f in locked if f in sel)
        self._key: tuple[object, ...] | None = None

    # --- reading -------------------------------------------------------------------------------
    @property
    def fields(self) -> tuple[str, ...]:
        """Fields with a selection, in the order they were first selected."""
        return tuple(self._selected)

    @property
    def locked(self) -> frozenset[str]:
        return self._locked

    @property
    def is_empty(self) -> bool:
        return not self._selected

    def selected(self, field_name: str) -> np.ndarray | None:
        """Sorted selected symbol indexes of the field, or ``None`` when it has no selection."""
        return self._selected.get(field_name)

    def is_locked(self, field_name: str) -> bool:
        return field_name in self._locked

    def key(self) -> tuple[object, ...]:
        """A hashable value identifying the state (for caches)."""
        if self._key is None:
            self._key = (
                tuple(sorted((f, a.tobytes()) for f, a in self._selected.items())),
                tuple(sorted(self._locked)),
            )
        return self._key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SelectionState) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        parts = [f"{f}={a.tolist()}{'(L)' if f in self._locked else ''}" for f, a in self._selected.items()]
        return f"SelectionState({', '.join(parts)})"

    # --- changing --------------------------------------------------------------------------------
    def _replace(self, selected: dict[str, np.ndarray], locked: Iterable[str]) -> SelectionState:
        return SelectionState(selected, locked)

    def with_selection(self, field_name: str, idx: Iterable[int] | np.ndarray) -> SelectionState:
        """Replace the field's selection by ``idx`` (empty = clear). A locked field is left as is."""
        if field_name in self._locked:
            return self
        arr = _as_symbols(idx)
        cur = self._selected.get(field_name)
        if cur is not None and np.array_equal(cur, arr):
            return self
        if not arr.size:
            return self.cleared(field_name)
        sel = dict(self._selected)
        sel[field_name] = arr
        return self._replace(sel, self._locked)

    def without(self, field_name: str) -> SelectionState:
        """The state without the field's selection, ignoring locks (used for alternatives)."""
        if field_name not in self._selected:
            return self
        sel = {f: a for f, a in self._selected.items() if f != field_name}
        return self._replace(sel, self._locked - {field_name})

    def cleared(self, field_name: str) -> SelectionState:
        """Clear the field's selection unless it is locked."""
        if field_name in self._locked or field_name not in self._selected:
            return self
        return self.without(field_name)

    def cleared_all(self, keep_locked: bool = True) -> SelectionState:
        """Clear every selection; locked fields survive unless ``keep_locked`` is false."""
        if keep_locked:
            sel = {f: a for f, a in self._selected.items() if f in self._locked}
            if len(sel) == len(self._selected):
                return self
            return self._replace(sel, self._locked)
        return self if not self._selected else SelectionState()

    def with_lock(self, field_name: str) -> SelectionState:
        """Lock the field's selection (a field without selection cannot be locked)."""
        if field_name not in self._selected or field_name in self._locked:
            return self
        return self._replace(dict(self._selected), self._locked | {field_name})

    def with_unlock(self, field_name: str) -> SelectionState:
        if field_name not in self._locked:
            return self
        return self._replace(dict(self._selected), self._locked - {field_name})

    def locked_all(self) -> SelectionState:
        if self._locked == frozenset(self._selected):
            return self
        return self._replace(dict(self._selected), self._selected)

    def unlocked_all(self) -> SelectionState:
        return self if not self._locked else self._replace(dict(self._selected), ())


EMPTY_STATE = SelectionState()


@dataclass(frozen=True)
class Reduction:
    """A permanent restriction (section access) applied before any selection and never lifted.

    ``rows``: table → bool row mask (absent table = every row); ``symbols``: field → bool mask of the
    symbols that exist for the user (absent field = all). Build one with :meth:`from_state`.
    Rows outside the reduction behave as if deleted from the model: they are not a selection, so
    they restrict nothing by themselves.
    """

    rows: Mapping[str, np.ndarray] = field(default_factory=dict)
    symbols: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_state(cls, model: DataModel, state: SelectionState) -> Reduction:
        """The reduction that keeps exactly what ``state`` leaves possible (tables it reaches only)."""
        inf = infer(model, state)
        rows: dict[str, np.ndarray] = {}
        for t in inf.restricted_tables:
            m = inf.rows(t)
            rows[t] = m if m is not None else np.ones(model.tables[t].nrows, dtype=bool)
        symbols = {f: inf.possible(f) for f in model.fields}
        return cls(rows, symbols)

    def key(self) -> tuple[object, ...]:
        return (tuple(sorted((t, m.tobytes()) for t, m in self.rows.items())),)


def _scatter_present(codes: np.ndarray, rows: np.ndarray, nsym: int) -> np.ndarray:
    """Bool mask (``nsym + 1``, last slot = NULL seen) of the symbols occurring at ``rows``."""
    return kernels.scatter_true(nsym + 1, codes, rows)


def _digest(mask: np.ndarray) -> bytes:
    """A 128-bit digest of a bool mask (a memo key part much shorter than the mask)."""
    return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()


def _and_all(parts: list[np.ndarray]) -> np.ndarray | None:
    """AND of row masks without touching the inputs (a single part is returned as is)."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    out: np.ndarray = np.logical_and(parts[0], parts[1])
    for p in parts[2:]:
        np.logical_and(out, p, out=out)
    return out


class _Propagation:
    """Semi-join messages over the bipartite graph tables ↔ key fields, iterated to a fixed point.

    ``msg[(U, k)]`` is the set of ``k`` symbols occurring in the rows of ``U`` that satisfy every
    constraint reaching ``U`` from anywhere but ``k`` (``None`` = that side holds no constraint, so it
    restricts nothing). A table keeps the rows satisfying its own constraint (selection, reduction)
    and, for each key, the intersection of the other holders' messages. On an acyclic model this is
    exact: a row is possible iff it joins with a row satisfying each selection's constraints. Unlike
    an intersection over every reached table, a side reached only *through* ``k`` never restricts
    ``k`` back, so a selection is not cancelled by dangling keys.
    """

    def __init__(
        self,
        model: DataModel,
        idx: ModelIndex,
        cons: dict[str, dict[str, np.ndarray]],
        exist: dict[str, np.ndarray],
        selected: dict[str, np.ndarray],
    ) -> None:
        self.model = model
        self.idx = idx
        self.cons = cons
        self.exist = exist
        self.selected = selected
        self.msg: dict[tuple[str, str], np.ndarray | None] = {}
        # (table, key) -> (incoming symbol mask, its gather over the table's rows)
        self.gathered: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        # id(row mask) -> (row mask, flatnonzero): a final mask is often one already scanned
        self.nz: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # (table, own selections applied, keys applied in order) -> (their incoming symbol masks, rows
        # passing them)
        self.chains: dict[
            tuple[str, tuple[str, ...], tuple[str, ...]], tuple[list[np.ndarray], np.ndarray]
        ] = {}

    def nonzero(self, mask: np.ndarray) -> np.ndarray:
        hit = self.nz.get(id(mask))
        if hit is None or hit[0] is not mask:
            hit = (mask, np.flatnonzero(mask))
            self.nz[id(mask)] = hit
        return hit[1]

    def incoming(self, table: str, key: str) -> np.ndarray | None:
        parts = [
            m
            for h in self.model.field_tables[key]
            if h != table and (m := self.msg.get((h, key))) is not None
        ]
        if not parts:
            return None
        out = parts[0].copy()
        for p in parts[1:]:
            np.logical_and(out, p, out=out)
        out[-1] = False  # NULL never links
        return out

    def key_rows(self, table: str, key: str) -> np.ndarray | None:
        """Row mask of ``table`` allowed by the messages arriving through ``key`` (cached gather)."""
        inc = self.incoming(table, key)
        if inc is None:
            self.gathered.pop((table, key), None)
            return None
        hit = self.gathered.get((table, key))
        if hit is not None and np.array_equal(hit[0], inc):
            return hit[1]
        rows = kernels.take(inc, self.model.tables[table].columns.raw(key))
        self.gathered[(table, key)] = (inc, rows)
        return rows

    def _sparse_plan(
        self, table: str, skip: str | None
    ) -> tuple[list[tuple[int, str, np.ndarray]], dict[str, np.ndarray], tuple[str, ...]] | None:
        """For a large ``table``: its incoming key constraints but ``skip``'s, most selective first (rows
        kept, key, symbols), its own selections' row masks but one in ``skip``, and their names; None when
        no key is selective enough for the key → rows lookups (then full-length masks are cheaper)."""
        n = self.model.tables[table].nrows
        if n < SPARSE_MIN:
            return None
        incs: list[tuple[int, str, np.ndarray]] = []  # (rows it keeps, n + 1 when unknown; key; symbols)
        for k in self.idx.keys_of[table]:
            if k == skip:
                continue
            inc = self.incoming(table, k)
            if inc is None:
                continue
            lk = self.idx.lookup(table, k)
            count = n + 1 if lk.unique or lk.starts is None else int(np.diff(lk.starts)[inc[:-1]].sum())
            incs.append((count, k, inc))
        if not incs:
            return None
        incs.sort(key=lambda x: x[0])
        if incs[0][0] * SPARSE_DENSITY > n:
            return None
        # the table's own selections, but not one in ``skip`` (it is no message through ``skip``)
        own = {f: m for f, m in self.cons.get(table, {}).items() if f != skip}
        return incs, own, tuple(sorted(own))

    def _longest_chain(
        self, table: str, applied: tuple[str, ...], incs: list[tuple[int, str, np.ndarray]]
    ) -> tuple[np.ndarray | None, int]:
        """The rows of the longest computed chain that is a prefix of ``incs`` (with the same incoming
        symbols), and its length; ``(None, 0)`` when there is none."""
        for i in range(len(incs), 0, -1):
            hit = self.chains.get((table, applied, tuple(k for _, k, _ in incs[:i])))
            if hit is not None and all(
                np.array_equal(a, b) for a, (_, _, b) in zip(hit[0], incs[:i], strict=True)
            ):
                return hit[1], i
        return None, 0

    def _keep_chain(
        self, table: str, applied: tuple[str, ...], incs: list[tuple[int, str, np.ndarray]], rows: np.ndarray
    ) -> None:
        self.chains[(table, applied, tuple(k for _, k, _ in incs))] = ([c for _, _, c in incs], rows)

    def _first_rows(self, table: str, own: dict[str, np.ndarray], key: str, syms: np.ndarray) -> np.ndarray:
        """Rows holding ``syms`` of ``key`` (grouped by symbol) that pass the table's own selections and
        the reduction."""
        rows = self.expand(table, key, syms)
        for extra in (*own.values(), self.exist.get(table)):
            if extra is not None:
                rows = rows[extra.take(rows)]
        return rows

    def sparse_rows_except(self, table: str, skip: str | None, ordered: bool = False) -> np.ndarray | None:
        """Rows (sorted when ``ordered``) of a large ``table`` satisfying every constraint but ``skip``'s,
        found from the key → rows lookup of its most selective incoming key and filtered through the
        others; None when no key is selective enough (then full-length masks are cheaper)."""
        plan = self._sparse_plan(table, skip)
        if plan is None:
            return None
        incs, own, applied = plan
        memo = self._rows_memo_key(table, own, incs)
        rows = None if memo is None else self.idx.rows.get(memo)
        if rows is None:
            rows = self._rows_from_memo(table, own, incs)
        if rows is None:
            rows = self._chain(table, own, applied, incs)
        if memo is not None:
            self.idx.rows.put(memo, rows)
        return np.sort(rows).astype(np.intp, copy=False) if ordered else rows

    def _chain(
        self, table: str, own: dict[str, np.ndarray], applied: tuple[str, ...], incs: list[tuple[int, str, np.ndarray]]
    ) -> np.ndarray:
        """The rows passing ``incs`` and ``own``: the most selective key's rows filtered through the
        others. The chains of one table share prefixes (the final rows extend the rows without its least
        selective key): continue from the longest one computed with the same incoming symbols."""
        tab = self.model.tables[table]
        rows, done = self._longest_chain(table, applied, incs)
        if rows is None:
            rows = self._first_rows(table, own, incs[0][1], np.flatnonzero(incs[0][2][:-1]))
            done = 1
            self._keep_chain(table, applied, incs[:1], rows)
        for i in range(done, len(incs)):  # most selective first: later gathers see fewer rows
            _, k, inc = incs[i]
            rows = rows[inc.take(tab.columns.raw(k).take(rows))]
            self._keep_chain(table, applied, incs[: i + 1], rows)
        return rows

    def _rows_from_memo(
        self, table: str, own: dict[str, np.ndarray], incs: list[tuple[int, str, np.ndarray]]
    ) -> np.ndarray | None:
        """The rows passing ``incs`` and ``own`` from memoised rows passing all of them but one key (the
        fewest such rows), filtered through that key; None when none is memoised."""
        best: tuple[np.ndarray, str, np.ndarray] | None = None
        for j in range(len(incs) if len(incs) > 1 else 0):
            key = self._rows_memo_key(table, own, incs[:j] + incs[j + 1 :])
            hit = None if key is None else self.idx.rows.get(key)
            if hit is not None and (best is None or len(hit) < len(best[0])):
                best = (hit, incs[j][1], incs[j][2])
        if best is None:
            return None
        rows, k, inc = best
        out: np.ndarray = rows[inc.take(self.model.tables[table].columns.raw(k).take(rows))]
        return out

    def _rows_memo_key(
        self, table: str, own: Iterable[str], incs: Iterable[tuple[int, str, np.ndarray]]
    ) -> tuple[object, ...] | None:
        """What determines the rows of ``table`` passing its selections in ``own`` (by their symbols)
        and the incoming symbols ``incs`` (digests); None when a reduction cuts the table (its rows are
        not part of the key)."""
        if table in self.exist:
            return None
        return (
            table,
            tuple((f, _digest(self.selected[f])) for f in sorted(own)),
            tuple(sorted((k, _digest(inc)) for _, k, inc in incs)),
        )

    def sparse_message(self, table: str, key: str) -> np.ndarray | None:
        """``msg[(table, key)]`` (the ``key`` symbols at the rows satisfying every constraint but
        ``key``'s) from the key → rows lookups; None when they do not apply.

        The rows are walked a slice at a time and the walk stops once every symbol the table holds in
        ``key`` has been seen. Why: a message only says which symbols occur, and a large set of rows
        usually shows every value of a small key long before its end (a tenth of a 10M-row fact holds all
        of 5,000 products within its first 100k rows), so most of the gathers would be wasted."""
        plan = self._sparse_plan(table, key)
        if plan is None:
            return None
        incs, own, applied = plan
        tab = self.model.tables[table]
        codes = tab.columns.raw(key)
        nsym = self.idx.nsym(key)
        rows, done = self._longest_chain(table, applied, incs)
        if done == len(incs):
            assert rows is not None
            return _scatter_present(codes, rows, nsym)
        want = int(np.count_nonzero(self.idx.present(table, key)))
        out = np.zeros(nsym + 1, dtype=bool)
        kept: list[np.ndarray] = []
        for part in self._row_slices(table, own, incs[0], rows):
            for _, k, inc in incs[max(done, 1) :]:
                part = part[inc.take(tab.columns.raw(k).take(part))]
            out[codes.take(part)] = True
            kept.append(part)
            if np.count_nonzero(out) == want:
                return out
        rows = np.concatenate(kept) if kept else _EMPTY_ROWS
        self._keep_chain(table, applied, incs, rows)
        memo = self._rows_memo_key(table, own, incs)
        if memo is not None:
            self.idx.rows.put(memo, rows)
        return out

    def _row_slices(
        self, table: str, own: dict[str, np.ndarray], best: tuple[int, str, np.ndarray], rows: np.ndarray | None
    ) -> Iterator[np.ndarray]:
        """``rows`` in slices of about ``SLICE_ROWS``, or (when None) the rows of ``best``'s symbols that
        pass the table's own constraints, expanded a run of symbols at a time, in symbol order."""
        if rows is not None:
            for lo in range(0, len(rows), SLICE_ROWS):
                yield rows[lo : lo + SLICE_ROWS]
            return
        _, key, inc = best
        lk = self.idx.lookup(table, key)
        assert lk.starts is not None
        syms = np.flatnonzero(inc[:-1])
        ends = np.cumsum(lk.starts[syms + 1] - lk.starts[syms])
        cuts = np.searchsorted(ends, np.arange(SLICE_ROWS, int(ends[-1]) if len(ends) else 0, SLICE_ROWS))
        for part in np.split(syms, np.unique(cuts + 1)):
            if len(part):
                yield self._first_rows(table, own, key, part)

    def expand(self, table: str, key: str, syms: np.ndarray) -> np.ndarray:
        """Rows of ``table`` whose ``key`` symbol is one of ``syms`` (grouped by symbol), from the lookup."""
        lk = self.idx.lookup(table, key)
        assert lk.starts is not None and lk.order is not None
        starts = lk.starts[syms]
        lens = lk.starts[syms + 1] - starts
        ends = np.cumsum(lens)
        total = int(ends[-1]) if len(ends) else 0
        return lk.order.take(np.repeat(starts - (ends - lens), lens) + np.arange(total))

    def message(self, table: str, key: str) -> np.ndarray | None:
        """``msg[(table, key)]`` as it now stands: from the model's memo when a large table's message
        was computed before from the same selections and incoming symbols (by any session)."""
        memo = self._memo_key(table, key)
        if memo is not None:
            hit = self.idx.messages.get(memo)
            if hit is not None:
                return hit
        new = self.sparse_message(table, key)
        if new is None:
            m, constrained = self.rows_except(table, key)
            if m is not None and constrained:
                codes = self.model.tables[table].columns.raw(key)
                new = _scatter_present(codes, self.nonzero(m), self.idx.nsym(key))
        if memo is not None and new is not None:
            self.idx.messages.put(memo, new)
        return new

    def _memo_key(self, table: str, key: str) -> tuple[object, ...] | None:
        """What determines a large table's message through ``key``: the rows it is read from (see
        :meth:`_rows_memo_key`: the table's selections and incoming symbols but ``key``'s). None for small
        tables (recomputing is as cheap), reduced ones, and when nothing constrains the message."""
        if self.model.tables[table].nrows < SPARSE_MIN:
            return None
        own = [f for f in self.cons.get(table, {}) if f != key]
        incs = [(0, k, inc) for k in self.idx.keys_of[table] if k != key and (inc := self.incoming(table, k)) is not None]
        rows = self._rows_memo_key(table, own, incs) if own or incs else None
        return None if rows is None else ("message", key, rows)

    def rows_except(self, table: str, skip: str | None) -> tuple[np.ndarray | None, bool]:
        """Rows satisfying every constraint but those arriving through ``skip``, and whether any
        constraint applied (rows that merely do not exist for the user are no constraint)."""
        # a selection in ``skip`` itself is no message through ``skip``: the holders across apply it
        # to their own rows (a key value only one side has stays possible on that side)
        parts = [m for f, m in self.cons.get(table, {}).items() if f != skip]
        for k in self.idx.keys_of[table]:
            if k != skip:
                r = self.key_rows(table, k)
                if r is not None:
                    parts.append(r)
        constrained = bool(parts)
        if table in self.exist:
            parts.append(self.exist[table])
        return _and_all(parts), constrained

    def run(self) -> dict[str, np.ndarray]:
        queue = deque(t for t in self.model.tables if t in self.cons)
        queued = set(queue)
        while queue:
            t = queue.popleft()
            queued.discard(t)
            for k in self.idx.keys_of[t]:
                new = self.message(t, k)
                old = self.msg.get((t, k))
                if (
                    new is None
                    and old is None
                    or (new is not None and old is not None and np.array_equal(new, old))
                ):
                    continue
                self.msg[(t, k)] = new
                for h in self.model.field_tables[k]:
                    if h != t and h not in queued:
                        queue.append(h)
                        queued.add(h)
        out: dict[str, np.ndarray] = {}
        for t in self.model.tables:
            sparse = self.sparse_rows_except(t, None, ordered=True)
            if sparse is not None:
                mask = np.zeros(self.model.tables[t].nrows, dtype=bool)
                mask[sparse] = True
                self.nz[id(mask)] = (mask, sparse)
                out[t] = mask
                continue
            m, _ = self.rows_except(t, None)
            if m is not None:
                out[t] = m
        return out


def _selected_symbols(
    idx: ModelIndex, state: SelectionState, base: Reduction | None, f: str
) -> np.ndarray | None:
    """Bool mask (``nsym + 1``) of ``f``'s selected symbols that exist for the user; None when the field
    restricts nothing (no selection, or only symbols the reduction removed)."""
    sel = state.selected(f)
    if sel is None or f not in idx.model.fields:
        return None
    n = idx.nsym(f)
    smask = np.zeros(n + 1, dtype=bool)
    smask[sel[sel < n]] = True
    if base is not None and f in base.symbols:
        smask[:n] &= base.symbols[f]  # symbols the reduction removed do not exist for the user
        if not smask.any():
            return None
    return smask


def warm(model: DataModel) -> None:
    """Build, in a background thread, the key → rows lookups a propagation over the model's large tables
    reads. Why: built by the first click instead, they kept the first users of a 10M-row app waiting
    seconds (every user's first dashboard queued behind them). Once per model."""
    idx = model_index(model)
    jobs = [
        (t.name, k) for t in model.tables.values() if t.nrows >= SPARSE_MIN for k in idx.keys_of[t.name]
    ]
    if idx.warming or not jobs:
        return
    idx.warming = True

    def work() -> None:
        workers.lower_priority()
        try:
            for table, key in jobs:
                idx.lookup(table, key)
                idx.present(table, key)
        except Exception:  # noqa: BLE001 - only a head start: the first query builds what is missing
            logging.getLogger(__name__).debug("warming the lookups of a model failed", exc_info=True)

    threading.Thread(target=work, name="qix-warm", daemon=True).start()


def infer(model: DataModel, state: SelectionState, base: Reduction | None = None) -> Inference:
    """Propagate ``state`` (on top of the ``base`` reduction) over the model's tables."""
    if model.loose_tables:
        return _infer_loose(model, state, base)
    idx = model_index(model)
    cons: dict[str, dict[str, np.ndarray]] = {}  # table -> selected field -> rows it allows
    selected: dict[str, np.ndarray] = {}  # selected field -> its symbol mask (nsym + 1)
    exist = {t: m for t, m in base.rows.items() if t in model.tables} if base is not None else {}
    for f in state.fields:
        smask = _selected_symbols(idx, state, base, f)
        if smask is None:
            continue
        selected[f] = smask
        for t in model.field_tables.get(f, ()):
            cons.setdefault(t, {})[f] = kernels.take(smask, model.tables[t].columns.raw(f))
    if not cons and not exist:
        return Inference(model, state, base, {}, frozenset())
    prop = _Propagation(model, idx, cons, exist, selected)
    masks = prop.run()
    inf = Inference(model, state, base, masks, frozenset(masks))
    inf._msgs = prop.msg
    inf._selected = selected
    inf._exist_tables = frozenset(exist)
    for t, m in masks.items():
        hit = prop.nz.get(id(m))
        if hit is not None and hit[0] is m:
            inf._row_index[t] = hit[1]
    return inf


def _infer_loose(model: DataModel, state: SelectionState, base: Reduction | None) -> Inference:
    """:func:`infer` on a model with loose tables: propagate over :func:`loose_view`, then give each
    loose table the rows every one of its fields allows (for charts over it) and keep the per-field
    rows for its fields' possible values."""
    view, parts = loose_view(model)
    vbase = None
    if base is not None:
        rows: dict[str, np.ndarray] = {}
        for t, m in base.rows.items():
            rows.update(dict.fromkeys(parts[t].values(), m) if t in parts else {t: m})
        vbase = Reduction(rows, base.symbols)
    vinf = infer(view, state, vbase)
    masks: dict[str, np.ndarray] = {}
    field_masks: dict[tuple[str, str], np.ndarray] = {}
    for t in model.tables:
        if t not in parts:
            got = vinf.rows(t)
            if got is not None:
                masks[t] = got
            continue
        own: list[np.ndarray] = []
        for f, part in parts[t].items():
            got = vinf.rows(part)
            if got is not None:
                field_masks[(t, f)] = got
                own.append(got)
        both = _and_all(own)
        if both is not None:
            masks[t] = both
    inf = Inference(model, state, base, masks, frozenset(masks))
    inf._field_masks = field_masks
    return inf


class Inference:
    """The result of :func:`infer`: possible rows per table and symbol states per field.

    Everything is computed on demand and cached; the object is read-only and may be shared between
    threads (a cache race computes a value twice, never a wrong one).
    """

    def __init__(
        self,
        model: DataModel,
        state: SelectionState,
        base: Reduction | None,
        masks: dict[str, np.ndarray],
        restricted: frozenset[str],
    ) -> None:
        self.model = model
        self.state = state
        self.base = base
        self._masks = masks
        self.restricted_tables = restricted
        self._idx = model_index(model)
        self._row_index: dict[str, np.ndarray] = {}
        self._possible: dict[str, np.ndarray] = {}
        self._alt: dict[str, np.ndarray] = {}
        self._states: dict[str, np.ndarray] = {}
        self._key_symbols: dict[tuple[str, str], np.ndarray] = {}
        #: the propagation's final messages (see ``_Propagation``); None: no propagation ran
        self._msgs: dict[tuple[str, str], np.ndarray | None] | None = None
        self._exist_tables: frozenset[str] = frozenset()
        self._selected: dict[str, np.ndarray] = {}
        #: (loose table, field) → the rows of the table that field's own constraints allow
        self._field_masks: dict[tuple[str, str], np.ndarray] = {}

    # --- rows ------------------------------------------------------------------------------------
    def rows(self, table: str) -> np.ndarray | None:
        """Bool mask of the table's possible rows, or ``None`` when every row is possible."""
        return self._masks.get(table)

    def row_index(self, table: str) -> np.ndarray:
        """Indexes (int64, ascending) of the table's possible rows."""
        hit = self._row_index.get(table)
        if hit is None:
            m = self._masks.get(table)
            hit = (
                np.arange(self.model.tables[table].nrows, dtype=np.int64) if m is None else np.flatnonzero(m)
            )
            self._row_index[table] = hit
        return hit

    def key_symbols(self, table: str, key: str) -> np.ndarray:
        """Bool mask (``nsym + 1``, last slot = NULL) of the ``key`` symbols occurring in the table's
        possible rows. Callers must not modify it.

        Why: a chart needs to know which rows of a linked table its possible rows reach; the
        propagation already holds the answer at symbol level. The possible rows are the rows
        satisfying every constraint but ``key``'s (their symbols are the table's own message
        through ``key``) that also pass the messages arriving through ``key``; so the symbols are
        that message ∧ the incoming ones, without a pass over the table's rows. A table that only
        lost rows to a reduction (no message) is scanned.
        """
        hit = self._key_symbols.get((table, key))
        if hit is not None:
            return hit
        n = self._idx.nsym(key)
        if table not in self._masks:
            hit = self._idx.present(table, key)
        elif (
            self._msgs is not None
            and key in self._idx.keys_of[table]
            and (self._msgs.get((table, key)) is not None or table not in self._exist_tables)
        ):
            own = self._msgs.get((table, key))
            hit = (own if own is not None else self._idx.present(table, key)).copy()
            sel = self._selected.get(key)
            if sel is not None:  # a selection in the key is no message through it: apply it here
                np.logical_and(hit, sel, out=hit)
            for h in self.model.field_tables[key]:
                m = self._msgs.get((h, key)) if h != table else None
                if m is not None:
                    np.logical_and(hit, m, out=hit)
                    hit[-1] = False  # NULL never links: a message through the key drops NULL keys
        else:
            hit = kernels.scatter_true(
                n + 1, self.model.tables[table].columns.raw(key), self.row_index(table)
            )
        hit.flags.writeable = False
        self._key_symbols[(table, key)] = hit
        return hit

    def row_count(self, table: str) -> int:
        m = self._masks.get(table)
        return self.model.tables[table].nrows if m is None else len(self.row_index(table))

    @property
    def is_filtered(self) -> bool:
        """True when some table lost rows (or could: a selection or reduction reached it)."""
        return bool(self.restricted_tables)

    # --- symbols ---------------------------------------------------------------------------------
    def exists(self, field_name: str) -> np.ndarray:
        """Bool mask of the symbols that exist for the user (all, unless the base reduction removed some)."""
        if self.base is not None and field_name in self.base.symbols:
            return self.base.symbols[field_name]
        return np.ones(self._idx.nsym(field_name), dtype=bool)

    def possible(self, field_name: str) -> np.ndarray:
        """Bool mask of the symbols occurring in possible rows of the tables holding the field."""
        hit = self._possible.get(field_name)
        if hit is None:
            n = self._idx.nsym(field_name)
            hit = np.zeros(n + 1, dtype=bool)
            for t in self.model.field_tables.get(field_name, ()):
                if t in self.model.loose_tables:
                    fm = self._field_masks.get((t, field_name))
                    if fm is None:
                        hit |= self._idx.present(t, field_name)
                    else:
                        hit[self.model.tables[t].columns.raw(field_name).take(np.flatnonzero(fm))] = True
                    continue
                m = self._masks.get(t)
                if m is None:
                    hit |= self._idx.present(t, field_name)
                else:
                    hit[self.model.tables[t].columns.raw(field_name).take(self.row_index(t))] = True
            hit = hit[:n]
            if self.base is not None and field_name in self.base.symbols:
                hit &= self.base.symbols[field_name]
            self._possible[field_name] = hit
        return hit

    def selected_mask(self, field_name: str) -> np.ndarray:
        """Bool mask of the field's selected symbols (restricted to existing ones)."""
        out = np.zeros(self._idx.nsym(field_name), dtype=bool)
        sel = self.state.selected(field_name)
        if sel is not None:
            out[sel[sel < len(out)]] = True
            out &= self.exists(field_name)
        return out

    def has_selection(self, field_name: str) -> bool:
        """Whether the field holds a selection of symbols that exist for the user."""
        sel = self.state.selected(field_name)
        if sel is None:
            return False
        return (
            self.base is None
            or field_name not in self.base.symbols
            or bool(self.selected_mask(field_name).any())
        )

    def alternative(self, field_name: str) -> np.ndarray:
        """Symbols that would be possible if the field's own selection were removed (others kept)."""
        if not self.has_selection(field_name):
            return self.possible(field_name)
        hit = self._alt.get(field_name)
        if hit is None:
            hit = self._local_alternative(field_name)
            if hit is None:
                hit = infer(self.model, self.state.without(field_name), self.base).possible(field_name)
            self._alt[field_name] = hit
        return hit

    def _local_alternative(self, field_name: str) -> np.ndarray | None:
        """:meth:`alternative` at the size of the field's one table, or None where that does not hold.

        Why: a second propagation without the field's selection passes over every large table (a 10M-row
        fact) once per selected filter pane. On an acyclic model the messages arriving at the field's table
        through its keys carry no constraint of that table's own (see ``_Propagation``), so the rows the
        field could have without its selection are that table's rows passing those messages, its other
        selections and the reduction: a pass over one (usually small) dimension table."""
        tables = self.model.field_tables.get(field_name, ())
        idx = self._idx
        if len(tables) != 1 or self._msgs is None or not idx.acyclic:
            return None
        table = tables[0]
        if field_name in idx.keys_of[table]:
            return None
        cols = self.model.tables[table].columns
        parts = []
        for f in self.state.fields:
            if f != field_name and table in self.model.field_tables.get(f, ()):
                smask = _selected_symbols(idx, self.state, self.base, f)
                if smask is not None:
                    parts.append(kernels.take(smask, cols.raw(f)))
        for k in idx.keys_of[table]:
            incoming = [
                m
                for h in self.model.field_tables[k]
                if h != table and (m := self._msgs.get((h, k))) is not None
            ]
            if incoming:
                inc = incoming[0].copy()
                for m in incoming[1:]:
                    np.logical_and(inc, m, out=inc)
                inc[-1] = False  # NULL never links
                parts.append(kernels.take(inc, cols.raw(k)))
        if self.base is not None and table in self.base.rows:
            parts.append(self.base.rows[table])
        n = idx.nsym(field_name)
        rows = _and_all(parts)
        hit = (
            idx.present(table, field_name)
            if rows is None
            else kernels.scatter_true(n + 1, cols.raw(field_name), np.flatnonzero(rows))
        )[:n].copy()
        if self.base is not None and field_name in self.base.symbols:
            hit &= self.base.symbols[field_name]
        return hit

    def states(self, field_name: str) -> np.ndarray:
        """uint8 state code per symbol (see ``STATE_LETTERS``); symbols that do not exist read as X."""
        hit = self._states.get(field_name)
        if hit is None:
            poss = self.possible(field_name)
            if not self.has_selection(field_name):
                hit = np.where(poss, OPTION, EXCLUDED).astype(np.uint8)
            else:
                sel = self.selected_mask(field_name)
                lock = self.state.is_locked(field_name)
                on, off = (LOCKED, EXCL_LOCKED) if lock else (SELECTED, EXCL_SELECTED)
                hit = np.where(
                    sel,
                    np.where(poss, on, off),
                    np.where(self.alternative(field_name), ALTERNATIVE, EXCLUDED),
                ).astype(np.uint8)
            self._states[field_name] = hit
        return hit

    def states_at(self, field_name: str, symbols: np.ndarray) -> np.ndarray:
        """``states(field_name)[symbols]``, without the alternatives when none of ``symbols`` needs them:
        a chart's rows hold possible or selected values, whose state does not depend on them."""
        if field_name in self._states or not self.has_selection(field_name):
            return self.states(field_name).take(symbols)
        poss = self.possible(field_name).take(symbols)
        sel = self.selected_mask(field_name).take(symbols)
        if not (sel | poss).all():
            return self.states(field_name).take(symbols)
        on, off = (LOCKED, EXCL_LOCKED) if self.state.is_locked(field_name) else (SELECTED, EXCL_SELECTED)
        # possible and not selected: alternative (removing the field's selection only widens)
        return np.where(sel, np.where(poss, on, off), ALTERNATIVE).astype(np.uint8)

    def state_letters(self, field_name: str) -> np.ndarray:
        """Object array of state letters per symbol."""
        return np.asarray(STATE_LETTERS, dtype=object).take(self.states(field_name))

    def state_counts(self, field_name: str) -> dict[str, int]:
        """NxStateCounts of the field, over the symbols that exist for the user."""
        st = self.states(field_name)
        ex = self.exists(field_name)
        counts = np.bincount(st if ex.all() else st.take(np.flatnonzero(ex)), minlength=8)
        return {k: int(c) for k, c in zip(STATE_COUNT_KEYS, counts, strict=True)}
