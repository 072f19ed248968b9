"""Data-model views: ``GetTablesAndKeys``, ``GetTableData`` and ``GetFieldDescription``.

They read the model as it is (no selections): table and field statistics come from the code columns with
numpy (bincount, count_nonzero), and only the requested rows of ``GetTableData`` are turned into JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from engine.errors import NOT_FOUND, QixError
from engine.model.datamodel import DataModel, Table
from engine.model.symbols import NULL, SymbolTable


def _field_stats(table: Table, name: str, cardinal: int) -> dict[str, int]:
    codes = table.columns[name]
    present = np.bincount(codes[codes != NULL], minlength=cardinal) if cardinal else np.zeros(0, int)
    non_nulls = int(np.count_nonzero(codes != NULL))
    distinct = int(np.count_nonzero(present))
    return {"non_nulls": non_nulls, "distinct": distinct}


def _key_type(is_key: bool, stats: dict[str, int], nrows: int, cardinal: int) -> str:
    if not is_key:
        return "NOT_KEY"
    unique = stats["non_nulls"] == stats["distinct"] == nrows
    if unique and stats["distinct"] == cardinal:
        return "PERFECT_KEY"
    if unique:
        return "PRIMARY_KEY"
    return "ANY_KEY"


def _synthetic_parts(model: DataModel) -> dict[str, tuple[Table, list[str]]]:
    """Synthetic key field → its ``$Syn n Table`` and the fields it stands for."""
    parts: dict[str, tuple[Table, list[str]]] = {}
    for t in model.tables.values():
        if t.is_synthetic:
            syn = [f for f in t.columns if f.startswith("$Syn")]
            if syn:
                parts[syn[0]] = (t, [f for f in t.columns if f != syn[0]])
    return parts


def tables_and_keys(model: DataModel, synthetic_mode: bool, include_sys_vars: bool = False) -> dict[str, Any]:
    """``{qtr, qk}``: every table with per-field statistics, and the key fields linking them.

    In synthetic mode the internal view is shown (``$Syn`` tables and keys); otherwise synthetic tables are
    hidden and each table lists the source fields its synthetic key stands for.
    """
    syn_parts = _synthetic_parts(model)
    qtr = []
    keys: dict[str, list[str]] = {}
    for i, t in enumerate(model.tables.values()):
        if t.is_synthetic and not synthetic_mode:
            continue
        fields = []
        for name in t.columns:
            if not synthetic_mode and name in syn_parts:
                holder, shown = syn_parts[name]
            else:
                holder, shown = t, [name]
            for fname in shown:
                field = model.fields[fname]
                stats = _field_stats(holder, fname, field.cardinal)
                is_key = fname in model.key_fields or (not synthetic_mode and name in syn_parts)
                if is_key:
                    keys.setdefault(fname, []).append(t.name)
                fields.append({
                    "qName": fname,
                    "qOriginalFields": [],
                    "qPresent": True,
                    "qHasNull": stats["non_nulls"] < holder.nrows,
                    "qHasWild": False,
                    "qHasDuplicates": stats["non_nulls"] > stats["distinct"],
                    "qIsSynthetic": fname.startswith("$Syn"),
                    "qInformationDensity": (stats["non_nulls"] / holder.nrows) if holder.nrows else 0,
                    "qnNonNulls": stats["non_nulls"],
                    "qnRows": holder.nrows,
                    "qSubsetRatio": (stats["distinct"] / field.cardinal) if field.cardinal else 0,
                    "qnTotalDistinctValues": field.cardinal,
                    "qnPresentDistinctValues": stats["distinct"],
                    "qKeyType": _key_type(is_key, stats, holder.nrows, field.cardinal),
                    "qComment": field.comment,
                    "qTags": list(field.tags),
                })
        qtr.append({
            "qName": t.name, "qLoose": t.name in model.loose_tables, "qNoOfRows": t.nrows, "qFields": fields,
            "qPos": {"qx": 0, "qy": i * 100}, "qComment": t.comment, "qIsDirectDiscovery": False,
            "qIsSynthetic": t.is_synthetic,
        })
    qk = [{"qKeyFields": [f], "qTables": tabs} for f, tabs in keys.items() if len(tabs) > 1]
    return {"qtr": qtr, "qk": qk}


def table_data(model: DataModel, table_name: str, offset: int, rows: int) -> list[dict[str, Any]]:
    """Rows of a table as ``[{qValue: [FieldValue…]}]``; ``offset == -1`` puts a header row first."""
    table = model.tables.get(table_name)
    if table is None:
        raise QixError(NOT_FOUND, f"Table '{table_name}' not found")
    names = list(table.columns)
    out: list[dict[str, Any]] = []
    if offset < 0:
        out.append({"qValue": [{"qText": n, "qIsNumeric": False, "qNumber": 0} for n in names]})
        offset = 0
    stop = table.nrows if rows <= 0 else min(table.nrows, offset + rows)
    if offset >= stop:
        return out
    columns = []
    for n in names:
        syms = model.fields[n].symbols
        codes = table.columns[n][offset:stop]
        is_null = codes == NULL
        safe = np.where(is_null, 0, codes)
        texts = syms.texts(safe) if len(syms) else np.full(len(codes), "", dtype=object)
        nums = syms.nums(safe) if len(syms) else np.full(len(codes), np.nan)
        cells = []
        for text, num, null in zip(texts.tolist(), nums.tolist(), is_null.tolist(), strict=True):
            if null:
                cells.append({"qText": "-", "qIsNumeric": False, "qNumber": "NaN"})
            elif num != num:  # NaN: text only
                cells.append({"qText": text, "qIsNumeric": False, "qNumber": "NaN"})
            else:
                cells.append({"qText": text, "qIsNumeric": True, "qNumber": num})
        columns.append(cells)
    for row in zip(*columns, strict=True):
        out.append({"qValue": list(row)})
    return out


def _text_bytes(syms: SymbolTable) -> int:
    """Characters in the first 100000 texts (the engine's byte size estimate counts the texts)."""
    head = syms.text_array(np.arange(min(len(syms), 100_000)))
    return int(pc.sum(pc.utf8_length(head)).as_py() or 0) if len(head) else 0


def field_description(model: DataModel, name: str) -> dict[str, Any]:
    field = model.fields.get(name)
    if field is None:
        raise QixError(NOT_FOUND, name)
    tables = list(model.field_tables.get(name, ()))
    total = sum(model.tables[t].nrows for t in tables)
    return {
        "qInternalNumber": list(model.fields).index(name),
        "qName": name,
        "qSrcTables": tables,
        "qIsSystem": field.is_system,
        "qIsHidden": field.is_hidden,
        "qIsSemantic": "$semantic" in field.tags,
        "qDistinctOnly": False,
        "qCardinal": field.cardinal,
        "qTotalCount": total,
        "qIsLocked": False,
        "qAlwaysOneSelected": False,
        "qAndMode": False,
        "qIsNumeric": field.symbols.is_numeric,
        "qComment": field.comment,
        "qTags": list(field.tags),
        "qIsDefinitionOnly": False,
        "qByteSize": int(len(field.symbols) * 8 + _text_bytes(field.symbols)),
    }
