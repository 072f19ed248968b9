"""Period membership, period names, work days and week dates, from the reference's examples
(dates written ISO style; the default date format renders M/D/YYYY)."""

from __future__ import annotations

import pytest

from engine.expr import evaluate_constant


def num(text: str) -> float:
    return float(evaluate_constant(text).num[0])


def txt(text: str) -> str | None:
    return evaluate_constant(text).display_text()[0]


@pytest.mark.parametrize(("expr", "expected"), [
    ("InYear('2013-01-25', '2013-01-01', 0)", -1), ("InYear('2012-01-25', '2013-01-01', 0)", 0),
    ("InYear('2013-01-25', '2013-06-01', 0, 3)", 0), ("InYear('2013-09-25', '2013-06-01', 0, 3)", -1),
    ("InYearToDate('2013-01-25', '2013-04-30', 0)", -1), ("InYearToDate('2013-05-25', '2013-04-30', 0)", 0),
    ("InYearToDate('2012-01-25', '2013-04-30', -1)", -1),
    ("InQuarter('2006-01-25', '2006-01-01', 0)", -1), ("InQuarter('2006-01-25', '2006-04-01', -1)", -1),
    ("InQuarterToDate('2006-01-25', '2006-01-20', 0)", 0),
    ("InMonth('2013-01-25', '2013-04-01', -3)", -1), ("InMonthToDate('2013-01-25', '2013-01-25', 0)", -1),
    ("InMonths(4, '2013-01-25', '2013-04-25', 0)", -1), ("InMonths(4, '2013-05-25', '2013-04-25', 0)", 0),
    ("InMonthsToDate(4, '2013-01-25', '2013-04-25', 0)", -1),
    ("InWeek('2006-01-12', '2006-01-14', 0)", -1), ("InWeek('2006-01-12', '2006-01-20', 0)", 0),
    ("InWeekToDate('2006-01-12', '2006-01-11', 0)", 0),
    ("InLunarWeek('2013-01-12', '2013-01-14', 0)", -1), ("InLunarWeek('2013-01-12', '2013-01-07', 0)", 0),
    ("InLunarWeekToDate('2013-01-12', '2013-01-13', 0)", -1),
    ("InDay('2006-01-12 12:23:00', '2006-01-12 00:00:00', 0)", -1),
    ("InDay('2006-01-12 12:23:00', '2006-01-13 00:00:00', -1)", -1),
    ("InDayToTime('2006-01-12 12:23:00', '2006-01-12 23:59:00', 0)", -1),
    ("InDayToTime('2006-01-12 23:23:00', '2006-01-12 12:00:00', 0)", 0),
    ("YearToDate('2013-01-18', 0, 1, '2013-01-18')", -1), ("YearToDate('2013-04-18', 0, 1, '2013-01-18')", 0),
    ("YearToDate('2012-01-18', -1, 1, '2013-01-18')", -1),
])
def test_period_membership(expr: str, expected: int) -> None:
    assert num(expr) == expected


def test_period_names_and_bounds() -> None:
    assert txt("MonthsName(4, '2013-10-19')") == "Sep-Dec 2013"
    assert txt("MonthsStart(4, '2013-10-19')") == "9/1/2013"
    assert txt("MonthsEnd(4, '2013-10-19')") == "12/31/2013"
    assert txt("QuarterName('2005-10-29')") == "Oct-Dec 2005"
    assert txt("QuarterName('2005-10-29', -1, 3)") == "Jun-Aug 2005"
    assert txt("YearName('2013-10-19')") == "2013" and txt("YearName('2013-10-19', 0, 4)") == "2013-2014"
    assert txt("DayName('2013-01-25 16:45:00')") == "1/25/2013" and num("DayName('2013-01-25 16:45:00')") == 41299
    assert txt("WeekName('2013-01-12')") == "2013/02"
    assert txt("LunarWeekName('2013-01-12')") == "2013/02"
    assert txt("LunarWeekStart('2013-01-12')") == "1/8/2013" and txt("LunarWeekEnd('2013-01-12')") == "1/14/2013"
    assert txt("LunarWeekEnd('2013-12-31')") == "12/31/2013"  # the year's last lunar week is cut short
    assert num("DayNumberOfQuarter('2014-02-12')") == 43 and num("DayNumberOfQuarter('2014-02-12', 2)") == 12


def test_building_and_adjusting_dates() -> None:
    assert txt("MakeWeekDate(2014, 6, 6)") == "2/9/2014" and txt("MakeWeekDate(2014, 6)") == "2/3/2014"
    assert txt("SetDateYear('2005-06-29', 2013)") == "6/29/2013"
    assert txt("SetDateYearMonth('2005-06-29', 2013, 3)") == "3/29/2013"
    assert txt("SetDateYearMonth('2005-03-31', 2013, 2)") == "2/28/2013"
    assert num("Age('2002-02-25', '1999-10-29')") == 2 and num("Age('2002-10-29', '1999-10-29')") == 3


def test_work_days() -> None:
    assert num("NetWorkDays('2006-12-19', '2006-12-31')") == 9
    assert num("NetWorkDays('2006-12-19', '2006-12-31', '2006-12-25', '2006-12-26')") == 7
    assert num("NetWorkDays('2007-12-19', '2013-01-01')") == 1315
    assert txt("LastWorkDate('2006-12-19', 9)") == "12/29/2006"
    assert txt("LastWorkDate('2006-12-19', 9, '2006-12-25', '2006-12-26')") == "1/2/2007"
    assert txt("FirstWorkDate('2014-12-29', 9)") == "12/17/2014"
    assert txt("FirstWorkDate('2014-12-29', 9, '2014-12-25', '2014-12-26')") == "12/15/2014"


def test_time_zones() -> None:
    assert num("ConvertToLocalTime('2007-11-10 23:59:00', 'GMT-05:00')") == pytest.approx(
        num("Timestamp#('2007-11-10 18:59:00', 'YYYY-MM-DD hh:mm:ss')"))
    assert num("ConvertToLocalTime('2007-07-10 12:00:00', 'Europe/Paris')") == pytest.approx(
        num("Timestamp#('2007-07-10 14:00:00', 'YYYY-MM-DD hh:mm:ss')"))
    assert num("ConvertToLocalTime('2007-07-10 12:00:00', 'Europe/Paris', 1)") == pytest.approx(
        num("Timestamp#('2007-07-10 13:00:00', 'YYYY-MM-DD hh:mm:ss')"))
    assert evaluate_constant("ConvertToLocalTime('2007-07-10 12:00:00', 'Nowhere/Atlantis')").is_null()[0]
    assert abs(num("GMT()") - num("UTC()")) < 1e-3 and num("GMT()") > 45000
    assert txt("TimeZone()")
