"""Members of client JSON (properties, definitions) read as the type the reader needs.

A client may put anything under any key; a reader that needs an object or an array takes an empty one
when the member is missing or of another type, as the engine ignores malformed optional members.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dict_member(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]`` when it is an object, else an empty dict (not stored in ``obj``)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def list_member(obj: Mapping[str, Any], key: str) -> list[Any]:
    """``obj[key]`` when it is an array, else an empty list (not stored in ``obj``)."""
    value = obj.get(key)
    return value if isinstance(value, list) else []
