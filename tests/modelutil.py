"""Build small DataModels from plain Python values for tests."""

from __future__ import annotations

import numpy as np

from engine.model.datamodel import DataModel, TableData
from engine.model.symbols import encode


def column(values: list) -> tuple:
    """Encode a list of Python values (int/float = number, str = text, None = NULL)."""
    num = np.array([float(v) if isinstance(v, (int, float)) and v is not None else np.nan for v in values],
                   dtype=np.float64)
    text = np.array([v if isinstance(v, str) else None for v in values], dtype=object)
    return encode(num, text)


def make_model(tables: dict[str, dict[str, list]]) -> DataModel:
    """``{"T": {"A": [1, 2], "B": ["x", None]}}`` → DataModel."""
    datas = []
    for name, cols in tables.items():
        n = len(next(iter(cols.values())))
        datas.append(TableData(name, {f: column(v) for f, v in cols.items()}, n))
    return DataModel.build(datas)


def sym(model: DataModel, field: str, *values) -> list[int]:
    """Symbol indexes of the given values (matched by text, or number for numbers)."""
    syms = model.fields[field].symbols
    out = []
    for v in values:
        if isinstance(v, str):
            out.append(int(np.flatnonzero(syms.text == v)[0]))
        else:
            out.append(int(np.flatnonzero(syms.num == float(v))[0]))
    return out


def states_by_text(inf, field: str) -> dict[str, str]:
    """Field value text → state letter."""
    syms = inf.model.fields[field].symbols
    return dict(zip(syms.text.tolist(), inf.state_letters(field).tolist(), strict=True))
