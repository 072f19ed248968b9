"""The associative data model: fields (symbol tables), tables (columns of symbol codes), associations.

Built once at the end of a reload and immutable afterwards: a reload swaps in a whole new model, so a
query that started on the old one finishes on the old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.model.symbols import CODE_DTYPE, SymbolTable, merge, remap


@dataclass
class Field:
    """One field of the model: its symbol table is shared by every table that holds the field."""

    name: str
    symbols: SymbolTable
    tags: list[str] = field(default_factory=list)
    comment: str = ""
    is_system: bool = False
    is_hidden: bool = False

    @property
    def cardinal(self) -> int:
        return len(self.symbols)


@dataclass
class Table:
    """A table: one int32 code column per field (``-1`` = NULL), all of length ``nrows``."""

    name: str
    columns: dict[str, np.ndarray]
    nrows: int
    comment: str = ""
    is_synthetic: bool = False

    @property
    def field_names(self) -> list[str]:
        return list(self.columns)


@dataclass
class TableData:
    """A table as the script produced it: each column carries its own symbol table."""

    name: str
    columns: dict[str, tuple[SymbolTable, np.ndarray]]
    nrows: int
    comment: str = ""
    is_synthetic: bool = False


class DataModel:
    """Tables and fields; tables sharing a field name are associated through it."""

    def __init__(self, tables: list[Table], fields: dict[str, Field]) -> None:
        self.tables: dict[str, Table] = {t.name: t for t in tables}
        self.fields: dict[str, Field] = fields
        holders: dict[str, list[str]] = {}
        for t in tables:
            for f in t.columns:
                holders.setdefault(f, []).append(t.name)
        #: field name → names of the tables holding it, in table order
        self.field_tables: dict[str, tuple[str, ...]] = {f: tuple(ts) for f, ts in holders.items()}
        #: fields held by two or more tables
        self.key_fields: frozenset[str] = frozenset(f for f, ts in holders.items() if len(ts) > 1)

    @classmethod
    def empty(cls) -> DataModel:
        return cls([], {})

    @classmethod
    def build(cls, tables: list[TableData], field_info: dict[str, dict] | None = None) -> DataModel:
        """Unify the per-table symbol tables of each field name into one field-wide symbol table."""
        per_field: dict[str, list[tuple[int, SymbolTable]]] = {}
        for ti, t in enumerate(tables):
            for fname, (syms, _codes) in t.columns.items():
                per_field.setdefault(fname, []).append((ti, syms))
        fields: dict[str, Field] = {}
        maps: dict[tuple[int, str], np.ndarray] = {}
        for fname, parts in per_field.items():
            union, part_maps = merge([s for _, s in parts])
            for (ti, _), m in zip(parts, part_maps, strict=True):
                maps[(ti, fname)] = m
            info = (field_info or {}).get(fname, {})
            fields[fname] = Field(fname, union, comment=info.get("comment", ""), tags=list(info.get("tags", [])))
        out = []
        for ti, t in enumerate(tables):
            cols = {}
            for fname, (_syms, codes) in t.columns.items():
                m = maps[(ti, fname)]
                identity = len(m) == len(fields[fname].symbols) and np.array_equal(m, np.arange(len(m)))
                cols[fname] = np.ascontiguousarray(codes, dtype=CODE_DTYPE) if identity else remap(codes, m)
            out.append(Table(t.name, cols, t.nrows, comment=t.comment, is_synthetic=t.is_synthetic))
        model = cls(out, fields)
        model.tag_fields()
        return model

    def tag_fields(self) -> None:
        """Derive the engine's field tags ($key, $numeric, $integer, $text, $ascii, $date…)."""
        for f in self.fields.values():
            auto = []
            if f.name in self.key_fields:
                auto.append("$key")
            syms = f.symbols
            if len(syms):
                if syms.is_numeric:
                    auto.append("$numeric")
                    if np.all(np.mod(syms.num, 1) == 0):
                        auto.append("$integer")
                else:
                    # the engine lists $ascii before $text (corectl golden: ["$ascii", "$text"])
                    if all(t.isascii() for t in syms.text[:10000]):
                        auto.append("$ascii")
                    auto.append("$text")
            keep = [t for t in f.tags if t not in auto and not t.startswith("$") or t in ("$date", "$timestamp", "$hidden")]
            f.tags = auto + keep

    def table_of(self, field_name: str) -> tuple[str, ...]:
        return self.field_tables.get(field_name, ())

    def nbytes(self) -> int:
        cols = sum(c.nbytes for t in self.tables.values() for c in t.columns.values())
        return cols + sum(f.symbols.nbytes() for f in self.fields.values())
