"""Tables while a script runs: columns of (SymbolTable, int32 codes), and the table algebra the
statements need (concatenate, join, keep, crosstable, distinct, synthetic keys). All vectorised."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np

from engine.expr.objects import NO_TEXT
from engine.model.datamodel import DataModel, Table, TableData
from engine.model.symbols import CODE_DTYPE, SymbolTable, encode, merge, remap


@dataclass
class Column:
    symbols: SymbolTable
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, idx: np.ndarray) -> Column:
        return Column(self.symbols, self.codes.take(idx))

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-row (num, text); NULL rows get (NaN, None)."""
        num = np.append(self.symbols.num, np.nan).take(self.codes)
        text = np.append(self.symbols.text, NO_TEXT).take(self.codes)
        return num, text

    @staticmethod
    def nulls(n: int) -> Column:
        return Column(SymbolTable.empty(), np.full(n, -1, dtype=CODE_DTYPE))

    @staticmethod
    def from_values(num: np.ndarray, text: np.ndarray) -> Column:
        sym, codes = encode(num, text)
        return Column(sym, codes)


@dataclass
class ScriptTable:
    name: str
    columns: dict[str, Column]
    nrows: int
    comment: str = ""
    field_comments: dict[str, str] = field(default_factory=dict)

    @property
    def field_names(self) -> list[str]:
        return list(self.columns)

    def take(self, idx: np.ndarray) -> ScriptTable:
        return ScriptTable(
            self.name, {k: c.take(idx) for k, c in self.columns.items()}, len(idx), self.comment
        )

    def to_data(self) -> TableData:
        return TableData(
            self.name,
            {k: (c.symbols, c.codes) for k, c in self.columns.items()},
            self.nrows,
            comment=self.comment,
        )


def unify(cols: list[Column]) -> tuple[SymbolTable, list[np.ndarray]]:
    """One symbol table for several columns of the same field, and each column's codes in it."""
    real = [c for c in cols if len(c.symbols)]
    if not real:
        return SymbolTable.empty(), [c.codes for c in cols]
    union, maps = merge([c.symbols for c in real])
    out, k = [], 0
    for c in cols:
        if len(c.symbols):
            out.append(remap(c.codes, maps[k]))
            k += 1
        else:
            out.append(c.codes)
    return union, out


def concatenate(a: ScriptTable, cols: dict[str, Column], n: int) -> None:
    """Append rows (UNION ALL) to ``a`` in place; fields missing on either side become NULL."""
    names = list(a.columns) + [f for f in cols if f not in a.columns]
    out = {}
    for f in names:
        left = a.columns.get(f) or Column.nulls(a.nrows)
        right = cols.get(f) or Column.nulls(n)
        sym, (lc, rc) = unify([left, right])
        out[f] = Column(sym, np.concatenate([lc, rc]).astype(CODE_DTYPE))
    a.columns = out
    a.nrows += n


def _row_keys(cols: list[np.ndarray]) -> np.ndarray:
    """Dense int64 id per row for a tuple of code columns (same id = same values)."""
    if len(cols) == 1:
        return cols[0].astype(np.int64)
    stacked = np.stack([c.astype(np.int64) for c in cols], axis=1)
    _, inv = np.unique(stacked, axis=0, return_inverse=True)
    return inv.reshape(-1)


def distinct_rows(cols: list[np.ndarray], n: int) -> np.ndarray:
    """Indices of the first occurrence of each distinct row, in row order."""
    if not cols:
        return np.arange(min(n, 1))
    keys = _row_keys(cols)
    _, first = np.unique(keys, return_index=True)
    return np.sort(first)


@overload
def join(
    a: ScriptTable,
    cols: dict[str, Column],
    n: int,
    how: str,
    keep: Literal[False] = False,
    check_rows: Callable[[int], None] | None = None,
) -> None: ...
@overload
def join(
    a: ScriptTable,
    cols: dict[str, Column],
    n: int,
    how: str,
    keep: Literal[True],
    check_rows: Callable[[int], None] | None = None,
) -> ScriptTable: ...
def join(
    a: ScriptTable,
    cols: dict[str, Column],
    n: int,
    how: str,
    keep: bool = False,
    check_rows: Callable[[int], None] | None = None,
) -> ScriptTable | None:
    """Natural join of ``a`` with new rows on all common field names.

    JOIN (``keep=False``) merges into ``a``; KEEP filters both sides and returns the new rows' table
    (still separate) — ``a`` is filtered in place. ``check_rows`` sees the JOIN's row count before
    any row is materialised (a cross join of two 100k tables is 10^10 rows) and may raise.
    """
    common = [f for f in a.columns if f in cols]
    # codes of the common fields in one symbol space per field
    left_keys, right_keys = [], []
    for f in common:
        sym, (lc, rc) = unify([a.columns[f], cols[f]])
        a.columns[f] = Column(sym, lc)
        cols[f] = Column(sym, rc)
        left_keys.append(lc)
        right_keys.append(rc)
    if common:
        both = [np.concatenate([lk, rk]) for lk, rk in zip(left_keys, right_keys, strict=True)]
        ids = _row_keys(both)
        lid, rid = ids[: a.nrows], ids[a.nrows :]
    else:
        lid, rid = np.zeros(a.nrows, dtype=np.int64), np.zeros(n, dtype=np.int64)
    if keep:
        lmask = np.isin(lid, rid) if how in ("inner", "right") else np.ones(a.nrows, bool)
        rmask = np.isin(rid, lid) if how in ("inner", "left") else np.ones(n, bool)
        li = np.flatnonzero(lmask)
        ri = np.flatnonzero(rmask)
        if len(li) != a.nrows:
            for f, c in list(a.columns.items()):
                a.columns[f] = c.take(li)
            a.nrows = len(li)
        return ScriptTable("", {f: c.take(ri) for f, c in cols.items()}, len(ri))
    # pairs of matching rows: sort the right side by key, find ranges for each left key
    order = np.argsort(rid, kind="stable")
    rs = rid.take(order)
    lo = np.searchsorted(rs, lid, side="left")
    hi = np.searchsorted(rs, lid, side="right")
    counts = hi - lo
    if check_rows is not None:
        predicted = int(counts.sum())
        predicted += int(np.count_nonzero(counts == 0)) if how in ("left", "outer") else 0
        predicted += int(np.count_nonzero(~np.isin(rid, lid))) if how in ("right", "outer") else 0
        check_rows(predicted)
    li = np.repeat(np.arange(a.nrows), counts)
    starts = np.repeat(lo - np.cumsum(np.concatenate([[0], counts[:-1]])), counts)
    ri = order.take(starts + np.arange(len(li))) if len(li) else np.empty(0, dtype=np.int64)
    parts_l, parts_r = [li], [ri]
    if how in ("left", "outer"):
        unmatched = np.flatnonzero(counts == 0)
        parts_l.append(unmatched)
        parts_r.append(np.full(len(unmatched), -1))
    if how in ("right", "outer"):
        matched = np.zeros(n, bool)
        matched[ri] = True
        um = np.flatnonzero(~matched)
        parts_l.append(np.full(len(um), -1))
        parts_r.append(um)
    L = np.concatenate(parts_l).astype(np.int64)
    R = np.concatenate(parts_r).astype(np.int64)
    if how in ("left", "outer") and len(L):
        # keep the left table's row order: sort by left row (unmatched right rows at the end)
        key = np.where(L >= 0, L, a.nrows + np.arange(len(L)))
        o = np.argsort(key, kind="stable")
        L, R = L.take(o), R.take(o)
    out: dict[str, Column] = {}
    for f, c in a.columns.items():
        if f in cols:
            codes = np.where(L >= 0, c.codes.take(np.maximum(L, 0)), cols[f].codes.take(np.maximum(R, 0)))
            out[f] = Column(c.symbols, codes.astype(CODE_DTYPE))
        else:
            out[f] = Column(
                c.symbols, np.where(L >= 0, c.codes.take(np.maximum(L, 0)), -1).astype(CODE_DTYPE)
            )
    for f, c in cols.items():
        if f not in out:
            out[f] = Column(
                c.symbols, np.where(R >= 0, c.codes.take(np.maximum(R, 0)), -1).astype(CODE_DTYPE)
            )
    a.columns = out
    a.nrows = len(L)
    return None


def crosstable(
    names: list[str], cols: list[Column], n: int, attr: str, data: str, qualifiers: int
) -> tuple[dict[str, Column], int]:
    """Unpivot: keep the first ``qualifiers`` columns, turn every other column into (attr, data) rows."""
    keep = names[:qualifiers]
    rest = list(range(qualifiers, len(names)))
    k = len(rest)
    out: dict[str, Column] = {}
    for i, nm in enumerate(keep):
        out[nm] = Column(cols[i].symbols, np.repeat(cols[i].codes, k))
    attr_texts = np.array([names[j] for j in rest], dtype=object)
    sym_attr, attr_codes = encode(np.full(k, np.nan), attr_texts)
    out[attr] = Column(sym_attr, np.tile(attr_codes, n).astype(CODE_DTYPE))
    if k:
        sym, codes = unify([cols[j] for j in rest])
        out[data] = Column(sym, np.stack(codes, axis=1).reshape(-1).astype(CODE_DTYPE))
    else:
        out[data] = Column.nulls(0)
    return out, n * k


def synthetic_keys(tables: list[ScriptTable]) -> list[ScriptTable]:
    """Replace every set of 2+ fields shared by tables with a ``$Syn n`` key and a ``$Syn n Table``.

    Repeated until no two tables share more than one field (a synthetic table can itself share fields).
    """
    syn_no = 0
    out = list(tables)
    for _ in range(50):
        combo = None
        for i in range(len(out)):
            fi = set(out[i].columns)
            for j in range(i + 1, len(out)):
                shared = [f for f in out[i].columns if f in out[j].columns]
                if len(shared) > 1 and fi:
                    combo = tuple(shared)
                    break
            if combo:
                break
        if combo is None:
            return out
        syn_no += 1
        key = f"$Syn {syn_no}"
        holders = [t for t in out if all(f in t.columns for f in combo)]
        # one value per distinct combination, over all holders
        per_field = {f: unify([t.columns[f] for t in holders]) for f in combo}
        stacked = [np.concatenate(per_field[f][1]) for f in combo]
        ids = _row_keys(stacked)
        uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq))
        keycodes = rank.take(inv.reshape(-1))
        nkeys = len(uniq)
        syn_sym = SymbolTable(
            np.arange(1, nkeys + 1, dtype=np.float64),
            np.array([str(i) for i in range(1, nkeys + 1)], dtype=object),
        )
        first_rows = first.take(order)
        syn_cols = {key: Column(syn_sym, np.arange(nkeys, dtype=CODE_DTYPE))}
        for f in combo:
            sym = per_field[f][0]
            syn_cols[f] = Column(sym, stacked[combo.index(f)].take(first_rows).astype(CODE_DTYPE))
        start = 0
        for t in holders:
            kc = keycodes[start : start + t.nrows]
            start += t.nrows
            newcols = {}
            for f, c in t.columns.items():
                if f in combo:
                    if key not in newcols:
                        newcols[key] = Column(syn_sym, kc.astype(CODE_DTYPE))
                    continue
                newcols[f] = c
            t.columns = newcols
        out.append(ScriptTable(f"{key} Table", syn_cols, nkeys))
    return out


def tables_from_model(model: DataModel) -> dict[str, ScriptTable]:
    """The tables of a loaded data model as script tables again (a partial reload starts from them):
    synthetic key fields are expanded back into the fields they combine."""
    syn: dict[str, tuple[Table, dict[int, int]]] = {}
    for t in model.tables.values():
        if t.is_synthetic:
            key = next(f for f in t.field_names if f.startswith("$Syn "))
            codes = np.asarray(t.columns[key])
            syn[key] = (t, {int(c): r for r, c in enumerate(codes.tolist())})
    out: dict[str, ScriptTable] = {}
    for t in model.tables.values():
        if t.is_synthetic:
            continue
        cols: dict[str, Column] = {}
        for f in t.field_names:
            codes = np.asarray(t.columns[f]).astype(CODE_DTYPE)
            if f in syn:
                st, row_of = syn[f]
                rows = np.array([row_of.get(int(c), -1) for c in codes.tolist()], dtype=np.int64)
                for g in st.field_names:
                    if g == f:
                        continue
                    gc = np.asarray(st.columns[g]).astype(CODE_DTYPE)
                    cols[g] = Column(
                        model.fields[g].symbols,
                        np.where(rows >= 0, gc.take(np.maximum(rows, 0)), -1).astype(CODE_DTYPE),
                    )
                continue
            cols[f] = Column(model.fields[f].symbols, codes)
        out[t.name] = ScriptTable(t.name, cols, t.nrows, comment=t.comment)
    return out
