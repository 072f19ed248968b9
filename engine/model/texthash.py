"""Two independent 64-bit hashes of every string of an Arrow array, vectorised with numpy.

Why: a symbol table that grows batch by batch must find each batch's texts among the texts seen so far.
Arrow hashes strings only inside one call (``dictionary_encode``, ``index_in``), rebuilding its table from
every text seen so far on each call; sorted 64-bit keys searched with ``numpy.searchsorted`` cost
``O(batch · log n)`` per batch instead and take 8 bytes a key.

Each hash is ``sum((byte + 1) * W[position])`` modulo 2**64 over a string's UTF-8 bytes, with ``W`` random
64-bit weights drawn once per process. Two different strings collide with probability at most 2**-57 per
hash (a byte difference times a uniform weight is uniform over a subgroup of size at least 2**57), so
callers key by the first hash and confirm with the second (a true collision of both: below 2**-114).
"""

from __future__ import annotations

import secrets
import threading

import numpy as np
import pyarrow as pa

#: bytes hashed per numpy pass: the passes' temporaries are ~5 × 8 bytes per byte
_SLICE_BYTES = 1 << 18

_lock = threading.Lock()
_weights = np.empty((2, 0), dtype=np.uint64)
_rng = np.random.default_rng(secrets.randbits(128))


def _weights_for(length: int) -> np.ndarray:
    """The weights of positions ``0..length-1`` (grown on demand, never changed once drawn)."""
    global _weights
    w = _weights
    if w.shape[1] >= length:
        return w
    with _lock:
        if _weights.shape[1] < length:
            size = max(length, 2 * _weights.shape[1], 256)
            more = _rng.integers(
                0, 2**64, size=(2, size - _weights.shape[1]), dtype=np.uint64, endpoint=False
            )
            _weights = np.concatenate([_weights, more], axis=1)
        return _weights


def text_hashes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Two uint64 hashes of each string in ``arr`` (string or large_string; a null hashes like "")."""
    n = len(arr)
    h1 = np.zeros(n, dtype=np.uint64)
    h2 = np.zeros(n, dtype=np.uint64)
    if not n:
        return h1, h2
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    bufs = arr.buffers()
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=offset_type)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    if arr.null_count:
        lengths[~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)] = 0
    weights = _weights_for(int(lengths.max(initial=0)))
    i = 0
    while i < n:
        # rows [i, j): at least one row, at most _SLICE_BYTES bytes unless one row is longer
        j = int(np.searchsorted(offsets, offsets[i] + _SLICE_BYTES, side="right")) - 1
        j = min(max(j, i + 1), n)
        _hash_rows(data, offsets[i:j], lengths[i:j], weights, h1[i:j], h2[i:j])
        i = j
    return h1, h2


def _hash_rows(
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    weights: np.ndarray,
    out1: np.ndarray,
    out2: np.ndarray,
) -> None:
    nonempty = np.flatnonzero(lengths)
    if not len(nonempty):
        return
    lens = lengths.take(nonempty)
    begin = starts.take(nonempty)
    total = int(lens.sum())
    # every byte of the non-empty rows, and its position inside its row
    first = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=first[1:])
    row_of = np.repeat(np.arange(len(lens)), lens)
    pos = np.arange(total, dtype=np.int64) - first.take(row_of)
    values = data.take(begin.take(row_of) + pos).astype(np.uint64) + np.uint64(1)
    del row_of
    out1[nonempty] = np.add.reduceat(values * weights[0].take(pos), first)
    out2[nonempty] = np.add.reduceat(values * weights[1].take(pos), first)
