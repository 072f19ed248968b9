"""``(xmlsimple, table is [path])``: rows from the elements at one path of an XML document, with lxml.

Why lxml: libxml2 is the most robust XML parser there is, its ``iterparse`` streams (elements are freed as
soon as their row is taken), and it can be told not to resolve entities, load DTDs or touch the network,
which keeps a hostile file from expanding entities or reaching other hosts.

Rows are the elements at ``table is [root/row]`` (the path from the document element down, ``/``
separated; a leading ``/`` is allowed). Each row's fields: its attributes (by name), its own text when
it has no child elements (named by its tag), and its descendants' texts and attributes named by their
path below the row (``address/city``, ``address/type``); a repeated child keeps its first value. Without
``table is`` the path whose elements carry the most data is chosen (the usual "repeating record").
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from lxml import etree

from engine.sources.base import GENERAL, ReadRequest, SourceError, SourceTable
from engine.sources.columns import TableBuilder, python_column

BATCH_ROWS = 50_000


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _events(req: ReadRequest, events: tuple[str, ...]) -> Any:
    source: Any = io.BytesIO(req.data) if req.data is not None else str(req.path)
    return etree.iterparse(source, events=events, resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, remove_pis=True, recover=False)


def _fields(elem: Any, prefix: str, out: dict[str, str]) -> None:
    for key, value in elem.attrib.items():
        out.setdefault(prefix + _local(key), value)
    children = [c for c in elem if isinstance(c.tag, str)]
    if not children:
        text = (elem.text or "").strip()
        if text and prefix:
            out.setdefault(prefix.rstrip("/"), text)
        return
    for child in children:
        _fields(child, f"{prefix}{_local(child.tag)}/", out)


def _row(elem: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    tag = _local(elem.tag)
    for key, value in elem.attrib.items():
        out[_local(key)] = value
    children = [c for c in elem if isinstance(c.tag, str)]
    if not children:
        text = (elem.text or "").strip()
        if text:
            out[tag] = text
        return out
    for child in children:
        _fields(child, f"{_local(child.tag)}/", out)
    return out


def _guess_path(req: ReadRequest) -> str:
    """The path of the repeating element that carries the most values (one streaming pass)."""
    counts: Counter[str] = Counter()
    weight: Counter[str] = Counter()
    stack: list[str] = []
    try:
        for event, elem in _events(req, ("start", "end")):
            if event == "start":
                stack.append(_local(elem.tag))
                continue
            path = "/".join(stack)
            counts[path] += 1
            weight[path] += len(elem.attrib) + sum(1 for c in elem if isinstance(c.tag, str)) + (
                1 if (elem.text or "").strip() and not len(elem) else 0)
            stack.pop()
            if len(stack) > 1:
                elem.clear(keep_tail=False)
    except etree.XMLSyntaxError as e:
        raise SourceError(f"Cannot read '{req.name}' as XML: {e}") from e
    repeating = [p for p, c in counts.items() if c > 1 and weight[p]]
    if not repeating:
        return max(counts, key=lambda p: (weight[p], -p.count("/")), default="")
    return max(repeating, key=lambda p: (weight[p], -p.count("/")))


def read(req: ReadRequest) -> SourceTable:
    target = (req.spec.table or "").strip().strip("[]").strip("/")
    if not target:
        target = _guess_path(req)
    want = [s for s in target.split("/") if s]
    builder = TableBuilder()
    batch: list[dict[str, str]] = []
    total = 0
    stack: list[str] = []

    def flush() -> None:
        names: list[str] = []
        seen: set[str] = set()
        for rec in batch:
            for k in rec:
                if k not in seen:
                    seen.add(k)
                    names.append(k)
        builder.add({n: python_column([r.get(n) for r in batch], req.locale, req.interpret) for n in names},
                    len(batch))
        batch.clear()

    try:
        for event, elem in _events(req, ("start", "end")):
            if event == "start":
                stack.append(_local(elem.tag))
                continue
            if stack == want:
                batch.append(_row(elem))
                total += 1
                if total > req.max_rows:
                    raise SourceError(f"Row limit exceeded: more than {req.max_rows} rows", GENERAL)
                elem.clear(keep_tail=False)
                parent = elem.getparent()
                while parent is not None and elem.getprevious() is not None:
                    del parent[0]        # rows already taken: free them
                if len(batch) >= BATCH_ROWS:
                    flush()
                    req.on_rows(total)
            elif stack[:len(want)] != want:
                elem.clear(keep_tail=False)   # outside every row: not needed any more
            stack.pop()
    except etree.XMLSyntaxError as e:
        raise SourceError(f"Cannot read '{req.name}' as XML: {e}") from e
    except OSError as e:
        raise SourceError(f"Cannot open file: '{req.name}' ({e})", 8) from e
    if batch:
        flush()
    if not total:
        raise SourceError(f"Table '{target}' not found in '{req.name}'")
    req.on_rows(total)
    return builder.finish()
