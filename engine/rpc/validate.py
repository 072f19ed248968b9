"""Parameter checks compiled once per method from its type hints: a handler never sees a wrong type.

A hint (``str``, ``int``, ``bool``, ``float``, ``dict``, ``list[X]``, ``dict[str, X]``, a ``TypedDict``,
``X | Y``, ``Any``) becomes a checker: a closure that takes a decoded JSON value and returns it, or a
corrected copy, or raises :class:`Mismatch`. The corrections are the ones clients rely on: a number where
a string goes is its text, an integral float where an integer goes is that integer, a numeric string
where a number goes is that number, ``"true"``/``0``/``1`` where a boolean goes is that boolean.
Integers are the engine's 32-bit ones. In a ``TypedDict`` the declared keys are checked (``null`` is taken
as absent and dropped, unless the hint allows ``None``); undeclared keys pass untouched.

A parameter nested deeper than :data:`MAX_DEPTH` is refused whatever its type: answers and deep copies
of it would fail past orjson's and Python's recursion limits (:func:`too_deep`).

Cost: a checker does one type test per value; containers are copied only when a member was corrected,
and the path of a mismatch is built only when one is raised.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import orjson

Checker = Callable[[Any], Any]

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: deepest nesting of a parameter: orjson writes at most 254 levels and answers wrap a value in a few more
MAX_DEPTH = 128
_ORJSON_DEPTH = 254
#: digits of the longest numeric string read as an integer (the int32 range needs at most 10 and a sign)
_MAX_INT_TEXT = 11
_DROP = object()
_FLOAT_WORDS = {
    "nan": math.nan,
    "infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "-inf": -math.inf,
}
_TRUE, _FALSE = frozenset(("true", "1", "yes")), frozenset(("false", "0", "no", ""))


class Shape:
    """``Annotated[<type the handler sees>, Shape(<type checked>, ...)]``: the value is checked as each
    shape in turn (a TypedDict, say) while the handler's annotation stays the plain type the layers
    below take."""

    def __init__(self, *hints: Any) -> None:
        self.hint = hints[0]
        self.hints = hints


class Anywhere:
    """A free JSON value in which every object member named after a key of ``members``, at any depth, is
    checked as that key's type (properties hold hypercube and list-object definitions wherever the
    client put them, and the layout computes each)."""

    def __init__(self, members: dict[str, Any]) -> None:
        self.members = members


class Mismatch(Exception):
    """A value of the wrong type; ``path`` is filled in (innermost last) while the check unwinds."""

    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.path: list[str] = []

    def describe(self, name: str) -> str:
        where = name + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in reversed(self.path))
        return f"{where}: expected {self.expected}, got {_json_type(self.value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "an out-of-range integer" if not INT_MIN <= value <= INT_MAX else "an integer"
    if isinstance(value, float):
        return "a fractional number" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def too_deep(value: list[Any] | dict[str, Any]) -> bool:
    """Whether ``value`` nests more than :data:`MAX_DEPTH` containers deep. orjson counts the levels (in
    Rust, without Python's recursion): it writes at most 254, so ``value`` wrapped in the difference
    fails exactly when it is too deep. JSON-decoded values fail orjson for no other reason."""
    for _ in range(_ORJSON_DEPTH - MAX_DEPTH):
        value = [value]
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return True
    return False


def is_bounded(hint: Any) -> bool:
    """Whether every value the hint's checker lets through is shallow (scalars, typed arrays of them):
    such parameters skip :func:`too_deep`. Objects are open (undeclared keys pass untouched)."""
    if hint in (str, int, float, bool):
        return True
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return is_bounded(next((m.hint for m in hint.__metadata__ if isinstance(m, Shape)), args[0]))
    if origin is Literal:
        return True
    if origin is list and args:
        return is_bounded(args[0])
    if origin is Union or origin is types.UnionType:
        return all(is_bounded(a) for a in args if a is not type(None))
    return False


# -- scalars ----------------------------------------------------------------------------------------
def _any(value: Any) -> Any:
    return value


def _str(value: Any) -> str:
    kind = type(value)
    if kind is str:
        text: str = value
        return text
    if kind is int or kind is float:
        return str(value)
    raise Mismatch("a string", value)


def _int(value: Any) -> int:
    kind = type(value)
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            number: int = value
            return number
    elif kind is float:
        if value.is_integer() and INT_MIN <= value <= INT_MAX:
            return int(value)
    elif kind is str and len(value) <= _MAX_INT_TEXT and value.isascii():
        text = value.strip()
        if (text[1:] if text[:1] == "-" else text).isdigit() and INT_MIN <= int(text) <= INT_MAX:
            return int(text)
    raise Mismatch("an integer", value)


def _float(value: Any) -> float:
    kind = type(value)
    if kind is float:
        real: float = value
        return real
    if kind is int:
        return float(value)  # orjson hands over at most 64-bit integers, which a double holds
    if kind is str and len(value) <= 64:
        word = _FLOAT_WORDS.get(value.strip().lower())
        if word is not None:
            return word
        try:
            return float(value)
        except ValueError:
            pass
    raise Mismatch("a number", value)


def _bool(value: Any) -> bool:
    kind = type(value)
    if kind is bool:
        flag: bool = value
        return flag
    if kind is int and value in (0, 1):
        return bool(value)
    if kind is str:
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Mismatch("a boolean", value)


def _dict(value: Any) -> dict[str, object]:
    if type(value) is dict:
        return value
    raise Mismatch("an object", value)


def _list(value: Any) -> list[Any]:
    if type(value) is list:
        return value
    raise Mismatch("an array", value)


_SCALARS: dict[Any, Checker] = {
    Any: _any,
    object: _any,
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    dict: _dict,
    list: _list,
}


# -- containers -------------------------------------------------------------------------------------
# one pass in C (no Python call or bytecode per member): the set of the members' types, then their range
def _all_ints(value: list[Any]) -> bool:
    return not value or (set(map(type, value)) == _INT and INT_MIN <= min(value) and max(value) <= INT_MAX)


def _all_strs(value: list[Any]) -> bool:
    return not value or set(map(type, value)) == _STR


def _all_bools(value: list[Any]) -> bool:
    return not value or set(map(type, value)) == _BOOL


def _all_floats(value: list[Any]) -> bool:
    return not value or set(map(type, value)) == _FLOAT


_INT, _STR, _BOOL, _FLOAT = {int}, {str}, {bool}, {float}
_FAST_ALL: dict[Checker, Callable[[list[Any]], bool]] = {
    _int: _all_ints,
    _str: _all_strs,
    _bool: _all_bools,
    _float: _all_floats,
}


def _list_of(item: Checker) -> Checker:
    #: arrays of scalars are checked in one pass without a call per member; the slow loop below only runs
    #: when a member needs correcting or is wrong
    fast = _FAST_ALL.get(item)

    def check(value: Any) -> list[Any]:
        if type(value) is not list:
            raise Mismatch("an array", value)
        if fast is not None and fast(value):
            return value
        out: list[Any] | None = None
        for i, member in enumerate(value):
            try:
                new = item(member)
            except Mismatch as bad:
                bad.path.append(str(i))
                raise
            if new is not member:
                if out is None:
                    out = list(value)
                out[i] = new
        return value if out is None else out

    return check


def _dict_of(item: Checker) -> Checker:
    def check(value: Any) -> dict[str, object]:
        if type(value) is not dict:
            raise Mismatch("an object", value)
        out: dict[str, Any] | None = None
        for key, member in value.items():
            try:
                new = item(member)
            except Mismatch as bad:
                bad.path.append(key)
                raise
            if new is not member:
                if out is None:
                    out = dict(value)
                out[key] = new
        return value if out is None else out

    return check


def _struct(fields: list[tuple[str, Checker, bool]]) -> Checker:
    def check(value: Any) -> dict[str, object]:
        if type(value) is not dict:
            raise Mismatch("an object", value)
        out: dict[str, Any] | None = None
        for key, item, nullable in fields:
            if key not in value:
                continue
            member = value[key]
            if member is None:
                if nullable:
                    continue
                new: Any = _DROP
            else:
                try:
                    new = item(member)
                except Mismatch as bad:
                    bad.path.append(key)
                    raise
            if new is not member:
                if out is None:
                    out = dict(value)
                if new is _DROP:
                    del out[key]
                else:
                    out[key] = new
        return value if out is None else out

    return check


def _union(options: list[Checker], expected: str) -> Checker:
    """The first option that takes the value; when one took its outer type but not a member (an object
    with a member of the wrong type), that member's mismatch is the one to report."""

    def check(value: Any) -> Any:
        inner: Mismatch | None = None
        for option in options:
            try:
                return option(value)
            except Mismatch as bad:
                if bad.path and inner is None:
                    inner = bad
        raise inner if inner is not None else Mismatch(expected, value)

    return check


def _in_turn(steps: list[Checker]) -> Checker:
    def check(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return check


def _anywhere(members: dict[str, Checker]) -> Checker:
    def walk(value: Any) -> Any:
        if type(value) is dict:
            out: dict[str, Any] | None = None
            for key, member in value.items():
                item = members.get(key)
                try:
                    new = walk(member) if item is None else (_DROP if member is None else walk(item(member)))
                except Mismatch as bad:
                    bad.path.append(key)
                    raise
                if new is not member:
                    if out is None:
                        out = dict(value)
                    if new is _DROP:
                        del out[key]
                    else:
                        out[key] = new
            return value if out is None else out
        if type(value) is list:
            copied: list[Any] | None = None
            for i, member in enumerate(value):
                try:
                    new = walk(member)
                except Mismatch as bad:
                    bad.path.append(str(i))
                    raise
                if new is not member:
                    if copied is None:
                        copied = list(value)
                    copied[i] = new
            return value if copied is None else copied
        return value

    return walk


def _literal(values: tuple[Any, ...]) -> Checker:
    allowed = frozenset(values)

    def check(value: Any) -> Any:
        if type(value) in (str, int) and value in allowed:
            return value
        raise Mismatch("one of " + ", ".join(map(str, values)), value)

    return check


_EXPECTED: dict[Checker, str] = {
    _str: "a string",
    _int: "an integer",
    _float: "a number",
    _bool: "a boolean",
    _dict: "an object",
    _list: "an array",
}
_STRUCTS: dict[type, Checker] = {}


def _named(checker: Checker, expected: str) -> Checker:
    _EXPECTED[checker] = expected
    return checker


def compile_hint(hint: Any) -> Checker:
    """The checker for one type hint (TypedDicts are compiled once and shared, recursion included)."""
    scalar = _SCALARS.get(hint)
    if scalar is not None:
        return scalar
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        shape = next((m for m in hint.__metadata__ if isinstance(m, Shape)), None)
        if shape is None:
            return compile_hint(args[0])
        steps = [compile_hint(h) for h in shape.hints]
        return steps[0] if len(steps) == 1 else _in_turn(steps)
    if isinstance(hint, Anywhere):
        return _anywhere({k: compile_hint(t) for k, t in hint.members.items()})
    if origin is list:  # list[Any] takes what a bare list takes, without a pass over the members
        return _named(_list_of(compile_hint(args[0])), "an array") if args and not _open(args[0]) else _list
    if origin is dict:
        return _named(_dict_of(compile_hint(args[1])), "an object") if args and not _open(args[1]) else _dict
    if origin is Literal:
        return _literal(args)
    if origin is Union or origin is types.UnionType:
        options = [compile_hint(a) for a in args if a is not type(None)]
        if len(options) == 1:
            return options[0]
        return _union(options, " or ".join(_EXPECTED.get(o, "a value of its type") for o in options))
    if is_typeddict(hint):
        return _typeddict(hint)
    raise TypeError(f"no parameter check for {hint!r}")


def _open(member: Any) -> bool:
    """A member type that takes any value (``Any``, ``object``)."""
    return member is Any or member is object


def _typeddict(hint: type) -> Checker:
    known = _STRUCTS.get(hint)
    if known is not None:
        return known
    fields: list[tuple[str, Checker, bool]] = []
    checker = _named(_struct(fields), "an object")
    _STRUCTS[hint] = checker  # before the members: a struct may contain itself
    for key, member in get_type_hints(hint).items():
        fields.append((key, compile_hint(member), type(None) in get_args(member)))
    return checker


def hints_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The handler's parameter annotations, resolved in its module (they are strings under PEP 563)."""
    return get_type_hints(fn, include_extras=True)
