"""Circular references: tables linked in a loop by shared fields.

Qlik does not reject such a model: it warns and makes a table of each loop loosely coupled ("typically
the longest table in the loop, as this is often a transaction table"), so that a selection never
travels round the loop and empties the tables it started from. Loops also arise from synthetic keys
(three tables sharing one field and, pairwise, one more), so they are looked for after those are made.
"""

from __future__ import annotations

from engine.script.tables import ScriptTable


def tables_to_loosen(tables: list[ScriptTable], loose: set[str]) -> list[str]:
    """The tables to make loosely coupled, one per loop, until no loop is left (``loose`` tables are
    already loose and link nothing); each is the longest non-synthetic table of the loop found."""
    chosen: list[str] = []
    done = set(loose)
    by_name = {t.name: t for t in tables}
    while True:
        cycle = _cycle([t for t in tables if t.name not in done])
        if cycle is None:
            return chosen
        candidates = [n for n in cycle if not n.startswith("$Syn ")] or cycle
        pick = max(candidates, key=lambda n: (by_name[n].nrows, n))
        chosen.append(pick)
        done.add(pick)


def _cycle(tables: list[ScriptTable]) -> list[str] | None:
    """The tables of one loop of the table–key-field graph, or None when it is a forest."""
    holders: dict[str, list[str]] = {}
    for t in tables:
        for f in t.columns:
            holders.setdefault(f, []).append(t.name)
    adj: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for f, names in holders.items():
        if len(names) < 2:
            continue
        for n in names:
            adj.setdefault(("t", n), []).append(("f", f))
            adj.setdefault(("f", f), []).append(("t", n))
    parent: dict[tuple[str, str], tuple[str, str] | None] = {}
    for start in adj:
        if start in parent:
            continue
        parent[start] = None
        stack: list[tuple[tuple[str, str], tuple[str, str] | None]] = [(start, None)]
        while stack:
            node, came = stack.pop()
            for nxt in adj[node]:
                if nxt == came:
                    continue
                if nxt in parent:
                    return _tables_between(node, nxt, parent)
                parent[nxt] = node
                stack.append((nxt, node))
    return None


def _tables_between(
    a: tuple[str, str], b: tuple[str, str], parent: dict[tuple[str, str], tuple[str, str] | None]
) -> list[str]:
    """The loop closed by the edge a–b: both paths up the search tree to their common ancestor."""
    up_a: list[tuple[str, str]] = []
    cur: tuple[str, str] | None = a
    while cur is not None:
        up_a.append(cur)
        cur = parent[cur]
    seen = set(up_a)
    up_b: list[tuple[str, str]] = []
    cur = b
    while cur is not None and cur not in seen:
        up_b.append(cur)
        cur = parent[cur]
    loop = up_a[: up_a.index(cur) + 1] if cur is not None else up_a
    return [n for kind, n in loop + up_b if kind == "t"]
