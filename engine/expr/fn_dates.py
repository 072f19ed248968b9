"""Date and time functions beyond the basic parts: period membership (InYear... InDayToTime),
period names (QuarterName, WeekName, MonthsName...), work days, week dates and time zones.

Every membership test is one vectorised bounds check: the base date's period (shifted by
``period_no``) gives ``[start, end)``; the ``...ToDate`` forms cut ``end`` at the end of the base
day (or, for InDayToTime, at the base timestamp). Serial numbers are days since 1899-12-30.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
import zoneinfo

import numpy as np

from .duals import Duals
from .formatting import serial_from_ymd, ymd_from_serial
from .functions import (
    RowEnv,
    ScalarFunction,
    _date_result,
    _first_week_day,
    _formatted_dates,
    _locale,
    _nums,
    _scalar_arg,
    _scalar_text,
    _serials,
    _shift,
    _week_start,
    as_numbers,
    scalar,
    week_numbers,
)

_MS = 1.0 / 86_400_000
_EPOCH = _dt.datetime(1899, 12, 30)


def _first_month(env: RowEnv, arg: Duals | None) -> int:
    v = None if arg is None else _scalar_arg(arg)
    return int(v) if v is not None and 1 <= v <= 12 else _locale(env).first_month_of_year


def _month_period(base: np.ndarray, months: int, shift: np.ndarray, fm: int) -> tuple[np.ndarray, np.ndarray]:
    """``[start, end)`` of the ``months``-long period (aligned on month ``fm``) holding ``base``,
    moved by ``shift`` periods."""
    y, m, _ = ymd_from_serial(np.floor(np.nan_to_num(base)))
    start_m = m - np.mod(m - fm, months) + shift * months
    return serial_from_ymd(y, start_m, 1), serial_from_ymd(y, start_m + months, 1)


def _shift_months(serial: np.ndarray, months: np.ndarray) -> np.ndarray:
    """The same day ``months`` later (clamped to the month's last day), keeping the time of day."""
    day = np.floor(np.nan_to_num(serial))
    y, m, d = ymd_from_serial(day)
    tm = m + months
    ty = y + np.floor_divide(tm - 1, 12)
    tm = np.mod(tm - 1, 12) + 1
    last = serial_from_ymd(ty, tm + 1, 1) - serial_from_ymd(ty, tm, 1)
    result: np.ndarray = serial_from_ymd(ty, tm, np.minimum(d, last)) + (serial - day)
    return result


def _lunar_period(base: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lunar weeks: 7-day periods counted from 1 January; the year's last one is cut at 31 December."""
    day = np.floor(np.nan_to_num(base)) + 7 * shift
    y, _, _ = ymd_from_serial(day)
    jan1 = serial_from_ymd(y, 1, 1)
    start = jan1 + 7 * np.floor_divide(day - jan1, 7)
    return start, np.minimum(start + 7, serial_from_ymd(y + 1, 1, 1))


def _membership(date: np.ndarray, base: np.ndarray, start: np.ndarray, end: np.ndarray) -> Duals:
    ok = ~np.isnan(date) & ~np.isnan(base)
    inside = (date >= start) & (date < end)
    return Duals.from_numbers(np.where(ok, np.where(inside, -1.0, 0.0), np.nan))


def _in_months(months: int | None, to_date: bool) -> ScalarFunction:
    """InYear/InQuarter/InMonth (fixed length) and InMonths (length as first argument)."""

    def fn(env: RowEnv, *args: Duals) -> Duals:
        n = months
        if n is None:
            v = _scalar_arg(args[0])
            n = int(v) if v is not None and int(v) in (1, 2, 3, 4, 6, 12) else 0
            args = args[1:]
            if not n:
                return Duals.nulls(env.nrows)
        date, base = _nums(env, args[0], args[1])
        k = _shift(env, args[2], len(date))
        fm = 1 if n == 1 else _first_month(env, args[3] if len(args) > 3 else None)
        start, end = _month_period(base, n, k, fm)
        if to_date:
            end = np.minimum(end, np.floor(_shift_months(base, k * n)) + 1)
        return _membership(date, base, start, end)

    return fn


for _name, _months in (("InYear", 12), ("InQuarter", 3), ("InMonth", 1)):
    scalar(_name, 3, 3 if _months == 1 else 4)(_in_months(_months, False))
    scalar(_name + "ToDate", 3, 3 if _months == 1 else 4)(_in_months(_months, True))
scalar("InMonths", 4, 5)(_in_months(None, False))
scalar("InMonthsToDate", 4, 5)(_in_months(None, True))


def _in_week(lunar: bool, to_date: bool) -> ScalarFunction:
    def fn(env: RowEnv, date_d: Duals, base_d: Duals, period: Duals, first: Duals | None = None) -> Duals:
        date, base = _nums(env, date_d, base_d)
        k = _shift(env, period, len(date))
        if lunar:
            start, end = _lunar_period(base, k)
        else:
            start = _week_start(base, _first_week_day(env, first)) + 7 * k
            end = start + 7
        if to_date:
            end = np.minimum(end, np.floor(np.nan_to_num(base)) + 7 * k + 1)
        return _membership(date, base, start, end)

    return fn


scalar("InWeek", 3, 4)(_in_week(False, False))
scalar("InWeekToDate", 3, 4)(_in_week(False, True))
scalar("InLunarWeek", 3, 4)(_in_week(True, False))
scalar("InLunarWeekToDate", 3, 4)(_in_week(True, True))


def _in_day(to_time: bool) -> ScalarFunction:
    def fn(env: RowEnv, ts_d: Duals, base_d: Duals, period: Duals, day_start: Duals | None = None) -> Duals:
        ts, base = _nums(env, ts_d, base_d)
        k = _shift(env, period, len(ts))
        offset = (_scalar_arg(day_start) or 0.0) if day_start is not None else 0.0
        start = np.floor(np.nan_to_num(base) - offset) + offset + k
        end = start + 1
        if to_time:
            end = np.minimum(end, np.nan_to_num(base) + k + _MS / 2)
        return _membership(ts, base, start, end)

    return fn


scalar("InDay", 3, 4)(_in_day(False))
scalar("InDayToTime", 3, 4)(_in_day(True))


# ==================================================================================================
# Period starts, ends and names


def _months_period_fn(part: str) -> ScalarFunction:
    def fn(
        env: RowEnv, months: Duals, date: Duals, period: Duals | None = None, fm: Duals | None = None
    ) -> Duals:
        v = _scalar_arg(months)
        n = int(v) if v is not None and int(v) in (1, 2, 3, 4, 6, 12) else 0
        s = _serials(env, date)
        if not n:
            return Duals.nulls(len(s))
        start, end = _month_period(
            s, n, _shift(env, period, len(s)), 1 if fm is None else _first_month(env, fm)
        )
        bad = np.isnan(s)
        if part == "start":
            return _date_result(np.where(bad, np.nan, start), env)
        if part == "end":
            return _date_result(np.where(bad, np.nan, end - _MS), env)
        return _range_name(env, np.where(bad, np.nan, start), end - 1)

    return fn


def _range_name(env: RowEnv, start: np.ndarray, last_day: np.ndarray) -> Duals:
    """``MMM-MMM YYYY`` names (QuarterName, MonthsName); the number is the period start."""
    loc = _locale(env)
    a = _formatted_dates(start, "MMM", loc).text
    b = _formatted_dates(np.where(np.isnan(start), np.nan, last_day), "MMM YYYY", loc).text
    text = np.array(
        [None if x is None or y is None else f"{x}-{y}" for x, y in zip(a, b, strict=True)], dtype=object
    )
    return Duals(start, text)


scalar("MonthsStart", 2, 4)(_months_period_fn("start"))
scalar("MonthsEnd", 2, 4)(_months_period_fn("end"))
scalar("MonthsName", 2, 4)(_months_period_fn("name"))


@scalar("QuarterName", 1, 3)
def _quartername(env: RowEnv, date: Duals, period: Duals | None = None, fm: Duals | None = None) -> Duals:
    s = _serials(env, date)
    start, end = _month_period(s, 3, _shift(env, period, len(s)), _first_month(env, fm))
    return _range_name(env, np.where(np.isnan(s), np.nan, start), end - 1)


@scalar("YearName", 1, 3)
def _yearname(env: RowEnv, date: Duals, period: Duals | None = None, fm: Duals | None = None) -> Duals:
    """The (fiscal) year as text: ``2013``, or ``2013-2014`` when the year starts after January."""
    s = _serials(env, date)
    first = _first_month(env, fm)
    start, _ = _month_period(s, 12, _shift(env, period, len(s)), first)
    y, _, _ = ymd_from_serial(start)
    text = np.array(
        [
            None if np.isnan(v) else (f"{int(a)}" if first == 1 else f"{int(a)}-{int(a) + 1}")
            for v, a in zip(s, y, strict=True)
        ],
        dtype=object,
    )
    return Duals(np.where(np.isnan(s), np.nan, start), text)


@scalar("DayName", 1, 3)
def _dayname(env: RowEnv, date: Duals, period: Duals | None = None, day_start: Duals | None = None) -> Duals:
    s = _serials(env, date)
    offset = (_scalar_arg(day_start) or 0.0) if day_start is not None else 0.0
    start = np.floor(s - offset) + offset + _shift(env, period, len(s))
    return _date_result(start, env)


def _week_label(year: np.ndarray, week: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.array(
        [f"{int(a)}/{int(b):02d}" if ok else None for a, b, ok in zip(year, week, valid, strict=True)],
        dtype=object,
    )


@scalar("WeekName", 1, 3)
def _weekname(env: RowEnv, date: Duals, period: Duals | None = None, first: Duals | None = None) -> Duals:
    """``YYYY/WW``: week year and week number of the (shifted) week; the number is its start."""
    s = _serials(env, date)
    fwd = None if first is None else _first_week_day(env, first)
    start = _week_start(s, _first_week_day(env, first)) + 7 * _shift(env, period, len(s))
    week, wyear = week_numbers(start, _locale(env), fwd)
    ok = ~np.isnan(s)
    return Duals(np.where(ok, start, np.nan), _week_label(wyear, week, ok))


def _lunar_fn(part: str) -> ScalarFunction:
    def fn(env: RowEnv, date: Duals, period: Duals | None = None, _first: Duals | None = None) -> Duals:
        s = _serials(env, date)
        start, end = _lunar_period(s, _shift(env, period, len(s)))
        ok = ~np.isnan(s)
        if part == "start":
            return _date_result(np.where(ok, start, np.nan), env)
        if part == "end":
            return _date_result(np.where(ok, end - _MS, np.nan), env)
        y, _, _ = ymd_from_serial(start)
        week = (start - serial_from_ymd(y, 1, 1)) // 7 + 1
        return Duals(np.where(ok, start, np.nan), _week_label(y, week, ok))

    return fn


scalar("LunarWeekStart", 1, 3)(_lunar_fn("start"))
scalar("LunarWeekEnd", 1, 3)(_lunar_fn("end"))
scalar("LunarWeekName", 1, 3)(_lunar_fn("name"))


@scalar("DayNumberOfQuarter", 1, 2)
def _daynumberofquarter(env: RowEnv, date: Duals, fm: Duals | None = None) -> Duals:
    s = _serials(env, date)
    start, _ = _month_period(s, 3, np.zeros(len(s), dtype=np.int64), _first_month(env, fm))
    return Duals.from_numbers(np.where(np.isnan(s), np.nan, np.floor(s) - start + 1))


@scalar("DayNumberOfYear", 1, 2)
def _daynumberofyear(env: RowEnv, date: Duals, fm: Duals | None = None) -> Duals:
    """The day number in the year holding ``date``; a year starts on the first of ``fm`` (January when
    omitted)."""
    s = _serials(env, date)
    start, _ = _month_period(s, 12, np.zeros(len(s), dtype=np.int64), 1 if fm is None else _first_month(env, fm))
    return Duals.from_numbers(np.where(np.isnan(s), np.nan, np.floor(s) - start + 1))


# ==================================================================================================
# Building and adjusting dates


@scalar("MakeWeekDate", 1, 3)
def _makeweekdate(env: RowEnv, year: Duals, week: Duals | None = None, day: Duals | None = None) -> Duals:
    """The date of ``day`` (0 = first week day) in ISO-style week ``week`` of ``year``."""
    y = as_numbers(year, _locale(env))
    w = np.ones(len(y)) if week is None else as_numbers(week, _locale(env))
    d = np.zeros(len(y)) if day is None else as_numbers(day, _locale(env))
    loc = _locale(env)
    ref = loc.reference_day if loc.reference_day > 0 else 4
    week1 = _week_start(serial_from_ymd(np.nan_to_num(y).astype(np.int64), 1, ref), loc.first_week_day)
    return _date_result(np.where(np.isnan(y + w + d), np.nan, week1 + 7 * (w - 1) + d), env)


@scalar("SetDateYear", 2)
def _setdateyear(env: RowEnv, ts: Duals, year: Duals) -> Duals:
    s, y = _nums(env, ts, year)
    return _set_date(env, s, y, None)


@scalar("SetDateYearMonth", 3)
def _setdateyearmonth(env: RowEnv, ts: Duals, year: Duals, month: Duals) -> Duals:
    s, y, m = _nums(env, ts, year, month)
    return _set_date(env, s, y, m)


def _set_date(env: RowEnv, s: np.ndarray, year: np.ndarray, month: np.ndarray | None) -> Duals:
    day = np.floor(np.nan_to_num(s))
    _, m0, d0 = ymd_from_serial(day)
    m = m0 if month is None else np.nan_to_num(month).astype(np.int64)
    y = np.nan_to_num(year).astype(np.int64)
    last = serial_from_ymd(y, m + 1, 1) - serial_from_ymd(y, m, 1)
    res = serial_from_ymd(y, m, np.minimum(d0, last)) + (s - day)
    bad = np.isnan(s) | np.isnan(year) | (month is not None and np.isnan(month)) | (m < 1) | (m > 12)
    kind = "timestamp" if np.any(s - day) else "date"
    return _date_result(np.where(bad, np.nan, res), env, kind)


@scalar("Age", 2)
def _age(env: RowEnv, ts: Duals, birth: Duals) -> Duals:
    """Completed years between ``birth`` and ``ts``."""
    a, b = _nums(env, ts, birth)
    ya, ma, da = ymd_from_serial(np.floor(np.nan_to_num(a)))
    yb, mb, db = ymd_from_serial(np.floor(np.nan_to_num(b)))
    years = ya - yb - ((ma < mb) | ((ma == mb) & (da < db)))
    return Duals.from_numbers(np.where(np.isnan(a) | np.isnan(b), np.nan, years.astype(np.float64)))


@scalar("YearToDate", 1, 4)
def _yeartodate(
    env: RowEnv, date: Duals, offset: Duals | None = None, fm: Duals | None = None, today: Duals | None = None
) -> Duals:
    """True when ``date`` is in the (fiscal) year of ``today`` (shifted), up to today's day."""
    s = _serials(env, date)
    if today is None:
        base = np.full(len(s), np.floor(_dt_serial(_dt.datetime.now())))
    else:
        base = as_numbers(today, _locale(env))
    k = _shift(env, offset, len(s))
    start, end = _month_period(base, 12, k, _first_month(env, fm))
    end = np.minimum(end, np.floor(_shift_months(base, 12 * k)) + 1)
    return _membership(s, base, start, end)


# ==================================================================================================
# Work days


def _holidays(env: RowEnv, args: tuple[Duals, ...]) -> np.ndarray:
    """Holiday arguments (constants: their first value) as numpy business-day dates."""
    days = [float(v) for a in args for v in as_numbers(a, _locale(env))[:1] if not np.isnan(v)]
    return _to_np_days(np.array(days, dtype=np.float64))


def _to_np_days(serial: np.ndarray) -> np.ndarray:
    result: np.ndarray = (np.floor(np.nan_to_num(serial)).astype(np.int64) - 25569).astype("datetime64[D]")
    return result


def _from_np_days(days: np.ndarray) -> np.ndarray:
    return days.astype(np.int64).astype(np.float64) + 25569


@scalar("NetWorkDays", 2, None)
def _networkdays(env: RowEnv, start: Duals, end: Duals, *holidays: Duals) -> Duals:
    """Working days (Monday to Friday, minus holidays) from ``start`` to ``end`` inclusive."""
    a, b = _nums(env, start, end)
    hol = _holidays(env, holidays)
    lo, hi = _to_np_days(np.minimum(a, b)), _to_np_days(np.maximum(a, b)) + 1
    count = np.busday_count(lo, hi, holidays=hol).astype(np.float64)
    bad = np.isnan(a) | np.isnan(b)
    return Duals.from_numbers(np.where(bad, np.nan, np.where(a <= b, count, -count)))


@scalar("LastWorkDate", 2, None)
def _lastworkdate(env: RowEnv, start: Duals, n: Duals, *holidays: Duals) -> Duals:
    """The date that ends ``n`` working days starting at ``start``."""
    a, k = _nums(env, start, n)
    hol = _holidays(env, holidays)
    first = np.busday_offset(_to_np_days(a), 0, roll="forward", holidays=hol)
    res = np.busday_offset(first, np.maximum(np.nan_to_num(k), 1).astype(np.int64) - 1, holidays=hol)
    return _date_result(np.where(np.isnan(a) | np.isnan(k), np.nan, _from_np_days(res)), env)


@scalar("FirstWorkDate", 2, None)
def _firstworkdate(env: RowEnv, end: Duals, n: Duals, *holidays: Duals) -> Duals:
    """The date that starts ``n`` working days ending at ``end``."""
    a, k = _nums(env, end, n)
    hol = _holidays(env, holidays)
    last = np.busday_offset(_to_np_days(a), 0, roll="backward", holidays=hol)
    res = np.busday_offset(last, 1 - np.maximum(np.nan_to_num(k), 1).astype(np.int64), holidays=hol)
    return _date_result(np.where(np.isnan(a) | np.isnan(k), np.nan, _from_np_days(res)), env)


# ==================================================================================================
# Time zones


def _dt_serial(value: _dt.datetime) -> float:
    return (value.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400.0


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@scalar("GMT", 0)
def _gmt(env: RowEnv) -> Duals:
    return _date_result(np.full(env.nrows, _dt_serial(_utc_now())), env, "timestamp")


@scalar("UTC", 0)
def _utc(env: RowEnv) -> Duals:
    return _date_result(np.full(env.nrows, _dt_serial(_utc_now())), env, "timestamp")


_OFFSET = re.compile(r"^(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def _zone(name: str | None) -> _dt.tzinfo | None:
    """A place as a fixed ``GMT+hh:mm`` offset or an IANA zone name (``Europe/Paris``)."""
    if name is None or not name.strip() or name.strip().upper() in ("GMT", "UTC"):
        return _dt.UTC
    m = _OFFSET.match(name.strip())
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        return _dt.timezone(_dt.timedelta(minutes=-minutes if m.group(1) == "-" else minutes))
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _to_zone(utc_serials: np.ndarray, zone: _dt.tzinfo, ignore_dst: bool) -> np.ndarray:
    out = np.full(len(utc_serials), np.nan)
    for i, v in enumerate(utc_serials):
        if np.isnan(v):
            continue
        moment = (_EPOCH + _dt.timedelta(days=float(v))).replace(tzinfo=_dt.UTC)
        local = moment.astimezone(zone)
        shift = local.utcoffset() or _dt.timedelta()
        if ignore_dst:
            shift -= local.dst() or _dt.timedelta()
        out[i] = float(v) + shift.total_seconds() / 86400.0
    return out


@scalar("LocalTime", 0, 2)
def _localtime(env: RowEnv, place: Duals | None = None, ignore_dst: Duals | None = None) -> Duals:
    zone = _local_zone() if place is None else _zone(_scalar_text(place))
    if zone is None:
        return Duals.nulls(env.nrows)
    now = np.full(env.nrows, _dt_serial(_utc_now()))
    return _date_result(
        _to_zone(now, zone, bool(ignore_dst is not None and _scalar_arg(ignore_dst))), env, "timestamp"
    )


@scalar("ConvertToLocalTime", 1, 3)
def _converttolocaltime(
    env: RowEnv, ts: Duals, place: Duals | None = None, ignore_dst: Duals | None = None
) -> Duals:
    zone = _zone(None if place is None else _scalar_text(place))
    s = _serials(env, ts)
    if zone is None:
        return Duals.nulls(len(s))
    return _date_result(
        _to_zone(s, zone, bool(ignore_dst is not None and _scalar_arg(ignore_dst))), env, "timestamp"
    )


def _local_zone() -> _dt.tzinfo:
    return _dt.datetime.now().astimezone().tzinfo or _dt.UTC


@scalar("TimeZone", 0)
def _timezone(env: RowEnv) -> Duals:
    name = time.tzname[time.localtime().tm_isdst > 0] or "UTC"
    return Duals.from_texts(np.full(env.nrows, name, dtype=object))


@scalar("DaylightSaving", 0)
def _daylightsaving(env: RowEnv) -> Duals:
    """The current daylight-saving adjustment, as an interval in days."""
    dst = _dt.datetime.now().astimezone().dst() or _dt.timedelta()
    return _date_result(np.full(env.nrows, dst.total_seconds() / 86400.0), env, "interval")
