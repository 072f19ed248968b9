"""Table-transforming LOAD prefixes: IntervalMatch, Hierarchy, HierarchyBelongsTo, Generic, Sample,
Merge, Semantic.

Each takes the rows a LOAD produced (field names, columns, row count) and returns the table(s) the
prefix makes of them; the runner then stores them like any loaded table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.model.symbols import CODE_DTYPE, SymbolTable
from engine.script.errors import FIELD_NOT_FOUND, SEMANTIC, StatementError
from engine.script.tables import Column, ScriptTable, _row_keys, concatenate, distinct_rows

Rows = tuple[list[str], list[Column], int]


def _key(num: float, text: object) -> object:
    """A value's identity for matching: its number when it has one, else its text."""
    return float(num) if num == num else text


def _field(names: list[str], cols: list[Column], name: str, what: str) -> Column:
    if name not in names:
        raise StatementError(f"{what}: field '{name}' not found in the loaded table", FIELD_NOT_FOUND)
    return cols[names.index(name)]


def interval_match(
    rows: Rows, match: str, keys: list[str], combos: Callable[[list[str]], tuple[list[Column], int] | None]
) -> Rows:
    """Pair every already loaded value of ``match`` (with its ``keys``) with every interval
    ``[first field, second field]`` of the LOAD that contains it (closed; non-numeric limits never match)."""
    names, cols, n = rows
    if len(cols) < 2 + len(keys):
        raise StatementError(
            f"IntervalMatch needs a lower limit, an upper limit and {len(keys)} key field(s)", SEMANTIC
        )
    known = combos([match] + keys)
    if known is None:
        raise StatementError(f"IntervalMatch: field '{match}' has not been loaded", FIELD_NOT_FOUND)
    kcols, kn = known
    lo = cols[0].values()[0]
    hi = cols[1].values()[0]
    vnum, vtext = kcols[0].values()
    key_of = [c.values() for c in kcols[1:]]
    ikey_of = [c.values() for c in cols[2 : 2 + len(keys)]]
    groups: dict[tuple[object, ...], list[int]] = {}
    for r in range(kn):
        if vnum[r] == vnum[r]:
            groups.setdefault(tuple(_key(k[0][r], k[1][r]) for k in key_of), []).append(r)
    sorted_groups = {
        g: np.array(sorted(rs, key=lambda r: vnum[r]), dtype=np.int64) for g, rs in groups.items()
    }
    value_rows: list[np.ndarray] = []
    interval_rows: list[np.ndarray] = []
    for i in range(n):
        if not (lo[i] == lo[i] and hi[i] == hi[i]):
            continue
        g = tuple(_key(k[0][i], k[1][i]) for k in ikey_of)
        cand = sorted_groups.get(g)
        if cand is None:
            continue
        vals = vnum.take(cand)
        a, b = np.searchsorted(vals, lo[i], "left"), np.searchsorted(vals, hi[i], "right")
        if b > a:
            value_rows.append(cand[a:b])
            interval_rows.append(np.full(b - a, i, dtype=np.int64))
    vr = np.concatenate(value_rows) if value_rows else np.empty(0, dtype=np.int64)
    ir = np.concatenate(interval_rows) if interval_rows else np.empty(0, dtype=np.int64)
    out_names = [match] + names[:2] + keys
    out_cols = [kcols[0].take(vr)] + [c.take(ir) for c in cols[:2]] + [c.take(vr) for c in kcols[1:]]
    keep = distinct_rows([c.codes for c in out_cols], len(vr))
    return out_names, [c.take(keep) for c in out_cols], len(keep)


def _parents(rows: Rows, node_id: str, parent_id: str, what: str) -> tuple[list[object], list[object | None]]:
    names, cols, n = rows
    inum, itext = _field(names, cols, node_id, what).values()
    pnum, ptext = _field(names, cols, parent_id, what).values()
    ids = [_key(inum[r], itext[r]) for r in range(n)]
    parents = [None if pnum[r] != pnum[r] and ptext[r] is None else _key(pnum[r], ptext[r]) for r in range(n)]
    return ids, parents


def _connected(ids: list[object], parents: list[object | None]) -> dict[int, list[int]]:
    """The rows that reach a root, each with its chain from itself up to the root."""
    return {r: c for r, c in enumerate(_chains(ids, parents)) if c is not None}


def _chains(ids: list[object], parents: list[object | None]) -> list[list[int] | None]:
    """Per row, the rows from the row itself up to its root; None when the row never reaches a root
    (a cycle). A parent id not among the node ids makes a root."""
    first: dict[object, int] = {}
    for r, k in enumerate(ids):
        first.setdefault(k, r)
    out: list[list[int] | None] = []
    for r in range(len(ids)):
        chain = [r]
        seen = {r}
        cur = r
        ok = True
        while True:
            p = parents[cur]
            nxt = first.get(p) if p is not None else None
            if nxt is None:
                break
            if nxt in seen:
                ok = False
                break
            chain.append(nxt)
            seen.add(nxt)
            cur = nxt
        out.append(chain if ok else None)
    return out


def _text_column(values: Sequence[object | None]) -> Column:
    num = np.array([v if isinstance(v, float | int) else np.nan for v in values], dtype=np.float64)
    text = np.array(
        [None if v is None else (v if isinstance(v, str) else None) for v in values], dtype=object
    )
    return Column.from_values(num, text)


def hierarchy(rows: Rows, args: list[str | None]) -> Rows:
    """Expanded nodes: the input rows plus one field per level (NodeName1..), and optionally the parent's
    name, the path from the root and the depth."""
    names, cols, n = rows
    node_id, parent_id, node_name = str(args[0]), str(args[1]), str(args[2])
    parent_name, path_source, path_name, delim, depth_name = (args + [None] * 8)[3:8]
    ids, parents = _parents(rows, node_id, parent_id, "Hierarchy")
    name_col = _field(names, cols, node_name, "Hierarchy")
    path_col = _field(names, cols, path_source or node_name, "Hierarchy")
    ptexts = path_col.values()[1]
    chains = _connected(ids, parents)
    keep = sorted(chains)
    levels = max((len(chains[r]) for r in keep), default=0)
    out_names = list(names)
    out_cols = [c.take(np.array(keep, dtype=np.int64)) for c in cols]
    ext = name_col
    for lv in range(levels):
        idx = np.array([chains[r][::-1][lv] if lv < len(chains[r]) else -1 for r in keep], dtype=np.int64)
        out_names.append(f"{node_name}{lv + 1}")
        out_cols.append(_take_or_null(ext, idx))
    if parent_name:
        idx = np.array([chains[r][1] if len(chains[r]) > 1 else -1 for r in keep], dtype=np.int64)
        out_names.append(parent_name)
        out_cols.append(_take_or_null(name_col, idx))
    if path_name:
        sep = "/" if delim is None else delim
        out_names.append(path_name)
        out_cols.append(
            _text_column(
                [sep.join("" if ptexts[k] is None else str(ptexts[k]) for k in chains[r][::-1]) for r in keep]
            )
        )
    if depth_name:
        out_names.append(depth_name)
        out_cols.append(_text_column([float(len(chains[r])) for r in keep]))
    return out_names, out_cols, len(keep)


def hierarchy_belongs_to(rows: Rows, args: list[str | None]) -> Rows:
    """Every (node, ancestor) pair, the node itself included, with the ancestor's id and name and
    optionally the depth difference."""
    names, cols, n = rows
    node_id, parent_id, node_name, ancestor_id, ancestor_name = (str(a) for a in args[:5])
    depth_diff = args[5] if len(args) > 5 else None
    ids, parents = _parents(rows, node_id, parent_id, "HierarchyBelongsTo")
    id_col = _field(names, cols, node_id, "HierarchyBelongsTo")
    name_col = _field(names, cols, node_name, "HierarchyBelongsTo")
    chains = _connected(ids, parents)
    node_rows: list[int] = []
    anc_rows: list[int] = []
    diffs: list[float] = []
    for r in sorted(chains):
        for d, a in enumerate(chains[r]):
            node_rows.append(r)
            anc_rows.append(a)
            diffs.append(float(d))
    nr = np.array(node_rows, dtype=np.int64)
    ar = np.array(anc_rows, dtype=np.int64)
    out_names = [f for f in names if f != parent_id]
    out_cols = [c.take(nr) for f, c in zip(names, cols, strict=True) if f != parent_id]
    out_names += [ancestor_id, ancestor_name]
    out_cols += [id_col.take(ar), name_col.take(ar)]
    if depth_diff:
        out_names.append(depth_diff)
        out_cols.append(_text_column(diffs))
    return out_names, out_cols, len(nr)


def _take_or_null(col: Column, idx: np.ndarray) -> Column:
    codes = np.where(idx >= 0, col.codes.take(np.maximum(idx, 0)), -1).astype(col.codes.dtype)
    return Column(col.symbols, codes)


def generic(rows: Rows, label: str) -> list[tuple[str, Rows]]:
    """A generic table (keys…, attribute, value) unpacked into one table per attribute, named
    ``label.attribute``, holding the keys and a field named after the attribute."""
    names, cols, n = rows
    if len(cols) < 3:
        raise StatementError("GENERIC needs at least a key, an attribute and a value field", SEMANTIC)
    attr = cols[-2]
    anum, atext = attr.values()
    out: list[tuple[str, Rows]] = []
    order: dict[object, list[int]] = {}
    for r in range(n):
        if anum[r] == anum[r] or atext[r] is not None:
            order.setdefault(atext[r] if atext[r] is not None else str(anum[r]), []).append(r)
    for a, rs in order.items():
        idx = np.array(rs, dtype=np.int64)
        out.append(
            (
                f"{label}.{a}",
                (names[:-2] + [str(a)], [c.take(idx) for c in cols[:-2]] + [cols[-1].take(idx)], len(idx)),
            )
        )
    return out


def sample(rows: Rows, p: float, rng: np.random.Generator) -> Rows:
    """Each row kept with probability ``p``."""
    names, cols, n = rows
    keep = np.flatnonzero(rng.random(n) < p)
    return names, [c.take(keep) for c in cols], len(keep)


_MERGE_OPS = {"i": 0, "u": 1, "d": 2}  # Insert, Update, Delete by their first letter


def _merge_ops(col: Column) -> np.ndarray:
    """Operation per row (0 insert, 1 update, 2 delete) from the change log's first field."""
    texts = col.symbols.text
    sym_ops = np.full(len(texts) + 1, -1, dtype=np.int8)
    for k, t in enumerate(texts.tolist()):
        word = str(t).strip().lower() if t is not None else ""
        if word in ("i", "u", "d", "insert", "update", "delete"):
            sym_ops[k] = _MERGE_OPS[word[0]]
    ops = sym_ops.take(col.codes)
    bad = np.flatnonzero(ops < 0)
    if len(bad):
        shown = col.symbols.texts(col.codes[bad[:1]]).tolist() if col.codes[bad[0]] >= 0 else ["NULL"]
        raise StatementError(
            f"MERGE: the first field must hold the operation (Insert, Update or Delete), found '{shown[0]}'",
            SEMANTIC,
        )
    return ops


def merge(
    target: ScriptTable | None, rows: Rows, keys: list[str], seq: str | None
) -> tuple[dict[str, Column], int, Column | None]:
    """``MERGE … ON keys``: apply a change log (first field: Insert/Update/Delete, then the fields) to
    ``target``'s rows. Returns the merged columns, their row count and the sequence column (for the
    SequenceNoVar maximum), or None without a sequence field.

    Per key touched by the log only the latest record is kept: latest by ``seq`` when given (the
    target's own rows take part with their sequence numbers, so an older change loses), else by load
    order (the target's rows first). An Insert replaces the whole record (fields it lacks are NULL), an
    Update replaces only the fields it has, a Delete removes the record; a key whose latest event is a
    Delete is gone. Rows whose key the log does not touch stay as they are, in place; new keys follow.
    """
    names, cols, n = rows
    if len(names) < 2:
        raise StatementError("MERGE needs the operation field and at least one more field", SEMANTIC)
    ops_new = _merge_ops(cols[0])
    data = dict(zip(names[1:], cols[1:], strict=True))
    for k in keys + ([seq] if seq else []):
        if k not in data:
            raise StatementError(f"MERGE: field '{k}' is not in the loaded table", FIELD_NOT_FOUND)
        if target is not None and k in keys and k not in target.columns:
            raise StatementError(f"MERGE: key field '{k}' is not in table '{target.name}'", FIELD_NOT_FOUND)
    base_n = target.nrows if target is not None else 0
    combined = ScriptTable("", dict(target.columns) if target is not None else {}, base_n)
    concatenate(combined, data, n)
    total = base_n + n
    ops = np.concatenate([np.zeros(base_n, dtype=np.int8), ops_new])
    raw_keys = _row_keys([combined.columns[k].codes for k in keys]) if total else np.empty(0, np.int64)
    key_id = np.unique(raw_keys, return_inverse=True)[1].reshape(-1)  # dense, NULL keys included
    touched = np.zeros(int(key_id.max()) + 1 if total else 0, dtype=bool)
    touched[key_id[base_n:]] = True
    rows_touched = touched.take(key_id)
    if seq is not None:
        snum, _ = combined.columns[seq].values()
        order_key = np.where(np.isnan(snum), -np.inf, snum)
    else:
        order_key = np.zeros(total)
    load = np.arange(total)
    events = np.flatnonzero(rows_touched)
    ev = events[np.lexsort((load[events], order_key[events], key_id[events]))]
    gk = key_id.take(ev)
    starts = np.flatnonzero(np.r_[True, gk[1:] != gk[:-1]]) if len(ev) else np.empty(0, np.int64)
    ends = np.r_[starts[1:], len(ev)] - 1 if len(ev) else np.empty(0, np.int64)
    keep_group = ops.take(ev.take(ends)) != 2
    pos = np.arange(len(ev))
    out_cols: dict[str, Column] = {}
    partial_update = ops.take(ev) == 1
    for f, c in combined.columns.items():
        has = (
            np.ones(total, dtype=bool) if f in data else np.r_[np.ones(base_n, dtype=bool), np.zeros(n, bool)]
        )
        # an Insert or Delete sets every field (those the log lacks to NULL); an Update only its own
        sets = ~partial_update | has.take(ev)
        last = np.maximum.accumulate(np.where(sets, pos, -1)) if len(ev) else pos
        at_end = last.take(ends)
        src = np.where(at_end >= starts, ev.take(np.maximum(at_end, 0)), -1)
        vals = np.where(src >= 0, c.codes.take(np.maximum(src, 0)), -1)
        out_cols[f] = Column(c.symbols, vals[keep_group])
    first_seen = np.minimum.reduceat(ev, starts) if len(ev) else np.empty(0, np.int64)
    untouched = np.flatnonzero(~rows_touched)
    place = np.r_[untouched, first_seen[keep_group]]
    order = np.argsort(place, kind="stable")
    merged: dict[str, Column] = {}
    for f, c in combined.columns.items():
        codes = np.r_[c.codes.take(untouched), out_cols[f].codes].astype(CODE_DTYPE).take(order)
        merged[f] = Column(c.symbols, codes)
    return merged, len(order), combined.columns[seq] if seq else None


#: a semantic table's hidden fields: where each relation starts and where it leads
SEMANTIC_FROM, SEMANTIC_TO = "{}.$from", "{}.$to"


def semantic(rows: Rows) -> Rows:
    """``Semantic LOAD object, relation, object [, inverse relation]``: one row per direction of each
    relation, as (from, relation, to). Without an inverse relation field the way back is the relation
    with an arrow in front (``<- Parent``). The ends are kept in hidden fields named after the relation
    field, so the table links to no other: selecting a relation moves the selection of the object field
    instead (see ``engine.model.semantic``)."""
    names, cols, n = rows
    if len(cols) not in (3, 4):
        raise StatementError(
            f"SEMANTIC needs three or four fields (object, relation, object [, inverse "
            f"relation]); the LOAD has {len(cols)}",
            SEMANTIC,
        )
    a, rel, b = cols[:3]
    if len(cols) == 4:
        back = cols[3]
    else:
        syms = rel.symbols
        labels = np.array(["<- " + str(t) for t in syms.text.tolist()], dtype=object)
        back = Column(SymbolTable(np.full(len(labels), np.nan), labels), rel.codes)
    out = []
    for first, second in ((a, b), (rel, back), (b, a)):
        both = ScriptTable("", {"c": first}, n)
        concatenate(both, {"c": second}, n)
        out.append(both.columns["c"])
    r = names[1]
    return [SEMANTIC_FROM.format(r), r, SEMANTIC_TO.format(r)], out, 2 * n
