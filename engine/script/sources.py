"""The file formats a script reads and writes (QVD, delimited text); where files may be is ``paths``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from engine.model.symbols import CODE_DTYPE, SymbolTable
from engine.script.errors import FILE_NOT_FOUND, GENERAL, WRONG_FORMAT, StatementError
from engine.script.tables import Column, ScriptTable

# ---------------------------------------------------------------------------------------------
# QVD (through pyqvd)


def read_qvd(path: Path) -> tuple[list[str], list[Column], int]:
    """A QVD file → columns. Values keep their dual nature (text + number)."""
    try:
        from pyqvd import QvdTable
    except ImportError as e:  # pragma: no cover - pyqvd is a declared dependency
        raise StatementError("QVD support needs the pyqvd package", GENERAL) from e
    try:
        tab = QvdTable.from_qvd(str(path))
    except FileNotFoundError as e:
        raise StatementError(f"Cannot open file: '{path}' (File not found)", FILE_NOT_FOUND) from e
    except Exception as e:  # noqa: BLE001 - any parse failure is a wrong-format error for the script
        raise StatementError(f"Cannot read QVD file '{path.name}': {e}", WRONG_FORMAT) from e
    names = list(tab.columns)
    rows = tab.data
    n = len(rows)
    cols: list[Column] = []
    for j in range(len(names)):
        # the reader hands out value objects; encode over distinct objects, not rows
        memo: dict[object, int] = {}
        codes = np.empty(n, dtype=CODE_DTYPE)
        nums: list[float] = []
        texts: list[str] = []
        for i in range(n):
            v = rows[i][j]
            if v is None:
                codes[i] = -1
                continue
            key = (v.display_value, repr(v.calculation_value))
            c = memo.get(key)
            if c is None:
                c = memo[key] = len(nums)
                calc = v.calculation_value
                nums.append(
                    float(calc) if isinstance(calc, (int, float)) and not isinstance(calc, bool) else np.nan
                )
                texts.append(str(v.display_value))
            codes[i] = c
        cols.append(
            Column(SymbolTable(np.asarray(nums, dtype=np.float64), np.asarray(texts, dtype=object)), codes)
        )
    return names, cols, n


def write_qvd(path: Path, table: ScriptTable, fields: list[tuple[str, str]]) -> None:
    from pyqvd import DualDoubleValue, DualIntegerValue, IntegerValue, QvdTable, StringValue

    def value(num: float, text: str) -> StringValue | IntegerValue | DualIntegerValue | DualDoubleValue:
        if np.isnan(num):
            return StringValue(text)
        if float(num).is_integer() and abs(num) < 2**31:
            return IntegerValue(int(num)) if text == str(int(num)) else DualIntegerValue(int(num), text)
        return DualDoubleValue(float(num), text)

    cols = []
    for src, _out in fields:
        c = table.columns[src]
        nums, txts = c.symbols.num.tolist(), c.symbols.text.tolist()
        sym_vals = [value(float(x), str(t)) for x, t in zip(nums, txts, strict=True)]
        cols.append((c.codes, sym_vals))
    data = [[(vals[codes[r]] if codes[r] >= 0 else None) for codes, vals in cols] for r in range(table.nrows)]
    QvdTable(data, [o for _, o in fields]).to_qvd(str(path))


def write_txt(path: Path, table: ScriptTable, fields: list[tuple[str, str]], delimiter: str = ",") -> None:
    """STORE ... (txt): UTF-8, embedded labels, quotes only where needed."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow([o for _, o in fields])
    texts = []
    for src, _out in fields:
        c = table.columns[src]
        texts.append(np.append(c.symbols.text, "").take(c.codes))
    for r in range(table.nrows):
        w.writerow([t[r] for t in texts])
    path.write_text(buf.getvalue(), encoding="utf-8")
