"""First-appearance encoding of small-span integer columns against a plain reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sources.columns import dense_encode


def reference(keys: np.ndarray) -> tuple[list[int], list[int]]:
    symbols: dict[int, int] = {}
    codes = [symbols.setdefault(int(k), len(symbols)) for k in keys]
    return list(symbols), codes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=300))
def test_matches_first_appearance_order(values: list[int]) -> None:
    keys = np.array(values, dtype=np.int64)
    lo, hi = int(keys.min()), int(keys.max())
    symbols, codes = dense_encode(keys, lo, hi - lo + 1)
    assert (symbols.tolist(), codes.tolist()) == reference(keys)


def test_a_million_rows_with_repeats() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(100, 500_100, 1_000_000)
    symbols, codes = dense_encode(keys, 100, 500_000)
    assert np.array_equal(symbols.take(codes), keys)  # every row decodes to its value
    _, first_rows = np.unique(keys, return_index=True)
    assert np.array_equal(symbols, keys.take(np.sort(first_rows)))  # symbols in load order
