"""The numeric CSV path (columns encoded by number) gives exactly what the text path gives."""

from __future__ import annotations

import numpy as np
import pytest

from engine.expr.formatting import interpret_texts
from engine.script import textfile
from engine.script.ast import FormatSpec

N = 6000


def _columns() -> dict[str, list[str]]:
    rng = np.random.default_rng(11)
    amounts = [f"{v:.2f}" for v in np.round(rng.uniform(-20, 900, N), 2)]
    base = rng.integers(-10**12, 10**12, 4000)
    spread = [str(v) for v in base[rng.integers(0, 4000, N)]]     # repeats over a wide range: hashed
    mixed = list(amounts)
    mixed[10], mixed[20], mixed[30] = "5.5", "007.00", "1e3"                      # not renderings
    negzero = [str(i) for i in range(N)]
    negzero[4] = "-0"
    small = [f"{v:.2f}" for v in np.round(rng.uniform(0, 50, N), 2)]    # a narrow range: direct-addressed
    return {"Id": [str(i) for i in range(100, 100 + N)], "Amount": amounts, "Small": small, "Spread": spread,
            "Mixed": mixed, "NegZero": negzero, "Qty": [str(i % 50) for i in range(N)]}


def _read(data: bytes, numeric: bool, monkeypatch: pytest.MonkeyPatch) -> textfile.TextTable:
    with monkeypatch.context() as m:
        if not numeric:
            m.setattr(textfile, "numeric_column", lambda col, decimal_point: None)
        spec = FormatSpec(labels="embedded", delimiter=",")
        return textfile.read_text(data, spec, interpret_texts, 10**9, "csv")


def test_numeric_path_matches_text_path(monkeypatch: pytest.MonkeyPatch) -> None:
    cols = _columns()
    lines = [",".join(cols)] + [",".join(v[i] for v in cols.values()) for i in range(N)]
    data = ("\n".join(lines) + "\n").encode()
    fast, slow = _read(data, True, monkeypatch), _read(data, False, monkeypatch)
    assert fast.names == slow.names == list(cols)
    syms = dict(zip(fast.names, (s for s, _ in fast.columns), strict=True))
    # the plain number columns keep no texts at all
    for name in ("Id", "Amount", "Small", "Spread"):
        assert syms[name]._arr is None and syms[name]._obj is None and not len(syms[name]._exc_idx), name
    assert syms["Id"].nbytes() == 2 * N          # int16 numbers, nothing else
    pa = textfile.pa
    for name, taken in (("Id", True), ("Amount", True), ("Small", True), ("Spread", True), ("Mixed", False), ("NegZero", False),
                        ("Qty", False)):
        col = pa.chunked_array([pa.array(cols[name])])
        assert (textfile.numeric_column(col, True) is not None) == taken, name
    for name, (fs, fc), (ss, sc) in zip(fast.names, fast.columns, slow.columns, strict=True):
        assert fc.tolist() == sc.tolist(), name
        assert fs.text.tolist() == ss.text.tolist(), name
        assert fs.num.tobytes() == ss.num.tobytes(), name
    assert syms["Mixed"].text_at(syms["Mixed"].texts(np.arange(40)).tolist().index("007.00")) == "007.00"


def test_thousands_separator_dot_skips_decimal_path(monkeypatch: pytest.MonkeyPatch) -> None:
    arr = textfile.pa.chunked_array([textfile.pa.array([f"{i}.{i % 1000:03d}" for i in range(5000)])])
    assert textfile.numeric_column(arr, decimal_point=False) is None
    assert textfile.numeric_column(arr, decimal_point=True) is not None
