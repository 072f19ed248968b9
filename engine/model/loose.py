"""Loosely coupled tables (``Loosen Table``): the model as the selection propagation sees it.

Qlik describes a loose table as if each of its fields were loaded as a table of its own: its rows no
longer carry a selection from one of its fields to another. :func:`loose_view` builds exactly that model
once per data model (a one-column table per field of each loose table, sharing the code arrays), so the
propagation in :mod:`engine.model.selection` runs unchanged over it.
"""

from __future__ import annotations

import threading
import weakref

from engine.model.datamodel import CodeColumns, DataModel, Table

#: real table → {field: its one-column table in the view}
Parts = dict[str, dict[str, str]]

_VIEWS: weakref.WeakKeyDictionary[DataModel, tuple[DataModel, Parts]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def split_name(table: str, field: str) -> str:
    """The view's name for ``field`` of the loose ``table`` (a NUL never occurs in a real name)."""
    return f"{table}\x00{field}"


def loose_view(model: DataModel) -> tuple[DataModel, Parts]:
    """The model with every loose table split into one table per field, and where each part went."""
    hit = _VIEWS.get(model)
    if hit is not None:
        return hit
    tables: list[Table] = []
    parts: Parts = {}
    for t in model.tables.values():
        if t.name not in model.loose_tables:
            tables.append(t)
            continue
        parts[t.name] = {}
        for f in t.columns:
            cols = CodeColumns()
            cols.put(f, t.columns.raw(f), t.columns.dtype(f))
            name = split_name(t.name, f)
            tables.append(Table(name, cols, t.nrows))
            parts[t.name][f] = name
    view = (DataModel(tables, model.fields), parts)
    with _LOCK:
        _VIEWS[model] = view
    return view
