"""Helpers over numpy object arrays (the text side of ``Duals``) that avoid a Python call per element."""

from __future__ import annotations

import ctypes

import numpy as np

_NONE = id(None)

#: ``None`` as a 0-d object array: what ``np.where`` and ``np.not_equal`` take for "no text" (the
#: same result as a bare ``None``, which numpy's type stubs do not accept).
NO_TEXT: np.ndarray = np.array(None, dtype=object)


def not_none(arr: np.ndarray) -> np.ndarray:
    """Vectorised ``x is not None`` for an object array.

    An object array is an array of object pointers, and None is one object: comparing the pointers
    as integers is an identity test in one numpy pass that releases the GIL (``np.not_equal(arr,
    None)`` makes a Python comparison per element, 20x slower, holding the GIL). Small arrays and
    anything that is not a plain object array take the ordinary path.
    """
    n = len(arr)
    if n < 256 or arr.dtype != object or arr.ndim != 1:
        return np.asarray(np.not_equal(arr, NO_TEXT))
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    pointers = np.ctypeslib.as_array((ctypes.c_size_t * n).from_address(arr.ctypes.data))
    return np.asarray(pointers != _NONE)
