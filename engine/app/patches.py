"""JSON pointers (RFC 6901) and the ``ApplyPatches`` operations on a property tree.

``ApplyPatches`` sends ``{qOp, qPath, qValue}`` where ``qValue`` is JSON *text*; the engine parses it and
applies add/remove/replace at the pointer. ``add``/``replace`` create missing intermediate objects, the way
clients patch a property that the object never had (``/qMetaDef/title`` on a bare object).
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.errors import INVALID_PARAMETERS, QixError

_MISSING = object()


def split_pointer(pointer: str) -> list[str]:
    """``"/a/b~1c"`` → ``["a", "b/c"]``; ``""`` and ``"/"`` address the root (an empty list)."""
    if pointer in ("", "/"):
        return []
    if not pointer.startswith("/"):
        raise QixError(INVALID_PARAMETERS, f"Invalid JSON pointer {pointer!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def resolve(doc: Any, pointer: str, default: Any = None) -> Any:
    """The value at ``pointer`` in ``doc``, or ``default`` when the path does not exist."""
    try:
        parts = split_pointer(pointer)
    except QixError:
        return default
    node = doc
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
        if node is _MISSING:
            return default
    return node


def parse_value(text: Any) -> Any:
    """``qValue`` is JSON text; an already-decoded value (some clients send one) is taken as is."""
    if not isinstance(text, str):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise QixError(INVALID_PARAMETERS, f"qValue is not valid JSON: {text[:80]!r}") from None


def apply_patch(doc: dict[str, Any], op: str, pointer: str, value: Any = None) -> dict[str, Any]:
    """Apply one operation in place and return the (possibly replaced) root."""
    op = (op or "").lower()
    if op not in ("add", "remove", "replace"):
        raise QixError(INVALID_PARAMETERS, f"Unknown patch operation {op!r}")
    parts = split_pointer(pointer)
    if not parts:
        if op == "remove":
            raise QixError(INVALID_PARAMETERS, "Cannot remove the root")
        if not isinstance(value, dict):
            raise QixError(INVALID_PARAMETERS, "The root must stay an object")
        return value
    parent: Any = doc
    for part in parts[:-1]:
        if isinstance(parent, dict):
            nxt = parent.get(part)
            if not isinstance(nxt, dict | list):
                if op == "remove":
                    return doc
                nxt = {}
                parent[part] = nxt
            parent = nxt
        elif isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
            parent = parent[int(part)]
        else:
            raise QixError(INVALID_PARAMETERS, f"Invalid patch path {pointer!r}")
    last = parts[-1]
    if isinstance(parent, dict):
        if op == "remove":
            parent.pop(last, None)
        else:
            parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and op == "add":
            parent.append(value)
            return doc
        if not last.isdigit():
            raise QixError(INVALID_PARAMETERS, f"Invalid array index in {pointer!r}")
        i = int(last)
        if op == "add" and i <= len(parent):
            parent.insert(i, value)
        elif i >= len(parent):
            raise QixError(INVALID_PARAMETERS, f"Array index out of range in {pointer!r}")
        elif op == "remove":
            del parent[i]
        else:
            parent[i] = value
    else:
        raise QixError(INVALID_PARAMETERS, f"Invalid patch path {pointer!r}")
    return doc


def apply_patches(doc: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply ``[{qOp, qPath, qValue}]`` in order to ``doc`` (mutated) and return the new root."""
    for patch in patches or []:
        if not isinstance(patch, dict):
            raise QixError(INVALID_PARAMETERS, "A patch must be an object")
        op = patch.get("qOp", "")
        value = None if str(op).lower() == "remove" else parse_value(patch.get("qValue", "null"))
        doc = apply_patch(doc, str(op), str(patch.get("qPath", "")), value)
    return doc
