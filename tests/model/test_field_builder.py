"""A field built batch by batch (engine.model.fieldbuilder) equals the field encoded from all rows at once."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from engine.model import fieldbuilder, sortedindex
from engine.model.fieldbuilder import FieldBuilder
from engine.model.symbols import encode


def _column(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Duals of every kind a field mixes: amounts, ids, numbers with texts that are not their rendering,
    texts, NULLs."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 6, n)
    num = np.full(n, np.nan)
    text = np.empty(n, dtype=object)
    amounts = np.round(rng.uniform(-100, 100, n), 2)
    ids = rng.integers(0, n, n)
    for i in range(n):
        k = kind[i]
        if k == 0:
            num[i], text[i] = amounts[i], f"{amounts[i]:.2f}"
        elif k == 1:
            num[i], text[i] = float(ids[i]), str(ids[i])
        elif k == 2:
            num[i], text[i] = float(ids[i] % 50), f"{ids[i] % 50:03d}"  # '007' is 7 with its own text
        elif k == 3:
            text[i] = f"name {ids[i] % 300}"
        elif k == 4:
            text[i] = "x" * int(ids[i] % 7)  # "" is a text too
        else:
            text[i] = None  # NULL
    return num, text


def _values(sym, codes) -> list:
    num = np.append(sym.num, np.nan).take(codes)
    text = np.append(sym.text, None).take(codes)
    return [(t, None if x != x else x) for t, x in zip(text.tolist(), num.tolist(), strict=True)]


def _built(num: np.ndarray, text: np.ndarray, bounds: list[int]) -> tuple:
    fb = FieldBuilder()
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a == 3:
            fb.add_nulls(3)  # a batch without this field
            continue
        sym, codes = encode(num[a:b], pa.array(text[a:b], type=pa.string()))
        fb.add(sym, codes)
    return fb.finish()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_give_what_one_encode_gives(seed: int) -> None:
    n = 20_000
    num, text = _column(n, seed)
    rng = np.random.default_rng(seed)
    bounds = sorted({0, n, *rng.integers(1, n, 25).tolist()})
    num[bounds[1] : bounds[1] + 3] = np.nan
    text[bounds[1] : bounds[1] + 3] = None
    sym, codes = _built(num, text, bounds)
    ref_sym, ref_codes = encode(num, pa.array(text, type=pa.string()))
    assert len(sym) == len(ref_sym)
    assert sym.text.tolist() == ref_sym.text.tolist()
    assert np.array_equal(sym.num, ref_sym.num, equal_nan=True)
    assert codes.tolist() == ref_codes.tolist()
    assert codes.dtype == np.int16  # narrowest type for its ~12k symbols


def test_ids_and_amounts_keep_no_texts_and_ids_append(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sortedindex, "RUN", 1000)  # many runs: splits and routing
    n = 30_000
    ids = np.arange(n, dtype=np.float64) * 3 + 10
    amounts = np.round(np.random.default_rng(4).uniform(0, 500, n), 2)
    for values, texts in ((ids, [str(int(v)) for v in ids]), (amounts, [f"{v:.2f}" for v in amounts])):
        bounds = list(range(0, n, 4000)) + [n]
        sym, codes = _built(values, np.array(texts, dtype=object), bounds)
        ref_sym, ref_codes = encode(values, pa.array(texts, type=pa.string()))
        assert sym.text.tolist() == ref_sym.text.tolist() and codes.tolist() == ref_codes.tolist()
        assert sym._arr is None and not len(sym._exc_idx) and sym._ints is not None  # renderings only


def test_texts_with_the_same_first_hash_stay_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force collisions: the first hash is the text's length, so 'ab' and 'ba' share it."""
    real = fieldbuilder.text_hashes

    def weak(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        _, h2 = real(arr)
        return np.asarray(pa.compute.utf8_length(arr).to_numpy(zero_copy_only=False), dtype=np.uint64), h2

    monkeypatch.setattr(fieldbuilder, "text_hashes", weak)
    words = np.array(
        ["ab", "ba", "ab", "cd", "x", "dc", "y", "ba", "abc", "cba", "ab", "zz"] * 50, dtype=object
    )
    num = np.full(len(words), np.nan)
    sym, codes = _built(num, words, [0, 5, 6, 13, 40, 300, len(words)])
    ref_sym, ref_codes = encode(num, pa.array(words, type=pa.string()))
    assert (
        sym.text.tolist() == ref_sym.text.tolist() == ["ab", "ba", "cd", "x", "dc", "y", "abc", "cba", "zz"]
    )
    assert codes.tolist() == ref_codes.tolist()


def test_whole_numbers_with_texts_of_their_own_stay_exceptions() -> None:
    n = 5000
    ids = np.arange(n, dtype=np.float64)
    texts = np.array(
        [f"{i:06d}" if i % 97 == 0 else str(i) for i in range(n)], dtype=object
    )  # "000097" is 97
    sym, codes = _built(ids, texts, [0, 1000, 2000, 2500, n])
    ref_sym, ref_codes = encode(ids, pa.array(texts, type=pa.string()))
    assert sym.text.tolist() == ref_sym.text.tolist() and codes.tolist() == ref_codes.tolist()
    assert sym._ints is not None and sym._exc_idx.tolist() == list(range(0, n, 97))


def test_ids_out_of_order_after_a_run_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose codes were consecutive (ids in order) gets keys inserted in its middle: its codes
    become explicit, one per key."""
    monkeypatch.setattr(sortedindex, "RUN", 64)
    ids = np.concatenate([np.arange(0, 300, 2), np.arange(1, 300, 2), np.arange(300, 500)]).astype(np.float64)
    texts = np.array([str(int(v)) for v in ids], dtype=object)
    sym, codes = _built(ids, texts, [0, 40, 150, 151, 220, 300, 420, len(ids)])
    ref_sym, ref_codes = encode(ids, pa.array(texts, type=pa.string()))
    assert sym.text.tolist() == ref_sym.text.tolist() and codes.tolist() == ref_codes.tolist()
