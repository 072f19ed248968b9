"""Scalar (row-wise) functions of the Qlik expression language, vectorised over ``Duals``.

``FUNCTIONS`` maps upper-case names to ``f(env, *args: Duals) -> Duals``; ``call_scalar`` checks the
argument count and dispatches. ``env`` is anything with ``nrows`` and ``locale`` (an ``EvalContext``).
``LAZY_FUNCTIONS`` receive unevaluated argument nodes (``If``, ``Alt``, ``Pick``... evaluate only
what they need). NULL rule: a function returns NULL for a NULL argument unless documented otherwise.

Text functions run once per distinct input (``map_distinct``), never once per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.errors import INVALID_PARAMETERS, QixError

from .duals import FALSE, TRUE, Duals, map_distinct
from .formatting import DEFAULT_LOCALE, Locale, interpret_texts

# ==================================================================================================
# Errors and signals


class FunctionArgumentError(QixError):
    """Wrong number of arguments for a function."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(INVALID_PARAMETERS, name, message)


class RowExpansionRequired(QixError):
    """Raised by a function form that multiplies rows (``SubField(s, delim)`` without an index).

    Only a LOAD can honour it: the script runner catches this (or recognises the call up front with
    ``is_row_expanding``) and emits one output row per part.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(INVALID_PARAMETERS, name, f"{name} without an index generates rows; only valid in a LOAD")


# ==================================================================================================
# Coercions shared by operators and functions


def as_numbers(d: Duals, locale: Locale = DEFAULT_LOCALE) -> np.ndarray:
    """The numeric reading of each value: its number, else its text interpreted as a number
    (``'5' + 1`` = 6), else NaN."""
    num = d.num
    want = np.isnan(num) & d.has_text()
    idx = np.flatnonzero(want)
    if not len(idx):
        return num
    out = num.copy()
    texts = d.text.take(idx)
    uniq, inv = _unique_texts(texts)
    out[idx] = interpret_texts(uniq, locale).take(inv)
    return out


def _unique_texts(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct non-None strings and the index of each input in them."""
    if len(texts) <= 16:
        seen: dict[str, int] = {}
        inv = np.array([seen.setdefault(t, len(seen)) for t in texts], dtype=np.intp)
        uniq = np.empty(len(seen), dtype=object)
        uniq[:] = list(seen)
        return uniq, inv
    uniq, inv = np.unique(texts.astype(str), return_inverse=True)
    return uniq.astype(object), inv


def texts_of(d: Duals) -> np.ndarray:
    """Display texts with NULL as None."""
    return d.display_text()


def wildcard_regex(pattern: str) -> str:
    """A Qlik wildcard pattern (``*`` any run, ``?`` one character) as an anchored regex."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"


def _scalar_arg(d: Duals, default: float | None = None) -> float | None:
    """The first value of a (usually constant) argument, as a number."""
    if not len(d):
        return default
    x = float(as_numbers(d.take(np.array([0])))[0])
    return default if np.isnan(x) else x


def _scalar_text(d: Duals, default: str | None = None) -> str | None:
    if not len(d):
        return default
    t = d.take(np.array([0])).display_text()[0]
    return default if t is None else t


def _is_constant(d: Duals) -> bool:
    n = len(d)
    if n <= 1:
        return True
    num = d.num
    same_num = bool(np.all(num == num[0])) or bool(np.all(np.isnan(num)))
    if not same_num:
        return False
    first = d.text[0]
    return bool(np.all(d.text == first)) if first is not None else not d.has_text().any()


def _numbers_result(x: np.ndarray) -> Duals:
    x = np.asarray(x, dtype=np.float64)
    return Duals.from_numbers(np.where(np.isfinite(x), x, np.nan))


# ==================================================================================================
# Registry


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    func: Callable[..., Duals]
    min_args: int
    max_args: int | None  # None = variadic


FUNCTIONS: dict[str, FunctionSpec] = {}
LAZY_FUNCTIONS: dict[str, Callable[..., Duals]] = {}


def scalar(name: str, min_args: int, max_args: int | None = -1):
    """Register ``f(env, *args)`` under the upper-case ``name`` (``max_args=-1``: same as min)."""

    def deco(func: Callable[..., Duals]) -> Callable[..., Duals]:
        FUNCTIONS[name.upper()] = FunctionSpec(func, min_args, min_args if max_args == -1 else max_args)
        return func

    return deco


def call_scalar(name: str, args: list[Duals], env) -> Duals:
    """Call the scalar function ``name`` (case-insensitive) on evaluated arguments."""
    key = name.upper()
    spec = FUNCTIONS.get(key)
    if spec is None:
        raise QixError(INVALID_PARAMETERS, name, f"Unknown function: {name}")
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        expected = (
            f"{spec.min_args}" if spec.max_args == spec.min_args
            else f"{spec.min_args} or more" if spec.max_args is None
            else f"{spec.min_args} to {spec.max_args}"
        )  # fmt: skip
        raise FunctionArgumentError(key, f"{key} takes {expected} arguments, got {len(args)}")
    return spec.func(env, *args)


def lazy(name: str):
    def deco(func: Callable[..., Duals]) -> Callable[..., Duals]:
        LAZY_FUNCTIONS[name.upper()] = func
        FUNCTIONS.setdefault(name.upper(), FunctionSpec(_lazy_adapter(func), 0, None))
        return func

    return deco


def _lazy_adapter(func: Callable[..., Duals]) -> Callable[..., Duals]:
    """Lets ``call_scalar`` run a lazy function on already evaluated arguments."""

    def run(env, *args: Duals) -> Duals:
        holders = tuple(_Evaluated(a) for a in args)
        return func(lambda h: h.value, holders, env)

    return run


@dataclass(frozen=True, slots=True)
class _Evaluated:
    value: Duals


def _locale(env) -> Locale:
    return getattr(env, "locale", None) or DEFAULT_LOCALE


# ==================================================================================================
# Conditional and NULL functions (lazy)


def _select(cond: np.ndarray, a: Duals, b: Duals) -> Duals:
    return Duals(np.where(cond, a.num, b.num), np.where(cond, a.text, b.text))


@lazy("If")
def _if(ev, args, env) -> Duals:
    if len(args) not in (2, 3):
        raise FunctionArgumentError("IF", f"IF takes 2 or 3 arguments, got {len(args)}")
    cond = ev(args[0]).truthy()
    n = len(cond)
    if cond.all():
        return ev(args[1])
    if not cond.any():
        return ev(args[2]) if len(args) == 3 else Duals.nulls(n)
    then = ev(args[1])
    other = ev(args[2]) if len(args) == 3 else Duals.nulls(n)
    return _select(cond, then, other)


@lazy("Alt")
def _alt(ev, args, env) -> Duals:
    """The first argument that has a number; the last argument otherwise."""
    if not args:
        raise FunctionArgumentError("ALT", "ALT takes 1 or more arguments")
    result = ev(args[-1])
    for node in reversed(args[:-1]):
        v = ev(node)
        ok = ~np.isnan(as_numbers(v, _locale(env)))
        result = _select(ok, Duals(as_numbers(v, _locale(env)), v.text), result)
    return result


@lazy("Pick")
def _pick(ev, args, env) -> Duals:
    if len(args) < 2:
        raise FunctionArgumentError("PICK", "PICK takes 2 or more arguments")
    idx = as_numbers(ev(args[0]), _locale(env))
    n = len(idx)
    result = Duals.nulls(n)
    for k, node in enumerate(args[1:], start=1):
        hit = idx == k
        if hit.any():
            result = _select(hit, ev(node), result)
    return result


@lazy("Coalesce")
def _coalesce(ev, args, env) -> Duals:
    if not args:
        raise FunctionArgumentError("COALESCE", "COALESCE takes 1 or more arguments")
    result = ev(args[-1])
    for node in reversed(args[:-1]):
        v = ev(node)
        result = _select(~v.is_null(), v, result)
    return result


@scalar("Null", 0)
def _null(env) -> Duals:
    return Duals.nulls(env.nrows)


@scalar("IsNull", 1)
def _isnull(env, x: Duals) -> Duals:
    return Duals.booleans(x.is_null())


@scalar("IsNum", 1)
def _isnum(env, x: Duals) -> Duals:
    return Duals.booleans(~np.isnan(as_numbers(x, _locale(env))))


@scalar("IsText", 1)
def _istext(env, x: Duals) -> Duals:
    return Duals.booleans(x.has_text() & np.isnan(as_numbers(x, _locale(env))))


@scalar("True", 0)
def _true(env) -> Duals:
    return Duals.const(TRUE, env.nrows)


@scalar("False", 0)
def _false(env) -> Duals:
    return Duals.const(FALSE, env.nrows)


# ==================================================================================================
# String functions


def _text_fn(x: Duals, func: Callable[[str], object]) -> Duals:
    """Text-valued result of ``func`` on each display text (NULL stays NULL)."""
    return Duals.from_texts(map_distinct(x.display_text(), func))


@scalar("Upper", 1)
def _upper(env, s: Duals) -> Duals:
    return _text_fn(s, str.upper)


@scalar("Lower", 1)
def _lower(env, s: Duals) -> Duals:
    return _text_fn(s, str.lower)


@scalar("Trim", 1)
def _trim(env, s: Duals) -> Duals:
    return _text_fn(s, lambda t: t.strip(" "))


@scalar("LTrim", 1)
def _ltrim(env, s: Duals) -> Duals:
    return _text_fn(s, lambda t: t.lstrip(" "))


@scalar("RTrim", 1)
def _rtrim(env, s: Duals) -> Duals:
    return _text_fn(s, lambda t: t.rstrip(" "))


@scalar("Len", 1)
def _len(env, s: Duals) -> Duals:
    lens = map_distinct(s.display_text(), len)
    return Duals.from_numbers(np.array([np.nan if v is None else v for v in lens], dtype=np.float64))


def _pairwise_text(func: Callable[..., object], s: Duals, *params: Duals, numeric_result: bool = False) -> Duals:
    """Apply ``func(text, *param_values)``; constant parameters keep the per-distinct speed-up."""
    texts = s.display_text()
    consts = all(_is_constant(p) for p in params)
    if consts:
        values = [_param_value(p) for p in params]
        if any(v is None for v in values):
            return Duals.nulls(len(texts))
        out = map_distinct(texts, lambda t: func(t, *values))
    else:
        cols = [_param_column(p) for p in params]
        out = np.empty(len(texts), dtype=object)
        for i, t in enumerate(texts):
            vals = [c[i] for c in cols]
            out[i] = None if t is None or any(v is None for v in vals) else func(t, *vals)
    if numeric_result:
        return Duals.from_numbers(np.array([np.nan if v is None else v for v in out], dtype=np.float64))
    return Duals.from_texts(out)


def _param_value(p: Duals) -> object:
    if not len(p):
        return None
    if not np.isnan(p.num[0]):
        return float(p.num[0])
    return p.text[0]


def _param_column(p: Duals) -> list:
    return [float(n) if not np.isnan(n) else t for n, t in zip(p.num, p.text, strict=True)]


def _int(v: object) -> int:
    if isinstance(v, str):
        try:
            return int(float(v.strip()))
        except ValueError:
            return 0
    return int(v)  # type: ignore[call-overload]


def _str(v: object) -> str:
    if isinstance(v, float):
        from engine.model.numformat import format_default

        return format_default(v)
    return str(v)


@scalar("Left", 2)
def _left(env, s: Duals, n: Duals) -> Duals:
    return _pairwise_text(lambda t, k: t[: max(0, _int(k))], s, n)


@scalar("Right", 2)
def _right(env, s: Duals, n: Duals) -> Duals:
    return _pairwise_text(lambda t, k: t[len(t) - max(0, _int(k)) :] if _int(k) > 0 else "", s, n)


@scalar("Mid", 2, 3)
def _mid(env, s: Duals, start: Duals, n: Duals | None = None) -> Duals:
    if n is None:
        return _pairwise_text(lambda t, a: t[max(0, _int(a) - 1) :] if _int(a) >= 1 else None, s, start)
    return _pairwise_text(
        lambda t, a, k: t[max(0, _int(a) - 1) : max(0, _int(a) - 1) + max(0, _int(k))] if _int(a) >= 1 else None,
        s,
        start,
        n,
    )


def _index(t: str, sub: object, nth: object = 1.0) -> int:
    sub = _str(sub)
    k = _int(nth)
    if not sub or k == 0:
        return 0
    if k > 0:
        pos = -1
        for _ in range(k):
            pos = t.find(sub, pos + 1)
            if pos < 0:
                return 0
        return pos + 1
    pos = len(t)
    for _ in range(-k):
        pos = t.rfind(sub, 0, pos + len(sub) - 1) if pos < len(t) else t.rfind(sub)
        if pos < 0:
            return 0
    return pos + 1


@scalar("Index", 2, 3)
def _index_fn(env, s: Duals, sub: Duals, n: Duals | None = None) -> Duals:
    params = (sub,) if n is None else (sub, n)
    return _pairwise_text(_index, s, *params, numeric_result=True)


@scalar("Replace", 3)
def _replace(env, s: Duals, a: Duals, b: Duals) -> Duals:
    return _pairwise_text(lambda t, x, y: t.replace(_str(x), _str(y)) if _str(x) else t, s, a, b)


def _subfield(t: str, delim: object, n: object) -> str | None:
    delim = _str(delim)
    k = _int(n)
    parts = t.split(delim) if delim else [t]
    if k == 0 or abs(k) > len(parts):
        return None
    return parts[k - 1] if k > 0 else parts[k]


@scalar("SubField", 2, 3)
def _subfield_fn(env, s: Duals, delim: Duals, n: Duals | None = None) -> Duals:
    if n is None:
        raise RowExpansionRequired("SUBFIELD")
    return _pairwise_text(_subfield, s, delim, n)


def subfield_parts(s: Duals, delim: Duals) -> tuple[np.ndarray, Duals]:
    """The row-multiplying form: (source row index per part, the parts). NULL input rows give one
    NULL part, as Qlik keeps the row."""
    texts = s.display_text()
    dl = delim.display_text()
    rows: list[int] = []
    parts: list[str | None] = []
    cache: dict[tuple[str, str], list[str]] = {}
    for i, t in enumerate(texts):
        d = dl[i] if len(dl) > i else None
        if t is None or d is None:
            rows.append(i)
            parts.append(None)
            continue
        key = (t, d)
        got = cache.get(key)
        if got is None:
            got = cache[key] = t.split(d) if d else [t]
        rows.extend([i] * len(got))
        parts.extend(got)
    return np.asarray(rows, dtype=np.intp), Duals.from_texts(parts)


@scalar("SubStringCount", 2)
def _substringcount(env, s: Duals, sub: Duals) -> Duals:
    return _pairwise_text(lambda t, x: t.count(_str(x)) if _str(x) else 0, s, sub, numeric_result=True)


@scalar("Chr", 1)
def _chr(env, n: Duals) -> Duals:
    x = as_numbers(n, _locale(env))
    out = np.full(len(x), None, dtype=object)
    ok = np.flatnonzero(~np.isnan(x) & (x >= 0) & (x < 0x110000))
    if len(ok):
        uniq, inv = np.unique(np.trunc(x[ok]).astype(np.int64), return_inverse=True)
        out[ok] = np.array([chr(int(c)) for c in uniq] + [None], dtype=object)[:-1].take(inv)
    return Duals.from_texts(out)


@scalar("Ord", 1)
def _ord(env, s: Duals) -> Duals:
    vals = map_distinct(s.display_text(), lambda t: ord(t[0]) if t else None)
    return Duals.from_numbers(np.array([np.nan if v is None else v for v in vals], dtype=np.float64))


@scalar("Repeat", 1, 2)
def _repeat(env, s: Duals, n: Duals | None = None) -> Duals:
    if n is None:
        return _text_fn(s, lambda t: t)
    return _pairwise_text(lambda t, k: t * max(0, _int(k)), s, n)


@scalar("KeepChar", 2)
def _keepchar(env, s: Duals, keep: Duals) -> Duals:
    return _pairwise_text(lambda t, k: "".join(c for c in t if c in _str(k)), s, keep)


@scalar("PurgeChar", 2)
def _purgechar(env, s: Duals, purge: Duals) -> Duals:
    return _pairwise_text(lambda t, k: "".join(c for c in t if c not in _str(k)), s, purge)


def _textbetween(t: str, a: object, b: object, nth: object = 1.0) -> str | None:
    a, b = _str(a), _str(b)
    k = _int(nth)
    pos = -1
    for _ in range(max(1, k)):
        pos = t.find(a, pos + 1)
        if pos < 0:
            return None
    start = pos + len(a)
    end = t.find(b, start)
    if end < 0:
        return None
    return t[start:end]


@scalar("TextBetween", 3, 4)
def _textbetween_fn(env, s: Duals, a: Duals, b: Duals, n: Duals | None = None) -> Duals:
    params = (a, b) if n is None else (a, b, n)
    return _pairwise_text(_textbetween, s, *params)


def _capitalize(t: str) -> str:
    return re.sub(r"[^\W_]+", lambda m: m.group(0)[0].upper() + m.group(0)[1:].lower(), t)


@scalar("Capitalize", 1)
def _capitalize_fn(env, s: Duals) -> Duals:
    return _text_fn(s, _capitalize)
