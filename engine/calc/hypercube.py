"""Straight-mode hypercubes: field dimensions × measure expressions over the associated rows.

``HyperCube(model, inference, qdef, variables=..., locale=...)`` computes the cube once (join the
tables the dimensions and measures need, group by the dimension symbols with composite codes,
evaluate measures through ``engine.expr`` with :mod:`engine.calc.aggregate`, suppress, sort) and then
answers ``layout()`` (the ``qHyperCube`` dict) and ``data_pages(pages)``. Dimension cells carry the
field's symbol index as ``qElemNumber``; :meth:`HyperCube.cell_selections` maps matrix cells back to
symbols for ``SelectHyperCubeCells``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.calc.aggregate import Aggregator, Grouping, evaluate_measure
from engine.calc.cells import NULL_TEXT, Page, dimension_info, field_def_name, field_label, num_range, qnum
from engine.calc.join import build_frame, plan_join
from engine.calc.sorting import DIM_DEFAULT, criteria, sort_indicator, symbol_keys
from engine.errors import INVALID_PARAMETERS, QixError
from engine.expr import Duals, ExprSyntaxError, Locale, Node, fields_of, parse_expression
from engine.expr.formatting import format_number
from engine.model.datamodel import DataModel
from engine.model.numformat import format_default
from engine.model.selection import STATE_LETTERS, Inference

_LETTERS = np.asarray(STATE_LETTERS, dtype=object)
_DENSE_LIMIT = 1 << 24


def _no_variables(name: str) -> str | None:
    return None


@dataclass
class _Dim:
    field: str
    title: str
    crit: dict[str, int]
    explicit_sort: bool
    reverse: bool
    null_suppression: bool


@dataclass
class _Measure:
    text: str
    title: str
    node: Node | None
    error: str | None
    sort_numeric: int
    num_format: dict | None


def _parse_dims(model: DataModel, qdims: list[dict]) -> list[_Dim]:
    out = []
    for d in qdims:
        qd = d.get("qDef") or {}
        name = field_def_name(qd)
        if name.startswith("="):
            name = name[1:].strip()
        if name not in model.fields:
            raise QixError(INVALID_PARAMETERS, name, f"Field not found: {name}")
        raw = qd.get("qSortCriterias")
        out.append(_Dim(name, field_label(qd, name), criteria(raw, DIM_DEFAULT), bool(raw),
                        bool(qd.get("qReverseSort")), bool(d.get("qNullSuppression"))))
    return out


def _parse_measures(qmeas: list[dict]) -> list[_Measure]:
    out = []
    for m in qmeas:
        qd = m.get("qDef") or {}
        text = str(qd.get("qDef") or "")
        node, err = None, None
        try:
            node = parse_expression(text)
        except ExprSyntaxError as e:
            err = str(e)
        sort_by = m.get("qSortBy") or {}
        try:
            sn = int(sort_by.get("qSortByNumeric", 0) or 0)
        except (TypeError, ValueError):
            sn = 0
        label = qd.get("qLabel") or text.lstrip("=").strip() or text
        out.append(_Measure(text, str(label), node, err, (sn > 0) - (sn < 0),
                            qd.get("qNumFormat") if isinstance(qd.get("qNumFormat"), dict) else None))
    return out


def _group(codes: list[np.ndarray], sizes: list[int], n: int) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Dense group id per row from dimension codes (``-1`` = NULL is a value of its own), and each
    group's codes per dimension; groups come out in ascending (dim 0, dim 1, ...) code order."""
    if not codes:
        return np.zeros(n, dtype=np.int64), 1, []
    comp = codes[0].astype(np.int64)
    comp += 1
    span = sizes[0] + 1
    densified = False
    for c, s in zip(codes[1:], sizes[1:], strict=True):
        if span * (s + 1) >= 1 << 62:
            uniq, comp = np.unique(comp, return_inverse=True)
            span = len(uniq)
            densified = True
        comp *= s + 1
        comp += c
        comp += 1
        span *= s + 1
    if span <= max(_DENSE_LIMIT, 2 * n):
        present = np.zeros(span, dtype=bool)
        present[comp] = True
        keys = np.flatnonzero(present)
        dense = np.full(span, -1, dtype=np.int64)
        dense[keys] = np.arange(len(keys))
        gid = dense.take(comp)
        if not densified:  # mixed radix: decode each dimension's code from the key
            group_codes = []
            rest = keys
            for s in reversed(sizes):
                group_codes.append(rest % (s + 1) - 1)
                rest = rest // (s + 1)
            return gid, len(keys), group_codes[::-1]
        first = np.full(len(keys), -1, dtype=np.int64)
        first[gid[::-1]] = np.arange(n - 1, -1, -1)  # first row of each group
    else:
        keys, first, gid = np.unique(comp, return_index=True, return_inverse=True)
    group_codes = [c.take(first) for c in codes]
    return gid, len(keys), group_codes


class HyperCube:
    """A computed straight hypercube; see the module docstring."""

    def __init__(self, model: DataModel, inf: Inference, qdef: dict, *,
                 variables: Callable[[str], str | None] | None = None, locale: Locale | None = None) -> None:
        self.model = model
        self.inf = inf
        self.qdef = qdef
        self.locale = locale or Locale()
        self.variables = variables or _no_variables
        self.dims = _parse_dims(model, list(qdef.get("qDimensions") or []))
        self.measures = _parse_measures(list(qdef.get("qMeasures") or []))
        self.ncols = len(self.dims) + len(self.measures)
        self._compute()

    # --- computation ---------------------------------------------------------------------------
    def _tables(self) -> set[str]:
        """Tables to join: the holders of measure fields, and every holder of a dimension field (a
        key field's values may exist in one holder only, and all of them are the field's values)."""
        fields: list[str] = []
        for m in self.measures:
            if m.node is not None:
                fields += [f for f in sorted(fields_of(m.node)) if f in self.model.fields]
        tables: set[str] = {t for d in self.dims for t in self.model.field_tables.get(d.field, ())}
        keyed = []
        for f in fields:
            holders = self.model.field_tables.get(f, ())
            if len(holders) == 1:
                tables.add(holders[0])
            elif holders:
                keyed.append(holders)
        for holders in keyed:
            if not tables.intersection(holders):
                tables.add(holders[0])
        return tables

    def _compute(self) -> None:
        model = self.model
        plan = plan_join(model, self._tables())
        frame = build_frame(model, self.inf, plan)
        self.frame = frame
        codes = [frame.codes(model, d.field) for d in self.dims]
        sizes = [len(model.fields[d.field].symbols) for d in self.dims]
        gid, ngroups, gcodes = _group(codes, sizes, frame.n)
        if not self.dims and frame.n == 0:
            gid, ngroups = np.zeros(0, dtype=np.int64), 1
        keep = np.ones(ngroups, dtype=bool)
        for d, gc in zip(self.dims, gcodes, strict=True):
            if d.null_suppression:
                keep &= gc >= 0
        aggregator = Aggregator(model, frame, self.locale, self.variables)
        if not keep.all():
            remap = np.full(ngroups, -1, dtype=np.int64)
            kept = np.flatnonzero(keep)
            remap[kept] = np.arange(len(kept))
            gid = remap.take(gid)
            gcodes = [gc.take(kept) for gc in gcodes]
            ngroups = len(kept)
        grouping = Grouping(gid, ngroups)
        values: list[Duals] = []
        self.errors: list[str | None] = []
        for m in self.measures:
            v, err = self._eval(m, aggregator, grouping)
            values.append(v)
            self.errors.append(err)
        # totals over every row (one group)
        all_rows = not gid.size or int(gid.min()) >= 0
        total = Grouping(np.zeros(len(gid), dtype=np.int64) if all_rows else np.where(gid >= 0, 0, -1), 1,
                         total=all_rows)
        self.totals = [self._eval(m, aggregator, total)[0] for m in self.measures]
        # suppression of zero / missing rows
        if self.measures and (self.qdef.get("qSuppressZero") or self.qdef.get("qSuppressMissing")):
            drop = np.ones(ngroups, dtype=bool)
            for v in values:
                null = v.is_null()
                if self.qdef.get("qSuppressZero"):
                    drop &= null | (v.num == 0)
                else:
                    drop &= null
            kept = np.flatnonzero(~drop)
            values = [v.take(kept) for v in values]
            gcodes = [gc.take(kept) for gc in gcodes]
            ngroups = len(kept)
        order = self._sort(gcodes, values, ngroups)
        self.gcodes = [gc.take(order) for gc in gcodes]
        self.values = [v.take(order) for v in values]
        self.nrows = ngroups

    def _eval(self, m: _Measure, aggregator: Aggregator, grouping: Grouping) -> tuple[Duals, str | None]:
        if m.node is None:
            return Duals.nulls(grouping.n), m.error
        try:
            v = evaluate_measure(m.node, aggregator, grouping)
        except QixError as e:
            return Duals.nulls(grouping.n), e.message
        if len(v) != grouping.n:
            v = v.take(np.zeros(grouping.n, dtype=np.int64))
        return v, None

    def effective_sort_order(self) -> list[int]:
        given = self.qdef.get("qInterColumnSortOrder") or []
        order = [int(c) for c in given if isinstance(c, int) and 0 <= c < self.ncols]
        seen = set(order)
        return order + [c for c in range(self.ncols) if c not in seen]

    def _sort(self, gcodes: list[np.ndarray], values: list[Duals], n: int) -> np.ndarray:
        keys: list[np.ndarray] = []  # most significant first
        nd = len(self.dims)
        for col in self.effective_sort_order():
            if col < nd:
                d = self.dims[col]
                gc = gcodes[col]
                sym_keys = symbol_keys(self.model, d.field, d.crit, states=self.inf.states(d.field))
                valid = gc >= 0
                safe = np.maximum(gc, 0)
                keys.append((~valid).astype(np.int64))  # NULL values last
                for k in sym_keys:
                    kk = k.take(safe) if len(k) else np.zeros(n)
                    keys.append(-kk if d.reverse else kk)
            else:
                m = self.measures[col - nd]
                if m.sort_numeric:
                    num = values[col - nd].num
                    isnan = np.isnan(num)
                    keys.append(isnan.astype(np.int64))
                    keys.append(np.where(isnan, 0.0, num) * m.sort_numeric)
        if not keys or n == 0:
            return np.arange(n, dtype=np.int64)
        return np.lexsort([np.arange(n)] + keys[::-1])

    # --- cells -----------------------------------------------------------------------------------
    def _measure_text(self, m: _Measure, v: Duals, i: int) -> str:
        t = v.text[i] if len(v.text) else None
        if t is not None:
            return str(t)
        x = float(v.num[i])
        if np.isnan(x):
            return NULL_TEXT
        fmt = m.num_format or {}
        if fmt.get("qType") not in (None, "U", "UNKNOWN") and fmt.get("qFmt"):
            return format_number(x, str(fmt["qFmt"]), fmt.get("qDec") or None, fmt.get("qThou") or None,
                                 self.locale)
        return format_default(x)

    def _measure_cell(self, m: _Measure, v: Duals, i: int, total: bool = False) -> dict:
        x = float(v.num[i])
        cell = {"qText": self._measure_text(m, v, i), "qNum": qnum(x),
                "qElemNumber": -1 if total else 0, "qState": "X" if total else "L"}
        if total:
            cell["qIsTotalCell"] = True
        elif v.is_null()[i] if len(v.text) else np.isnan(x):
            cell["qIsNull"] = True
        return cell

    def _dim_cells(self, d: _Dim, codes: np.ndarray) -> list[dict]:
        """Cells of one dimension column for a page's rows: texts and numbers fetched for those symbols
        only (a compact symbol table renders them on demand)."""
        syms = self.model.fields[d.field].symbols
        texts = syms.texts(codes).tolist()
        nums = syms.nums(codes).tolist()
        states = self.inf.states(d.field)
        out = []
        for code, text, num in zip(codes.tolist(), texts, nums, strict=True):
            if code < 0:
                out.append({"qText": NULL_TEXT, "qNum": "NaN", "qElemNumber": -2, "qState": "O", "qIsNull": True})
            else:
                out.append({"qText": text, "qNum": qnum(num), "qElemNumber": code,
                            "qState": STATE_LETTERS[int(states[code])]})
        return out

    def data_pages(self, pages: list[dict]) -> list[dict]:
        """GetHyperCubeData: one NxDataPage per requested page, clipped to the cube."""
        nd = len(self.dims)
        out = []
        for p in pages:
            page = Page.clip(p, self.ncols, self.nrows)
            matrix = []
            cols = range(page.left, page.left + page.width)
            rows = slice(page.top, page.top + page.height)
            dim_cells = {c: self._dim_cells(self.dims[c], self.gcodes[c][rows]) for c in cols if c < nd}
            for r in range(page.top, page.top + page.height):
                row = []
                for c in cols:
                    if c < nd:
                        row.append(dim_cells[c][r - page.top])
                    else:
                        m = self.measures[c - nd]
                        row.append(self._measure_cell(m, self.values[c - nd], r))
                matrix.append(row)
            out.append({"qMatrix": matrix, "qTails": [{"qUp": 0, "qDown": 0} for _ in self.dims],
                        "qArea": page.area()})
        return out

    # --- layout ----------------------------------------------------------------------------------
    def _dimension_infos(self) -> list[dict]:
        out = []
        for d, gc in zip(self.dims, self.gcodes, strict=True):
            present = np.unique(gc[gc >= 0])
            syms = self.model.fields[d.field].symbols
            ex = self.inf.exists(d.field)
            out.append(dimension_info(
                self.model, d.field, d.title,
                sort_indicator=sort_indicator(d.crit) if d.explicit_sort else "N",
                state_counts=self.inf.state_counts(d.field), cardinal=int(np.count_nonzero(ex)),
                cube_cardinal=len(present), values_num=syms.num.take(present)))
        return out

    def _measure_infos(self) -> list[dict]:
        out = []
        for m, v, err in zip(self.measures, self.values, self.errors, strict=True):
            qmin, qmax = num_range(v.num)
            finite = v.num[~np.isnan(v.num)]
            integral = bool(finite.size) and bool(np.all(finite == np.round(finite)))
            if m.num_format and m.num_format.get("qType") not in (None, "U"):
                numfmt = dict(m.num_format)
            elif integral:
                numfmt = {"qType": "I", "qnDec": 0, "qUseThou": 1, "qFmt": "###0", "qDec": "."}
            else:
                numfmt = {"qType": "U", "qnDec": 10, "qUseThou": 0}
            glyph = max((len(self._measure_text(m, Duals.from_numbers([x]), 0))
                         for x in (finite.min(), finite.max())), default=1) if finite.size else 1
            info = {
                "qFallbackTitle": m.title, "qApprMaxGlyphCount": glyph, "qCardinal": 0,
                "qSortIndicator": "D" if m.sort_numeric < 0 else "A", "qNumFormat": numfmt,
                "qMin": qmin, "qMax": qmax, "qIsAutoFormat": m.num_format is None,
                "qAttrExprInfo": [], "qAttrDimInfo": [], "qTrendLines": [],
            }
            if err is not None:
                info["qError"] = {"qErrorCode": INVALID_PARAMETERS, "qContext": err}
            out.append(info)
        return out

    def layout(self) -> dict:
        """The ``qHyperCube`` layout, including ``qInitialDataFetch`` pages."""
        return {
            "qStateName": self.qdef.get("qStateName") or "$",
            "qSize": {"qcx": self.ncols, "qcy": self.nrows},
            "qDimensionInfo": self._dimension_infos(),
            "qMeasureInfo": self._measure_infos(),
            "qEffectiveInterColumnSortOrder": self.effective_sort_order(),
            "qGrandTotalRow": [self._measure_cell(m, t, 0, total=True)
                               for m, t in zip(self.measures, self.totals, strict=True)],
            "qDataPages": self.data_pages(list(self.qdef.get("qInitialDataFetch") or [])),
            "qPivotDataPages": [],
            "qStackedDataPages": [],
            "qMode": "S",
            "qNoOfLeftDims": -1,
            "qTreeNodesOnDim": [],
            "qColumnOrder": [],
        }

    # --- selections through the cube -----------------------------------------------------------------
    def dimension_field(self, dim_no: int) -> str:
        if not 0 <= dim_no < len(self.dims):
            raise QixError(INVALID_PARAMETERS, "qDimNo")
        return self.dims[dim_no].field

    def cell_selections(self, row_indices: list[int], col_indices: list[int]) -> dict[str, np.ndarray]:
        """Symbols per dimension field of the given matrix rows (SelectHyperCubeCells): for each
        dimension column in ``col_indices``, the distinct non-NULL symbols of those rows."""
        rows = np.asarray([r for r in row_indices if 0 <= r < self.nrows], dtype=np.int64)
        out: dict[str, np.ndarray] = {}
        for c in col_indices:
            if 0 <= c < len(self.dims):
                codes = self.gcodes[c].take(rows)
                codes = np.unique(codes[codes >= 0])
                if codes.size:
                    out[self.dims[c].field] = codes
        return out


def hypercube_layout(model: DataModel, inf: Inference, qdef: dict, **kw) -> dict:
    """Shortcut: ``HyperCube(model, inf, qdef, **kw).layout()``."""
    return HyperCube(model, inf, qdef, **kw).layout()


def get_hypercube_data(model: DataModel, inf: Inference, qdef: dict, pages: list[dict], **kw) -> list[dict]:
    """Shortcut: ``HyperCube(model, inf, qdef, **kw).data_pages(pages)``."""
    return HyperCube(model, inf, qdef, **kw).data_pages(pages)
