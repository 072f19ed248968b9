"""The Qlik expression language, shared by the load-script runner and the chart calculator.

Public API (stable):

* ``parse_expression(text) -> Node`` (``parser``): a leading ``=`` is ignored; raises
  ``ExprSyntaxError(message, position)``. Results are cached (nodes are immutable).
* Nodes (``ast``, frozen dataclasses): ``Literal(num, text)``, ``FieldRef(name)``,
  ``UnaryOp(op, operand)``, ``BinOp(op, left, right)``, ``Call(name, args, distinct, total,
  total_fields, set_expr, nodistinct, all)``; set analysis: ``SetEntity(identifier, modifiers)``,
  ``SetOp(op, left, right)``, ``SetModifier(field, op, elements)``, ``ElementList(items)``,
  ``ElementValue(text, kind)``, ``ElementField(field, state)``, ``ElementFunction(func, set_expr,
  field)``, ``ElementSetOp(op, left, right)``. ``unparse(node)``, ``unparse_set(set_expr)``.
* ``Duals`` (``duals``): a column of dual values (``num`` float64 NaN = none, ``text`` object None =
  none).
* ``evaluate(node, ctx) -> Duals`` with ``ctx`` an ``EvalContext``; ``evaluate_constant(text,
  variables=None, locale=None)``; ``AGGREGATIONS``; ``fields_of(node)``; ``calls_of(node)``; ``contains_aggregation``;
  ``row_expanding_calls(node)``; ``UnknownField``, ``UnknownFunction``.
* ``FUNCTIONS`` / ``call_scalar(name, args, env)`` (``functions``); ``RowExpansionRequired`` and
  ``subfield_parts`` for the row-multiplying ``SubField``.
* ``Locale`` (``Locale.from_variables``), ``interpret_texts``, ``format_number`` / ``format_numbers``
  (vectorised), ``format_datetime`` / ``format_datetimes``, ``parse_datetime_texts`` (``formatting``).
* ``expand(text, lookup_variable, evaluate_expression=None)`` (``expand``): dollar-sign expansion.
"""

from .ast import (
    BinOp,
    Call,
    ElementField,
    ElementFunction,
    ElementList,
    ElementSet,
    ElementSetOp,
    ElementValue,
    FieldRef,
    Literal,
    Node,
    SetEntity,
    SetExpr,
    SetModifier,
    SetOp,
    UnaryOp,
    unparse,
    unparse_set,
)
from .duals import Duals
from .evaluate import (
    AGGREGATIONS,
    ConstantContext,
    EvalContext,
    UnknownField,
    UnknownFunction,
    calls_of,
    contains_aggregation,
    evaluate,
    evaluate_constant,
    fields_of,
    row_expanding_calls,
)
from .formatting import Locale, format_datetime, format_number, interpret_texts
from .functions import FUNCTIONS, RowExpansionRequired, as_numbers, call_scalar, subfield_parts
from .lexer import ExprSyntaxError
from .parser import parse_expression

__all__ = [
    "AGGREGATIONS",
    "BinOp",
    "Call",
    "ConstantContext",
    "Duals",
    "ElementField",
    "ElementFunction",
    "ElementList",
    "ElementSet",
    "ElementSetOp",
    "ElementValue",
    "EvalContext",
    "ExprSyntaxError",
    "FUNCTIONS",
    "FieldRef",
    "Literal",
    "Locale",
    "Node",
    "RowExpansionRequired",
    "SetEntity",
    "SetExpr",
    "SetModifier",
    "SetOp",
    "UnaryOp",
    "UnknownField",
    "UnknownFunction",
    "as_numbers",
    "call_scalar",
    "calls_of",
    "contains_aggregation",
    "evaluate",
    "evaluate_constant",
    "fields_of",
    "format_datetime",
    "format_number",
    "interpret_texts",
    "parse_expression",
    "row_expanding_calls",
    "subfield_parts",
    "unparse",
    "unparse_set",
]
