"""Chart-level evaluation without dimensions, and per-value evaluation of one field.

* :func:`evaluate_expression` answers ``Doc.Evaluate`` / ``EvaluateEx`` and ``qStringExpression`` /
  ``qValueExpression``: the expression is dollar-expanded, parsed and evaluated once over all the
  possible records (aggregations see every row the selection leaves). Errors never raise: they come
  back as the engine's error value (text ``"Error: ..."``, number NaN).
* :func:`symbol_values` evaluates an expression once per value of a field (a one-dimension chart):
  the ``=expr`` search, list-object expressions and sort-by-expression use it.

:class:`Calculation` is the shared setup (join plan, frame, set resolver, aggregator) that the
hypercube uses as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from engine.calc.aggregate import Aggregator, FieldDim, Grouping, evaluate_measure
from engine.calc.join import build_frame, plan_join
from engine.calc.setexpr import SetResolver, StatesLookup
from engine.errors import QixError
from engine.expr import Duals, ExprSyntaxError, Locale, Node, fields_of, parse_expression
from engine.expr.expand import expand
from engine.model.datamodel import DataModel
from engine.model.numformat import format_default
from engine.model.selection import Inference

if TYPE_CHECKING:
    from engine.rpc.structs import HyperCubeDef


VariableLookup = Callable[[str], "str | None"]
NULL_TEXT = "-"


def _no_variables(name: str) -> str | None:
    return None


def tables_for(model: DataModel, dim_fields: Iterable[str], nodes: Iterable[Node]) -> set[str]:
    """Tables to join: every holder of every field named (a key field's values may exist in one
    holder only, and all of them are the field's values: ``Count(DISTINCT key)`` counts them all)."""
    tables: set[str] = {t for f in dim_fields for t in model.field_tables.get(f, ())}
    for node in nodes:
        for f in fields_of(node):
            tables.update(model.field_tables.get(f, ()))
    return tables


class Calculation:
    """One calculation's join, record frame, set resolver and aggregator."""

    def __init__(
        self,
        model: DataModel,
        inf: Inference,
        tables: set[str],
        *,
        variables: VariableLookup | None = None,
        states: StatesLookup | None = None,
        locale: Locale | None = None,
    ) -> None:
        self.model = model
        self.inf = inf
        self.locale = locale or Locale()
        self.variables = variables or _no_variables
        self.plan = plan_join(model, tables)
        self.frame = build_frame(model, inf, self.plan)
        self.sets = SetResolver(
            model, inf, self.plan, states=states, variables=self.variables, locale=self.locale
        )
        self.aggregator = Aggregator(model, self.frame, self.locale, self.variables, inf=inf, sets=self.sets)


def chart_expression(text: str, variables: VariableLookup, evaluate_text: Callable[[str], str]) -> Node:
    """Dollar-expand (``$(v)``, ``$(=expr)``) then parse a chart expression; raises
    ``ExprSyntaxError`` / ``QixError``."""
    if "$(" in text:
        text = expand(text, variables, evaluate_text)
    return parse_expression(text)


def dual_text(v: Duals, i: int = 0) -> tuple[str, float]:
    """(text, number) of one value: NULL reads ``'-'`` / NaN, a pure number its default text."""
    t = v.text[i] if len(v.text) else None
    x = float(v.num[i]) if len(v.num) else math.nan
    if t is not None:
        return str(t), x
    if math.isnan(x):
        return NULL_TEXT, x
    return format_default(x), x


def error_value(e: Exception) -> tuple[str, float]:
    """The engine's error value for a failed expression."""
    msg = e.message if isinstance(e, QixError) else str(e)
    return f"Error: {msg}", math.nan


def evaluate_expression(
    model: DataModel,
    inf: Inference,
    text: str,
    variables: VariableLookup | None = None,
    states: StatesLookup | None = None,
    locale: Locale | None = None,
) -> tuple[str, float]:
    """Evaluate an expression over every possible record: ``(text, number)``; see the module
    docstring. ``'count(ID) = ' & count(ID)`` → ``('count(ID) = 100', nan)``."""
    variables = variables or _no_variables

    def nested(e: str) -> str:
        return evaluate_expression(model, inf, e, variables, states, locale)[0]

    try:
        node = chart_expression(text, variables, nested)
        calc = Calculation(
            model, inf, tables_for(model, (), [node]), variables=variables, states=states, locale=locale
        )
        grouping = Grouping(np.zeros(calc.frame.n, dtype=np.int64), 1, total=True)
        value = evaluate_measure(node, calc.aggregator, grouping)
        return dual_text(value)
    except (QixError, ExprSyntaxError, RecursionError) as e:
        return error_value(e)


def symbol_values(
    model: DataModel,
    inf: Inference,
    field: str,
    text: str | Node,
    *,
    variables: VariableLookup | None = None,
    states: StatesLookup | None = None,
    locale: Locale | None = None,
) -> Duals:
    """The expression evaluated once per symbol of ``field`` (over the records associated with
    each value under ``inf``); one dual per symbol. Raises on errors."""
    variables = variables or _no_variables
    if isinstance(text, str):
        node = chart_expression(
            text, variables, lambda e: evaluate_expression(model, inf, e, variables, states, locale)[0]
        )
    else:
        node = text
    calc = Calculation(
        model, inf, tables_for(model, [field], [node]), variables=variables, states=states, locale=locale
    )
    n = len(model.fields[field].symbols)
    dim = FieldDim(model, field)
    gid = dim.codes(calc.frame).astype(np.int64)
    grouping = Grouping(gid, n, dims=(dim,), group_codes=[np.arange(n, dtype=np.int64)])
    values = evaluate_measure(node, calc.aggregator, grouping)
    if len(values) != n:
        values = values.take(np.zeros(n, dtype=np.int64))
    return values


def symbol_truth(
    model: DataModel,
    inf: Inference,
    field: str,
    text: str,
    *,
    variables: VariableLookup | None = None,
    states: StatesLookup | None = None,
    locale: Locale | None = None,
) -> np.ndarray:
    """Bool mask of the symbols where the expression is true (``=expr`` searches); an expression
    that fails matches nothing."""
    try:
        values = symbol_values(model, inf, field, text, variables=variables, states=states, locale=locale)
    except (QixError, ExprSyntaxError):
        return np.zeros(len(model.fields[field].symbols), dtype=bool)
    return values.truthy()


def calc_condition_message(
    model: DataModel,
    inf: Inference,
    qdef: HyperCubeDef,
    variables: VariableLookup | None = None,
    states: StatesLookup | None = None,
) -> str | None:
    """A hypercube's calculation condition (``qCalcCondition.qCond`` or the older ``qCalcCond``): None when
    there is none or it holds, else the message to show instead of data (``qCalcCondition.qMsg``)."""
    spec = qdef.get("qCalcCondition")
    if not isinstance(spec, dict):
        spec = {}
    cond = spec.get("qCond") or qdef.get("qCalcCond")
    cond = cond.get("qv", "") if isinstance(cond, dict) else (cond or "")
    if not isinstance(cond, str) or not cond.strip():
        return None
    _text, num = evaluate_expression(model, inf, cond, variables, states)
    if num == num and num != 0:
        return None
    msg = spec.get("qMsg")
    msg = msg.get("qv", "") if isinstance(msg, dict) else (msg or "")
    return msg or "The calculation condition is not fulfilled"
