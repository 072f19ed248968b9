"""List objects: every value of one field with its selection state, sorted and paged.

``ListObject(model, inference, qdef)`` is computed once per (model, selection state, definition) and
then answers ``layout()`` (the ``qListObject`` dict) and ``data_pages(pages)``. Element numbers
(``qElemNumber``) are symbol indexes of the field, so selecting by element number is selecting
symbols: :meth:`ListObject.symbols_of` validates and converts them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from engine.calc.cells import Page, dimension_info, field_def_name, field_label, info_extras, qnum
from engine.calc.sorting import (
    LIST_DEFAULT,
    criteria,
    field_order,
    sort_indicator,
    sorted_symbols,
    symbol_keys,
)
from engine.errors import INVALID_PARAMETERS, QixError
from engine.expr import Duals, ExprSyntaxError, Locale
from engine.model.datamodel import DataModel
from engine.model.selection import (
    ALTERNATIVE,
    EXCLUDED,
    STATE_COUNT_KEYS,
    STATE_LETTERS,
    Inference,
    SelectionState,
)

if TYPE_CHECKING:
    from engine.rpc.structs import ListObjectDef, NxPage, SortCriteria


_LETTERS = np.asarray(STATE_LETTERS, dtype=object)


def sort_expression(raw: list[SortCriteria] | None) -> tuple[int, str] | None:
    """(sign, expression) of qSortByExpression in the first SortCriteria, if any."""
    if not raw:
        return None
    first = raw[0] or {}
    try:
        sign = int(first.get("qSortByExpression", 0) or 0)
    except (TypeError, ValueError):
        return None
    expr = first.get("qExpression") or {}
    text = expr.get("qv") if isinstance(expr, dict) else str(expr)
    return ((1 if sign > 0 else -1), str(text)) if sign and text else None


def list_field(qdef: ListObjectDef) -> str:
    """The field a ``qListObjectDef`` lists (a leading ``=`` dropped)."""
    name = field_def_name(qdef.get("qDef") or {})
    return name[1:].strip() if name.startswith("=") else name


def element_symbols(
    field_name: str, exists: np.ndarray | None, elem_numbers: list[int] | np.ndarray
) -> np.ndarray:
    """Symbol indexes for a list's element numbers (they are the same), given the field's existing symbols
    (None: no such field); an unknown field or number is an error. Needs no sorted list and no inference:
    selecting in a filter pane costs neither."""
    arr = np.asarray(list(elem_numbers), dtype=np.int64)
    if exists is None:
        raise QixError(INVALID_PARAMETERS, field_name)
    ex = exists
    if arr.size and (arr.min() < 0 or arr.max() >= len(ex) or not ex.take(arr).all()):
        raise QixError(INVALID_PARAMETERS, "qValues")
    return np.unique(arr)


def field_frequency(model: DataModel, inf: Inference, field_name: str) -> np.ndarray:
    """Occurrences of each symbol in the possible rows of the tables holding the field."""
    n = len(model.fields[field_name].symbols)
    out = np.zeros(n, dtype=np.int64)
    for t in model.field_tables.get(field_name, ()):
        codes = model.tables[t].columns[field_name]
        if inf.rows(t) is not None:
            codes = codes.take(inf.row_index(t))
        out += np.bincount(codes[codes >= 0], minlength=n)[:n]
    return out


def zero_state_counts() -> dict[str, int]:
    """``qStateCounts`` where no count applies (a missing field, a dimension info without states)."""
    return dict.fromkeys(STATE_COUNT_KEYS, 0)


class ListObject:
    """One field's values in display order, with states; see the module docstring."""

    def __init__(
        self,
        model: DataModel,
        inf: Inference,
        qdef: ListObjectDef,
        *,
        variables: Callable[[str], str | None] | None = None,
        locale: Locale | None = None,
        states: Callable[[str], SelectionState | None] | None = None,
        order_inf: Inference | None = None,
    ) -> None:
        self.model = model
        self.inf = inf
        self.qdef = qdef
        self.variables = variables
        self.locale = locale
        #: selection states by name (set analysis in expressions, the field's lock)
        self.state_lookup = states
        dim = qdef.get("qDef") or {}
        self.field = list_field(qdef)
        self.title = field_label(dim, self.field)
        self.show_alternatives = bool(qdef.get("qShowAlternatives", False))
        self.frequency_mode = str(qdef.get("qFrequencyMode") or "N")[:1].upper()
        self.state_name = qdef.get("qStateName") or "$"
        self.crit = criteria(dim.get("qSortCriterias"), LIST_DEFAULT)
        self.explicit_sort = bool(dim.get("qSortCriterias"))
        self.exists = self.field in model.fields
        self.expressions: list[tuple[str, Duals | None, str | None]] = []
        if not self.exists:
            self.order = np.empty(0, dtype=np.int64)
            return
        for e in qdef.get("qExpressions") or []:
            text = str((e or {}).get("qExpr") or "") if isinstance(e, dict) else str(e)
            self.expressions.append((text, *self._per_symbol(text)))
        self.states = inf.states(self.field)
        self.frequency = (
            field_frequency(model, inf, self.field)
            if self.frequency_mode != "N" or self.crit.get("qSortByFrequency")
            else None
        )
        self.shown_states = self._shown(self.states)
        # the order: by the states (and frequencies) of ``order_inf`` when given (a list in selection mode
        # keeps the order it had when the mode began while its values change state)
        frequency = self.frequency
        shown = self.shown_states
        if order_inf is not None:
            shown = self._shown(order_inf.states(self.field))
            if frequency is not None:
                frequency = field_frequency(model, order_inf, self.field)
        sort_expr = sort_expression(dim.get("qSortCriterias"))
        if sort_expr is None and frequency is None:
            self.order = field_order(model, self.field, self.crit, shown, inf.exists(self.field))
            return
        keys = symbol_keys(model, self.field, self.crit, states=shown, frequency=frequency)
        if sort_expr is not None:
            values, _err = self._per_symbol(sort_expr[1])
            if values is not None:
                num = values.num
                isnan = np.isnan(num)
                at = 1 if self.crit.get("qSortByState") else 0  # state first, then the expression
                keys[at:at] = [isnan.astype(np.int64), np.where(isnan, 0.0, num) * sort_expr[0]]
        self.order = sorted_symbols(np.flatnonzero(inf.exists(self.field)), keys)

    def _shown(self, states: np.ndarray) -> np.ndarray:
        """The states a list shows: alternatives as excluded unless ``qShowAlternatives``."""
        shown = states.copy()
        if not self.show_alternatives:
            shown[shown == ALTERNATIVE] = EXCLUDED
        return shown

    def _per_symbol(self, text: str) -> tuple[Duals | None, str | None]:
        """An expression evaluated once per value of the field, or the error it raised."""
        from engine.calc.evaluation import symbol_values

        try:
            return symbol_values(
                self.model,
                self.inf,
                self.field,
                text,
                variables=self.variables,
                states=self.state_lookup,
                locale=self.locale,
            ), None
        except (QixError, ExprSyntaxError) as e:
            return None, e.message if isinstance(e, QixError) else str(e)

    @property
    def size(self) -> int:
        return len(self.order)

    def symbols_of(self, elem_numbers: list[int] | np.ndarray) -> np.ndarray:
        """Symbol indexes for element numbers (they are the same); unknown numbers are an error."""
        return element_symbols(self.field, self.inf.exists(self.field) if self.exists else None, elem_numbers)

    def symbols_in_states(self, letters: set[str]) -> np.ndarray:
        """Existing symbols whose (true) state letter is one of ``letters`` (SelectPossible etc.)."""
        if not self.exists:
            return np.empty(0, dtype=np.int64)
        want = np.array([ltr in letters for ltr in STATE_LETTERS])
        result: np.ndarray = self.order[want.take(self.states.take(self.order))]
        return result

    def _cells(self, page: Page) -> list[list[dict[str, object]]]:
        if not page.height or not self.exists:
            return []
        syms = self.model.fields[self.field].symbols
        idx = self.order[page.top : page.top + page.height]
        texts = syms.texts(idx)
        nums = syms.nums(idx)
        letters = _LETTERS.take(self.shown_states.take(idx))
        freq = None
        if self.frequency_mode != "N" and self.frequency is not None:
            freq = self._frequency_texts(idx)
        rows = []
        for i, s in enumerate(idx.tolist()):
            cell = {"qText": texts[i], "qNum": qnum(nums[i]), "qElemNumber": s, "qState": letters[i]}
            if freq is not None:
                cell["qFrequency"] = freq[i]
            if self.expressions:
                cell["qAttrExps"] = {"qValues": [self._expr_value(v, s) for _, v, _ in self.expressions]}
            rows.append([cell])
        return rows

    @staticmethod
    def _expr_value(values: Duals | None, s: int) -> dict[str, object]:
        if values is None:
            return {"qText": "", "qNum": "NaN"}
        from engine.calc.evaluation import dual_text

        text, num = dual_text(values, s)
        return {"qText": text, "qNum": qnum(num)}

    def _expressions_layout(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for text, _, err in self.expressions:
            item: dict[str, object] = {"qExpr": text}
            if err is not None:
                item["qError"] = {"qErrorCode": INVALID_PARAMETERS, "qContext": err}
            out.append(item)
        return out

    def _frequency_texts(self, idx: np.ndarray) -> list[str]:
        assert self.frequency is not None
        f = self.frequency.take(idx)
        if self.frequency_mode in ("P", "R"):
            total = int(self.frequency.sum()) or 1
            return [f"{100.0 * x / total:.1f}%" for x in f.tolist()]
        return [str(x) for x in f.tolist()]

    def data_pages(self, pages: list[NxPage]) -> list[dict[str, object]]:
        """GetListObjectData: one NxDataPage per requested page, clipped to the list."""
        out: list[dict[str, object]] = []
        Page.check_all(pages, 1, self.size, min_width=1)
        for p in pages:
            page = Page.clip(p, 1, self.size, min_width=1)
            out.append({"qMatrix": self._cells(page), "qTails": [], "qArea": page.area()})
        return out

    def dimension_info(self) -> dict[str, object]:
        if not self.exists:
            return {
                "qFallbackTitle": self.title,
                "qApprMaxGlyphCount": 0,
                "qCardinal": 0,
                "qSortIndicator": "N",
                "qGroupFallbackTitles": [self.title],
                "qGroupPos": 0,
                "qStateCounts": zero_state_counts(),
                "qTags": [],
                "qError": {"qErrorCode": 2, "qContext": self.field},
                "qDimensionType": "D",
                "qGrouping": "N",
                "qNumFormat": {"qType": "U", "qnDec": 0, "qUseThou": 0},
                "qIsAutoFormat": True,
                "qGroupFieldDefs": [self.field],
                "qMin": "NaN",
                "qMax": "NaN",
                "qAttrExprInfo": [],
                "qAttrDimInfo": [],
                "qCardinalities": {"qCardinal": 0, "qHypercubeCardinal": 0, "qAllValuesCardinal": -1},
            }
        syms = self.model.fields[self.field].symbols
        possible = np.flatnonzero(self.inf.possible(self.field))
        info = {
            **info_extras(self.qdef),
            **dimension_info(
                self.model,
                self.field,
                self.title,
                sort_indicator=sort_indicator(self.crit) if self.explicit_sort else "N",
                state_counts=self.inf.state_counts(self.field),
                cardinal=self.size,
                cube_cardinal=self.size,
                values_num=syms.num.take(possible),
            ),
        }
        state = self.state_lookup(self.state_name) if self.state_lookup is not None else None
        if state is not None and state.is_locked(self.field):
            info["qLocked"] = True  # nebula.js: a locked list can be neither cleared nor confirmed
        return info

    def layout(self) -> dict[str, object]:
        """The ``qListObject`` layout, including ``qInitialDataFetch`` pages."""
        pages = self.qdef.get("qInitialDataFetch") or []
        return {
            "qStateName": self.state_name,
            "qSize": {"qcx": 1, "qcy": self.size},
            "qDimensionInfo": self.dimension_info(),
            "qExpressions": self._expressions_layout(),
            "qDataPages": self.data_pages(pages),
        }


def list_object_layout(model: DataModel, inf: Inference, qdef: ListObjectDef) -> dict[str, object]:
    """Shortcut: ``ListObject(model, inf, qdef).layout()``."""
    return ListObject(model, inf, qdef).layout()


def get_list_object_data(
    model: DataModel, inf: Inference, qdef: ListObjectDef, pages: list[NxPage]
) -> list[dict[str, object]]:
    """Shortcut: ``ListObject(model, inf, qdef).data_pages(pages)``."""
    return ListObject(model, inf, qdef).data_pages(pages)
