"""Numeric, statistical, financial, colour and range functions of the registry.

Kernels are vectorised over rows with numpy and scipy (``scipy.special`` / ``scipy.stats`` for the
combinatorics and distributions, as the issue asks: no hand-written numerics); the range functions
that pick a value (RangeMode, RangeOnly, RangeMinString...) or solve for a rate (RangeIRR) walk the
rows, one Python step per row. A non-finite result is NULL, as everywhere in the expression language.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import scipy.special as ssp
import scipy.stats as sst

from .aggregations import irr_of, npv_of, xirr_of, xnpv_of
from .duals import Duals, text_ranks
from .functions import (
    RowEnv,
    ScalarFunction,
    _locale,
    _numbers_result,
    _nums,
    _scalar_text,
    _unary_math,
    as_numbers,
    scalar,
)
from .limits import checkpoint
from .objects import NO_TEXT

# ==================================================================================================
# General numeric, hyperbolic


for _fname, _func in {"Cosh": np.cosh, "Sinh": np.sinh, "Tanh": np.tanh}.items():
    scalar(_fname, 1)(_unary_math(_func))


@scalar("e", 0)
def _e(env: RowEnv) -> Duals:
    return Duals.from_numbers(np.full(env.nrows, np.e))


def _whole(x: np.ndarray) -> np.ndarray:
    """Qlik truncates the counts of Fact/Combin/Permut to integers; negatives are NULL."""
    return np.where(x >= 0, np.trunc(x), np.nan)


@scalar("Fact", 1)
def _fact(env: RowEnv, n: Duals) -> Duals:
    (v,) = _nums(env, n)
    return _numbers_result(np.round(ssp.factorial(_whole(v))))


@scalar("Combin", 2)
def _combin(env: RowEnv, n: Duals, k: Duals) -> Duals:
    a, b = (_whole(v) for v in _nums(env, n, k))
    return _numbers_result(np.where(b <= a, np.round(ssp.comb(a, b)), np.nan))


@scalar("Permut", 2)
def _permut(env: RowEnv, n: Duals, k: Duals) -> Duals:
    a, b = (_whole(v) for v in _nums(env, n, k))
    return _numbers_result(np.where(b <= a, np.round(ssp.perm(a, b)), np.nan))


# ==================================================================================================
# Statistical distributions (right-tailed where Qlik documents so)


def _dist(name: str, arity: int, kernel: Callable[..., np.ndarray]) -> None:
    def fn(env: RowEnv, *args: Duals) -> Duals:
        with np.errstate(all="ignore"):
            return _numbers_result(kernel(*_nums(env, *args)))

    scalar(name, arity)(fn)


_dist("NormDist", 3, lambda x, m, s: np.where(s > 0, sst.norm.cdf(x, m, np.where(s > 0, s, 1)), np.nan))
_dist(
    "NormInv",
    3,
    lambda p, m, s: np.where((s > 0) & (p > 0) & (p < 1), sst.norm.ppf(p, m, np.abs(s) + (s == 0)), np.nan),
)
_dist("ChiDist", 2, lambda x, df: np.where(x >= 0, sst.chi2.sf(x, df), np.nan))
_dist("ChiInv", 2, lambda p, df: sst.chi2.isf(p, df))
_dist("FDist", 3, lambda x, d1, d2: np.where(x >= 0, sst.f.sf(x, d1, d2), np.nan))
_dist("FInv", 3, lambda p, d1, d2: sst.f.isf(p, d1, d2))
_dist(
    "TDist",
    3,
    lambda x, df, tails: np.where(
        (x >= 0) & np.isin(tails, (1, 2)), sst.t.sf(x, df) * np.where(tails == 2, 2, 1), np.nan
    ),
)
_dist("TInv", 2, lambda p, df: sst.t.isf(p / 2, df))


# ==================================================================================================
# Financial (Excel conventions: money paid out is negative; type 1 = payments at period start)


def _opt(env: RowEnv, arg: Duals | None, n: int) -> np.ndarray:
    return np.zeros(n) if arg is None else np.nan_to_num(as_numbers(arg, _locale(env)))


def _growth(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    result: np.ndarray = (1 + r) ** n
    return result


def _annuity(r: np.ndarray, n: np.ndarray, typ: np.ndarray) -> np.ndarray:
    """Value at the end of ``n`` periods of a payment of 1 per period."""
    safe = np.where(r == 0, 1.0, r)
    return np.where(r == 0, n, (1 + r * typ) * (_growth(r, n) - 1) / safe)


@scalar("FV", 3, 5)
def _fv(
    env: RowEnv, rate: Duals, nper: Duals, pmt: Duals, pv: Duals | None = None, typ: Duals | None = None
) -> Duals:
    r, n, p = _nums(env, rate, nper, pmt)
    k = len(r)
    with np.errstate(all="ignore"):
        return _numbers_result(-(_opt(env, pv, k) * _growth(r, n) + p * _annuity(r, n, _opt(env, typ, k))))


@scalar("PV", 3, 5)
def _pv(
    env: RowEnv, rate: Duals, nper: Duals, pmt: Duals, fv: Duals | None = None, typ: Duals | None = None
) -> Duals:
    r, n, p = _nums(env, rate, nper, pmt)
    k = len(r)
    with np.errstate(all="ignore"):
        return _numbers_result(-(_opt(env, fv, k) + p * _annuity(r, n, _opt(env, typ, k))) / _growth(r, n))


@scalar("Pmt", 3, 5)
def _pmt(
    env: RowEnv, rate: Duals, nper: Duals, pv: Duals, fv: Duals | None = None, typ: Duals | None = None
) -> Duals:
    r, n, v = _nums(env, rate, nper, pv)
    k = len(r)
    with np.errstate(all="ignore"):
        return _numbers_result(-(_opt(env, fv, k) + v * _growth(r, n)) / _annuity(r, n, _opt(env, typ, k)))


@scalar("NPer", 3, 5)
def _nper(
    env: RowEnv, rate: Duals, pmt: Duals, pv: Duals, fv: Duals | None = None, typ: Duals | None = None
) -> Duals:
    r, p, v = _nums(env, rate, pmt, pv)
    k = len(r)
    f, t = _opt(env, fv, k), _opt(env, typ, k)
    with np.errstate(all="ignore"):
        safe = np.where(r == 0, 1.0, r)
        a = p * (1 + safe * t)
        res = np.where(r == 0, -(f + v) / p, np.log((a - f * safe) / (a + v * safe)) / np.log1p(safe))
    return _numbers_result(res)


@scalar("Rate", 3, 5)
def _rate(
    env: RowEnv, nper: Duals, pmt: Duals, pv: Duals, fv: Duals | None = None, typ: Duals | None = None
) -> Duals:
    """The rate per period solving the annuity equation (Newton steps, vectorised over rows)."""
    n, p, v = _nums(env, nper, pmt, pv)
    k = len(n)
    f, t = _opt(env, fv, k), _opt(env, typ, k)

    def balance(r: np.ndarray) -> np.ndarray:
        result: np.ndarray = v * _growth(r, n) + p * _annuity(r, n, t) + f
        return result

    r = np.full(k, 0.1)
    with np.errstate(all="ignore"):
        for _ in range(100):
            h = 1e-7
            step = balance(r) / ((balance(r + h) - balance(r - h)) / (2 * h))
            r = r - step
            if np.all(~np.isfinite(step) | (np.abs(step) < 1e-12)):
                break
        ok = np.abs(balance(r)) < 1e-6 * np.maximum(1, np.abs(v) + np.abs(f) + np.abs(p) * np.abs(n))
    return _numbers_result(np.where(ok, r, np.nan))


@scalar("BlackAndSchole", 6)
def _black_scholes(
    env: RowEnv, strike: Duals, time_left: Duals, price: Duals, vol: Duals, rate: Duals, kind: Duals
) -> Duals:
    """Option value: ``kind`` 'c'/'call' (or 1) for a call, 'p'/'put' (or 0) for a put."""
    k, t, s, sig, r = _nums(env, strike, time_left, price, vol, rate)
    texts = kind.display_text()
    call = np.array([str(x).strip().lower() in ("c", "call", "1") for x in texts], dtype=bool)
    put = np.array([str(x).strip().lower() in ("p", "put", "0") for x in texts], dtype=bool)
    with np.errstate(all="ignore"):
        d1 = (np.log(s / k) + (r + sig * sig / 2) * t) / (sig * np.sqrt(t))
        d2 = d1 - sig * np.sqrt(t)
        disc = k * np.exp(-r * t)
        c = s * sst.norm.cdf(d1) - disc * sst.norm.cdf(d2)
        p = disc * sst.norm.cdf(-d2) - s * sst.norm.cdf(-d1)
    return _numbers_result(np.where(call, c, np.where(put, p, np.nan)))


# ==================================================================================================
# Colours: a dual of the colour's text and its ARGB number


def _colour(a: np.ndarray, r: np.ndarray, g: np.ndarray, b: np.ndarray, names: list[str]) -> Duals:
    ok = ~(np.isnan(a) | np.isnan(r) | np.isnan(g) | np.isnan(b))
    parts = [np.clip(np.nan_to_num(c), 0, 255).astype(np.int64) for c in (a, r, g, b)]
    num = (parts[0] << 24) + (parts[1] << 16) + (parts[2] << 8) + parts[3]
    text = np.array(names, dtype=object)
    return Duals(np.where(ok, num.astype(np.float64), np.nan), np.where(ok, text, NO_TEXT))


@scalar("RGB", 3)
def _rgb(env: RowEnv, r: Duals, g: Duals, b: Duals) -> Duals:
    rr, gg, bb = _nums(env, r, g, b)
    names = [
        f"RGB({x:.0f},{y:.0f},{z:.0f})" if not np.isnan(x + y + z) else ""
        for x, y, z in zip(rr, gg, bb, strict=True)
    ]
    return _colour(np.full(len(rr), 255.0), rr, gg, bb, names)


@scalar("ARGB", 4)
def _argb(env: RowEnv, a: Duals, r: Duals, g: Duals, b: Duals) -> Duals:
    aa, rr, gg, bb = _nums(env, a, r, g, b)
    names = [
        f"ARGB({w:.0f},{x:.0f},{y:.0f},{z:.0f})" if not np.isnan(w + x + y + z) else ""
        for w, x, y, z in zip(aa, rr, gg, bb, strict=True)
    ]
    return _colour(aa, rr, gg, bb, names)


@scalar("HSL", 3)
def _hsl(env: RowEnv, h: Duals, s: Duals, lum: Duals) -> Duals:
    """Hue, saturation and luminosity in 0..1 to the RGB colour."""
    hh, ss, ll = _nums(env, h, s, lum)
    rgb = np.full((3, len(hh)), np.nan)
    for i, (x, y, z) in enumerate(zip(hh, ss, ll, strict=True)):
        if 0 <= x <= 1 and 0 <= y <= 1 and 0 <= z <= 1:
            rgb[:, i] = np.round(np.array(colorsys.hls_to_rgb(x, z, y)) * 255)
    names = [f"RGB({x:.0f},{y:.0f},{z:.0f})" if not np.isnan(x) else "" for x, y, z in rgb.T]
    return _colour(np.full(len(hh), 255.0), rgb[0], rgb[1], rgb[2], names)


_NAMED_COLOURS = {
    "black": (0, 0, 0), "blue": (0, 0, 128), "brown": (128, 128, 0), "cyan": (0, 128, 128),
    "darkgray": (128, 128, 128), "green": (0, 128, 0), "lightblue": (0, 0, 255), "lightcyan": (0, 255, 255),
    "lightgray": (192, 192, 192), "lightgreen": (0, 255, 0), "lightmagenta": (255, 0, 255),
    "lightred": (255, 0, 0), "magenta": (128, 0, 128), "red": (128, 0, 0), "white": (255, 255, 255),
    "yellow": (255, 255, 0),
}  # fmt: skip


def _named_colour(rgb: tuple[int, int, int]) -> ScalarFunction:
    def fn(env: RowEnv, alpha: Duals | None = None) -> Duals:
        n = env.nrows
        a = np.full(n, 255.0) if alpha is None else as_numbers(alpha, _locale(env))
        r, g, b = (np.full(n, float(c)) for c in rgb)
        names = [f"ARGB({x:.0f},{rgb[0]},{rgb[1]},{rgb[2]})" if not np.isnan(x) else "" for x in a]
        return _colour(a, r, g, b, names)

    return fn


for _cname, _rgbv in _NAMED_COLOURS.items():
    scalar(_cname, 0, 1)(_named_colour(_rgbv))


# ==================================================================================================
# Class, FindOneOf


def _plain(x: float) -> str:
    return f"{x:.15g}"


@scalar("Class", 2, 4)
def _class(
    env: RowEnv, x: Duals, interval: Duals, label: Duals | None = None, offset: Duals | None = None
) -> Duals:
    """The interval holding ``x``: text ``lo <= label < hi``, number ``lo``."""
    v, w = _nums(env, x, interval)
    off = np.zeros(len(v)) if offset is None else as_numbers(offset, _locale(env))
    name = "x" if label is None else (_scalar_text(label) or "x")
    with np.errstate(all="ignore"):
        lo = np.floor((v - off) / w) * w + off
    ok = np.isfinite(lo) & (w > 0)
    texts = np.array(
        [
            f"{_plain(a)} <= {name} < {_plain(a + b)}" if k else None
            for a, b, k in zip(lo, w, ok, strict=True)
        ],
        dtype=object,
    )
    return Duals(np.where(ok, lo, np.nan), texts)


@scalar("FindOneOf", 2, 3)
def _findoneof(env: RowEnv, text: Duals, chars: Duals, count: Duals | None = None) -> Duals:
    """1-based position of the ``count``-th character of ``text`` found in ``chars`` (0 if none)."""
    texts, sets = text.display_text(), chars.display_text()
    nth = np.ones(len(texts)) if count is None else as_numbers(count, _locale(env))
    out = np.full(len(texts), np.nan)
    for i, (t, cs, k) in enumerate(zip(texts, sets, nth, strict=True)):
        if t is None or cs is None or np.isnan(k):
            continue
        hits = [j + 1 for j, ch in enumerate(t) if ch in cs]
        want = int(k)
        out[i] = hits[want - 1] if 1 <= want <= len(hits) else 0
    return Duals.from_numbers(out)


# ==================================================================================================
# Range functions that need more than a column-wise reduction


def _matrix(env: RowEnv, args: tuple[Duals, ...]) -> np.ndarray:
    return np.vstack(_nums(env, *args)) if args else np.empty((0, env.nrows))


def _per_column(m: np.ndarray, kernel: Callable[[np.ndarray], float]) -> np.ndarray:
    out = np.full(m.shape[1], np.nan)
    with np.errstate(all="ignore"):
        for i in range(m.shape[1]):
            if not i & 4095:
                checkpoint()
            col = m[:, i]
            value = kernel(col[~np.isnan(col)])
            out[i] = value if np.isfinite(value) else np.nan
    return out


@scalar("RangeStDev", 1, None)
def _rangestdev(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(
        _per_column(_matrix(env, args), lambda x: np.std(x, ddof=1) if len(x) > 1 else np.nan)
    )


@scalar("RangeSkew", 1, None)
def _rangeskew(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(
        _per_column(_matrix(env, args), lambda x: sst.skew(x, bias=False) if len(x) > 2 else np.nan)
    )


@scalar("RangeKurtosis", 1, None)
def _rangekurtosis(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(
        _per_column(_matrix(env, args), lambda x: sst.kurtosis(x, bias=False) if len(x) > 3 else np.nan)
    )


@scalar("RangeFractile", 2, None)
def _rangefractile(env: RowEnv, frac: Duals, *args: Duals) -> Duals:
    (p,) = _nums(env, frac)
    m = _matrix(env, args)
    out = np.full(m.shape[1], np.nan)
    for i in range(m.shape[1]):
        col = np.sort(m[~np.isnan(m[:, i]), i])
        if len(col) and 0 <= p[i] <= 1:
            out[i] = float(np.quantile(col, p[i]))
    return Duals.from_numbers(out)


@scalar("RangeMissingCount", 1, None)
def _rangemissingcount(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(np.isnan(_matrix(env, args)).sum(axis=0).astype(np.float64))


@scalar("RangeCorrel", 2, None)
def _rangecorrel(env: RowEnv, *args: Duals) -> Duals:
    """Correlation of the (x, y) pairs given as alternating arguments."""
    m = _matrix(env, args)
    xs, ys = m[0::2], m[1::2][: len(m[0::2])]
    xs = xs[: len(ys)]
    out = np.full(m.shape[1], np.nan)
    for i in range(m.shape[1]):
        ok = ~np.isnan(xs[:, i]) & ~np.isnan(ys[:, i])
        a, b = xs[ok, i], ys[ok, i]
        if len(a) > 1 and np.std(a) > 0 and np.std(b) > 0:
            out[i] = float(np.corrcoef(a, b)[0, 1])
    return Duals.from_numbers(out)


@scalar("RangeIRR", 1, None)
def _rangeirr(env: RowEnv, *args: Duals) -> Duals:
    return Duals.from_numbers(_per_column(_matrix(env, args), irr_of))


@scalar("RangeNPV", 2, None)
def _rangenpv(env: RowEnv, rate: Duals, *args: Duals) -> Duals:
    (r,) = _nums(env, rate)
    m = _matrix(env, args)
    out = np.array([npv_of(r[i], m[~np.isnan(m[:, i]), i]) for i in range(m.shape[1])])
    return _numbers_result(out)


def _value_date_pairs(m: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    v, d = m[0::2, i], m[1::2, i]
    v = v[: len(d)]
    ok = ~np.isnan(v) & ~np.isnan(d)
    return v[ok], d[ok]


@scalar("RangeXIRR", 2, None)
def _rangexirr(env: RowEnv, *args: Duals) -> Duals:
    m = _matrix(env, args)
    return _numbers_result(np.array([xirr_of(*_value_date_pairs(m, i)) for i in range(m.shape[1])]))


@scalar("RangeXNPV", 3, None)
def _rangexnpv(env: RowEnv, rate: Duals, *args: Duals) -> Duals:
    (r,) = _nums(env, rate)
    m = _matrix(env, args)
    out = []
    for i in range(m.shape[1]):
        v, d = _value_date_pairs(m, i)
        out.append(xnpv_of(r[i], v, d) if len(v) else np.nan)
    return _numbers_result(np.array(out))


def _pick_per_row(args: tuple[Duals, ...], choose: _Choice) -> Duals:
    """Per row, the argument index ``choose(values)`` picks (None = NULL), as a dual."""
    n = len(args[0]) if args else 0
    nums = np.vstack([a.num for a in args])
    texts = np.vstack([a.display_text() for a in args])
    out_num, out_text = np.full(n, np.nan), np.full(n, None, dtype=object)
    for i in range(n):
        k = choose(nums[:, i], texts[:, i])
        if k is not None:
            out_num[i], out_text[i] = nums[k, i], texts[k, i]
    return Duals(out_num, out_text)


#: Picks, from one row's argument values (numbers, texts), the index of the one to return.
_Choice: TypeAlias = Callable[[np.ndarray, np.ndarray], int | None]


def _value_key(num: float, text: object) -> object:
    return num if not np.isnan(num) else text


def _mode_choice(nums: np.ndarray, texts: np.ndarray) -> int | None:
    counts: dict[object, list[int]] = {}
    for k, (x, t) in enumerate(zip(nums, texts, strict=True)):
        if t is not None or not np.isnan(x):
            counts.setdefault(_value_key(x, t), []).append(k)
    if not counts:
        return None
    best = max(len(v) for v in counts.values())
    top = [v[0] for v in counts.values() if len(v) == best]
    return top[0] if len(top) == 1 else None


def _only_choice(nums: np.ndarray, texts: np.ndarray) -> int | None:
    seen = {
        _value_key(x, t): k
        for k, (x, t) in enumerate(zip(nums, texts, strict=True))
        if t is not None or not np.isnan(x)
    }
    return next(iter(seen.values())) if len(seen) == 1 else None


def _string_choice(last: bool) -> _Choice:
    def choose(nums: np.ndarray, texts: np.ndarray) -> int | None:
        idx = [k for k, t in enumerate(texts) if t is not None]
        if not idx:
            return None
        ranks = text_ranks(np.array([texts[k] for k in idx], dtype=object))
        pos = int(np.argmax(ranks)) if last else int(np.argmin(ranks))
        return idx[pos]

    return choose


@scalar("RangeMode", 1, None)
def _rangemode(env: RowEnv, *args: Duals) -> Duals:
    return _pick_per_row(args, _mode_choice)


@scalar("RangeOnly", 1, None)
def _rangeonly(env: RowEnv, *args: Duals) -> Duals:
    return _pick_per_row(args, _only_choice)


scalar("RangeMinString", 1, None)(lambda env, *args: _pick_per_row(args, _string_choice(False)))
scalar("RangeMaxString", 1, None)(lambda env, *args: _pick_per_row(args, _string_choice(True)))
