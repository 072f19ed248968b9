"""The associative data model: fields (symbol tables), tables (columns of symbol codes), associations.

Built once at the end of a reload and immutable afterwards: a reload swaps in a whole new model, so a
query that started on the old one finishes on the old one.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.model.symbols import CODE_DTYPE, SymbolTable, code_dtype, merge, remap, smallest_int_dtype


class CodeColumns(MutableMapping[str, np.ndarray]):
    """A table's code columns, stored in the narrowest signed dtype that holds them (int8 for up to 127
    symbols, int16 up to 32767, else as given) and handed out in the dtype they were given (int32 from
    every builder), which is what readers expect.

    Why: codes are most of a model's memory (4 bytes per row and field at int32). Widening a column on
    access costs about a millisecond per million rows; :meth:`raw` gives the stored array.
    """

    __slots__ = ("_cols", "_dtypes")

    def __init__(self, columns: dict[str, np.ndarray] | None = None) -> None:
        self._cols: dict[str, np.ndarray] = {}
        self._dtypes: dict[str, np.dtype] = {}
        for name, codes in (columns or {}).items():
            self[name] = codes

    def __getitem__(self, name: str) -> np.ndarray:
        a = self._cols[name]
        dt = self._dtypes[name]
        if a.dtype == dt:
            return a
        wide = a.astype(dt)
        wide.flags.writeable = a.flags.writeable  # a read-only model stays read-only through the copy
        return wide

    def __setitem__(self, name: str, codes: np.ndarray) -> None:
        codes = np.asarray(codes)
        self.put(name, codes, codes.dtype)

    def put(self, name: str, codes: np.ndarray, dtype: np.dtype) -> None:
        """Store ``codes`` (any integer dtype holding them) to be handed out as ``dtype``."""
        dtype = np.dtype(dtype)
        if codes.dtype.kind == "i" and dtype.kind == "i" and codes.dtype.itemsize > 1 and len(codes):
            dt = smallest_int_dtype(int(codes.min()), int(codes.max()))
            if dt is not None and dt.itemsize < codes.dtype.itemsize:
                ro = not codes.flags.writeable
                codes = codes.astype(dt)
                codes.flags.writeable = not ro
        self._cols[name] = codes
        self._dtypes[name] = dtype

    def __delitem__(self, name: str) -> None:
        del self._cols[name]
        del self._dtypes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cols)

    def __len__(self) -> int:
        return len(self._cols)

    def __repr__(self) -> str:
        return f"CodeColumns({', '.join(f'{k}: {v.dtype}' for k, v in self._cols.items())})"

    def __contains__(self, name: object) -> bool:
        return name in self._cols

    def raw(self, name: str) -> np.ndarray:
        """The column as stored (possibly int8/int16)."""
        return self._cols[name]

    def dtype(self, name: str) -> np.dtype:
        """The dtype the column is handed out in."""
        return self._dtypes[name]

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._cols.values())


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
    """A table: one int32 code column per field (``-1`` = NULL), all of length ``nrows`` (stored narrower,
    see :class:`CodeColumns`)."""

    name: str
    columns: CodeColumns
    nrows: int
    comment: str = ""
    is_synthetic: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.columns, CodeColumns):
            self.columns = CodeColumns(self.columns)

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


def _is_identity(mapping: np.ndarray, size: int) -> bool:
    """``mapping`` is ``0, 1, … size-1`` (checked in slices: no index array as long as the mapping)."""
    if len(mapping) != size:
        return False
    step = 1 << 20
    for a in range(0, size, step):
        if not np.array_equal(mapping[a : a + step], np.arange(a, min(a + step, size))):
            return False
    return True


class DataModel:
    """Tables and fields; tables sharing a field name are associated through it.

    ``loose_tables``: tables the script declared loosely coupled (``Loosen Table``): a selection does not
    cross from one of their fields to another through their rows. ``search_excluded``: fields the
    script left out of smart search (``Search Exclude``).
    """

    def __init__(
        self,
        tables: list[Table],
        fields: dict[str, Field],
        *,
        loose_tables: frozenset[str] = frozenset(),
        search_excluded: frozenset[str] = frozenset(),
    ) -> None:
        self.tables: dict[str, Table] = {t.name: t for t in tables}
        self.fields: dict[str, Field] = fields
        self.loose_tables: frozenset[str] = frozenset(t for t in loose_tables if t in self.tables)
        self.search_excluded: frozenset[str] = frozenset(f for f in search_excluded if f in fields)
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
    def build(
        cls,
        tables: list[TableData],
        field_info: dict[str, dict[str, Any]] | None = None,
        *,
        loose_tables: frozenset[str] = frozenset(),
        search_excluded: frozenset[str] = frozenset(),
    ) -> DataModel:
        """Unify the per-table symbol tables of each field name into one field-wide symbol table."""
        per_field: dict[str, list[tuple[int, SymbolTable]]] = {}
        for ti, t in enumerate(tables):
            for fname, (syms, _codes) in t.columns.items():
                per_field.setdefault(fname, []).append((ti, syms))
        fields: dict[str, Field] = {}
        #: (table, field) → old code → new code; absent: the codes stay (a field of one table)
        maps: dict[tuple[int, str], np.ndarray] = {}
        for fname, parts in per_field.items():
            if len(parts) == 1:
                union = parts[0][1]
            else:
                union, part_maps = merge([s for _, s in parts])
                for (ti, _), m in zip(parts, part_maps, strict=True):
                    if not _is_identity(m, len(union)):
                        maps[(ti, fname)] = m
            info = (field_info or {}).get(fname, {})
            fields[fname] = Field(
                fname, union.compact(), comment=info.get("comment", ""), tags=list(info.get("tags", []))
            )
        out = []
        for ti, t in enumerate(tables):
            cols = CodeColumns({})
            for fname, (_syms, codes) in t.columns.items():
                mapping = maps.get((ti, fname))
                # codes stay as narrow as a builder made them (never widened to int32 and narrowed again)
                cols.put(
                    fname,
                    np.ascontiguousarray(codes)
                    if mapping is None
                    else remap(codes, mapping, code_dtype(len(fields[fname].symbols))),
                    np.dtype(CODE_DTYPE),
                )
            out.append(Table(t.name, cols, t.nrows, comment=t.comment, is_synthetic=t.is_synthetic))
        model = cls(out, fields, loose_tables=loose_tables, search_excluded=search_excluded)
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
                    if syms.is_integer:
                        auto.append("$integer")
                else:
                    # the engine lists $ascii before $text (corectl golden: ["$ascii", "$text"])
                    if syms.all_ascii(10000):
                        auto.append("$ascii")
                    auto.append("$text")
            keep = [
                t
                for t in f.tags
                if t not in auto
                and not t.startswith("$")
                or t in ("$date", "$timestamp", "$hidden")
                or t.startswith("$semantic")
            ]
            f.tags = auto + keep

    def table_of(self, field_name: str) -> tuple[str, ...]:
        return self.field_tables.get(field_name, ())

    def nbytes(self) -> int:
        cols = sum(t.columns.nbytes() for t in self.tables.values())
        return cols + sum(f.symbols.nbytes() for f in self.fields.values())
