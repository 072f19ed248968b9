"""Row-vectorised evaluation of an expression tree over one frame of ``n`` rows.

The caller supplies the frame through ``EvalContext``: the script runner (a LOAD's input rows, or a
GROUP BY) and the chart calculator (a hypercube's cells) each implement it. Operators and scalar
functions are computed here on whole ``Duals`` columns; aggregations and context functions (RecNo,
Peek, Above, ...) are delegated back to the context.

Comparison rule: when both operands have a number (after interpreting number-like text, as Qlik
does: ``' 1' < ' 2'`` compares numerically), the comparison is numeric; otherwise the texts are
compared. Qlik's help documents the numeric rule but not the case rule for ``=`` on text; field-value
matching is case sensitive in Qlik, and we take ``=`` / ``<>`` to be case sensitive as well (believed,
not verified against a real engine). ``<`` ``>`` compare texts by code point. ``like`` is
case-insensitive with ``*`` and ``?`` wildcards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import INVALID_PARAMETERS, NOT_FOUND, QixError

from . import aggregations as _aggregations  # noqa: F401  (registers the aggregation entries)
from . import fn_dates as _fn_dates  # noqa: F401  (registers period, week-date and time-zone functions)
from . import fn_geo as _fn_geo  # noqa: F401  (registers the geospatial functions and Chi2Test)
from . import fn_numeric as _fn_numeric  # noqa: F401  (registers numeric, colour and range functions)
from .ast import BinOp, Call, FieldRef, Literal, Node, UnaryOp
from .duals import FALSE, TRUE, Duals
from .formatting import DEFAULT_LOCALE, Locale
from .functions import FUNCTIONS, LAZY_FUNCTIONS, RowEnv, as_numbers, call_scalar, wildcard_regex
from .lexer import ExprSyntaxError
from .limits import check_bytes, check_length, checkpoint, text_lengths
from .parser import parse_expression

#: Aggregation functions (registry entries with ``aggregation=True``): evaluated by
#: ``EvalContext.aggregate``, never row by row.
AGGREGATIONS: frozenset[str] = frozenset(k for k, spec in FUNCTIONS.items() if spec.aggregation)

_MAX_VARIABLE_DEPTH = 20


class UnknownField(QixError, KeyError):
    """A name that is neither a field of the frame nor a variable."""

    def __init__(self, name: str) -> None:
        self.name = name
        QixError.__init__(self, NOT_FOUND, name, f"Field not found: {name}")

    def __str__(self) -> str:
        return self.message


class UnknownFunction(QixError):
    """A function name that neither the context nor the scalar library knows."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(INVALID_PARAMETERS, name, f"Unknown function: {name}")


class EvalContext(RowEnv, Protocol):
    """What an evaluation needs from its caller (``nrows`` and ``locale`` as ``RowEnv``)."""

    def field(self, name: str) -> Duals:
        """The column of ``name`` over the frame's rows; raise ``UnknownField`` when absent."""
        ...

    def variable(self, name: str) -> str | None:
        """The text of a variable, or None when undefined."""
        ...

    def aggregate(self, call: Call) -> Duals:
        """Evaluate an aggregation call (``call.name in AGGREGATIONS``) for the frame."""
        ...

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        """Evaluate a context function (RecNo, Peek, ...) or return None when not handled."""
        ...


def evaluate(node: Node, ctx: EvalContext) -> Duals:
    """Evaluate ``node`` for every row of ``ctx``; the result has ``ctx.nrows`` values."""
    return _Evaluator(ctx).eval(node)


@dataclass
class _Evaluator:
    ctx: EvalContext
    depth: int = 0
    _var_stack: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.ctx.nrows

    def eval(self, node: Node) -> Duals:
        if isinstance(node, Literal):
            if node.text is not None:
                return Duals.const(node.text, self.n)
            return Duals.const(node.num, self.n)
        if isinstance(node, FieldRef):
            return self.field(node.name)
        if isinstance(node, BinOp):
            return self.binop(node)
        if isinstance(node, UnaryOp):
            return self.unary(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"cannot evaluate {node!r}")

    # -- names -----------------------------------------------------------------------------------
    def field(self, name: str) -> Duals:
        try:
            return self.ctx.field(name)
        except UnknownField:
            text = self.ctx.variable(name)
            if text is None or name in self._var_stack or len(self._var_stack) >= _MAX_VARIABLE_DEPTH:
                raise
        return self.variable_value(name, text)

    def variable_value(self, name: str, text: str) -> Duals:
        """A variable used by name (a direct reference): its value. A value that starts with ``=`` is a
        formula and the value is what it computes; any other text is the value as it stands (read as a
        number or date where one is expected), not parsed again as an expression: ``Day(vD)`` with vD
        '1/31/2013' is 31. ``$(vD)`` is the way to splice the text into the expression."""
        if not text.startswith("="):
            return Duals.const(text, self.n)
        try:
            node = parse_expression(text[1:])
        except ExprSyntaxError:
            return Duals.const(text, self.n)
        self._var_stack.append(name)
        try:
            return self.eval(node)
        except UnknownField:
            return Duals.const(text, self.n)
        finally:
            self._var_stack.pop()

    # -- operators -------------------------------------------------------------------------------
    def unary(self, node: UnaryOp) -> Duals:
        v = self.eval(node.operand)
        if node.op == "-":
            return Duals.from_numbers(-as_numbers(v, self.ctx.locale))
        if node.op == "+":
            return Duals.from_numbers(as_numbers(v, self.ctx.locale))
        if node.op == "NOT":
            return Duals.booleans(~v.truthy())
        if node.op == "BITNOT":
            x = as_numbers(v, self.ctx.locale)
            ok = ~np.isnan(x)
            out = np.full(len(x), np.nan)
            out[ok] = ~np.trunc(x[ok]).astype(np.int64)
            return Duals.from_numbers(out)
        raise ExprSyntaxError(f"Unknown unary operator {node.op}", 0)

    def binop(self, node: BinOp) -> Duals:
        op = node.op
        if op in ("AND", "OR", "XOR"):
            a, b = self.eval(node.left).truthy(), self.eval(node.right).truthy()
            res = a & b if op == "AND" else a | b if op == "OR" else a ^ b
            return Duals.booleans(res)
        left, right = self.eval(node.left), self.eval(node.right)
        return binary(op, left, right, self.ctx.locale)

    # -- calls -----------------------------------------------------------------------------------
    def call(self, node: Call) -> Duals:
        name = node.name
        if name in AGGREGATIONS:
            FUNCTIONS[name].check_arity(name, len(node.args))
            return self.ctx.aggregate(node)
        handled = self.ctx.function(name, node.args)
        if handled is not None:
            return handled
        lazy = LAZY_FUNCTIONS.get(name)
        if lazy is not None:
            return lazy(self.eval, node.args, self.ctx)
        if name not in FUNCTIONS:
            raise UnknownFunction(name)
        args = [self.eval(a) for a in node.args]
        return call_scalar(name, args, self.ctx)


# ==================================================================================================
# Binary operators on Duals


def binary(op: str, left: Duals, right: Duals, locale: Locale = DEFAULT_LOCALE) -> Duals:
    """Apply a binary operator (symbol or upper-case word) to two columns of equal length."""
    if op in _ARITH:
        a, b = as_numbers(left, locale), as_numbers(right, locale)
        with np.errstate(all="ignore"):
            res = _ARITH[op](a, b)
        res = np.where(np.isfinite(res), res, np.nan)
        return Duals.from_numbers(res)
    if op == "&":
        return Duals.from_texts(concat_texts(left.display_text(null=""), right.display_text(null="")))
    if op in _COMPARE:
        return Duals.booleans(compare(op, left, right, locale))
    if op in ("PRECEDES", "FOLLOWS"):
        lt, rt = _arrow(left.display_text()), _arrow(right.display_text())
        res = pc.less(lt, rt) if op == "PRECEDES" else pc.greater(lt, rt)
        return Duals.booleans(_mask(res))
    if op == "LIKE":
        return Duals.booleans(like(left, right))
    if op in _BITWISE:
        a, b = as_numbers(left, locale), as_numbers(right, locale)
        ok = ~np.isnan(a) & ~np.isnan(b)
        out = np.full(len(a), np.nan)
        ia = np.trunc(np.where(ok, a, 0)).astype(np.int64)
        ib = np.trunc(np.where(ok, b, 0)).astype(np.int64)
        out[ok] = _BITWISE[op](ia, ib)[ok]
        return Duals.from_numbers(out)
    raise ExprSyntaxError(f"Unknown operator {op}", 0)


_ARITH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}
_BITWISE = {"BITAND": np.bitwise_and, "BITOR": np.bitwise_or, "BITXOR": np.bitwise_xor}
_COMPARE = {"=", "<>", "<", ">", "<=", ">="}
_NUM_CMP = {
    "=": np.equal,
    "<>": np.not_equal,
    "<": np.less,
    ">": np.greater,
    "<=": np.less_equal,
    ">=": np.greater_equal,
}
_TEXT_CMP = {
    "=": pc.equal,
    "<>": pc.not_equal,
    "<": pc.less,
    ">": pc.greater,
    "<=": pc.less_equal,
    ">=": pc.greater_equal,
}


#: Above this many result characters ``&`` joins per distinct pair of Python strings (results shared),
#: not through Arrow, which would copy a text once per row.
_ARROW_JOIN_VOLUME = 64 * 1024 * 1024


def concat_texts(lt: np.ndarray, rt: np.ndarray) -> np.ndarray:
    """``lt & rt`` row by row (no None in either). Sizes are predicted first: no row may pass
    ``MaxStringLength``, and the column no more than the request's memory."""
    if not len(lt):
        return np.empty(0, dtype=object)
    lengths = text_lengths(lt) + text_lengths(rt)
    check_length(int(lengths.max()), "The & operator")
    if int(lengths.sum()) <= _ARROW_JOIN_VOLUME:
        joined = pc.binary_join_element_wise(_arrow(lt), _arrow(rt), "")
        return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)
    out = np.empty(len(lt), dtype=object)
    done: dict[tuple[str, str], str] = {}
    volume = 0
    for i, pair in enumerate(zip(lt, rt, strict=True)):
        if not i & 4095:
            checkpoint()
        hit = done.get(pair)
        if hit is None:
            volume += int(lengths[i])
            check_bytes(volume, "The & operator")
            hit = done[pair] = pair[0] + pair[1]
        out[i] = hit
    return out


def _arrow(texts: np.ndarray) -> pa.Array:
    return pa.array(texts, type=pa.string())


def _mask(res: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(res, False).to_numpy(zero_copy_only=False), dtype=bool)


def compare(op: str, left: Duals, right: Duals, locale: Locale = DEFAULT_LOCALE) -> np.ndarray:
    """Boolean mask of a relational operator with Qlik's NULL rule (false, except ``<>``: true)."""
    a, b = as_numbers(left, locale), as_numbers(right, locale)
    both = ~np.isnan(a) & ~np.isnan(b)
    with np.errstate(invalid="ignore"):
        out = _NUM_CMP[op](a, b) & both
    nulls = left.is_null() | right.is_null()
    textual = np.flatnonzero(~both & ~nulls)
    if len(textual):
        lt = left.take(textual).display_text()
        rt = right.take(textual).display_text()
        out[textual] = _mask(_TEXT_CMP[op](_arrow(lt), _arrow(rt)))
    if op == "<>":
        out |= nulls
    result: np.ndarray = out
    return result


def like(left: Duals, right: Duals) -> np.ndarray:
    """``text like pattern``: ``*`` any run, ``?`` one character, case-insensitive; NULL is false."""
    lt = left.display_text()
    rt = right.display_text()
    out = np.zeros(len(lt), dtype=bool)
    if not len(lt):
        return out
    patterns = {p for p in rt if p is not None}
    for pat in patterns:
        rows = np.flatnonzero(rt == pat) if len(patterns) > 1 else np.arange(len(lt))
        texts = _arrow(lt.take(rows))
        out[rows] = _mask(pc.match_substring_regex(texts, wildcard_regex(pat), ignore_case=True))
    return out


def _nodes(node: Node, enter: Callable[[Call], bool] = lambda call: True) -> Iterator[Node]:
    """Every node under ``node`` (itself included), depth first; a call's arguments only when
    ``enter(call)`` holds."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        if isinstance(cur, BinOp):
            stack += [cur.left, cur.right]
        elif isinstance(cur, UnaryOp):
            stack.append(cur.operand)
        elif isinstance(cur, Call) and enter(cur):
            stack += list(cur.args)


def fields_of(node: Node) -> set[str]:
    """Names referenced as fields anywhere in ``node`` (including aggregation arguments; set
    analysis modifiers and TOTAL field lists are not included)."""
    return {cur.name for cur in _nodes(node) if isinstance(cur, FieldRef)}


def calls_of(node: Node) -> set[str]:
    """Names of the functions called anywhere in ``node`` (aggregation arguments included)."""
    return {cur.name for cur in _nodes(node) if isinstance(cur, Call)}


def _is_row_expanding(call: Call) -> bool:
    return call.name == "SUBFIELD" and len(call.args) == 2


def row_expanding_calls(node: Node) -> list[Call]:
    """``SubField(s, delim)`` calls (no index) outside aggregations: each makes a LOAD emit one row
    per part. The script runner evaluates them with ``functions.subfield_parts``."""
    outside = _nodes(node, lambda call: call.name not in AGGREGATIONS and not _is_row_expanding(call))
    return [cur for cur in outside if isinstance(cur, Call) and _is_row_expanding(cur)]


def bind_calls(node: Node, names: Mapping[Call, str]) -> Node:
    """``node`` with each call in ``names`` (outside aggregations) replaced by a reference to the
    field named for it: a LOAD binds its row-expanding SubField calls to the parts it computed, so
    ``Trim(SubField(s, '|'))`` is evaluated per part."""
    if isinstance(node, Call):
        if node in names:
            return FieldRef(names[node])
        if node.name in AGGREGATIONS:
            return node
        return dataclasses.replace(node, args=tuple(bind_calls(a, names) for a in node.args))
    if isinstance(node, BinOp):
        return BinOp(node.op, bind_calls(node.left, names), bind_calls(node.right, names))
    if isinstance(node, UnaryOp):
        return UnaryOp(node.op, bind_calls(node.operand, names))
    return node


def contains_aggregation(node: Node) -> bool:
    """True when ``node`` calls an aggregation function somewhere."""
    return any(isinstance(cur, Call) and cur.name in AGGREGATIONS for cur in _nodes(node))


# ==================================================================================================
# Constant expressions (LET, $(=...) without data)


@dataclass
class ConstantContext:
    """A one-row frame with no fields: variables only (a mapping, or a lookup function)."""

    variables: dict[str, str] | Callable[[str], str | None] = field(default_factory=dict)
    locale: Locale = DEFAULT_LOCALE
    nrows: int = 1

    def field(self, name: str) -> Duals:
        raise UnknownField(name)

    def variable(self, name: str) -> str | None:
        found = self.variables
        return found(name) if callable(found) else found.get(name)

    def aggregate(self, call: Call) -> Duals:
        raise QixError(INVALID_PARAMETERS, call.name, f"Aggregation {call.name} needs data")

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        return None


def evaluate_constant(
    text: str | Node,
    variables: dict[str, str] | Callable[[str], str | None] | None = None,
    locale: Locale | None = None,
) -> Duals:
    """Evaluate an expression without data (a one-row frame): ``evaluate_constant('3+4')`` -> 7."""
    node = parse_expression(text) if isinstance(text, str) else text
    found = variables if callable(variables) else dict(variables or {})
    return evaluate(node, ConstantContext(found, locale or DEFAULT_LOCALE))


__all__ = [
    "AGGREGATIONS",
    "ConstantContext",
    "EvalContext",
    "FALSE",
    "TRUE",
    "UnknownField",
    "UnknownFunction",
    "binary",
    "compare",
    "contains_aggregation",
    "evaluate",
    "evaluate_constant",
    "fields_of",
    "like",
    "row_expanding_calls",
    "bind_calls",
]
