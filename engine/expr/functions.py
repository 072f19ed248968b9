"""Scalar (row-wise) functions of the Qlik expression language, vectorised over ``Duals``.

``FUNCTIONS`` maps upper-case names to ``f(env, *args: Duals) -> Duals``; ``call_scalar`` checks the
argument count and dispatches. ``env`` is anything with ``nrows`` and ``locale`` (an ``EvalContext``).
``LAZY_FUNCTIONS`` receive unevaluated argument nodes (``If``, ``Alt``, ``Pick``... evaluate only
what they need). NULL rule: a function returns NULL for a NULL argument unless documented otherwise.

Text functions run once per distinct input (``map_distinct``), never once per row.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import INVALID_PARAMETERS, QixError
from engine.model.numformat import format_default

from .duals import ARROW_TEXT_VOLUME, FALSE, TRUE, Duals, map_distinct
from .formatting import (
    DEFAULT_LOCALE,
    Locale,
    days_in_month,
    format_datetimes,
    format_many,
    format_number_plain,
    format_numbers,
    interpret_texts,
    parse_datetime_texts,
    parse_number_text,
    serial_from_ymd,
    time_parts,
    weekday_monday0,
    ymd_from_serial,
)
from .limits import LimitExceeded, check_length, check_rows, checkpoint, text_lengths
from .objects import NO_TEXT

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
    ``evaluate.row_expanding_calls``) and emits one output row per part (``subfield_parts``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            INVALID_PARAMETERS, name, f"{name} without an index generates rows; only valid in a LOAD"
        )


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
    """Distinct non-None strings and the index of each input in them (dictionary encoding)."""
    if len(texts) <= 16 or int(text_lengths(texts).sum()) > ARROW_TEXT_VOLUME:
        seen: dict[str, int] = {}
        inv = np.array([seen.setdefault(t, len(seen)) for t in texts], dtype=np.intp)
        uniq = np.empty(len(seen), dtype=object)
        uniq[:] = list(seen)
        return uniq, inv
    enc = pc.dictionary_encode(pa.array(texts, type=pa.string()))
    uniq = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    return uniq, np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.intp)


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


#: ``f(env, *args: Duals) -> Duals``; the arity varies per function (``FunctionSpec`` checks it).
ScalarFunction: TypeAlias = Callable[..., Duals]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One entry of the function registry: the kernel, its arity and where Qlik allows it.

    Aggregations have no row kernel (``func`` is None): the evaluation context answers them with
    ``aggregations.reduce_values`` over its groups. ``script``/``chart`` say where the function is
    documented to work (``FirstValue`` only in a script, ``Aggr`` and ``Rank`` only in a chart).
    """

    func: ScalarFunction | None
    min_args: int
    max_args: int | None  # None = variadic
    aggregation: bool = False
    script: bool = True
    chart: bool = True

    def check_arity(self, name: str, count: int) -> None:
        """Raise ``FunctionArgumentError`` unless ``count`` arguments fit this entry."""
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            expected = (
                f"{self.min_args}" if self.max_args == self.min_args
                else f"{self.min_args} or more" if self.max_args is None
                else f"{self.min_args} to {self.max_args}"
            )  # fmt: skip
            raise FunctionArgumentError(name, f"{name} takes {expected} arguments, got {count}")


FUNCTIONS: dict[str, FunctionSpec] = {}
LAZY_FUNCTIONS: dict[str, LazyFunction] = {}


def aggregation(
    name: str, min_args: int, max_args: int | None = -1, *, script: bool = True, chart: bool = True
) -> None:
    """Register the aggregation ``name`` (its kernel lives in ``aggregations.reduce_values``)."""
    hi = min_args if max_args == -1 else max_args
    FUNCTIONS[name.upper()] = FunctionSpec(None, min_args, hi, aggregation=True, script=script, chart=chart)


class RowEnv(Protocol):
    """What a scalar function reads from its caller (an ``EvalContext`` in practice)."""

    @property
    def nrows(self) -> int: ...

    @property
    def locale(self) -> Locale: ...


_A = TypeVar("_A")


class LazyFunction(Protocol):
    """``f(ev, args, env)``: ``ev`` turns an argument (a parse node, or an already evaluated holder
    when called through ``call_scalar``) into its column."""

    def __call__(self, ev: Callable[[_A], Duals], args: Sequence[_A], env: RowEnv, /) -> Duals: ...


_Scalar = TypeVar("_Scalar", bound=Callable[..., Duals])
_Lazy = TypeVar("_Lazy", bound=LazyFunction)


def scalar(name: str, min_args: int, max_args: int | None = -1) -> Callable[[_Scalar], _Scalar]:
    """Register ``f(env, *args)`` under the upper-case ``name`` (``max_args=-1``: same as min)."""

    def deco(func: _Scalar) -> _Scalar:
        FUNCTIONS[name.upper()] = FunctionSpec(func, min_args, min_args if max_args == -1 else max_args)
        return func

    return deco


def call_scalar(name: str, args: list[Duals], env: RowEnv) -> Duals:
    """Call the scalar function ``name`` (case-insensitive) on evaluated arguments."""
    key = name.upper()
    spec = FUNCTIONS.get(key)
    if spec is None:
        raise QixError(INVALID_PARAMETERS, name, f"Unknown function: {name}")
    spec.check_arity(key, len(args))
    if spec.func is None:
        raise QixError(INVALID_PARAMETERS, name, f"{key} is an aggregation, not a row function")
    return spec.func(env, *args)


def lazy(name: str) -> Callable[[_Lazy], _Lazy]:
    def deco(func: _Lazy) -> _Lazy:
        LAZY_FUNCTIONS[name.upper()] = func
        FUNCTIONS.setdefault(name.upper(), FunctionSpec(_lazy_adapter(func), 0, None))
        return func

    return deco


def _lazy_adapter(func: LazyFunction) -> ScalarFunction:
    """Lets ``call_scalar`` run a lazy function on already evaluated arguments."""

    def run(env: RowEnv, *args: Duals) -> Duals:
        holders = tuple(_Evaluated(a) for a in args)
        return func(_evaluated_value, holders, env)

    return run


@dataclass(frozen=True, slots=True)
class _Evaluated:
    value: Duals


def _evaluated_value(holder: _Evaluated) -> Duals:
    return holder.value


def _locale(env: RowEnv) -> Locale:
    return getattr(env, "locale", None) or DEFAULT_LOCALE


# ==================================================================================================
# Conditional and NULL functions (lazy)


def _select(cond: np.ndarray, a: Duals, b: Duals) -> Duals:
    return Duals(np.where(cond, a.num, b.num), np.where(cond, a.text, b.text))


@lazy("If")
def _if(ev: Callable[[_A], Duals], args: Sequence[_A], env: RowEnv) -> Duals:
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
def _alt(ev: Callable[[_A], Duals], args: Sequence[_A], env: RowEnv) -> Duals:
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
def _pick(ev: Callable[[_A], Duals], args: Sequence[_A], env: RowEnv) -> Duals:
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
def _coalesce(ev: Callable[[_A], Duals], args: Sequence[_A], env: RowEnv) -> Duals:
    if not args:
        raise FunctionArgumentError("COALESCE", "COALESCE takes 1 or more arguments")
    result = ev(args[-1])
    for node in reversed(args[:-1]):
        v = ev(node)
        result = _select(~v.is_null(), v, result)
    return result


@scalar("Null", 0)
def _null(env: RowEnv) -> Duals:
    return Duals.nulls(env.nrows)


@scalar("IsNull", 1)
def _isnull(env: RowEnv, x: Duals) -> Duals:
    return Duals.booleans(x.is_null())


@scalar("IsNum", 1)
def _isnum(env: RowEnv, x: Duals) -> Duals:
    return Duals.booleans(~np.isnan(as_numbers(x, _locale(env))))


@scalar("IsText", 1)
def _istext(env: RowEnv, x: Duals) -> Duals:
    return Duals.booleans(x.has_text() & np.isnan(as_numbers(x, _locale(env))))


@scalar("True", 0)
def _true(env: RowEnv) -> Duals:
    return Duals.const(TRUE, env.nrows)


@scalar("False", 0)
def _false(env: RowEnv) -> Duals:
    return Duals.const(FALSE, env.nrows)


# ==================================================================================================
# String functions


def _text_fn(x: Duals, func: Callable[[str], object], what: str = "A text function") -> Duals:
    """Text-valued result of ``func`` on each display text (NULL stays NULL). A result may outgrow its
    input (``Upper('ß')`` is ``SS``), so each distinct result is held to MaxStringLength."""

    def checked(t: str) -> object:
        out = func(t)
        if isinstance(out, str) and len(out) > len(t):
            check_length(len(out), what)
        return out

    return Duals.from_texts(map_distinct(x.display_text(), checked))


@scalar("Upper", 1)
def _upper(env: RowEnv, s: Duals) -> Duals:
    return _text_fn(s, str.upper)


@scalar("Lower", 1)
def _lower(env: RowEnv, s: Duals) -> Duals:
    return _text_fn(s, str.lower)


@scalar("Trim", 1)
def _trim(env: RowEnv, s: Duals) -> Duals:
    return _text_fn(s, lambda t: t.strip(" "))


@scalar("LTrim", 1)
def _ltrim(env: RowEnv, s: Duals) -> Duals:
    return _text_fn(s, lambda t: t.lstrip(" "))


@scalar("RTrim", 1)
def _rtrim(env: RowEnv, s: Duals) -> Duals:
    return _text_fn(s, lambda t: t.rstrip(" "))


@scalar("Len", 1)
def _len(env: RowEnv, s: Duals) -> Duals:
    lens = map_distinct(s.display_text(), len)
    return Duals.from_numbers(np.array([np.nan if v is None else v for v in lens], dtype=np.float64))


def _pairwise_text(
    func: Callable[..., object], s: Duals, *params: Duals, numeric_result: bool = False
) -> Duals:
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
            if not i & 4095:
                checkpoint()
            vals = [c[i] for c in cols]
            out[i] = None if t is None or any(v is None for v in vals) else func(t, *vals)
    if numeric_result:
        return Duals.from_numbers(np.array([np.nan if v is None else v for v in out], dtype=np.float64))
    return Duals.from_texts(out)  # the functions that can grow a text (Repeat, Replace) check first


def _param_value(p: Duals) -> object:
    if not len(p):
        return None
    if not np.isnan(p.num[0]):
        return float(p.num[0])
    return p.text[0]


def _param_column(p: Duals) -> list[object]:
    return [float(n) if not np.isnan(n) else t for n, t in zip(p.num, p.text, strict=True)]


def _int(v: object) -> int:
    """A count or position argument as an int; NaN is 0 and an infinity a huge count (so that a size
    check rejects it instead of ``int()`` overflowing)."""
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            return 0
    if isinstance(v, float) and not np.isfinite(v):
        return 0 if np.isnan(v) else (1 << 62) * (1 if v > 0 else -1)
    if isinstance(v, int | float | np.integer | np.floating):
        return int(v)
    raise TypeError(f"not a count: {v!r}")


def _str(v: object) -> str:
    if isinstance(v, float):
        return format_default(v)
    return str(v)


@scalar("Left", 2)
def _left(env: RowEnv, s: Duals, n: Duals) -> Duals:
    return _pairwise_text(lambda t, k: t[: max(0, _int(k))], s, n)


@scalar("Right", 2)
def _right(env: RowEnv, s: Duals, n: Duals) -> Duals:
    return _pairwise_text(lambda t, k: t[len(t) - max(0, _int(k)) :] if _int(k) > 0 else "", s, n)


@scalar("Mid", 2, 3)
def _mid(env: RowEnv, s: Duals, start: Duals, n: Duals | None = None) -> Duals:
    if n is None:
        return _pairwise_text(lambda t, a: t[max(0, _int(a) - 1) :] if _int(a) >= 1 else None, s, start)
    return _pairwise_text(
        lambda t, a, k: (
            t[max(0, _int(a) - 1) : max(0, _int(a) - 1) + max(0, _int(k))] if _int(a) >= 1 else None
        ),
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
def _index_fn(env: RowEnv, s: Duals, sub: Duals, n: Duals | None = None) -> Duals:
    params = (sub,) if n is None else (sub, n)
    return _pairwise_text(_index, s, *params, numeric_result=True)


def _replace_text(t: str, x: object, y: object) -> str:
    old, new = _str(x), _str(y)
    if not old:
        return t
    if len(new) > len(old):  # predict before building: every occurrence grows the text
        check_length(len(t) + t.count(old) * (len(new) - len(old)), "Replace")
    return t.replace(old, new)


@scalar("Replace", 3)
def _replace(env: RowEnv, s: Duals, a: Duals, b: Duals) -> Duals:
    return _pairwise_text(_replace_text, s, a, b)


def _subfield(t: str, delim: object, n: object) -> str | None:
    delim = _str(delim)
    k = _int(n)
    parts = t.split(delim) if delim else [t]
    if k == 0 or abs(k) > len(parts):
        return None
    return parts[k - 1] if k > 0 else parts[k]


@scalar("SubField", 2, 3)
def _subfield_fn(env: RowEnv, s: Duals, delim: Duals, n: Duals | None = None) -> Duals:
    if n is None:
        raise RowExpansionRequired("SUBFIELD")
    return _pairwise_text(_subfield, s, delim, n)


def subfield_parts(s: Duals, delim: Duals, max_rows: int | None = None) -> tuple[np.ndarray, Duals]:
    """The row-multiplying form: (source row index per part, the parts). NULL input rows give one
    NULL part, as Qlik keeps the row. Parts are counted before they are split out: more than
    ``max_rows`` raises ``LimitExceeded``."""
    texts = s.display_text()
    dl = delim.display_text()
    rows: list[int] = []
    parts: list[str | None] = []
    cache: dict[tuple[str, str], list[str]] = {}
    total = 0
    for i, t in enumerate(texts):
        if not i & 4095:
            checkpoint()
        d = dl[i] if len(dl) > i else None
        if t is None or d is None:
            rows.append(i)
            parts.append(None)
            continue
        key = (t, d)
        got = cache.get(key)
        total += len(got) if got is not None else (t.count(d) + 1 if d else 1)
        if max_rows is not None and total > max_rows:
            raise LimitExceeded(
                "SubField", f"SubField would make more than {max_rows:,} rows (ScriptMaxRows)"
            )
        if got is None:
            got = cache[key] = t.split(d) if d else [t]
        rows.extend([i] * len(got))
        parts.extend(got)
    return np.asarray(rows, dtype=np.intp), Duals.from_texts(parts)


@scalar("SubStringCount", 2)
def _substringcount(env: RowEnv, s: Duals, sub: Duals) -> Duals:
    return _pairwise_text(lambda t, x: t.count(_str(x)) if _str(x) else 0, s, sub, numeric_result=True)


@scalar("Chr", 1)
def _chr(env: RowEnv, n: Duals) -> Duals:
    x = as_numbers(n, _locale(env))
    out = np.full(len(x), None, dtype=object)
    ok = np.flatnonzero(~np.isnan(x) & (x >= 0) & (x < 0x110000))
    if len(ok):
        uniq, inv = np.unique(np.trunc(x[ok]).astype(np.int64), return_inverse=True)
        out[ok] = np.array([chr(int(c)) for c in uniq] + [None], dtype=object)[:-1].take(inv)
    return Duals.from_texts(out)


@scalar("Ord", 1)
def _ord(env: RowEnv, s: Duals) -> Duals:
    vals = map_distinct(s.display_text(), lambda t: ord(t[0]) if t else None)
    return Duals.from_numbers(np.array([np.nan if v is None else v for v in vals], dtype=np.float64))


def _repeat_text(t: str, k: object) -> str:
    count = max(0, _int(k))
    check_length(len(t) * count, "Repeat")  # before the build: one C-level copy holds the GIL throughout
    return t * count


@scalar("Repeat", 1, 2)
def _repeat(env: RowEnv, s: Duals, n: Duals | None = None) -> Duals:
    if n is None:
        return _text_fn(s, lambda t: t)
    return _pairwise_text(_repeat_text, s, n)


def _keep_chars(t: str, k: object) -> str:
    chars = _str(k)
    if not chars:
        return ""
    return re.sub(f"[^{re.escape(chars)}]+", "", t)  # one C-level pass, not a Python loop per character


def _purge_chars(t: str, k: object) -> str:
    return t.translate(dict.fromkeys(map(ord, _str(k))))


@scalar("KeepChar", 2)
def _keepchar(env: RowEnv, s: Duals, keep: Duals) -> Duals:
    return _pairwise_text(_keep_chars, s, keep)


@scalar("PurgeChar", 2)
def _purgechar(env: RowEnv, s: Duals, purge: Duals) -> Duals:
    return _pairwise_text(_purge_chars, s, purge)


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
def _textbetween_fn(env: RowEnv, s: Duals, a: Duals, b: Duals, n: Duals | None = None) -> Duals:
    params = (a, b) if n is None else (a, b, n)
    return _pairwise_text(_textbetween, s, *params)


def _capitalize(t: str) -> str:
    return re.sub(r"[^\W_]+", lambda m: m.group(0)[0].upper() + m.group(0)[1:].lower(), t)


#: Qlik code page numbers with a Python codec of another name
_CODEPAGES = {65001: "utf-8", 1200: "utf-16-le", 1201: "utf-16-be", 28591: "latin-1", 20127: "ascii"}


def _reencode(t: str, codepage: object) -> str | None:
    """The text's bytes (as the default Windows-1252 reading produced them) read in ``codepage``."""
    try:
        cp = int(float(str(codepage)))
        codec = _CODEPAGES.get(cp, f"cp{cp}")
        return t.encode("cp1252", errors="strict").decode(codec, errors="replace")
    except (ValueError, LookupError, UnicodeEncodeError):
        return None


@scalar("ApplyCodepage", 2)
def _applycodepage(env: RowEnv, s: Duals, codepage: Duals) -> Duals:
    return _pairwise_text(_reencode, s, codepage)


@scalar("Capitalize", 1)
def _capitalize_fn(env: RowEnv, s: Duals) -> Duals:
    return _text_fn(s, _capitalize)


# ==================================================================================================
# Matching


def _match(env: RowEnv, s: Duals, options: tuple[Duals, ...], mode: str) -> Duals:
    """Index (1-based) of the first option equal to ``s``; 0 when none; NULL when ``s`` is NULL."""
    texts = s.display_text()
    n = len(texts)
    result = np.zeros(n, dtype=np.float64)
    undecided = np.ones(n, dtype=bool)
    arrow = pa.array(texts, type=pa.string())
    for k, opt in enumerate(options, start=1):
        if _is_constant(opt):
            pat = _scalar_text(opt)
            if pat is None:
                continue
            if mode == "exact":
                hit = pc.equal(arrow, pat)
            elif mode == "mix":
                hit = pc.equal(pc.utf8_lower(arrow), pat.lower())
            else:
                hit = pc.match_substring_regex(arrow, wildcard_regex(pat), ignore_case=True)
            hit = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
        else:
            other = opt.display_text()
            if mode == "exact":
                hit = np.array([a is not None and a == b for a, b in zip(texts, other, strict=True)])
            elif mode == "mix":
                hit = np.array(
                    [
                        a is not None and b is not None and a.lower() == b.lower()
                        for a, b in zip(texts, other, strict=True)
                    ]
                )
            else:
                hit = np.array(
                    [
                        a is not None
                        and b is not None
                        and re.match(wildcard_regex(b), a, re.IGNORECASE | re.DOTALL) is not None
                        for a, b in zip(texts, other, strict=True)
                    ]
                )
        newly = hit & undecided
        result[newly] = k
        undecided &= ~hit
    result[s.is_null()] = np.nan
    return Duals.from_numbers(result)


@scalar("Match", 2, None)
def _match_fn(env: RowEnv, s: Duals, *options: Duals) -> Duals:
    return _match(env, s, options, "exact")


@scalar("MixMatch", 2, None)
def _mixmatch(env: RowEnv, s: Duals, *options: Duals) -> Duals:
    return _match(env, s, options, "mix")


@scalar("WildMatch", 2, None)
def _wildmatch(env: RowEnv, s: Duals, *options: Duals) -> Duals:
    return _match(env, s, options, "wild")


# ==================================================================================================
# Formatting and interpretation functions


def _opt_text(d: Duals | None) -> str | None:
    return None if d is None else _scalar_text(d)


def _formatted(nums: np.ndarray, render: Callable[[float], str]) -> Duals:
    """Duals whose number is ``nums`` and whose text is ``render(num)`` (per distinct number)."""
    nums = np.where(np.isfinite(nums), nums, np.nan)
    return Duals(nums.astype(np.float64), format_many(nums, render))


@scalar("Num", 1, 4)
def _num(
    env: RowEnv, x: Duals, fmt: Duals | None = None, dec: Duals | None = None, thou: Duals | None = None
) -> Duals:
    loc = _locale(env)
    nums = as_numbers(x, loc)
    f, d, t = _opt_text(fmt), _opt_text(dec), _opt_text(thou)
    if not f:
        if d is not None:
            _check_format(1, "", d, None, "Num")
            return _formatted(nums, lambda v: format_default(v).replace(".", d))
        return _formatted(nums, lambda v: format_number_plain(v, loc))
    return _formatted_array(nums, f, d, t, loc)


def _check_format(count: int, fmt: str, dec: str | None, thou: str | None, what: str) -> None:
    """Predict the texts a format makes before making them: a format code renders each of its
    characters as at most a few (``MMMM`` as ``September``, ``D`` as ``12``), and the digits of a
    float (at most ~310, one separator per three) come on top."""
    per_value = 4 * len(fmt) + 32 + 320 * (1 + len(thou or "")) // 3 + 320 + len(dec or "")
    check_length(per_value, what)
    check_rows(count, per_value * 4, what)


def _formatted_array(nums: np.ndarray, fmt: str, dec: str | None, thou: str | None, loc: Locale) -> Duals:
    """Duals with numbers ``nums`` and their text in a number format, formatted per distinct value."""
    nums = np.where(np.isfinite(nums), nums, np.nan)
    out = np.full(len(nums), None, dtype=object)
    idx = np.flatnonzero(~np.isnan(nums))
    if len(idx):
        uniq, inv = np.unique(nums.take(idx), return_inverse=True)
        _check_format(len(uniq), fmt, dec, thou, "A number format")
        out[idx] = format_numbers(uniq, fmt, dec, thou, loc).take(inv)
    return Duals(nums, out)


@scalar("Money", 1, 4)
def _money(
    env: RowEnv, x: Duals, fmt: Duals | None = None, dec: Duals | None = None, thou: Duals | None = None
) -> Duals:
    loc = _locale(env)
    nums = as_numbers(x, loc)
    f = _opt_text(fmt) or loc.money_format
    d = _opt_text(dec) or (loc.money_decimal_sep if fmt is None else None)
    t = _opt_text(thou) or (loc.money_thousand_sep if fmt is None else None)
    return _formatted_array(nums, f, d, t, loc)


def _interpreted(x: Duals, parse: Callable[[str], float]) -> Duals:
    """Duals keeping the input text and gaining the parsed number (NULL where it does not parse)."""
    texts = x.display_text()
    values = map_distinct(texts, parse)
    nums = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    ok = ~np.isnan(nums)
    return Duals(np.where(ok, nums, np.nan), np.where(ok, texts, NO_TEXT))


@scalar("Num#", 1, 4)
def _num_hash(
    env: RowEnv, x: Duals, fmt: Duals | None = None, dec: Duals | None = None, thou: Duals | None = None
) -> Duals:
    loc = _locale(env)
    f, d, t = _opt_text(fmt), _opt_text(dec), _opt_text(thou)
    return _interpreted(x, lambda s: parse_number_text(s, f, d, t, loc))


@scalar("Money#", 1, 4)
def _money_hash(
    env: RowEnv, x: Duals, fmt: Duals | None = None, dec: Duals | None = None, thou: Duals | None = None
) -> Duals:
    loc = _locale(env)
    f = _opt_text(fmt) or loc.money_format
    d = _opt_text(dec) or loc.money_decimal_sep
    t = _opt_text(thou) or loc.money_thousand_sep
    return _interpreted(x, lambda s: parse_number_text(s, f, d, t, loc))


@scalar("Text", 1)
def _text(env: RowEnv, x: Duals) -> Duals:
    return Duals.from_texts(x.display_text())


@scalar("Dual", 2)
def _dual(env: RowEnv, text: Duals, num: Duals) -> Duals:
    nums = as_numbers(num, _locale(env))
    texts = text.display_text()
    return Duals(nums, texts)


def _date_formatter(kind: str) -> ScalarFunction:
    def render_fn(env: RowEnv, x: Duals, fmt: Duals | None = None) -> Duals:
        loc = _locale(env)
        f = _opt_text(fmt) or _default_format(kind, loc)
        return _formatted_dates(as_numbers(x, loc), f, loc, kind == "interval")

    return render_fn


def _date_parser(kind: str) -> ScalarFunction:
    def parse_fn(env: RowEnv, x: Duals, fmt: Duals | None = None) -> Duals:
        loc = _locale(env)
        f = _opt_text(fmt) or _default_format(kind, loc)
        texts = x.display_text()
        n = len(texts)
        nums = np.full(n, np.nan)
        idx = np.flatnonzero(np.not_equal(texts, NO_TEXT))
        if len(idx):
            uniq, inv = _unique_texts(texts.take(idx))
            nums[idx] = parse_datetime_texts(uniq, f, loc, interval=kind == "interval").take(inv)
        ok = ~np.isnan(nums)
        return Duals(nums, np.where(ok, texts, NO_TEXT))

    return parse_fn


def _default_format(kind: str, loc: Locale) -> str:
    return {
        "date": loc.date_format,
        "time": loc.time_format,
        "timestamp": loc.timestamp_format,
        "interval": loc.interval_format,
    }[kind]


for _kind, _name in (
    ("date", "Date"),
    ("time", "Time"),
    ("timestamp", "Timestamp"),
    ("interval", "Interval"),
):
    scalar(_name, 1, 2)(_date_formatter(_kind))
    scalar(_name + "#", 1, 2)(_date_parser(_kind))


def _date_result(serial: np.ndarray, env: RowEnv, kind: str = "date") -> Duals:
    loc = _locale(env)
    return _formatted_dates(np.asarray(serial, dtype=np.float64), _default_format(kind, loc), loc)


def _formatted_dates(nums: np.ndarray, fmt: str, loc: Locale, interval: bool = False) -> Duals:
    """Duals with numbers ``nums`` and their text in a date/time format, per distinct value."""
    nums = np.where(np.isfinite(nums), nums, np.nan)
    out = np.full(len(nums), None, dtype=object)
    idx = np.flatnonzero(~np.isnan(nums))
    if len(idx):
        uniq, inv = np.unique(nums.take(idx), return_inverse=True)
        _check_format(len(uniq), fmt, None, None, "A date format")
        out[idx] = format_datetimes(uniq, fmt, loc, interval).take(inv)
    return Duals(nums, out)


# ==================================================================================================
# Date and time functions


def _serials(env: RowEnv, x: Duals) -> np.ndarray:
    return as_numbers(x, _locale(env))


def _parts(env: RowEnv, x: Duals) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    s = _serials(env, x)
    y, m, d = ymd_from_serial(s)
    return s, y, m, d


def _int_result(values: np.ndarray, valid: np.ndarray) -> Duals:
    return Duals.from_numbers(np.where(valid, values.astype(np.float64), np.nan))


@scalar("Year", 1)
def _year(env: RowEnv, x: Duals) -> Duals:
    s, y, _, _ = _parts(env, x)
    return _int_result(y, ~np.isnan(s))


@scalar("Month", 1)
def _month(env: RowEnv, x: Duals) -> Duals:
    s, _, m, _ = _parts(env, x)
    ok = ~np.isnan(s)
    names = np.array([None, *_locale(env).month_names], dtype=object)
    return Duals(np.where(ok, m.astype(np.float64), np.nan), names.take(np.where(ok, m, 0)))


@scalar("Day", 1)
def _day(env: RowEnv, x: Duals) -> Duals:
    s, _, _, d = _parts(env, x)
    return _int_result(d, ~np.isnan(s))


def _first_week_day(env: RowEnv, arg: Duals | None) -> int:
    v = None if arg is None else _scalar_arg(arg)
    return int(v) % 7 if v is not None else _locale(env).first_week_day


def _week_start(serial: np.ndarray, first: int) -> np.ndarray:
    day = np.floor(np.nan_to_num(serial))
    result: np.ndarray = day - np.mod(weekday_monday0(day) - first, 7)
    return result


def week_numbers(
    serial: np.ndarray, locale: Locale, first: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(week number, week year) under the locale's week rules (ISO 8601 by default)."""
    first = locale.first_week_day if first is None else first
    day = np.floor(np.nan_to_num(serial))
    y, _, _ = ymd_from_serial(day)
    ws = _week_start(day, first)
    if locale.broken_weeks:
        jan1 = serial_from_ymd(y, 1, 1)
        return (ws - _week_start(jan1, first)) // 7 + 1, y.astype(np.float64)
    ref = locale.reference_day if locale.reference_day > 0 else 4

    def week1_start(year: np.ndarray) -> np.ndarray:
        return _week_start(serial_from_ymd(year, 1, ref), first)

    wy = y.copy()
    wy = np.where(ws < week1_start(y), y - 1, wy)
    wy = np.where(ws >= week1_start(y + 1), y + 1, wy)
    week = (ws - week1_start(wy)) // 7 + 1
    return week, wy.astype(np.float64)


@scalar("Week", 1, 4)
def _week(env: RowEnv, x: Duals, first: Duals | None = None, *_rest: Duals) -> Duals:
    s = _serials(env, x)
    week, _ = week_numbers(s, _locale(env), _first_week_day(env, first) if first is not None else None)
    return _int_result(week, ~np.isnan(s))


@scalar("WeekYear", 1, 4)
def _weekyear(env: RowEnv, x: Duals, first: Duals | None = None, *_rest: Duals) -> Duals:
    s = _serials(env, x)
    _, wy = week_numbers(s, _locale(env), _first_week_day(env, first) if first is not None else None)
    return _int_result(wy, ~np.isnan(s))


@scalar("WeekDay", 1, 2)
def _weekday(env: RowEnv, x: Duals, first: Duals | None = None) -> Duals:
    s = _serials(env, x)
    ok = ~np.isnan(s)
    wd = weekday_monday0(np.nan_to_num(s))
    num = np.mod(wd - _first_week_day(env, first), 7)
    names = np.array(_locale(env).day_names, dtype=object)
    return Duals(np.where(ok, num.astype(np.float64), np.nan), np.where(ok, names.take(wd), NO_TEXT))


def _time_component(index: int) -> ScalarFunction:
    def fn(env: RowEnv, x: Duals) -> Duals:
        s = _serials(env, x)
        return _int_result(time_parts(s)[index], ~np.isnan(s))

    return fn


scalar("Hour", 1)(_time_component(0))
scalar("Minute", 1)(_time_component(1))
scalar("Second", 1)(_time_component(2))


def now_serial() -> float:
    """The current local time as a serial number."""
    now = _dt.datetime.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = float(serial_from_ymd(np.array([now.year]), np.array([now.month]), np.array([now.day]))[0])
    return day + (now - midnight).total_seconds() / 86400.0


@scalar("Today", 0, 1)
def _today(env: RowEnv, _mode: Duals | None = None) -> Duals:
    return _date_result(np.full(env.nrows, np.floor(now_serial())), env)


@scalar("Now", 0, 1)
def _now(env: RowEnv, _mode: Duals | None = None) -> Duals:
    return _date_result(np.full(env.nrows, now_serial()), env, "timestamp")


@scalar("MakeDate", 1, 3)
def _makedate(env: RowEnv, y: Duals, m: Duals | None = None, d: Duals | None = None) -> Duals:
    loc = _locale(env)
    yy = as_numbers(y, loc)
    mm = as_numbers(m, loc) if m is not None else np.ones(len(yy))
    dd = as_numbers(d, loc) if d is not None else np.ones(len(yy))
    ok = ~np.isnan(yy) & ~np.isnan(mm) & ~np.isnan(dd) & (mm >= 1) & (mm <= 12) & (dd >= 1)
    yi, mi, di = (np.nan_to_num(a, nan=1).astype(np.int64) for a in (yy, mm, dd))
    ok &= di <= days_in_month(yi, np.clip(mi, 1, 12))
    return _date_result(np.where(ok, serial_from_ymd(yi, np.clip(mi, 1, 12), di), np.nan), env)


@scalar("MakeTime", 1, 3)
def _maketime(env: RowEnv, h: Duals, m: Duals | None = None, s: Duals | None = None) -> Duals:
    loc = _locale(env)
    hh = as_numbers(h, loc)
    mm = as_numbers(m, loc) if m is not None else np.zeros(len(hh))
    ss = as_numbers(s, loc) if s is not None else np.zeros(len(hh))
    return _date_result((hh * 3600 + mm * 60 + ss) / 86400.0, env, "time")


def _shift(env: RowEnv, arg: Duals | None, n: int) -> np.ndarray:
    if arg is None:
        return np.zeros(n, dtype=np.int64)
    result: np.ndarray = np.trunc(np.nan_to_num(as_numbers(arg, _locale(env)))).astype(np.int64)
    return result


def _period_start(
    months: int,
    env: RowEnv,
    x: Duals,
    shift: Duals | None,
    first_month: Duals | None = None,
    end: bool = False,
) -> Duals:
    s, y, m, _ = _parts(env, x)
    k = _shift(env, shift, len(s))
    fm = _locale(env).first_month_of_year
    if first_month is not None:
        v = _scalar_arg(first_month)
        fm = int(v) if v is not None else fm
    if months == 1:
        fm = 1
    offset = np.mod(m - fm, months)
    start_m = m - offset + k * months
    serial = serial_from_ymd(y, start_m + (months if end else 0), 1)
    if end:
        serial = serial - 1.0 / 86_400_000
    return _date_result(np.where(np.isnan(s), np.nan, serial), env)


@scalar("MonthStart", 1, 2)
def _monthstart(env: RowEnv, x: Duals, shift: Duals | None = None) -> Duals:
    return _period_start(1, env, x, shift)


@scalar("MonthEnd", 1, 2)
def _monthend(env: RowEnv, x: Duals, shift: Duals | None = None) -> Duals:
    return _period_start(1, env, x, shift, end=True)


@scalar("QuarterStart", 1, 3)
def _quarterstart(env: RowEnv, x: Duals, shift: Duals | None = None, fm: Duals | None = None) -> Duals:
    return _period_start(3, env, x, shift, fm)


@scalar("QuarterEnd", 1, 3)
def _quarterend(env: RowEnv, x: Duals, shift: Duals | None = None, fm: Duals | None = None) -> Duals:
    return _period_start(3, env, x, shift, fm, end=True)


@scalar("YearStart", 1, 3)
def _yearstart(env: RowEnv, x: Duals, shift: Duals | None = None, fm: Duals | None = None) -> Duals:
    return _period_start(12, env, x, shift, fm)


@scalar("YearEnd", 1, 3)
def _yearend(env: RowEnv, x: Duals, shift: Duals | None = None, fm: Duals | None = None) -> Duals:
    return _period_start(12, env, x, shift, fm, end=True)


@scalar("MonthName", 1, 2)
def _monthname(env: RowEnv, x: Duals, shift: Duals | None = None) -> Duals:
    start = _period_start(1, env, x, shift)
    loc = _locale(env)
    return _formatted_dates(start.num, "MMM YYYY", loc)


@scalar("WeekStart", 1, 3)
def _weekstart(env: RowEnv, x: Duals, shift: Duals | None = None, first: Duals | None = None) -> Duals:
    s = _serials(env, x)
    ws = _week_start(s, _first_week_day(env, first)) + 7 * _shift(env, shift, len(s))
    return _date_result(np.where(np.isnan(s), np.nan, ws), env)


@scalar("WeekEnd", 1, 3)
def _weekend(env: RowEnv, x: Duals, shift: Duals | None = None, first: Duals | None = None) -> Duals:
    s = _serials(env, x)
    ws = _week_start(s, _first_week_day(env, first)) + 7 * _shift(env, shift, len(s))
    return _date_result(np.where(np.isnan(s), np.nan, ws + 7 - 1.0 / 86_400_000), env)


@scalar("DayStart", 1, 3)
def _daystart(env: RowEnv, x: Duals, shift: Duals | None = None, _offset: Duals | None = None) -> Duals:
    s = _serials(env, x)
    return _date_result(np.floor(s) + _shift(env, shift, len(s)), env, "timestamp")


@scalar("DayEnd", 1, 3)
def _dayend(env: RowEnv, x: Duals, shift: Duals | None = None, _offset: Duals | None = None) -> Duals:
    s = _serials(env, x)
    return _date_result(np.floor(s) + _shift(env, shift, len(s)) + 1 - 1.0 / 86_400_000, env, "timestamp")


def _add_months(env: RowEnv, x: Duals, n: np.ndarray, mode: Duals | None = None) -> Duals:
    s, y, m, d = _parts(env, x)
    target_m = m + n
    ty = y + np.floor_divide(target_m - 1, 12)
    tm = np.mod(target_m - 1, 12) + 1
    last = days_in_month(ty, tm)
    end_mode = mode is not None and _scalar_arg(mode) == 1
    if end_mode:
        from_end = days_in_month(y, m) - d
        td = np.maximum(1, last - from_end)
    else:
        td = np.minimum(d, last)
    frac = np.nan_to_num(s) - np.floor(np.nan_to_num(s))
    return _date_result(np.where(np.isnan(s), np.nan, serial_from_ymd(ty, tm, td) + frac), env)


@scalar("AddMonths", 2, 3)
def _addmonths(env: RowEnv, x: Duals, n: Duals, mode: Duals | None = None) -> Duals:
    return _add_months(env, x, _shift(env, n, len(x)), mode)


@scalar("AddYears", 2)
def _addyears(env: RowEnv, x: Duals, n: Duals) -> Duals:
    return _add_months(env, x, 12 * _shift(env, n, len(x)))


# ==================================================================================================
# Numeric functions


def _nums(env: RowEnv, *args: Duals) -> list[np.ndarray]:
    loc = _locale(env)
    return [as_numbers(a, loc) for a in args]


def _step_offset(
    env: RowEnv, n: int, step: Duals | None, offset: Duals | None
) -> tuple[np.ndarray, np.ndarray]:
    st = as_numbers(step, _locale(env)) if step is not None else np.ones(n)
    off = as_numbers(offset, _locale(env)) if offset is not None else np.zeros(n)
    return st, off


def _rounding(kind: str) -> ScalarFunction:
    def fn(env: RowEnv, x: Duals, step: Duals | None = None, offset: Duals | None = None) -> Duals:
        (v,) = _nums(env, x)
        st, off = _step_offset(env, len(v), step, offset)
        with np.errstate(all="ignore"):
            q = (v - off) / st
            if kind == "round":
                # Qlik rounds a value exactly between two steps upwards (Round(-2.5) = -2); a relative
                # few ulps absorb binary noise (2.675 / 0.01 = 267.49999999999997 -> 268).
                r = np.floor(q + 0.5 + 4 * np.spacing(np.abs(q)))
            elif kind == "floor":
                r = np.floor(q + 4 * np.spacing(np.abs(q)))
            else:
                r = np.ceil(q - 4 * np.spacing(np.abs(q)))
            res = r * st + off
        res = np.where(st == 0, v, res)
        # Trim binary noise such as 0.30000000000000004 from the step multiplication.
        res = np.round(res, 12)
        return _numbers_result(res)

    return fn


scalar("Round", 1, 3)(_rounding("round"))
scalar("Floor", 1, 3)(_rounding("floor"))
scalar("Ceil", 1, 3)(_rounding("ceil"))


@scalar("Mod", 2)
def _mod(env: RowEnv, a: Duals, b: Duals) -> Duals:
    x, y = _nums(env, a, b)
    with np.errstate(all="ignore"):
        xi, yi = np.trunc(x), np.trunc(y)
        res = np.mod(xi, yi)
    return _numbers_result(np.where(yi > 0, res, np.nan))


@scalar("Fmod", 2)
def _fmod(env: RowEnv, a: Duals, b: Duals) -> Duals:
    x, y = _nums(env, a, b)
    with np.errstate(all="ignore"):
        return _numbers_result(np.fmod(x, y))


@scalar("Div", 2)
def _div(env: RowEnv, a: Duals, b: Duals) -> Duals:
    x, y = _nums(env, a, b)
    with np.errstate(all="ignore"):
        return _numbers_result(np.trunc(x / y))


def _unary_math(func: Callable[[np.ndarray], np.ndarray]) -> ScalarFunction:
    def fn(env: RowEnv, x: Duals) -> Duals:
        (v,) = _nums(env, x)
        with np.errstate(all="ignore"):
            return _numbers_result(func(v))

    return fn


_UNARY_MATH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Fabs": np.abs,
    "Sqr": np.square,
    "Sqrt": np.sqrt,
    "Exp": np.exp,
    "Log": np.log,
    "Log10": np.log10,
    "Sign": np.sign,
    "Frac": lambda v: v - np.trunc(v),
    "Sin": np.sin,
    "Cos": np.cos,
    "Tan": np.tan,
    "ASin": np.arcsin,
    "ACos": np.arccos,
    "ATan": np.arctan,
    "Integer": np.trunc,
}
for _fname, _func in _UNARY_MATH.items():
    scalar(_fname, 1)(_unary_math(_func))


@scalar("Pow", 2)
def _pow(env: RowEnv, a: Duals, b: Duals) -> Duals:
    x, y = _nums(env, a, b)
    with np.errstate(all="ignore"):
        return _numbers_result(np.power(x, y))


@scalar("Atan2", 2)
def _atan2(env: RowEnv, a: Duals, b: Duals) -> Duals:
    x, y = _nums(env, a, b)
    return _numbers_result(np.arctan2(x, y))


@scalar("Pi", 0)
def _pi(env: RowEnv) -> Duals:
    return Duals.const(float(np.pi), env.nrows)


def _parity(remainder: int) -> ScalarFunction:
    def fn(env: RowEnv, x: Duals) -> Duals:
        (v,) = _nums(env, x)
        ok = ~np.isnan(v) & (v == np.trunc(v))
        res = np.where(np.mod(np.nan_to_num(v), 2) == remainder, TRUE, FALSE)
        return Duals.from_numbers(np.where(ok, res, np.nan))

    return fn


scalar("Even", 1)(_parity(0))
scalar("Odd", 1)(_parity(1))


@scalar("BitCount", 1)
def _bitcount(env: RowEnv, x: Duals) -> Duals:
    (v,) = _nums(env, x)
    ok = ~np.isnan(v)
    ints = np.trunc(np.nan_to_num(v)).astype(np.int64).view(np.uint64)
    counts = (
        np.bitwise_count(ints)
        if hasattr(np, "bitwise_count")
        else np.array([bin(i).count("1") for i in ints])
    )
    return _int_result(counts, ok)


@scalar("Rand", 0)
def _rand(env: RowEnv) -> Duals:
    return Duals.from_numbers(np.random.default_rng().random(env.nrows))


# ==================================================================================================
# Hashes


def _hash(bits: int) -> ScalarFunction:
    nbytes = bits // 8

    def fn(env: RowEnv, *args: Duals) -> Duals:
        n = len(args[0]) if args else env.nrows
        texts = [a.display_text(null="") for a in args]
        out = np.empty(n, dtype=object)
        cache: dict[tuple[str, ...], str] = {}
        for i in range(n):
            if not i & 4095:
                checkpoint()
            key = tuple(t[i] for t in texts)
            h = cache.get(key)
            if h is None:
                digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()[:nbytes]
                h = cache[key] = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
            out[i] = h
        return Duals.from_texts(out)

    return fn


scalar("Hash128", 1, None)(_hash(128))
scalar("Hash160", 1, None)(_hash(160))
scalar("Hash256", 1, None)(_hash(256))


# ==================================================================================================
# Range functions (across arguments, per row)


def _stack(env: RowEnv, args: tuple[Duals, ...]) -> np.ndarray:
    return np.vstack(_nums(env, *args)) if args else np.empty((0, env.nrows))


@scalar("RangeSum", 1, None)
def _rangesum(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(np.nansum(_stack(env, args), axis=0))


@scalar("RangeMin", 1, None)
def _rangemin(env: RowEnv, *args: Duals) -> Duals:
    m = _stack(env, args)
    with np.errstate(all="ignore"):
        res = np.where(np.isnan(m).all(axis=0), np.nan, np.nanmin(np.where(np.isnan(m), np.inf, m), axis=0))
    return Duals.from_numbers(res)


@scalar("RangeMax", 1, None)
def _rangemax(env: RowEnv, *args: Duals) -> Duals:
    m = _stack(env, args)
    res = np.where(np.isnan(m).all(axis=0), np.nan, np.max(np.where(np.isnan(m), -np.inf, m), axis=0))
    return Duals.from_numbers(res)


@scalar("RangeAvg", 1, None)
def _rangeavg(env: RowEnv, *args: Duals) -> Duals:
    m = _stack(env, args)
    cnt = (~np.isnan(m)).sum(axis=0)
    with np.errstate(all="ignore"):
        res = np.where(cnt > 0, np.nansum(m, axis=0) / cnt, np.nan)
    return Duals.from_numbers(res)


@scalar("RangeCount", 1, None)
def _rangecount(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(
        sum(((~a.is_null()).astype(np.float64) for a in args), start=np.zeros(len(args[0])))
    )


@scalar("RangeNumericCount", 1, None)
def _rangenumericcount(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers((~np.isnan(_stack(env, args))).sum(axis=0).astype(np.float64))


@scalar("RangeNullCount", 1, None)
def _rangenullcount(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(
        sum((a.is_null().astype(np.float64) for a in args), start=np.zeros(len(args[0])))
    )


@scalar("RangeTextCount", 1, None)
def _rangetextcount(env: RowEnv, *args: Duals) -> Duals:
    m = _stack(env, args)
    has_text = np.vstack([a.has_text() for a in args])
    return Duals.from_numbers((has_text & np.isnan(m)).sum(axis=0).astype(np.float64))
