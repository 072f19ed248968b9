"""Typed, immutable syntax tree of a Qlik expression (including set analysis).

Every node is a frozen dataclass, so trees are hashable and can key caches of compiled or evaluated
expressions. ``unparse`` renders a node back to canonical expression text (labels, error messages).
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------
# Expression nodes


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every expression node."""


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant: ``num`` for number literals, ``text`` for string literals (the other is None)."""

    num: float | None
    text: str | None


@dataclass(frozen=True, slots=True)
class FieldRef(Node):
    """A field (or, when no field has that name, a variable) referenced by name."""

    name: str


@dataclass(frozen=True, slots=True)
class UnaryOp(Node):
    """``op`` is one of ``-``, ``+``, ``NOT``, ``BITNOT``."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class BinOp(Node):
    """``op`` is a symbol (``+ - * / & = <> < > <= >=``) or an upper-case word (``AND OR XOR LIKE
    PRECEDES FOLLOWS BITAND BITOR BITXOR``)."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function call. ``name`` is upper-cased. Aggregation qualifiers are kept on the call:
    ``distinct`` / ``nodistinct``, ``total`` with optional ``total_fields`` (``TOTAL <a, b>``),
    ``all`` (the QlikView ``ALL`` qualifier) and ``set_expr`` (set analysis, ``Sum({1} x)``)."""

    name: str
    args: tuple[Node, ...] = ()
    distinct: bool = False
    total: bool = False
    total_fields: tuple[str, ...] = ()
    set_expr: SetExpr | None = None
    nodistinct: bool = False
    all: bool = False


# --------------------------------------------------------------------------------------------------
# Set analysis: {identifier<modifiers>} combined with + - * /


@dataclass(frozen=True, slots=True)
class SetExpr:
    """Base of set expressions (what goes between the outer braces)."""


@dataclass(frozen=True, slots=True)
class SetEntity(SetExpr):
    """``identifier`` is ``$`` (current selection, also when omitted: None), ``1`` (everything),
    ``$1``/``$_1`` (back/forward), or a bookmark / alternate state name. ``modifiers`` narrow it."""

    identifier: str | None
    modifiers: tuple[SetModifier, ...] = ()


@dataclass(frozen=True, slots=True)
class SetOp(SetExpr):
    """``+`` union, ``-`` exclusion, ``*`` intersection, ``/`` symmetric difference."""

    op: str
    left: SetExpr
    right: SetExpr


@dataclass(frozen=True, slots=True)
class SetModifier:
    """``field op elements``; ``op`` is ``=``, ``+=``, ``-=``, ``*=`` or ``/=``. ``elements`` None is the
    clearing form ``F=``."""

    field: str
    op: str
    elements: ElementSet | None


@dataclass(frozen=True, slots=True)
class ElementSet:
    """Base of element sets (the right-hand side of a modifier)."""


@dataclass(frozen=True, slots=True)
class ElementValue:
    """One element: ``kind`` is ``literal`` ('quoted', exact match), ``search`` ("double quoted": a
    wildcard, numeric ``">5"`` or ``"=expr"`` search) or ``number`` (a bare number or word)."""

    text: str
    kind: str


@dataclass(frozen=True, slots=True)
class ElementList(ElementSet):
    """``{v1, v2, ...}``; the empty tuple is the empty set."""

    items: tuple[ElementValue, ...]


@dataclass(frozen=True, slots=True)
class ElementField(ElementSet):
    """The values of another field (``F = G`` or ``F = $::G``); ``state`` is the state prefix or None."""

    field: str
    state: str | None = None


@dataclass(frozen=True, slots=True)
class ElementFunction(ElementSet):
    """``P(...)`` (possible) or ``E(...)`` (excluded) values of ``field`` in ``set_expr`` (``field``
    None means the modified field itself)."""

    func: str
    set_expr: SetExpr | None
    field: str | None


@dataclass(frozen=True, slots=True)
class ElementSetOp(ElementSet):
    """``+ - * /`` between element sets."""

    op: str
    left: ElementSet
    right: ElementSet


# --------------------------------------------------------------------------------------------------
# Rendering

_WORD_OPS = {"AND", "OR", "XOR", "LIKE", "PRECEDES", "FOLLOWS", "BITAND", "BITOR", "BITXOR"}
_PREC = {
    "OR": 1, "XOR": 1,
    "AND": 2,
    "NOT": 3,
    "=": 4, "<>": 4, "<": 4, ">": 4, "<=": 4, ">=": 4, "LIKE": 4, "PRECEDES": 4, "FOLLOWS": 4,
    "BITOR": 5, "BITXOR": 5,
    "BITAND": 6,
    "&": 7,
    "+": 8, "-": 8,
    "*": 9, "/": 9,
}  # fmt: skip
_UNARY_PREC = 10


def _name(name: str) -> str:
    """A field name as it can be written back: bare when it lexes as one identifier, else bracketed."""
    if name and (name[0].isalpha() or name[0] in "_%#@") and all(c.isalnum() or c in "_%#$@." for c in name):
        if name.upper() not in _WORD_OPS | {"NOT", "BITNOT", "TOTAL", "DISTINCT", "NODISTINCT", "ALL"}:
            return name
    if "]" not in name:
        return f"[{name}]"
    return '"' + name.replace('"', '""') + '"'


def _number(x: float) -> str:
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _prec(node: Node) -> int:
    if isinstance(node, BinOp):
        return _PREC[node.op]
    if isinstance(node, UnaryOp):
        return _PREC["NOT"] if node.op == "NOT" else _UNARY_PREC
    return 100


def unparse(node: Node) -> str:
    """Canonical text of ``node``: ``unparse(parse_expression(unparse(n))) == unparse(n)``."""
    if isinstance(node, Literal):
        if node.text is not None:
            return _string(node.text)
        return _number(node.num if node.num is not None else float("nan"))
    if isinstance(node, FieldRef):
        return _name(node.name)
    if isinstance(node, UnaryOp):
        inner = unparse(node.operand)
        mine = _prec(node)
        if _prec(node.operand) < mine:
            inner = f"({inner})"
        if node.op in ("NOT", "BITNOT"):
            return f"{node.op} {inner}"
        return f"{node.op}{inner}"
    if isinstance(node, BinOp):
        mine = _PREC[node.op]
        left, right = unparse(node.left), unparse(node.right)
        if _prec(node.left) < mine:
            left = f"({left})"
        if _prec(node.right) <= mine:
            right = f"({right})"
        return f"{left} {node.op} {right}"
    if isinstance(node, Call):
        head: list[str] = []
        if node.set_expr is not None:
            head.append("{" + unparse_set(node.set_expr) + "}")
        if node.all:
            head.append("ALL")
        if node.distinct:
            head.append("DISTINCT")
        if node.nodistinct:
            head.append("NODISTINCT")
        if node.total:
            head.append(
                "TOTAL"
                + (" <" + ", ".join(_name(f) for f in node.total_fields) + ">" if node.total_fields else "")
            )
        args = ", ".join(unparse(a) for a in node.args)
        return f"{node.name}({' '.join([*head, args]) if head else args})"
    raise TypeError(f"not an expression node: {node!r}")


def unparse_set(expr: SetExpr) -> str:
    """Text of a set expression without its outer braces."""
    if isinstance(expr, SetOp):
        right = unparse_set(expr.right)
        if isinstance(expr.right, SetOp):
            right = f"({right})"
        return f"{unparse_set(expr.left)}{expr.op}{right}"
    if isinstance(expr, SetEntity):
        ident = expr.identifier or ""
        if expr.identifier is not None and not (ident[:1] in "$1" or ident.isalnum()):
            ident = f"[{ident}]"
        if not expr.modifiers:
            return ident or "$"
        mods = ", ".join(_modifier(m) for m in expr.modifiers)
        return f"{ident}<{mods}>"
    raise TypeError(f"not a set expression: {expr!r}")


def _modifier(m: SetModifier) -> str:
    return f"{_name(m.field)}{m.op}{'' if m.elements is None else _elements(m.elements)}"


def _element(v: ElementValue) -> str:
    if v.kind == "literal":
        return _string(v.text)
    if v.kind == "search":
        return '"' + v.text.replace('"', '""') + '"'
    return v.text


def _elements(e: ElementSet) -> str:
    if isinstance(e, ElementList):
        return "{" + ", ".join(_element(v) for v in e.items) + "}"
    if isinstance(e, ElementField):
        return (f"{e.state}::" if e.state else "") + _name(e.field)
    if isinstance(e, ElementFunction):
        inner = "{" + unparse_set(e.set_expr) + "}" if e.set_expr is not None else ""
        fld = _name(e.field) if e.field else ""
        return f"{e.func}({inner}{' ' if inner and fld else ''}{fld})"
    if isinstance(e, ElementSetOp):
        right = _elements(e.right)
        if isinstance(e.right, ElementSetOp):
            right = f"({right})"
        return f"{_elements(e.left)}{e.op}{right}"
    raise TypeError(f"not an element set: {e!r}")
