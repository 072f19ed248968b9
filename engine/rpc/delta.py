"""Delta answers: JSON patches per (handle, method, result key), as enigma.js applies them.

enigma.js keeps one cached value per (handle, "<Method>-<key>") and patches it; the params are not part
of the key. We keep, per socket, the last value sent in delta form for each such key and answer with the
smallest patch list we can build cheaply: ``[]`` when nothing changed, patches for changed members of
objects (recursively, while keys are patchable), and a root ``replace`` otherwise. Values answered in
plain form never touch the cache, so a client mixing both forms stays consistent. Values are compared
in the form :func:`engine.rpc.protocol.dumps` writes them (the one encoder of the plain path), so numpy
values and NaN come out the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.rpc.protocol import dumps

#: below this many changed members of an object we descend instead of replacing it whole
_MAX_MEMBER_PATCHES = 64


def _patchable(key: str) -> bool:
    # enigma.js splits paths on "/" and does not decode ~0/~1
    return "/" not in key and "~" not in key and key != ""


def _diff(old: Any, new: Any, path: str, out: list[dict[str, object]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        removed = [k for k in old if k not in new]
        changed = [k for k in new if k not in old or old[k] != new[k]]
        if len(removed) + len(changed) <= _MAX_MEMBER_PATCHES and all(map(_patchable, removed + changed)):
            for k in removed:
                out.append({"op": "remove", "path": f"{path}/{k}"})
            for k in changed:
                if k not in old:
                    out.append({"op": "add", "path": f"{path}/{k}", "value": new[k]})
                else:
                    _diff(old[k], new[k], f"{path}/{k}", out)
            return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and len(new) <= 256:
        diffs = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        if len(diffs) <= _MAX_MEMBER_PATCHES:
            for i in diffs:
                _diff(old[i], new[i], f"{path}/{i}", out)
            return
    out.append({"op": "replace", "path": path or "/", "value": new})


class DeltaCache:
    """Per-socket memory of the last value sent in delta form for each (handle, method, key)."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, str, str], bytes] = {}

    def patches(self, handle: int, method: str, result: Mapping[str, object]) -> dict[str, object]:
        """Turn a plain result into its delta form and remember what the client now holds."""
        out: dict[str, object] = {}
        for key, value in result.items():
            encoded = dumps(value, sort_keys=True)
            cache_key = (handle, method, key)
            previous = self._last.get(cache_key)
            if previous is None:
                out[key] = [{"op": "add", "path": "/", "value": value}]
            elif previous == encoded:
                out[key] = []
            else:
                patches: list[dict[str, object]] = []
                old = orjson.loads(previous)
                new = orjson.loads(encoded)
                if isinstance(old, dict | list) and type(old) is type(new):
                    _diff(old, new, "", patches)
                else:
                    patches.append({"op": "replace", "path": "/", "value": new})
                out[key] = patches
            self._last[cache_key] = encoded
        return out

    def forget(self, handles: list[int]) -> None:
        """Drop entries of closed handles (enigma.js drops its cache for them too)."""
        gone = set(handles)
        for key in [k for k in self._last if k[0] in gone]:
            del self._last[key]
