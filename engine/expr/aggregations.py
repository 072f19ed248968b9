"""Aggregation kernels shared by chart calculation and the script's GROUP BY.

One definition per aggregation: ``reduce_values(name, g, n, values, locale, extra)`` reduces the
values of rows labelled with group ids ``g`` (``0..n-1``) to one value per group. Charts
(``engine.calc.aggregate``) and scripts (``engine.script.context``) both call it, so ``Concat``,
``Median`` or ``Stdev`` give the same answer on the same rows wherever they run. Which names are
aggregations, their arity and where they are allowed is recorded in the function registry
(``functions.FUNCTIONS``, entries with ``aggregation=True``) by the ``aggregation`` calls below.

The common reductions are vectorised with ``np.bincount``/``np.lexsort``; the statistical and
financial ones (Correl, Skew, LINEST_*, IRR, XNPV...) run a numeric kernel per group over sorted
slices, which costs one Python call per group, not per row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.optimize as sopt
import scipy.stats as sst

from engine.errors import INVALID_PARAMETERS, QixError

from .duals import Duals, text_ranks
from .formatting import Locale
from .functions import aggregation, as_numbers
from .limits import check_bytes, check_length, text_lengths
from .objects import NO_TEXT


def _bincount(g: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    if n == 1:  # one group (totals): every id is 0
        return np.array([float(weights.sum()) if weights is not None else float(len(g))])
    return np.bincount(g, weights=weights, minlength=n)[:n] if g.size else np.zeros(n)


def _factorize(values: Duals) -> np.ndarray:
    """Distinct-value ids (``-1`` = NULL): values with a number are told apart by it, others by text."""
    ids = np.full(len(values), -1, dtype=np.int64)
    num = values.num
    has = np.flatnonzero(~np.isnan(num))
    offset = 0
    if has.size:
        _, inv = np.unique(num.take(has), return_inverse=True)
        ids[has] = inv
        offset = int(inv.max()) + 1
    txt = np.flatnonzero(np.isnan(num) & values.has_text())
    if txt.size:
        ids[txt] = text_ranks(values.text.take(txt)) + offset
    return ids


def _distinct_pairs(g: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct (group, id) pair with a non-NULL id."""
    ok = np.flatnonzero(ids >= 0)
    if not ok.size:
        return ok
    width = int(ids.max()) + 1
    key = g.take(ok).astype(np.int64) * width + ids.take(ok)
    _, first = np.unique(key, return_index=True)
    return ok.take(first)


def _text_order(values: Duals) -> tuple[np.ndarray, np.ndarray]:
    """(texts, rank of each text in code point order) for values' display texts."""
    texts = values.display_text()
    return texts, text_ranks(texts)


def _check_concat(g: np.ndarray, n: int, lengths: np.ndarray, sep: int) -> None:
    """Predict each group's Concat text before joining it: its values plus one separator between two."""
    if not len(g):
        return
    count = np.bincount(g, minlength=n)
    size = np.bincount(g, weights=lengths, minlength=n) + sep * np.maximum(count - 1, 0)
    check_length(int(size.max()), "Concat")
    check_bytes(float(size.sum()), "Concat")


def reduce_values(
    name: str, g: np.ndarray, n: int, values: Duals, locale: Locale, extra: list[Duals] | None = None
) -> Duals:
    """Apply aggregation ``name`` to ``values`` grouped by ``g`` (ids ``0..n-1``)."""
    if name == "COUNT":
        ok = np.flatnonzero(~values.is_null())
        return Duals.from_numbers(_bincount(g.take(ok), n))
    if name in ("NUMERICCOUNT", "TEXTCOUNT", "NULLCOUNT", "MISSINGCOUNT"):
        isnum = ~np.isnan(values.num)
        mask = {
            "NUMERICCOUNT": isnum,
            "TEXTCOUNT": ~isnum & values.has_text(),
            "NULLCOUNT": values.is_null(),
            "MISSINGCOUNT": ~isnum,
        }[name]
        return Duals.from_numbers(_bincount(g.take(np.flatnonzero(mask)), n))
    if name in ("ONLY", "MODE"):
        ids = _factorize(values)
        first = _distinct_pairs(g, ids)
        cnt = _bincount(g.take(first), n)
        out_pos = np.full(n, -1, dtype=np.int64)
        if name == "ONLY":
            one = np.flatnonzero(cnt == 1)
            pos = np.full(n, -1, dtype=np.int64)
            pos[g.take(first)] = first
            out_pos[one] = pos.take(one)
        else:
            ok = np.flatnonzero(ids >= 0)
            width = int(ids.max()) + 1 if ok.size else 1
            key = g.take(ok).astype(np.int64) * width + ids.take(ok)
            uk, ufirst, ucnt = np.unique(key, return_index=True, return_counts=True)
            ug = uk // width
            best = np.zeros(n, dtype=np.int64)
            np.maximum.at(best, ug, ucnt)
            top = ucnt == best.take(ug)
            ntop = _bincount(ug[top], n)
            chosen = np.flatnonzero(top)
            out_pos[ug.take(chosen)] = ok.take(ufirst.take(chosen))
            out_pos[ntop != 1] = -1
        valid = out_pos >= 0
        res = values.take(np.maximum(out_pos, 0))
        return Duals(np.where(valid, res.num, np.nan), np.where(valid, res.text, NO_TEXT))
    if name in ("MINSTRING", "MAXSTRING"):
        texts, rank = _text_order(values)
        ok = np.flatnonzero(rank >= 0)
        best = np.full(n, -1, dtype=np.int64)
        order = ok.take(np.argsort(rank.take(ok), kind="stable"))
        if name == "MAXSTRING":
            order = order[::-1]
        gg = g.take(order)
        _, first = np.unique(gg, return_index=True)
        best[gg.take(first)] = order.take(first)
        res = values.take(np.maximum(best, 0))
        valid = best >= 0
        return Duals(np.where(valid, res.num, np.nan), np.where(valid, res.text, NO_TEXT))
    if name == "CONCAT":
        sep = (extra[0].display_text("")[0] or "") if extra and len(extra[0]) else ""
        texts, rank = _text_order(values)
        ok = np.flatnonzero(rank >= 0)
        if extra and len(extra) > 1:  # sort weight first, the text breaks ties
            w = as_numbers(extra[1], locale)
            order = ok.take(np.lexsort((rank.take(ok), w.take(ok), g.take(ok))))
        else:
            order = ok.take(np.lexsort((rank.take(ok), g.take(ok))))
        _check_concat(g.take(ok), n, text_lengths(texts.take(ok)), len(sep))
        out = np.full(n, None, dtype=object)
        gg = g.take(order)
        bounds = np.flatnonzero(np.diff(gg)) + 1
        for chunk in np.split(order, bounds) if order.size else []:
            out[g[chunk[0]]] = sep.join(texts.take(chunk).tolist())
        return Duals(np.full(n, np.nan), out)
    if name == "FIRSTSORTEDVALUE":
        return _first_sorted(g, n, values, extra, locale)
    if name in ("FIRSTVALUE", "LASTVALUE"):  # in load order: the first / last non-NULL row
        ok = np.flatnonzero(~values.is_null())
        pick = np.full(n, -1, dtype=np.int64)
        rows = ok if name == "LASTVALUE" else ok[::-1]
        pick[g.take(rows)] = rows  # later assignments win
        res = values.take(np.maximum(pick, 0))
        keep = pick >= 0
        return Duals(np.where(keep, res.num, np.nan), np.where(keep, res.text, NO_TEXT))
    text_kernel = TEXT_GROUP_KERNELS.get(name)
    if text_kernel is not None:
        cols = [values.display_text()] + [e.display_text() for e in extra or []]
        out = apply_text_per_group(text_kernel, g, n, cols)
        if any(isinstance(v, float) for v in out):  # a numeric result (Chi2Test_*)
            return Duals.from_numbers(np.array([np.nan if v is None else v for v in out], dtype=np.float64))
        return Duals.from_texts(out)
    kernel = GROUP_KERNELS.get(name)
    if kernel is not None:
        cols = [as_numbers(values, locale)] + [as_numbers(e, locale) for e in extra or []]
        return Duals.from_numbers(apply_per_group(kernel, g, n, cols))
    num = as_numbers(values, locale)
    ok = np.flatnonzero(~np.isnan(num))
    gk, vk = g.take(ok), num.take(ok)
    cnt = _bincount(gk, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "SUM":
            return Duals.from_numbers(_bincount(gk, n, vk))
        if name == "AVG":
            return Duals.from_numbers(np.where(cnt > 0, _bincount(gk, n, vk) / np.maximum(cnt, 1), np.nan))
        if name in ("MIN", "MAX"):
            init = np.inf if name == "MIN" else -np.inf
            out = np.full(n, init)
            (np.minimum if name == "MIN" else np.maximum).at(out, gk, vk)
            return Duals.from_numbers(np.where(cnt > 0, out, np.nan))
        if name in ("STDEV", "STERR"):
            s1 = _bincount(gk, n, vk)
            mean = s1 / np.maximum(cnt, 1)
            dev = vk - mean.take(gk)
            var = _bincount(gk, n, dev * dev) / np.maximum(cnt - 1, 1)
            sd = np.sqrt(var)
            res = sd if name == "STDEV" else sd / np.sqrt(np.maximum(cnt, 1))
            return Duals.from_numbers(np.where(cnt > 1, res, np.nan))
        if name in ("MEDIAN", "FRACTILE"):
            frac = 0.5
            if name == "FRACTILE":
                fx = as_numbers(extra[0], locale) if extra else np.array([np.nan])
                frac = float(fx[0]) if len(fx) else np.nan
                if not 0 <= frac <= 1:
                    return Duals.nulls(n)
            vs = vk.take(np.lexsort((vk, gk)))
            starts = np.zeros(n + 1, dtype=np.int64)
            c = cnt.astype(np.int64)
            np.cumsum(c, out=starts[1:])
            rank = (np.maximum(c, 1) - 1) * frac  # inclusive interpolation between closest ranks
            lo = np.floor(rank).astype(np.int64)
            hi = np.ceil(rank).astype(np.int64)
            has = np.flatnonzero(c > 0)
            out = np.full(n, np.nan)
            if vs.size:
                a = vs.take(starts[has] + lo[has])
                b = vs.take(starts[has] + hi[has])
                out[has] = a + (b - a) * (rank[has] - lo[has])
            return Duals.from_numbers(out)
    raise QixError(INVALID_PARAMETERS, name, f"Unknown function: {name}")


def _first_sorted(g: np.ndarray, n: int, values: Duals, extra: list[Duals] | None, locale: Locale) -> Duals:
    """FirstSortedValue(value, weight [, rank]): the value with the rank-th smallest weight; NULL
    when several rows share that weight with different values."""
    if not extra:
        raise QixError(INVALID_PARAMETERS, "FirstSortedValue", "FirstSortedValue needs a sort weight")
    w = as_numbers(extra[0], locale)
    rank = 1
    if len(extra) > 1 and len(extra[1]):
        r = as_numbers(extra[1], locale)[0]
        rank = int(r) if not np.isnan(r) else 1
    ok = np.flatnonzero(~np.isnan(w))
    gk, wk = g.take(ok), w.take(ok)
    order = np.lexsort((wk, gk))
    gs, ws, rows = gk.take(order), wk.take(order), ok.take(order)
    cnt = _bincount(gs, n).astype(np.int64)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cnt, out=starts[1:])
    k = rank - 1 if rank > 0 else cnt + rank  # negative rank counts from the end
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), (n,))
    valid = (k >= 0) & (k < cnt)
    out = np.full(n, -1, dtype=np.int64)
    has = np.flatnonzero(valid)
    pos = starts[has] + k[has]
    out[has] = rows.take(pos)
    if has.size:  # ties on the chosen weight with another value make the result NULL
        ids = _factorize(values)
        for step in (-1, 1):
            nb = pos + step
            inside = (nb >= starts[has]) & (nb < starts[has + 1])
            nbc = np.clip(nb, 0, max(len(ws) - 1, 0))
            tie = (
                inside
                & (ws.take(nbc) == ws.take(pos))
                & (ids.take(rows.take(nbc)) != ids.take(rows.take(pos)))
            )
            out[has[tie]] = -1
    res = values.take(np.maximum(out, 0))
    keep = out >= 0
    return Duals(np.where(keep, res.num, np.nan), np.where(keep, res.text, NO_TEXT))


# ==================================================================================================
# Numeric kernels applied group by group

GroupKernel = Callable[[list[np.ndarray]], float]


def apply_per_group(kernel: GroupKernel, g: np.ndarray, n: int, cols: list[np.ndarray]) -> np.ndarray:
    """``kernel`` over each group's slice of ``cols`` (rows kept in load order); NaN for empty groups."""
    out = np.full(n, np.nan)
    if not len(g):
        return out
    order = np.argsort(g, kind="stable")
    gs = g.take(order)
    bounds = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1], True])
    sorted_cols = [c.take(order) for c in cols]
    with np.errstate(all="ignore"):
        for a, b in zip(bounds[:-1], bounds[1:], strict=False):
            value = kernel([c[a:b] for c in sorted_cols])
            out[gs[a]] = value if np.isfinite(value) else np.nan
    return out


TextKernel = Callable[[list[np.ndarray]], "str | float | None"]

#: Aggregations over display texts, one result text per group (Chi2Test_*, GeoAggrGeometry...);
#: filled by the modules that own those families.
TEXT_GROUP_KERNELS: dict[str, TextKernel] = {}


def has_group_kernel(name: str) -> bool:
    """True when every argument of aggregation ``name`` is read per row by its kernel."""
    return name in GROUP_KERNELS or name in TEXT_GROUP_KERNELS


def apply_text_per_group(kernel: TextKernel, g: np.ndarray, n: int, cols: list[np.ndarray]) -> np.ndarray:
    """``kernel`` over each group's slice of text columns; None for empty groups."""
    out = np.full(n, None, dtype=object)
    if not len(g):
        return out
    order = np.argsort(g, kind="stable")
    gs = g.take(order)
    bounds = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1], True])
    sorted_cols = [c.take(order) for c in cols]
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        out[gs[a]] = kernel([c[a:b] for c in sorted_cols])
    return out


def _numeric(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = x[~np.isnan(x)]
    return result


def _pairs(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) rows where both are numbers (LINEST/STEYX/Correl read pairs)."""
    y, x = cols[0], cols[1]
    ok = ~np.isnan(y) & ~np.isnan(x)
    return y[ok], x[ok]


def _correl(cols: list[np.ndarray]) -> float:
    a, b = _pairs(cols)
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1])


def _skew(cols: list[np.ndarray]) -> float:
    x = _numeric(cols[0])
    return float(sst.skew(x, bias=False)) if len(x) > 2 else np.nan


def _kurtosis(cols: list[np.ndarray]) -> float:
    x = _numeric(cols[0])
    return float(sst.kurtosis(x, fisher=True, bias=False)) if len(x) > 3 else np.nan


def _avedev(cols: list[np.ndarray]) -> float:
    x = _numeric(cols[0])
    return float(np.mean(np.abs(x - x.mean()))) if len(x) else np.nan


def _fractile_exc(cols: list[np.ndarray]) -> float:
    """Exclusive fractile: rank ``p * (n + 1)`` between the sorted values, NULL outside them."""
    x = np.sort(_numeric(cols[0]))
    p = float(cols[1][0]) if len(cols) > 1 and len(cols[1]) else np.nan
    pos = p * (len(x) + 1) - 1
    if not len(x) or not 0 <= pos <= len(x) - 1:
        return np.nan
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(x) - 1)
    return float(x[lo] + (x[hi] - x[lo]) * (pos - lo))


def _linest(cols: list[np.ndarray]) -> dict[str, float]:
    """Least-squares line y = m*x + b and its statistics (as Excel's LINEST reports them)."""
    y, x = _pairs(cols)
    n = len(y)
    nan = float("nan")
    if n < 2 or np.all(x == x[0]):
        return {}
    m, b = np.polyfit(x, y, 1)
    fit = m * x + b
    ssresid = float(np.sum((y - fit) ** 2))
    ssreg = float(np.sum((fit - y.mean()) ** 2))
    df = n - 2
    sey = float(np.sqrt(ssresid / df)) if df > 0 else nan
    sxx = float(np.sum((x - x.mean()) ** 2))
    return {
        "M": float(m), "B": float(b), "DF": float(df), "SSRESID": ssresid, "SSREG": ssreg,
        "R2": ssreg / (ssreg + ssresid) if ssreg + ssresid else nan,
        "SEY": sey, "SEM": sey / np.sqrt(sxx) if df > 0 else nan,
        "SEB": sey * float(np.sqrt(1 / n + x.mean() ** 2 / sxx)) if df > 0 else nan,
        "F": ssreg / (ssresid / df) if df > 0 and ssresid else nan,
    }  # fmt: skip


def _linest_part(part: str) -> GroupKernel:
    return lambda cols: _linest(cols).get(part, np.nan)


def _steyx(cols: list[np.ndarray]) -> float:
    return _linest(cols).get("SEY", np.nan)


def npv_of(rate: float, values: np.ndarray) -> float:
    """Net present value of periodic cash flows at the end of periods 1, 2, ..."""
    t = np.arange(1, len(values) + 1, dtype=np.float64)
    return float(np.sum(values / (1.0 + rate) ** t))


def xnpv_of(rate: float, values: np.ndarray, dates: np.ndarray) -> float:
    """Net present value of dated cash flows, discounted from the first date (365-day years)."""
    return float(np.sum(values / (1.0 + rate) ** ((dates - dates[0]) / 365.0)))


def _solve_rate(f: Callable[[float], float]) -> float:
    """The rate where ``f`` changes sign: Newton from 10 %, bracketed root finding as a fallback."""
    try:
        r = float(sopt.newton(f, 0.1, maxiter=100))
        if np.isfinite(r) and r > -1:
            return r
    except (RuntimeError, OverflowError, ZeroDivisionError):
        pass
    grid = np.r_[np.linspace(-0.99, 1, 200), np.linspace(1.1, 100, 100)]
    vals = np.array([f(r) for r in grid])
    flips = np.flatnonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)
    if not flips.size:
        return np.nan
    i = int(flips[0])
    return float(sopt.brentq(f, grid[i], grid[i + 1]))


def irr_of(values: np.ndarray) -> float:
    """Internal rate of return of periodic cash flows (at least one negative and one positive)."""
    if not len(values) or not (values < 0).any() or not (values > 0).any():
        return np.nan
    t = np.arange(len(values), dtype=np.float64)
    return _solve_rate(lambda r: float(np.sum(values / (1.0 + r) ** t)))


def xirr_of(values: np.ndarray, dates: np.ndarray) -> float:
    if not len(values) or not (values < 0).any() or not (values > 0).any():
        return np.nan
    return _solve_rate(lambda r: xnpv_of(r, values, dates))


def _irr(cols: list[np.ndarray]) -> float:
    return irr_of(_numeric(cols[0]))


def _npv(cols: list[np.ndarray]) -> float:
    rate, values = cols[0], cols[1]
    ok = ~np.isnan(values)
    return npv_of(float(rate[0]), values[ok]) if len(rate) and ok.any() else np.nan


def _xirr(cols: list[np.ndarray]) -> float:
    v, d = _pairs(cols)
    return xirr_of(v, d)


def _xnpv(cols: list[np.ndarray]) -> float:
    rate, v, d = cols[0], cols[1], cols[2]
    ok = ~np.isnan(v) & ~np.isnan(d)
    return xnpv_of(float(rate[0]), v[ok], d[ok]) if len(rate) and ok.any() else np.nan


#: Aggregations computed by a numeric kernel per group (all arguments read per row, as numbers).
GROUP_KERNELS: dict[str, GroupKernel] = {
    "CORREL": _correl, "SKEW": _skew, "KURTOSIS": _kurtosis, "AVEDEV": _avedev,
    "FRACTILEEXC": _fractile_exc, "STEYX": _steyx,
    "IRR": _irr, "NPV": _npv, "XIRR": _xirr, "XNPV": _xnpv,
    **{f"LINEST_{p}": _linest_part(p) for p in ("M", "B", "R2", "DF", "SEM", "SEB", "SEY", "SSREG", "SSRESID", "F")},
}  # fmt: skip


# ==================================================================================================
# The registry entries: name, arity, where allowed

for _name, _lo, _hi in (
    ("Sum", 1, 1),
    ("Count", 0, 1),
    ("Avg", 1, 1),
    ("Min", 1, 2),
    ("Max", 1, 2),
    ("Only", 1, 1),
    ("Concat", 1, 3),
    ("MinString", 1, 1),
    ("MaxString", 1, 1),
    ("Median", 1, 1),
    ("Fractile", 2, 2),
    ("FractileExc", 2, 2),
    ("Stdev", 1, 1),
    ("Sterr", 1, 1),
    ("Mode", 1, 1),
    ("FirstSortedValue", 2, 3),
    ("NullCount", 1, 1),
    ("MissingCount", 1, 1),
    ("NumericCount", 1, 1),
    ("TextCount", 1, 1),
    ("Correl", 2, 2),
    ("Skew", 1, 1),
    ("Kurtosis", 1, 1),
    ("AveDev", 1, 1),
    ("Steyx", 2, 2),
    ("IRR", 1, 1),
    ("NPV", 2, 2),
    ("XIRR", 2, 2),
    ("XNPV", 3, 3),
    *((f"LINEST_{p}", 2, 2) for p in ("M", "B", "R2", "DF", "SEM", "SEB", "SEY", "SSREG", "SSRESID", "F")),
):
    aggregation(_name, _lo, _hi)
for _name in ("FirstValue", "LastValue"):
    aggregation(_name, 1, 1, chart=False)
aggregation("Aggr", 2, None, script=False)
aggregation("Rank", 1, 3, script=False)
aggregation("HRank", 1, 3, script=False)
