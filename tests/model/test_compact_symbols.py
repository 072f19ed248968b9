"""Compact symbol tables and narrow code columns: same values as the plain storage, less memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from engine.app import store
from engine.model.datamodel import CodeColumns, DataModel, Field, Table
from engine.model.symbols import SymbolTable, merge, render_fixed


def _plain(n: int = 1000, seed: int = 3) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    num = np.round(rng.uniform(-50, 5000, n), 2)
    text: list = [f"{v:.2f}" for v in num]
    num[3], text[3] = 7.0, "007"          # a number whose text is not its rendering
    num[5], text[5] = np.nan, "abc"       # a text symbol
    num[7], text[7] = -0.5, "-0.5"        # fewer decimals than the field's rendering
    return num, text


def test_render_fixed() -> None:
    got = render_fixed(np.array([0.0, 1.5, -0.25, 12345.0, -3.0]), 2).to_pylist()
    assert got == ["0.00", "1.50", "-0.25", "12345.00", "-3.00"]
    assert render_fixed(np.array([0.0, -7.0, 10.0]), 0).to_pylist() == ["0", "-7", "10"]


def test_compact_keeps_every_value_and_only_exception_texts() -> None:
    num, text = _plain()
    plain = SymbolTable(num, np.array(text, dtype=object))
    comp = plain.compact()
    assert comp._arr is None and comp._dec == 2                    # texts are renderings...
    assert comp._exc_idx.tolist() == [3, 5, 7]                     # ...but for three exceptions
    assert plain.nbytes() > 4 * comp.nbytes()
    assert comp.text.tolist() == text
    assert np.array_equal(comp.num, num, equal_nan=True)
    assert comp.texts(np.array([7, 3, -1, 5, 0])).tolist() == ["-0.5", "007", None, "abc", text[0]]
    nums = comp.nums(np.array([3, -1, 0]))
    assert nums[0] == 7.0 and np.isnan(nums[1]) and nums[2] == num[0]
    assert comp.text_at(5) == "abc" and comp.text_at(8) == text[8] and comp.num_at(7) == -0.5
    assert not comp.is_numeric
    assert comp.nbytes() > plain.nbytes() // 2                    # the cached objects are counted


def test_numbers_stored_as_integers_are_bit_exact() -> None:
    rng = np.random.default_rng(1)
    cents = np.round(rng.uniform(1, 5000, 5000), 2)
    t = SymbolTable.from_arrow(cents, pa.array([f"{v:.2f}" for v in cents]))
    assert t._ints is not None and t._ints.dtype == np.int32 and t._nscale == 100.0
    assert t.num.tobytes() == cents.tobytes()
    assert t.is_numeric and not t.is_integer
    ids = np.arange(10_000_001, 10_002_001, dtype=np.float64)
    t2 = SymbolTable.from_arrow(ids, pa.array([str(int(x)) for x in ids]))
    assert t2._ints.dtype == np.int32 and t2.is_integer
    assert t2.nbytes() == 2000 * 4  # no text is stored until one is read
    assert t2.texts(np.array([0, 1999])).tolist() == ["10000001", "10002000"]
    big = SymbolTable.from_arrow(np.arange(10_000, dtype=np.float64), pa.array([str(i) for i in range(10_000)]))
    assert big.texts(np.array([0, 9999])).tolist() == ["0", "9999"]
    assert big.nbytes() == 10_000 * 2  # a large table still renders its texts on demand, storing none


def test_negative_zero_keeps_float_storage() -> None:
    num = np.array([-0.0] + list(range(1, 100)), dtype=np.float64)
    t = SymbolTable(num, np.array(["-0"] + [str(i) for i in range(1, 100)], dtype=object)).compact()
    assert t._ints is None and np.signbit(t.num[0]) and t.text_at(0) == "-0"


def test_text_field_is_arrow_not_python_objects() -> None:
    texts = [f"C{i:06d}" for i in range(500)]
    t = SymbolTable.from_arrow(np.full(500, np.nan), pa.array(texts))
    assert t._obj is None and t._arr is not None
    assert t.texts(np.array([499, 0])).tolist() == ["C000499", "C000000"]
    assert t.max_text_length() == 7 and t.all_ascii()


def test_merge_of_compact_and_plain_tables() -> None:
    num, text = _plain(200)
    a = SymbolTable(num, np.array(text, dtype=object)).compact()
    b = SymbolTable(np.array([7.0, np.nan, 1e6]), np.array(["7", "new", "1000000"], dtype=object))
    union, maps = merge([a, b])
    assert len(union) == 202
    assert maps[1].tolist() == [3, 200, 201]                      # 7 is the same symbol as "007"
    assert union.text_at(3) == "007" and union.text_at(200) == "new"
    assert union.texts(maps[0]).tolist() == text


def test_code_columns_store_narrow_and_hand_out_given_dtype() -> None:
    cols = CodeColumns({"small": np.array([0, 5, -1, 126], dtype=np.int32),
                        "mid": np.array([0, 30000, -1], dtype=np.int32),
                        "big": np.array([0, 70000], dtype=np.int32),
                        "wide": np.array([0, 1, -1], dtype=np.int64)})
    assert [cols.raw(k).dtype for k in cols] == [np.int8, np.int16, np.int32, np.int8]
    assert [cols[k].dtype for k in cols] == [np.int32, np.int32, np.int32, np.int64]
    assert cols["small"].tolist() == [0, 5, -1, 126] and cols["wide"].tolist() == [0, 1, -1]
    assert cols.nbytes() == 4 + 6 + 8 + 3


def test_store_roundtrip_of_compact_model(tmp_path: Path) -> None:
    num, text = _plain(300)
    syms = SymbolTable(num, np.array(text, dtype=object)).compact()
    codes = np.tile(np.arange(300, dtype=np.int32), 3)
    codes[::7] = -1
    model = DataModel([Table("T", {"F": codes}, len(codes))], {"F": Field("F", syms)})
    store.save(tmp_path / "c.qvf", store.AppDocument(app_id="c", model=model))
    back = store.load(tmp_path / "c.qvf").model
    f = back.fields["F"].symbols
    assert f.text.tolist() == text and np.array_equal(f.num, num, equal_nan=True)
    assert f._arr is None and f._exc_idx.tolist() == [3, 5, 7]
    assert back.tables["T"].columns["F"].tolist() == codes.tolist()
    assert back.tables["T"].columns.raw("F").dtype == np.int16
    with pytest.raises(ValueError):
        back.tables["T"].columns["F"][0] = 1
