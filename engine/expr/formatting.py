"""Qlik format codes: numbers and dates to text, and text back to numbers.

Dates are serial day numbers counted from 1899-12-30 (day 0); the fractional part is the time of day.
Format codes follow Qlik's conventions:

* numbers: ``#`` optional digit, ``0`` mandatory digit, a thousands and a decimal separator (taken from
  the call, else inferred from the code and the locale), ``%`` multiplies by 100, ``pos;neg`` sections,
  any other characters are literal text;
* dates and times: ``YYYY YY`` year, ``M MM`` month number, ``MMM MMMM`` month names, ``D DD`` day,
  ``WWW WWWW`` weekday names, ``h hh`` hours, ``mm`` minutes (lower-case m), ``ss`` seconds, ``f..``
  fractions of a second, ``TT`` AM/PM; ``[...]`` is an optional part (``[.fff]``) except around a unit
  (``[h]``), which marks an interval unit that does not wrap.

Interpretation (text -> number) is vectorised with pyarrow regular expressions so that whole loaded
columns (their distinct values) are interpreted without a Python loop per value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.model.numformat import format_default

EPOCH_OFFSET = 25569  # serial number of 1970-01-01
MS_PER_DAY = 86_400_000

_DEFAULT_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DEFAULT_LONG_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DEFAULT_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DEFAULT_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Locale:
    """The script's number-interpretation variables (defaults: the engine's en-US defaults; week
    numbering defaults to ISO 8601: weeks start on Monday, unbroken, week 1 holds January 4)."""

    thousand_sep: str = ","
    decimal_sep: str = "."
    money_thousand_sep: str = ","
    money_decimal_sep: str = "."
    money_format: str = "$#,##0.00;-$#,##0.00"
    time_format: str = "h:mm:ss TT"
    date_format: str = "M/D/YYYY"
    timestamp_format: str = "M/D/YYYY h:mm:ss[.fff] TT"
    interval_format: str = "hh:mm:ss"
    month_names: tuple[str, ...] = _DEFAULT_MONTHS
    long_month_names: tuple[str, ...] = _DEFAULT_LONG_MONTHS
    day_names: tuple[str, ...] = _DEFAULT_DAYS
    long_day_names: tuple[str, ...] = _DEFAULT_LONG_DAYS
    first_week_day: int = 0  # 0 = Monday ... 6 = Sunday
    broken_weeks: bool = False
    reference_day: int = 4
    first_month_of_year: int = 1

    @staticmethod
    def from_variables(variables: Mapping[str, str | None]) -> Locale:
        """Build from script variables (``SET DateFormat='DD/MM/YYYY'`` etc.); missing ones keep
        their defaults and unparsable ones are ignored."""
        v = {k.lower(): val for k, val in variables.items() if val is not None}
        d = Locale()

        def text(name: str, default: str) -> str:
            return v.get(name.lower(), default)

        def names(name: str, default: tuple[str, ...], count: int) -> tuple[str, ...]:
            raw = v.get(name.lower())
            if raw is None:
                return default
            parts = tuple(p.strip() for p in raw.split(";"))
            return parts if len(parts) == count and all(parts) else default

        def integer(name: str, default: int) -> int:
            try:
                return int(float(v[name.lower()]))
            except (KeyError, ValueError):
                return default

        return Locale(
            thousand_sep=text("ThousandSep", d.thousand_sep),
            decimal_sep=text("DecimalSep", d.decimal_sep) or d.decimal_sep,
            money_thousand_sep=text("MoneyThousandSep", d.money_thousand_sep),
            money_decimal_sep=text("MoneyDecimalSep", d.money_decimal_sep) or d.money_decimal_sep,
            money_format=text("MoneyFormat", d.money_format) or d.money_format,
            time_format=text("TimeFormat", d.time_format) or d.time_format,
            date_format=text("DateFormat", d.date_format) or d.date_format,
            timestamp_format=text("TimestampFormat", d.timestamp_format) or d.timestamp_format,
            interval_format=text("IntervalFormat", d.interval_format) or d.interval_format,
            month_names=names("MonthNames", d.month_names, 12),
            long_month_names=names("LongMonthNames", d.long_month_names, 12),
            day_names=names("DayNames", d.day_names, 7),
            long_day_names=names("LongDayNames", d.long_day_names, 7),
            first_week_day=integer("FirstWeekDay", d.first_week_day) % 7,
            broken_weeks=integer("BrokenWeeks", int(d.broken_weeks)) != 0,
            reference_day=integer("ReferenceDay", d.reference_day),
            first_month_of_year=min(12, max(1, integer("FirstMonthOfYear", d.first_month_of_year))),
        )


DEFAULT_LOCALE = Locale()

# ==================================================================================================
# Calendar arithmetic (vectorised)


def serial_from_ymd(y: np.ndarray | int, m: np.ndarray | int, d: np.ndarray | int) -> np.ndarray:
    """Serial day numbers of proleptic Gregorian dates; month overflow (m=13, m=0) rolls the year."""
    ya = np.asarray(y, dtype=np.int64)
    ma = np.asarray(m, dtype=np.int64)
    da = np.asarray(d, dtype=np.int64)
    ya = ya + np.floor_divide(ma - 1, 12)
    ma = np.mod(ma - 1, 12) + 1
    ya = ya - (ma <= 2)
    era = np.floor_divide(ya, 400)
    yoe = ya - era * 400
    mp = np.mod(ma + 9, 12)
    doy = (153 * mp + 2) // 5 + da - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    serial: np.ndarray = (era * 146097 + doe - 719468 + EPOCH_OFFSET).astype(np.float64)
    return serial


def ymd_from_serial(serial: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) int64 arrays of serial numbers (the fraction is dropped); NaN gives 0s."""
    s = np.asarray(serial, dtype=np.float64)
    days = (
        np.floor(np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)).astype(np.int64) - EPOCH_OFFSET + 719468
    )
    era = np.floor_divide(days, 146097)
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = y + (m <= 2)
    return y, m, d


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    result: np.ndarray = (serial_from_ymd(y, np.asarray(m) + 1, 1) - serial_from_ymd(y, m, 1)).astype(
        np.int64
    )
    return result


def weekday_monday0(serial: np.ndarray) -> np.ndarray:
    """0 = Monday ... 6 = Sunday (serial 0, 1899-12-30, was a Saturday)."""
    weekday: np.ndarray = np.mod(np.floor(serial).astype(np.int64) + 5, 7)
    return weekday


def time_parts(serial: np.ndarray) -> tuple[np.ndarray, ...]:
    """(hour, minute, second, millisecond) of the fractional part, rounded to the millisecond."""
    s = np.nan_to_num(np.asarray(serial, dtype=np.float64))
    ms = np.round((s - np.floor(s)) * MS_PER_DAY).astype(np.int64)
    ms = np.minimum(ms, MS_PER_DAY - 1)
    return ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60, ms % 1000


# ==================================================================================================
# Format code tokenisation

_DATE_TOKEN = re.compile(
    r"\[[^\]]*\]|YYYY|YYY|YY|Y|yyyy|yyy|yy|y|MMMM|MMM|MM|M|DD|D|dd|d|WWWW|WWW|W|wwww|www|w"
    r"|hh|h|HH|H|mm|m|ss|s|SS|S|f+|F+|TT|tt|\\.|."
)
_ELAPSED = re.compile(r"\[(D|d|hh?|HH?|mm?|ss?)\]")


@dataclass(frozen=True, slots=True)
class _DatePart:
    kind: str  # Y M D W h m s f T lit opt
    width: int  # code length (YYYY=4, MMM=3 ...)
    text: str = ""  # literal text
    elapsed: bool = False
    inner: tuple[_DatePart, ...] = ()  # optional section


@lru_cache(maxsize=512)
def _date_parts(fmt: str) -> tuple[_DatePart, ...]:
    parts: list[_DatePart] = []
    for m in _DATE_TOKEN.finditer(fmt):
        tok = m.group(0)
        if tok.startswith("[") and len(tok) > 1:
            if _ELAPSED.fullmatch(tok):
                inner = tok[1:-1]
                parts.append(_DatePart(_unit_kind(inner), len(inner), elapsed=True))
            else:
                parts.append(_DatePart("opt", 0, inner=_date_parts(tok[1:-1])))
            continue
        if tok.startswith("\\") and len(tok) == 2:
            parts.append(_DatePart("lit", 0, tok[1]))
            continue
        kind = _unit_kind(tok)
        if kind == "lit":
            if parts and parts[-1].kind == "lit":
                parts[-1] = _DatePart("lit", 0, parts[-1].text + tok)
            else:
                parts.append(_DatePart("lit", 0, tok))
        else:
            parts.append(_DatePart(kind, len(tok)))
    return tuple(parts)


def _unit_kind(tok: str) -> str:
    c = tok[0]
    if c in "Yy":
        return "Y"
    if c == "M":
        return "M"
    if c in "Dd":
        return "D"
    if c in "Ww":
        return "W"
    if c in "hH":
        return "h"
    if c == "m":
        return "m"
    if c in "sS":
        return "s"
    if c in "fF":
        return "f"
    if tok in ("TT", "tt"):
        return "T"
    return "lit"


# ==================================================================================================
# Formatting numbers as dates / times / intervals


def format_datetime(serial: float, fmt: str, locale: Locale = DEFAULT_LOCALE, interval: bool = False) -> str:
    """Render one serial number with a date/time (or, with ``interval``, a duration) format code."""
    if math.isnan(serial) or math.isinf(serial):
        return format_default(serial)
    parts = _date_parts(fmt)
    if interval:
        return _format_interval(serial, parts)
    arr = np.array([serial])
    y, mo, d = (int(a[0]) for a in ymd_from_serial(arr))
    h, mi, s, ms = (int(a[0]) for a in time_parts(arr))
    wd = int(weekday_monday0(arr)[0])
    has_ampm = _has_kind(parts, "T")
    values = {"Y": y, "M": mo, "D": d, "W": wd, "h": h, "m": mi, "s": s, "f": ms}
    return _render(parts, values, locale, has_ampm)


def format_datetimes(
    nums: np.ndarray, fmt: str, locale: Locale = DEFAULT_LOCALE, interval: bool = False
) -> np.ndarray:
    """Vectorised ``format_datetime`` (None where NaN): calendar parts are computed for the whole
    array at once; only the final assembly is per value."""
    nums = np.asarray(nums, dtype=np.float64)
    out = np.full(len(nums), None, dtype=object)
    idx = np.flatnonzero(np.isfinite(nums))
    if not len(idx):
        return out
    x = nums.take(idx)
    if interval:
        out[idx] = [format_datetime(float(v), fmt, locale, interval=True) for v in x]
        return out
    parts = _date_parts(fmt)
    ys, ms_, ds = ymd_from_serial(x)
    hs, mis, ss, mss = time_parts(x)
    wds = weekday_monday0(x)
    ampm = _has_kind(parts, "T")
    cols = [a.tolist() for a in (ys, ms_, ds, wds, hs, mis, ss, mss)]
    out[idx] = [
        _render(parts, {"Y": y, "M": mo, "D": d, "W": wd, "h": h, "m": mi, "s": sec, "f": ms}, locale, ampm)
        for y, mo, d, wd, h, mi, sec, ms in zip(*cols, strict=True)
    ]
    return out


def _has_kind(parts: tuple[_DatePart, ...], kind: str) -> bool:
    return any(p.kind == kind or (p.kind == "opt" and _has_kind(p.inner, kind)) for p in parts)


def _render(parts: tuple[_DatePart, ...], v: dict[str, int], locale: Locale, ampm: bool) -> str:
    out: list[str] = []
    for p in parts:
        k = p.kind
        if k == "lit":
            out.append(p.text)
        elif k == "opt":
            continue  # optional sections are for interpretation only
        elif k == "Y":
            out.append(f"{v['Y'] % 100:02d}" if p.width == 2 else str(v["Y"]))
        elif k == "M":
            if p.width >= 4:
                out.append(locale.long_month_names[v["M"] - 1])
            elif p.width == 3:
                out.append(locale.month_names[v["M"] - 1])
            else:
                out.append(f"{v['M']:0{p.width}d}")
        elif k == "D":
            out.append(f"{v['D']:0{min(p.width, 2)}d}")
        elif k == "W":
            if p.width >= 4:
                out.append(locale.long_day_names[v["W"]])
            elif p.width == 3:
                out.append(locale.day_names[v["W"]])
            else:
                out.append(str(v["W"]))
        elif k == "h":
            h = v["h"]
            if ampm:
                h = h % 12 or 12
            out.append(f"{h:0{min(p.width, 2)}d}")
        elif k in "ms":
            out.append(f"{v[k]:0{min(p.width, 2)}d}")
        elif k == "f":
            out.append(f"{v['f']:03d}"[: p.width].ljust(p.width, "0"))
        elif k == "T":
            tt = "AM" if v["h"] < 12 else "PM"
            out.append(tt if p.text != "tt" else tt.lower())
    return "".join(out)


_UNIT_MS = {"D": MS_PER_DAY, "h": 3_600_000, "m": 60_000, "s": 1000, "f": 1}


def _format_interval(days: float, parts: tuple[_DatePart, ...]) -> str:
    """Durations: the largest unit in the code does not wrap (``Interval(1.5, 'hh:mm')`` = ``36:00``)."""
    neg = days < 0
    total = round(abs(days) * MS_PER_DAY)
    units = [p.kind for p in parts if p.kind in _UNIT_MS]
    order = "Dhmsf"
    largest = min(units, key=order.index) if units else None
    out: list[str] = []
    for p in parts:
        k = p.kind
        if k == "lit":
            out.append(p.text)
            continue
        if k not in _UNIT_MS:
            continue
        if k == largest:
            value = total // _UNIT_MS[k]
        else:
            bigger = order[order.index(k) - 1]
            value = total % _UNIT_MS[bigger] // _UNIT_MS[k]
        if k == "f":
            frac = f"{total % 1000:03d}"
            out.append(frac[: p.width].ljust(p.width, "0"))
        else:
            out.append(f"{value:0{min(p.width, 2)}d}")
    text = "".join(out)
    return "-" + text if neg else text


# ==================================================================================================
# Formatting numbers with number format codes


@dataclass(frozen=True, slots=True)
class _NumberFormat:
    prefix: str
    suffix: str
    int_min: int
    frac_min: int
    frac_max: int
    grouping: bool
    percent: bool
    dec: str
    thou: str


def _infer_separators(
    pattern: str, dec: str | None, thou: str | None, locale_dec: str, locale_thou: str
) -> tuple[str, str]:
    """Which separator in a digit pattern is the decimal point: explicit arguments win, else the
    rightmost of two different separators, else a single one decides by the locale and by whether
    exactly three digit places follow it (``#,##0`` groups, ``0.0`` is decimal)."""
    seps = [c for c in pattern if c not in "#0"]
    if dec is not None or thou is not None:
        dec = dec if dec is not None else (locale_dec if thou != locale_dec else ".")
        thou = thou if thou is not None else ""
        return dec, thou
    distinct = list(dict.fromkeys(seps))
    if len(distinct) >= 2:
        last = max(distinct, key=pattern.rfind)
        other = next(c for c in distinct if c != last)
        if pattern.count(last) == 1:
            return last, other
        return (other, last)
    if len(distinct) == 1:
        c = distinct[0]
        if pattern.count(c) > 1:
            return ("." if c != "." else ","), c
        if c == locale_dec:
            return c, locale_thou
        if c == locale_thou:
            return locale_dec, c
        after = len(pattern) - pattern.index(c) - 1
        return (locale_dec, c) if after == 3 else (c, locale_thou)
    return locale_dec, locale_thou


@lru_cache(maxsize=512)
def _number_format(
    section: str, dec: str | None, thou: str | None, locale_dec: str, locale_thou: str
) -> _NumberFormat:
    digits = [i for i, c in enumerate(section) if c in "#0"]
    if not digits:
        return _NumberFormat(section, "", 0, 0, 0, False, "%" in section, locale_dec, "")
    start, end = digits[0], digits[-1] + 1
    # A decimal separator directly after the last digit place ("0.") still belongs to the pattern.
    pattern = section[start:end]
    prefix, suffix = section[:start], section[end:]
    d, t = _infer_separators(pattern, dec, thou, locale_dec, locale_thou)
    if d in pattern:
        int_pat, frac_pat = pattern.split(d, 1)
    else:
        int_pat, frac_pat = pattern, ""
    grouping = bool(t) and t in int_pat
    frac_digits = [c for c in frac_pat if c in "#0"]
    return _NumberFormat(
        prefix=prefix,
        suffix=suffix,
        int_min=int_pat.count("0"),
        frac_min=sum(1 for c in frac_digits if c == "0"),
        frac_max=len(frac_digits),
        grouping=grouping,
        percent="%" in prefix or "%" in suffix,
        dec=d,
        thou=t,
    )


def _split_sections(fmt: str) -> list[str]:
    return fmt.split(";")


def round_half_up(x: float, decimals: int) -> Decimal:
    """``x`` rounded half away from zero, using its shortest decimal representation."""
    try:
        # enough precision for every digit asked for (the default 28 fails past 28 decimals)
        context = Context(prec=max(28, decimals + 330))
        return Decimal(repr(float(x))).quantize(
            Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP, context=context
        )
    except InvalidOperation:
        return Decimal(0)


def format_number(
    x: float,
    fmt: str,
    dec: str | None = None,
    thou: str | None = None,
    locale: Locale = DEFAULT_LOCALE,
) -> str:
    """Render ``x`` with a number format code (``#,##0.00``, ``0.0%``, ``# ##0,00``, ``0;(0)``)."""
    if math.isnan(x) or math.isinf(x):
        return format_default(x)
    sections = _split_sections(fmt)
    section = sections[0]
    negative_section = len(sections) > 1 and x < 0
    if negative_section:
        section = sections[1]
    nf = _number_format(section, dec, thou, locale.decimal_sep, locale.thousand_sep)
    value = abs(x) * 100 if nf.percent else abs(x)
    if nf.frac_max == 0 and nf.int_min == 0 and not any(c in section for c in "#0"):
        return section
    q = round_half_up(value, nf.frac_max)
    text = f"{q:f}"
    int_part, _, frac_part = text.partition(".")
    frac_part = frac_part.rstrip("0")
    if len(frac_part) < nf.frac_min:
        frac_part = frac_part.ljust(nf.frac_min, "0")
    if int_part == "0" and nf.int_min == 0:
        int_part = "" if frac_part else "0"
    int_part = int_part.rjust(nf.int_min, "0")
    if nf.grouping and len(int_part) > 3:
        head = len(int_part) % 3 or 3
        groups = [int_part[:head]] + [int_part[i : i + 3] for i in range(head, len(int_part), 3)]
        int_part = nf.thou.join(groups)
    body = int_part + (nf.dec + frac_part if frac_part else "")
    is_zero = q == 0
    sign = "-" if x < 0 and not negative_section and not is_zero else ""
    return (
        f"{sign}{nf.prefix}{body}{nf.suffix}"
        if not sign or not nf.prefix
        else f"{nf.prefix}{sign}{body}{nf.suffix}"
    )


# Above this the ulp-based rounding epsilon becomes visible: larger values take the exact scalar path.
_MAX_EXACT_SCALED = 2.0**44


def format_numbers(
    nums: np.ndarray,
    fmt: str,
    dec: str | None = None,
    thou: str | None = None,
    locale: Locale = DEFAULT_LOCALE,
) -> np.ndarray:
    """Vectorised ``format_number`` over an array (None where NaN): integer arithmetic in numpy and
    string assembly in pyarrow, so a million distinct amounts format without a Python loop."""
    nums = np.asarray(nums, dtype=np.float64)
    out = np.full(len(nums), None, dtype=object)
    sections = _split_sections(fmt)
    finite = np.isfinite(nums)
    if not any(c in sections[0] for c in "#0"):
        out[finite] = sections[0]
        return out
    use_neg = len(sections) > 1
    groups = (
        [(finite & (nums < 0), sections[1]), (finite & (nums >= 0), sections[0])]
        if use_neg
        else [(finite, sections[0])]
    )
    for mask, section in groups:
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        nf = _number_format(section, dec, thou, locale.decimal_sep, locale.thousand_sep)
        x = nums.take(idx)
        v = np.abs(x) * (100.0 if nf.percent else 1.0)
        # more decimals than a float has digits: the exact path (10**frac_max overflows a float)
        scale = 10**nf.frac_max if nf.frac_max <= 15 else 1
        raw = v * scale
        exact = raw < _MAX_EXACT_SCALED if nf.frac_max <= 15 else np.zeros(len(v), dtype=bool)
        if not exact.all():
            slow = idx[~exact]
            out[slow] = [format_number(float(nums[i]), fmt, dec, thou, locale) for i in slow]
            idx, x, raw = idx[exact], x[exact], raw[exact]
        # A few ulps absorb binary noise (2.675 * 100 = 267.49999999999997) without moving real halves.
        scaled = np.floor(raw + 0.5 + 4 * np.spacing(raw)).astype(np.int64)
        ip, fp = np.divmod(scaled, scale)
        int_str = pc.cast(pa.array(ip), pa.string())
        if nf.int_min > 1:
            int_str = pc.utf8_lpad(int_str, nf.int_min, "0")
        if nf.grouping:
            rev = pc.replace_substring_regex(pc.utf8_reverse(int_str), r"(\d{3})", r"\1" + nf.thou[::-1])
            int_str = pc.utf8_reverse(pc.utf8_rtrim(rev, characters=nf.thou) if len(nf.thou) == 1 else rev)
        if nf.frac_max:
            frac_str = pc.utf8_lpad(pc.cast(pa.array(fp), pa.string()), nf.frac_max, "0")
            if nf.frac_min < nf.frac_max:
                frac_str = pc.utf8_rtrim(frac_str, characters="0")
                if nf.frac_min:
                    frac_str = pc.utf8_rpad(frac_str, nf.frac_min, "0")
            has_frac = _mask(pc.greater(pc.utf8_length(frac_str), 0))
        else:
            frac_str = pa.array([""] * len(ip))
            has_frac = np.zeros(len(ip), dtype=bool)
        if nf.int_min == 0:
            int_str = pc.if_else(pa.array((ip == 0) & has_frac), "", int_str)
        frac_part = pc.if_else(pa.array(has_frac), pc.binary_join_element_wise(nf.dec, frac_str, ""), "")
        negative = (x < 0) & (scaled != 0) & (not use_neg)
        sign = pc.if_else(pa.array(negative), "-", "")
        text = pc.binary_join_element_wise(nf.prefix, sign, int_str, frac_part, nf.suffix, "")
        out[idx] = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    return out


def format_number_plain(x: float, locale: Locale = DEFAULT_LOCALE) -> str:
    """Default rendering with the locale's decimal separator (``Num(x)`` without a format)."""
    text = format_default(x)
    if locale.decimal_sep != ".":
        text = text.replace(".", locale.decimal_sep)
    return text


def format_many(nums: np.ndarray, render: Callable[[float], str | None]) -> np.ndarray:
    """``render(float) -> str`` applied once per distinct non-NaN number; NaN rows give None."""
    nums = np.asarray(nums, dtype=np.float64)
    out = np.full(len(nums), None, dtype=object)
    idx = np.flatnonzero(~np.isnan(nums))
    if len(idx):
        uniq, inv = np.unique(nums.take(idx), return_inverse=True)
        rendered = np.array([render(float(u)) for u in uniq] + [None], dtype=object)[:-1]
        out[idx] = rendered.take(inv)
    return out


# ==================================================================================================
# Interpretation: text -> number


#: Texts as the interpreting functions take them: an object array, an Arrow string array or a list.
Texts: TypeAlias = "np.ndarray | pa.Array | pa.ChunkedArray | Sequence[str | None]"


def _to_arrow(texts: Texts) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        if pa.types.is_dictionary(texts.type):
            texts = texts.cast(pa.string())
        return texts if texts.type in (pa.string(), pa.large_string()) else texts.cast(pa.string())
    return pa.array(np.asarray(texts, dtype=object), type=pa.string())


def _number_regex(dec: str, thou: str) -> str:
    d = re.escape(dec)
    body = r"(?:\d+(?:" + d + r"\d*)?|" + d + r"\d+)"
    if thou and thou != dec:
        t = re.escape(thou)
        body = r"(?:\d{1,3}(?:" + t + r"\d{3})+(?:" + d + r"\d*)?|" + body + ")"
    return r"^[+-]?" + body + r"(?:[eE][+-]?\d+)?%?$"


_PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def _interpret_numbers(arr: pa.Array, dec: str, thou: str) -> np.ndarray:
    """Plain numbers (sign, grouping, decimals, exponent, trailing %) -> float64, NaN elsewhere.

    Fast path: with a '.' decimal point, values that match the plain pattern are cast by pyarrow
    directly; only the rest go through the separator-aware pattern.
    """
    n = len(arr)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    rest = np.arange(n)
    if dec == ".":
        plain = _mask(pc.match_substring_regex(arr, _PLAIN_NUMBER))
        if plain.any():
            if plain.all():
                return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
            idx = np.flatnonzero(plain)
            out[idx] = pc.cast(arr.take(pa.array(idx)), pa.float64()).to_numpy(zero_copy_only=False)
            rest = np.flatnonzero(~plain)
            arr = arr.take(pa.array(rest))
    if not len(rest):
        return out
    mask = _mask(pc.match_substring_regex(arr, _number_regex(dec, thou)))
    if not mask.any():
        return out
    hit = np.flatnonzero(mask)
    s = arr.take(pa.array(hit))
    if thou and thou != dec:
        s = pc.replace_substring(s, thou, "")
    if dec != ".":
        s = pc.replace_substring(s, dec, ".")
    percent = _mask(pc.ends_with(s, "%"))
    if percent.any():
        s = pc.replace_substring(s, "%", "")
    vals = np.asarray(pc.cast(s, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    vals = np.where(percent, vals / 100.0, vals)
    out[rest.take(hit)] = vals
    return out


def _mask(res: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(res, False).to_numpy(zero_copy_only=False), dtype=bool)


def _group_regex(p: _DatePart, locale: Locale) -> str:
    k, w = p.kind, p.width
    if k == "Y":
        return r"(\d{2})" if w == 2 else r"(\d{4})" if w >= 4 else r"(\d{1,4})"
    if k == "M":
        if w >= 3:
            names = locale.long_month_names + locale.month_names
            return "(" + "|".join(re.escape(x) for x in sorted(names, key=len, reverse=True)) + ")"
        return r"(\d{1,2})"
    if k == "W":
        if w >= 3:
            names = locale.long_day_names + locale.day_names
            return "(?:" + "|".join(re.escape(x) for x in sorted(names, key=len, reverse=True)) + ")"
        return r"(?:\d)"
    if k in "Dhms":
        return r"(\d+)" if p.elapsed else r"(\d{1,2})"
    if k == "f":
        return r"(\d{1,9})"
    if k == "T":
        return r"([AaPp]\.?[Mm]\.?)"
    return ""


@dataclass(frozen=True, slots=True)
class _DatePattern:
    regex: str
    prefilter: str  # the body without capture groups, for one combined scan
    groups: tuple[tuple[str, int], ...]  # (kind, width) per capture group, in order


@lru_cache(maxsize=256)
def _date_pattern(fmt: str, locale: Locale) -> _DatePattern:
    groups: list[tuple[str, int]] = []

    def build(parts: tuple[_DatePart, ...]) -> str:
        out: list[str] = []
        for p in parts:
            if p.kind == "lit":
                for ch in p.text:
                    out.append(r"\s+" if ch == " " else re.escape(ch))
            elif p.kind == "opt":
                out.append("(?:" + build(p.inner) + ")?")
            else:
                rx = _group_regex(p, locale)
                if rx.startswith("(") and not rx.startswith("(?:"):
                    rx = f"(?P<g{len(groups)}>" + rx[1:]
                    groups.append((p.kind, p.width))
                if p.kind == "T":
                    # AM/PM may be left out ('13:45:00' still reads with 'h:mm:ss TT').
                    if out and out[-1] == r"\s+":
                        out[-1] = r"\s*"
                    rx = "(?:" + rx + ")?"
                out.append(rx)
        return "".join(out)

    body = build(_date_parts(fmt))
    return _DatePattern("(?i)^" + body + "$", re.sub(r"\(\?P<g\d+>", "(?:", body), tuple(groups))


def parse_datetime_texts(
    texts: Texts, fmt: str, locale: Locale = DEFAULT_LOCALE, interval: bool = False
) -> np.ndarray:
    """Interpret texts with a date/time/timestamp (or interval) format code -> serial numbers."""
    arr = pc.utf8_trim_whitespace(_to_arrow(texts))
    n = len(arr)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    pat = _date_pattern(fmt, locale)
    if not pat.groups:
        return out
    matched = pc.fill_null(pc.match_substring_regex(arr, pat.regex), False).to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(matched)
    if not len(idx):
        return out
    sub = arr.take(pa.array(idx))
    struct = pc.extract_regex(sub, pat.regex)
    m_count = len(idx)
    values = {k: np.zeros(m_count, dtype=np.int64) for k in "YMDhmsfT"}
    present: set[str] = set()
    ok = np.ones(m_count, dtype=bool)
    fwidths = np.zeros(m_count, dtype=np.int64)
    months = pa.array([x.lower() for x in locale.long_month_names + locale.month_names])
    for gi, (kind, width) in enumerate(pat.groups):
        col = struct.field(f"g{gi}")
        empty = pc.equal(pc.utf8_length(col), 0).to_numpy(zero_copy_only=False)
        if empty.all():
            continue
        present.add(kind)
        if kind == "M" and width >= 3:
            pos = pc.index_in(pc.utf8_lower(col), value_set=months)
            got = pc.fill_null(pos, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            ok &= empty | (got >= 0)
            val = np.mod(got, 12) + 1
        elif kind == "T":
            first = pc.utf8_lower(pc.utf8_slice_codeunits(col, 0, 1))
            val = np.where(pc.equal(first, "p").to_numpy(zero_copy_only=False), 1, 2)
        else:
            val = pc.cast(pc.if_else(pc.equal(col, ""), "0", col), pa.int64()).to_numpy(zero_copy_only=False)
            if kind == "f":
                fwidths = np.where(empty, 0, pc.utf8_length(col).to_numpy(zero_copy_only=False))
            elif kind == "Y" and width == 2:
                val = np.where(val < 30, 2000 + val, 1900 + val)
        values[kind] = np.where(empty, values[kind], val)
    frac = values["f"] / np.power(10.0, np.maximum(fwidths, 1)) if "f" in present else 0.0
    hours = values["h"]
    if "T" in present:
        pm = values["T"] == 1
        am = values["T"] == 2
        ok &= ~((pm | am) & (hours > 12))
        hours = np.where(pm & (hours < 12), hours + 12, np.where(am & (hours == 12), 0, hours))
    tod = (hours * 3600 + values["m"] * 60 + values["s"] + frac) / 86400.0
    if interval:
        days = values["D"] + tod
    elif present & {"Y", "M", "D"}:
        y = values["Y"] if "Y" in present else np.full(len(idx), 1899)
        mo = values["M"] if "M" in present else np.ones(len(idx), dtype=np.int64)
        d = values["D"] if "D" in present else np.ones(len(idx), dtype=np.int64)
        ok &= (mo >= 1) & (mo <= 12) & (d >= 1)
        ok &= d <= days_in_month(y, np.clip(mo, 1, 12))
        ok &= (hours < 24) & (values["m"] < 60) & (values["s"] < 60)
        days = serial_from_ymd(y, np.clip(mo, 1, 12), d) + tod
    else:
        ok &= (hours < 24) & (values["m"] < 60) & (values["s"] < 60)
        days = tod
    out[idx] = np.where(ok, days, np.nan)
    return out


def parse_number_text(text: str, fmt: str | None, dec: str | None, thou: str | None, locale: Locale) -> float:
    """``Num#``: read a number written with a number format code (separators from the arguments,
    the code, or the locale); currency symbols and other literal text of the code are ignored."""
    t = text.strip()
    if fmt:
        section = _split_sections(fmt)[0]
        digits = [i for i, c in enumerate(section) if c in "#0"]
        pattern = section[digits[0] : digits[-1] + 1] if digits else ""
        d, th = _infer_separators(pattern, dec, thou, locale.decimal_sep, locale.thousand_sep)
        for lit in (section[: digits[0]], section[digits[-1] + 1 :]) if digits else ():
            lit = lit.replace("%", "").strip()
            if lit:
                t = t.replace(lit, "")
    else:
        d = dec if dec is not None else locale.decimal_sep
        th = thou if thou is not None else locale.thousand_sep
    t = t.strip()
    neg = t.startswith("(") and t.endswith(")")
    if neg:
        t = t[1:-1].strip()
    arr = pa.array([t])
    value = float(_interpret_numbers(arr, d, th)[0])
    if math.isnan(value) and th and th != " ":
        value = float(_interpret_numbers(pa.array([t.replace(" ", "")]), d, th)[0])
    return -value if neg else value


def interpret_texts(texts: Texts, locale: Locale = DEFAULT_LOCALE) -> np.ndarray:
    """Automatic interpretation of loaded text values -> float64 (NaN: stays text).

    Tried in order: plain numbers with the locale separators, numbers with '.' decimals, then the
    DateFormat, TimestampFormat and TimeFormat, then ISO dates/timestamps. Works on a numpy object
    array (None = NULL) or a pyarrow string array; the numeric case is pure pyarrow compute.
    """
    arr = pc.utf8_trim_whitespace(_to_arrow(texts))
    out = _interpret_numbers(arr, locale.decimal_sep, locale.thousand_sep)
    if locale.decimal_sep != "." and locale.thousand_sep != ".":
        pending = np.flatnonzero(np.isnan(out))
        if len(pending):
            out[pending] = _interpret_numbers(arr.take(pa.array(pending)), ".", "")
    pending = np.flatnonzero(np.isnan(out))
    if not len(pending):
        return out
    formats = (
        locale.date_format,
        locale.timestamp_format,
        locale.time_format,
        "YYYY-MM-DD",
        "YYYY-MM-DD hh:mm[:ss][.fff]",
        "YYYY-MM-DDThh:mm[:ss][.fff]",
    )
    if len(pending):
        # One scan with all date patterns together leaves only plausible candidates for the
        # per-format passes (a column of 1M codes like 'x123' is rejected in a single pass).
        union = "(?i)^(?:" + "|".join(_date_pattern(f, locale).prefilter for f in formats) + ")$"
        candidate = _mask(pc.match_substring_regex(arr.take(pa.array(pending)), union))
        money = pending[~candidate]
        pending = pending[candidate]
    else:
        money = pending
    for fmt in formats:
        if not len(pending):
            break
        got = parse_datetime_texts(arr.take(pa.array(pending)), fmt, locale)
        hit = ~np.isnan(got)
        out[pending[hit]] = got[hit]
        pending = pending[~hit]
    pending = np.concatenate([pending, money])
    if len(pending):
        got = _interpret_money(arr.take(pa.array(pending)), locale)
        hit = ~np.isnan(got)
        out[pending[hit]] = got[hit]
    return out


def _interpret_money(arr: pa.Array, locale: Locale) -> np.ndarray:
    """Amounts written with the MoneyFormat's currency text (``$1,234.50``, ``-$3``)."""
    section = _split_sections(locale.money_format)[0]
    digits = [i for i, c in enumerate(section) if c in "#0"]
    if not digits:
        return np.full(len(arr), np.nan)
    symbols = [s.strip() for s in (section[: digits[0]], section[digits[-1] + 1 :]) if s.strip()]
    if not symbols:
        return np.full(len(arr), np.nan)
    has_symbol = np.zeros(len(arr), dtype=bool)
    for sym in symbols:
        has_symbol |= _mask(pc.match_substring(arr, sym))
    if not has_symbol.any():
        return np.full(len(arr), np.nan)
    s = arr
    for sym in symbols:
        s = pc.replace_substring(s, sym, "")
    s = pc.utf8_trim_whitespace(s)
    changed = pc.fill_null(pc.not_equal(s, arr), False)
    vals = _interpret_numbers(s, locale.money_decimal_sep, locale.money_thousand_sep)
    return np.where(changed.to_numpy(zero_copy_only=False), vals, np.nan)
