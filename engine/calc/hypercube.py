"""Straight-mode hypercubes: field dimensions × measure expressions over the associated rows.

``HyperCube(model, inference, qdef, variables=..., locale=...)`` computes the cube once (join the
tables the dimensions and measures need, group by the dimension symbols with composite codes,
evaluate measures through ``engine.expr`` with :mod:`engine.calc.aggregate`, suppress, sort) and then
answers ``layout()`` (the ``qHyperCube`` dict) and ``data_pages(pages)``. Dimension cells carry the
field's symbol index as ``qElemNumber``; :meth:`HyperCube.cell_selections` maps matrix cells back to
symbols for ``SelectHyperCubeCells``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from engine.calc.aggregate import (
    FieldDim,
    GroupAggregator,
    Grouping,
    VariableLookup,
    evaluate_measure,
    group_rows,
)
from engine.calc.cells import (
    NULL_TEXT,
    Page,
    dimension_info,
    field_def_name,
    field_label,
    info_extras,
    num_range,
    qnum,
)
from engine.calc.dims import CalcDim, calculated_dimension
from engine.calc.evaluation import Calculation, chart_expression, evaluate_expression, tables_for
from engine.calc.join import plan_join
from engine.calc.listobject import sort_expression, zero_state_counts
from engine.calc.setexpr import StatesLookup
from engine.calc.sorting import (
    DIM_DEFAULT,
    code_rank,
    criteria,
    keys_for_symbols,
    sort_indicator,
    static_symbol_keys,
    symbol_keys,
)
from engine.calc.star import StarAggregator, StarFallback, star_groups, star_plan
from engine.errors import INVALID_PARAMETERS, QixError
from engine.expr import Duals, ExprSyntaxError, Locale, Node, fields_of
from engine.expr.formatting import format_number
from engine.expr.limits import RESULT_TOO_LARGE, check_rows
from engine.model.datamodel import DataModel
from engine.model.numformat import format_default
from engine.model.selection import STATE_LETTERS, Inference
from engine.model.symbols import SymbolTable

if TYPE_CHECKING:
    from engine.calc.pivot import PivotView
    from engine.rpc.structs import (
        FieldAttributes,
        HyperCubeDef,
        NxDimension,
        NxMeasure,
        NxPage,
        NxSelectionCell,
    )


_LETTERS = np.asarray(STATE_LETTERS, dtype=object)
_DENSE_LIMIT = 1 << 24
#: bytes a materialised cube cell costs: a dimension code, or a measure's number and text reference,
#: plus the sort keys and reorderings made of them
_CELL_BYTES = 32
#: qMode spellings seen on the wire → the short title
MODES = {
    "S": "S",
    "DATA_MODE_STRAIGHT": "S",
    "EQ_DATA_MODE_STRAIGHT": "S",
    "P": "P",
    "DATA_MODE_PIVOT": "P",
    "EQ_DATA_MODE_PIVOT": "P",
    "K": "K",
    "DATA_MODE_PIVOT_STACK": "K",
    "EQ_DATA_MODE_PIVOT_STACK": "K",
    "T": "T",
    "DATA_MODE_TREE": "T",
    "EQ_DATA_MODE_TREE": "T",
    "D": "D",
    "DATA_MODE_DYNAMIC": "D",
    "EQ_DATA_MODE_DYNAMIC": "D",
}


def data_mode(raw: object) -> str:
    """The short qMode title of any accepted spelling (unknown → ``S``)."""
    return MODES.get(str(raw or "S").upper(), "S")


def _no_variables(name: str) -> str | None:
    return None


@dataclass
class _Dim:
    field: str | None  # None: a calculated dimension
    title: str
    crit: dict[str, int]
    explicit_sort: bool
    reverse: bool
    null_suppression: bool
    source: FieldDim | CalcDim
    symbols: SymbolTable
    sort_expr: tuple[int, str] | None = None
    sort_node: Node | None = dataclasses.field(default=None, repr=False)
    #: what its NxDimensionInfo carries over from the definition (see ``cells.info_extras``)
    extras: dict[str, object] = dataclasses.field(default_factory=dict)


@dataclass
class _Measure:
    text: str
    title: str
    node: Node | None
    error: str | None
    sort_numeric: int
    num_format: FieldAttributes | None
    extras: dict[str, object] = dataclasses.field(default_factory=dict)


def _parse_dims(
    model: DataModel,
    qdims: list[NxDimension],
    locale: Locale,
    variables: Callable[[str], str | None],
    expand_eval: Callable[[str], str],
) -> list[_Dim]:
    out = []
    for d in qdims:
        qd = d.get("qDef") or {}
        raw_name = field_def_name(qd)
        name = raw_name[1:].strip() if raw_name.startswith("=") else raw_name
        raw = qd.get("qSortCriterias")
        crit = criteria(raw, DIM_DEFAULT)
        source: FieldDim | CalcDim
        if name in model.fields:
            source, syms, fname = FieldDim(model, name), model.fields[name].symbols, name
            title = field_label(qd, name)
        elif raw_name.startswith("="):
            try:
                node = chart_expression(name, variables, expand_eval)
            except ExprSyntaxError as e:
                raise QixError(INVALID_PARAMETERS, raw_name, str(e)) from e
            calc = calculated_dimension(model, raw_name, node, locale, variables)
            source, syms, fname = calc, calc.symbols, None
            title = field_label(qd, raw_name)
        else:
            raise QixError(INVALID_PARAMETERS, name, f"Field not found: {name}")
        sort_expr = sort_expression(raw)
        sort_node = None
        if sort_expr is not None:
            try:
                sort_node = chart_expression(sort_expr[1], variables, expand_eval)
            except (ExprSyntaxError, QixError):
                sort_expr = None
        out.append(
            _Dim(
                fname,
                title,
                crit,
                bool(raw),
                bool(qd.get("qReverseSort")),
                bool(d.get("qNullSuppression")),
                source,
                syms,
                sort_expr,
                sort_node,
                info_extras(d),
            )
        )
    return out


def _parse_measures(
    qmeas: list[NxMeasure], variables: Callable[[str], str | None], expand_eval: Callable[[str], str]
) -> list[_Measure]:
    out = []
    for m in qmeas:
        qd = m.get("qDef") or {}
        text = str(qd.get("qDef") or "")
        node, err = None, None
        try:
            node = chart_expression(text, variables, expand_eval)
        except (ExprSyntaxError, QixError) as e:
            err = e.message if isinstance(e, QixError) else str(e)
        sort_by = m.get("qSortBy") or {}
        try:
            sn = int(sort_by.get("qSortByNumeric", 0) or 0)
        except (TypeError, ValueError):
            sn = 0
        label = qd.get("qLabel") or text.lstrip("=").strip() or text
        out.append(
            _Measure(
                text,
                str(label),
                node,
                err,
                (sn > 0) - (sn < 0),
                qd.get("qNumFormat") if isinstance(qd.get("qNumFormat"), dict) else None,
                info_extras(m),
            )
        )
    return out


def _group(codes: list[np.ndarray], sizes: list[int], n: int) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Dense group ids of dimension code rows (see ``aggregate.group_rows``)."""
    return group_rows(codes, sizes, n, _DENSE_LIMIT)


#: Where a cube's groups come from: the aggregator, each of its rows' group, the group count and
#: each group's dimension codes.
_Source: TypeAlias = tuple[GroupAggregator, np.ndarray, int, list[np.ndarray]]


class HyperCube:
    """A computed hypercube (straight, pivot or stacked); see the module docstring."""

    def __init__(
        self,
        model: DataModel,
        inf: Inference,
        qdef: HyperCubeDef,
        *,
        variables: Callable[[str], str | None] | None = None,
        locale: Locale | None = None,
        states: StatesLookup | None = None,
        cell_inf: Inference | None = None,
    ) -> None:
        self.model = model
        self.inf = inf
        #: whose states the dimension cells and qStateCounts show: the rows are ``inf``'s (they differ while
        #: the object is in selection mode: rows as it began, states as they are now)
        self.cell_inf = cell_inf or inf
        self.qdef = qdef
        self.locale = locale or Locale()
        self.variables = variables or _no_variables
        self.states = states
        self.mode = data_mode(qdef.get("qMode"))

        def expand_eval(text: str) -> str:
            return evaluate_expression(model, inf, text, self.variables, states, self.locale)[0]

        self.dims = _parse_dims(
            model, list(qdef.get("qDimensions") or []), self.locale, self.variables, expand_eval
        )
        self.measures = _parse_measures(list(qdef.get("qMeasures") or []), self.variables, expand_eval)
        self.ncols = len(self.dims) + len(self.measures)
        self._compute()
        self._pivot: PivotView | None = None

    # --- computation ---------------------------------------------------------------------------
    def _tables(self) -> set[str]:
        """Tables to join (see ``evaluation.tables_for``) plus the tables of calculated dimensions."""
        nodes = [m.node for m in self.measures if m.node is not None]
        nodes += [d.sort_node for d in self.dims if d.sort_node is not None]
        tables = tables_for(self.model, [d.field for d in self.dims if d.field], nodes)
        tables |= {d.source.table for d in self.dims if isinstance(d.source, CalcDim) and d.source.table}
        return tables

    def _compute(self) -> None:
        source = self._star_source()
        if source is not None:
            try:
                self._finish(*source)
                return
            except StarFallback:
                pass
        self._finish(*self._general_source())

    def _general_source(self) -> _Source:
        """Aggregator over the joined frame, each frame row's group and each group's codes."""
        calc = Calculation(
            self.model,
            self.inf,
            self._tables(),
            variables=self.variables,
            states=self.states,
            locale=self.locale,
        )
        frame = calc.frame
        codes = [d.source.codes(frame) for d in self.dims]
        sizes = [d.source.size for d in self.dims]
        gid, ngroups, gcodes = _group(codes, sizes, frame.n)
        if not self.dims and frame.n == 0:
            gid, ngroups = np.zeros(0, dtype=np.int64), 1
        return calc.aggregator, gid, ngroups, gcodes

    def _star_source(self) -> _Source | None:
        """The same from the star fast path (``calc.star``), whose "rows" are the fine groups; None
        when it does not apply."""
        if any(d.field is None for d in self.dims):
            return None
        nodes = [m.node for m in self.measures if m.node is not None]
        nodes += [d.sort_node for d in self.dims if d.sort_node is not None]
        fields = sorted({f for n in nodes for f in fields_of(n) if f in self.model.fields})
        dims = [str(d.field) for d in self.dims]
        plan = plan_join(self.model, self._tables())
        sp = star_plan(self.model, plan, dims, set(fields))
        if sp is None:
            return None
        groups = star_groups(self.model, self.inf, sp, dims, fields)
        agg = StarAggregator(
            self.model,
            self.inf,
            groups,
            plan,
            locale=self.locale,
            variables=self.variables,
            states=self.states,
        )
        return agg, np.arange(groups.n, dtype=np.int64), groups.n, groups.group_codes

    def _finish(
        self, aggregator: GroupAggregator, gid: np.ndarray, ngroups: int, gcodes: list[np.ndarray]
    ) -> None:
        """Measures, totals, suppression and sorting over groups ``gid`` of the aggregator's rows."""
        check_rows(ngroups, _CELL_BYTES * max(self.ncols, 1), "The hypercube", RESULT_TOO_LARGE)
        keep = np.ones(ngroups, dtype=bool)
        for d, gc in zip(self.dims, gcodes, strict=True):
            if d.null_suppression:
                keep &= gc >= 0
        if not keep.all():
            remap = np.full(ngroups, -1, dtype=np.int64)
            kept = np.flatnonzero(keep)
            remap[kept] = np.arange(len(kept))
            gid = remap.take(gid)
            gcodes = [gc.take(kept) for gc in gcodes]
            ngroups = len(kept)
        grouping = Grouping(
            gid, ngroups, dims=tuple(d.source for d in self.dims), group_codes=gcodes if self.dims else None
        )
        values: list[Duals] = []
        self.errors: list[str | None] = []
        for m in self.measures:
            v, err = self._eval(m, aggregator, grouping)
            values.append(v)
            self.errors.append(err)
        sort_values: list[Duals | None] = []
        for d in self.dims:
            if d.sort_node is None:
                sort_values.append(None)
                continue
            try:
                sort_values.append(evaluate_measure(d.sort_node, aggregator, grouping))
            except QixError:
                sort_values.append(None)
        # totals over every row (one group)
        all_rows = not gid.size or int(gid.min()) >= 0
        total = Grouping(
            np.zeros(len(gid), dtype=np.int64) if all_rows else np.where(gid >= 0, 0, -1), 1, total=all_rows
        )
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
            sort_values = [None if sv is None else sv.take(kept) for sv in sort_values]
            ngroups = len(kept)
        order = self._sort(gcodes, values, ngroups, sort_values)
        self.gcodes = [gc.take(order) for gc in gcodes]
        self.values = [v.take(order) for v in values]
        self.nrows = ngroups

    def _eval(self, m: _Measure, aggregator: GroupAggregator, grouping: Grouping) -> tuple[Duals, str | None]:
        if m.node is None:
            return Duals.nulls(grouping.n), m.error
        try:
            v = evaluate_measure(m.node, aggregator, grouping)
        except QixError as e:
            return Duals.nulls(grouping.n), e.message
        except RecursionError:
            return Duals.nulls(grouping.n), "Expression nested too deeply"
        if len(v) != grouping.n:
            v = v.take(np.zeros(grouping.n, dtype=np.int64))
        return v, None

    def effective_sort_order(self) -> list[int]:
        if self.mode in ("P", "K"):  # a pivot sorts its dimensions in their own order
            return list(range(self.ncols))
        given = self.qdef.get("qInterColumnSortOrder") or []
        order = [int(c) for c in given if isinstance(c, int) and 0 <= c < self.ncols]
        seen = set(order)
        return order + [c for c in range(self.ncols) if c not in seen]

    def symbol_sort_keys(self, col: int) -> list[np.ndarray]:
        """Sort keys over dimension ``col``'s symbols (most significant first)."""
        d = self.dims[col]
        if d.field is not None:
            if d.crit.get("qSortByState"):  # the states (alternatives) are only computed when used
                return symbol_keys(self.model, d.field, d.crit, states=self.inf.states(d.field))
            return static_symbol_keys(self.model, d.field, d.crit)
        return keys_for_symbols(d.symbols, d.crit)

    def code_ranks(self, col: int) -> np.ndarray:
        """Sort position of each code of dimension ``col`` (index ``code + 1``, NULL last)."""
        d = self.dims[col]
        rank = code_rank(self.symbol_sort_keys(col), d.source.size)
        if d.reverse:
            rank[1:] = d.source.size - 1 - rank[1:]
        return rank

    def _sort(
        self,
        gcodes: list[np.ndarray],
        values: list[Duals],
        n: int,
        sort_values: list[Duals | None] | None = None,
    ) -> np.ndarray:
        keys: list[np.ndarray] = []  # most significant first
        nd = len(self.dims)
        for col in self.effective_sort_order():
            if col < nd:
                d = self.dims[col]
                gc = gcodes[col]
                sv = sort_values[col] if sort_values else None
                if sv is not None and d.sort_expr is not None:
                    num = sv.num
                    isnan = np.isnan(num)
                    keys.append(isnan.astype(np.int64))
                    keys.append(np.where(isnan, 0.0, num) * d.sort_expr[0])
                sym_keys = self.symbol_sort_keys(col)
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
            return format_number(
                x, str(fmt["qFmt"]), fmt.get("qDec") or None, fmt.get("qThou") or None, self.locale
            )
        return format_default(x)

    def _measure_cell(self, m: _Measure, v: Duals, i: int, total: bool = False) -> dict[str, object]:
        x = float(v.num[i])
        cell: dict[str, object] = {
            "qText": self._measure_text(m, v, i),
            "qNum": qnum(x),
            "qElemNumber": -1 if total else 0,
            "qState": "X" if total else "L",
        }
        if total:
            cell["qIsTotalCell"] = True
        elif v.is_null()[i] if len(v.text) else np.isnan(x):
            cell["qIsNull"] = True
        return cell

    def _dim_cell(self, d: _Dim, code: int) -> dict[str, object]:
        if code < 0:
            return {"qText": NULL_TEXT, "qNum": "NaN", "qElemNumber": -2, "qState": "O", "qIsNull": True}
        syms = d.symbols
        state = (
            STATE_LETTERS[int(self.cell_inf.states_at(d.field, np.asarray([code]))[0])]
            if d.field is not None
            else "O"
        )
        return {
            "qText": syms.text_at(code),
            "qNum": qnum(syms.num_at(code)),
            "qElemNumber": int(code),
            "qState": state,
        }

    def measure_cell(self, mi: int, v: Duals, i: int) -> dict[str, object]:
        """The NxCell of measure ``mi`` for value ``i`` of ``v``."""
        return self._measure_cell(self.measures[mi], v, i)

    def _dim_cells(self, d: _Dim, codes: np.ndarray) -> list[dict[str, object]]:
        """Cells of one dimension column for a page's rows: texts and numbers fetched for those symbols
        only (a compact symbol table renders them on demand)."""
        syms = d.symbols
        texts = syms.texts(codes).tolist()
        nums = syms.nums(codes).tolist()
        letters = np.full(len(codes), "O", dtype=object)
        if d.field is not None:
            valid = codes >= 0
            letters[valid] = _LETTERS.take(self.cell_inf.states_at(d.field, codes[valid]))
        out = []
        for code, text, num, letter in zip(codes.tolist(), texts, nums, letters.tolist(), strict=True):
            if code < 0:
                out.append(
                    {"qText": NULL_TEXT, "qNum": "NaN", "qElemNumber": -2, "qState": "O", "qIsNull": True}
                )
            else:
                out.append({"qText": text, "qNum": qnum(num), "qElemNumber": code, "qState": letter})
        return out

    def data_pages(self, pages: list[NxPage]) -> list[dict[str, object]]:
        """GetHyperCubeData: one NxDataPage per requested page, clipped to the cube."""
        out = []
        Page.check_all(pages, self.ncols, self.nrows)
        for p in pages:
            page = Page.clip(p, self.ncols, self.nrows)
            rows = np.arange(page.top, page.top + page.height)
            out.append(
                {
                    "qMatrix": self._matrix(rows, range(page.left, page.left + page.width)),
                    "qTails": [{"qUp": 0, "qDown": 0} for _ in self.dims],
                    "qArea": page.area(),
                }
            )
        return out

    def reduced_data_pages(
        self, pages: list[NxPage], zoom_factor: int = -1, mode: str = "N"
    ) -> list[dict[str, object]]:
        """GetHyperCubeReducedData (what sn-line-chart asks for). Mode ``N`` and every page that holds the
        cube's rows from its top are answered as GetHyperCubeData answers them (``qIsReduced`` false).
        In a reducing mode (``D1``, ``S``, ``C``, ``ST``) a cube with more rows than the page asks for is
        sampled: that many rows evenly spaced over the whole cube, first and last kept, in cube order
        (``qIsReduced`` true, ``qArea.qHeight`` the rows returned). ``zoom_factor`` -1 lets the engine
        choose, as in Qlik; other values are taken as -1 (the whole cube is the view)."""
        Page.check_all(pages, self.ncols, self.nrows)
        out = []
        for p in pages:
            page = Page.clip(p, self.ncols, self.nrows)
            asked = max(0, int(p.get("qHeight", 0) or 0)) if isinstance(p, dict) else 0
            cols = range(page.left, page.left + page.width)
            if str(mode).upper() == "N" or self.nrows <= asked or asked == 0:
                data = self.data_pages([p])[0]
                data["qIsReduced"] = False
                out.append(data)
                continue
            rows = np.unique(np.linspace(0, self.nrows - 1, asked).round().astype(np.int64))
            out.append(
                {
                    "qMatrix": self._matrix(rows, cols),
                    "qTails": [{"qUp": 0, "qDown": 0} for _ in self.dims],
                    "qArea": {"qLeft": page.left, "qTop": 0, "qWidth": page.width, "qHeight": len(rows)},
                    "qIsReduced": True,
                }
            )
        return out

    def _matrix(self, rows: np.ndarray, cols: range) -> list[list[dict[str, object]]]:
        """The cells of ``rows`` (cube row numbers) × ``cols``."""
        nd = len(self.dims)
        dim_cells = {c: self._dim_cells(self.dims[c], self.gcodes[c][rows]) for c in cols if c < nd}
        matrix = []
        for i, r in enumerate(rows.tolist()):
            row = []
            for c in cols:
                if c < nd:
                    row.append(dim_cells[c][i])
                else:
                    row.append(self._measure_cell(self.measures[c - nd], self.values[c - nd], r))
            matrix.append(row)
        return matrix

    # --- layout ----------------------------------------------------------------------------------
    def _dimension_infos(self) -> list[dict[str, object]]:
        out = []
        for d, gc in zip(self.dims, self.gcodes, strict=True):
            present = np.unique(gc[gc >= 0])
            syms = d.symbols
            indicator = sort_indicator(d.crit) if d.explicit_sort else "N"
            if d.field is None:
                out.append(
                    {**d.extras, **_calc_dimension_info(d, indicator, len(present), syms.num.take(present))}
                )
                continue
            ex = self.inf.exists(d.field)
            info = {
                **d.extras,
                **dimension_info(
                    self.model,
                    d.field,
                    d.title,
                    sort_indicator=indicator,
                    state_counts=self.cell_inf.state_counts(d.field),
                    cardinal=int(np.count_nonzero(ex)),
                    cube_cardinal=len(present),
                    values_num=syms.num.take(present),
                ),
            }
            if self._locked(d.field):
                info["qLocked"] = True  # sn-table: a locked column's cells are not selectable
            out.append(info)
        return out

    def _locked(self, field_name: str) -> bool:
        """Whether ``field_name`` is locked in the cube's selection state."""
        if self.states is None:
            return False
        state = self.states(self.qdef.get("qStateName") or "$")
        return state is not None and state.is_locked(field_name)

    def _measure_infos(self) -> list[dict[str, object]]:
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
            glyph = (
                max(
                    (
                        len(self._measure_text(m, Duals.from_numbers([x]), 0))
                        for x in (finite.min(), finite.max())
                    ),
                    default=1,
                )
                if finite.size
                else 1
            )
            info = {
                **m.extras,
                "qFallbackTitle": m.title,
                "qApprMaxGlyphCount": glyph,
                "qCardinal": 0,
                "qSortIndicator": "D" if m.sort_numeric < 0 else "A",
                "qNumFormat": numfmt,
                "qMin": qmin,
                "qMax": qmax,
                "qIsAutoFormat": m.num_format is None,
                "qAttrExprInfo": [],
                "qAttrDimInfo": [],
                "qTrendLines": [],
            }
            if err is not None:
                info["qError"] = {"qErrorCode": INVALID_PARAMETERS, "qContext": err}
            out.append(info)
        return out

    def layout(self) -> dict[str, object]:
        """The ``qHyperCube`` layout, including ``qInitialDataFetch`` pages (matrix, pivot or stacked
        pages according to ``qMode``)."""
        fetch = list(self.qdef.get("qInitialDataFetch") or [])
        out = {
            "qStateName": self.qdef.get("qStateName") or "$",
            "qSize": {"qcx": self.ncols, "qcy": self.nrows},
            "qDimensionInfo": self._dimension_infos(),
            "qMeasureInfo": self._measure_infos(),
            "qEffectiveInterColumnSortOrder": self.effective_sort_order(),
            "qGrandTotalRow": [
                self._measure_cell(m, t, 0, total=True)
                for m, t in zip(self.measures, self.totals, strict=True)
            ],
            "qDataPages": [],
            "qPivotDataPages": [],
            "qStackedDataPages": [],
            "qMode": self.mode,
            "qNoOfLeftDims": -1,
            "qTreeNodesOnDim": [],
            "qColumnOrder": self.column_order(),
        }
        if self.mode == "P":
            pv = self.pivot()
            out["qSize"] = pv.size()
            out["qNoOfLeftDims"] = pv.nleft_dims
            out["qPivotDataPages"] = pv.pages(fetch)
        elif self.mode == "K":
            pv = self.pivot()
            out["qNoOfLeftDims"] = pv.nleft_dims
            out["qStackedDataPages"] = pv.stack_pages(fetch)
        else:
            out["qDataPages"] = self.data_pages(fetch)
        return out

    def column_order(self) -> list[int]:
        """``qColumnOrder`` as the definition gives it (sn-table shows its columns in it); ``[]`` when it
        is not a permutation of the columns."""
        given = self.qdef.get("qColumnOrder")
        if isinstance(given, list) and sorted(c for c in given if isinstance(c, int)) == list(
            range(self.ncols)
        ):
            return list(given)
        return []

    # --- pivot and stacked views -------------------------------------------------------------------
    def pivot(self) -> PivotView:
        """The pivot view of the cube (left / top dimension trees); see ``calc.pivot``."""
        if self._pivot is None:
            from engine.calc.pivot import PivotView

            self._pivot = PivotView(self)
        return self._pivot

    def pivot_data_pages(self, pages: list[NxPage]) -> list[dict[str, object]]:
        """GetHyperCubePivotData: one NxPivotPage per requested page."""
        return self.pivot().pages(pages)

    def stack_data_pages(self, pages: list[NxPage], max_cells: int | None = None) -> list[dict[str, object]]:
        """GetHyperCubeStackData: one NxStackPage per requested page."""
        return self.pivot().stack_pages(pages, max_cells)

    def pivot_cell_selections(self, selections: list[NxSelectionCell]) -> dict[str, np.ndarray]:
        """SelectPivotCells: symbols per dimension field of the given NxSelectionCells
        (``qType`` ``L`` left cell, ``T`` top cell, ``D`` data cell; ``qRow``, ``qCol``)."""
        return self.pivot().cell_selections(selections)

    # --- selections through the cube -----------------------------------------------------------------
    def dimension_field(self, dim_no: int) -> str:
        if not 0 <= dim_no < len(self.dims) or self.dims[dim_no].field is None:
            raise QixError(INVALID_PARAMETERS, "qDimNo")
        return str(self.dims[dim_no].field)

    def cell_selections(self, row_indices: list[int], col_indices: list[int]) -> dict[str, np.ndarray]:
        """Symbols per dimension field of the given matrix rows (SelectHyperCubeCells): for each
        dimension column in ``col_indices``, the distinct non-NULL symbols of those rows."""
        rows = np.asarray([r for r in row_indices if 0 <= r < self.nrows], dtype=np.int64)
        out: dict[str, np.ndarray] = {}
        for c in col_indices:
            if 0 <= c < len(self.dims) and self.dims[c].field is not None:
                codes = self.gcodes[c].take(rows)
                codes = np.unique(codes[codes >= 0])
                if codes.size:
                    out[str(self.dims[c].field)] = codes
        return out


def _calc_dimension_info(
    d: _Dim, indicator: str, cube_cardinal: int, values_num: np.ndarray
) -> dict[str, object]:
    """NxDimensionInfo of a calculated dimension (no field: no states, no tags)."""
    qmin, qmax = num_range(values_num)
    n = d.source.size
    return {
        "qFallbackTitle": d.title,
        "qApprMaxGlyphCount": d.symbols.max_text_length(),
        "qCardinal": n,
        "qSortIndicator": indicator,
        "qGroupFallbackTitles": [d.title],
        "qGroupPos": 0,
        "qStateCounts": zero_state_counts(),
        "qTags": [],
        "qDimensionType": "N" if d.symbols.is_numeric else "D",
        "qGrouping": "N",
        "qNumFormat": {"qType": "U", "qnDec": 0, "qUseThou": 0},
        "qIsAutoFormat": True,
        "qGroupFieldDefs": [d.source.name],
        "qMin": qmin,
        "qMax": qmax,
        "qAttrExprInfo": [],
        "qAttrDimInfo": [],
        "qCardinalities": {"qCardinal": n, "qHypercubeCardinal": cube_cardinal, "qAllValuesCardinal": -1},
    }


def hypercube_layout(
    model: DataModel,
    inf: Inference,
    qdef: HyperCubeDef,
    *,
    variables: VariableLookup | None = None,
    locale: Locale | None = None,
    states: StatesLookup | None = None,
) -> dict[str, object]:
    """Shortcut: ``HyperCube(model, inf, qdef, ...).layout()``."""
    return HyperCube(model, inf, qdef, variables=variables, locale=locale, states=states).layout()


def get_hypercube_data(
    model: DataModel,
    inf: Inference,
    qdef: HyperCubeDef,
    pages: list[NxPage],
    *,
    variables: VariableLookup | None = None,
    locale: Locale | None = None,
    states: StatesLookup | None = None,
) -> list[dict[str, object]]:
    """Shortcut: ``HyperCube(model, inf, qdef, ...).data_pages(pages)``."""
    return HyperCube(model, inf, qdef, variables=variables, locale=locale, states=states).data_pages(pages)
