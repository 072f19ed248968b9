"""Scalar functions with concrete values, including NULL behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.expr import (
    Duals,
    FieldRef,
    Locale,
    RowExpansionRequired,
    call_scalar,
    evaluate,
    evaluate_constant,
    parse_expression,
    subfield_parts,
)
from engine.expr.evaluate import UnknownField, UnknownFunction


def value(text: str, **kw) -> tuple[str | None, float]:
    d = evaluate_constant(text, **kw)
    return d.text[0], float(d.num[0])


def num(text: str, **kw) -> float:
    return value(text, **kw)[1]


def txt(text: str, **kw) -> str | None:
    return evaluate_constant(text, **kw).display_text()[0]


def is_null(text: str) -> bool:
    return bool(evaluate_constant(text).is_null()[0])


# -- strings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("Upper('abc')", "ABC"),
        ("Lower('AbC')", "abc"),
        ("Trim('  a b  ')", "a b"),
        ("LTrim('  a ')", "a "),
        ("RTrim('  a ')", "  a"),
        ("Left('abcdef', 2)", "ab"),
        ("Right('abcdef', 2)", "ef"),
        ("Mid('abcdef', 3)", "cdef"),
        ("Mid('abcdef', 2, 3)", "bcd"),
        ("Replace('a-b-c', '-', '+')", "a+b+c"),
        ("SubField('a;b;c', ';', 2)", "b"),
        ("SubField('a;b;c', ';', -1)", "c"),
        ("Chr(65)", "A"),
        ("Repeat('ab', 3)", "ababab"),
        ("KeepChar('a1b2c3', '123')", "123"),
        ("PurgeChar('a1b2c3', '123')", "abc"),
        ("TextBetween('x<ab>y<cd>', '<', '>')", "ab"),
        ("TextBetween('x<ab>y<cd>', '<', '>', 2)", "cd"),
        ("Capitalize('hello wORLD')", "Hello World"),
        ("Upper(12)", "12"),
        ("'a' & Null() & 1", "a1"),
    ],
)
def test_text_functions(expr: str, expected: str) -> None:
    assert txt(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("Len('abc')", 3),
        ("Len('')", 0),
        ("Index('abcabc', 'c')", 3),
        ("Index('abcabc', 'c', 2)", 6),
        ("Index('abcabc', 'c', -1)", 6),
        ("Index('abcabc', 'c', -2)", 3),
        ("Index('abc', 'z')", 0),
        ("SubStringCount('abcabc', 'bc')", 2),
        ("Ord('A')", 65),
        ("Len(Null())", 0),
    ],
)
def test_numeric_text_functions(expr: str, expected: float) -> None:
    assert num(expr) == expected


@pytest.mark.parametrize(
    "expr",
    [
        "Upper(Null())",
        "Left(Null(), 2)",
        "Mid('abc', Null())",
        "SubField('a;b', ';', 5)",
        "TextBetween('abc', '<', '>')",
        "1 + Null()",
        "'abc' * 2",
        "Year(Null())",
        "Num(Null(), '0.00')",
        "Date#('nonsense', 'YYYY-MM-DD')",
        "If(1 = 2, 'x')",
        "Null()",
        "1 / 0",
    ],
)
def test_null_results(expr: str) -> None:
    assert is_null(expr)


def test_subfield_without_index_signals_row_expansion() -> None:
    with pytest.raises(RowExpansionRequired):
        evaluate_constant("SubField('a;b', ';')")
    rows, parts = subfield_parts(Duals.from_texts(["a;b;c", None, "x"]), Duals.const(";", 3))
    assert rows.tolist() == [0, 0, 0, 1, 2]
    assert parts.text.tolist() == ["a", "b", "c", None, "x"]


# -- conditionals and matching -----------------------------------------------------------------------


def test_if_alt_pick_coalesce() -> None:
    assert txt("If(1 > 0, 'yes', 'no')") == "yes"
    assert txt("If(0, 'yes', 'no')") == "no"
    assert txt("If('abc', 'yes', 'no')") == "no"  # text is false
    assert num("Alt(Null(), 'x', 3)") == 3
    assert txt("Alt('a', 'b')") == "b"  # no argument is numeric: the last one
    assert num("Alt('12', 5)") == 12  # number-like text counts as a number
    assert txt("Pick(2, 'a', 'b', 'c')") == "b"
    assert is_null("Pick(4, 'a', 'b')")
    assert txt("Coalesce(Null(), 'x')") == "x"


def test_match_family() -> None:
    assert num("Match('b', 'a', 'b')") == 2
    assert num("Match('B', 'a', 'b')") == 0
    assert num("MixMatch('B', 'a', 'b')") == 2
    assert num("WildMatch('Hello', 'x*', 'h*')") == 2
    assert num("WildMatch('Hello', 'H?llo')") == 1
    assert num("Match(2, 1, 2)") == 2
    assert is_null("Match(Null(), 'a')")


def test_null_and_type_tests() -> None:
    assert num("IsNull(Null())") == -1
    assert num("IsNull('')") == 0
    assert num("IsNum('12')") == -1
    assert num("IsNum('abc')") == 0
    assert num("IsText('abc')") == -1
    assert num("IsText(12)") == 0


# -- formatting and interpretation ----------------------------------------------------------------------


def test_num_formats() -> None:
    assert value("Num(1234.5, '#,##0.00')") == ("1,234.50", 1234.5)
    assert txt("Num(0.256, '0.0%')") == "25.6%"
    assert txt("Num(1234567.891, '# ##0,00', ',', ' ')") == "1 234 567,89"
    assert txt("Num(-1234.5, '#,##0')") == "-1,235"
    assert txt("Num(5, '000')") == "005"
    assert txt("Num(3.14159, '0.0#')") == "3.14"
    assert txt("Num(3.1, '0.0#')") == "3.1"
    assert txt("Num(-5, '0;(0)')") == "(5)"
    assert txt("Num(2.5)") == "2.5"
    assert txt("Money(1234.5)") == "$1,234.50"


def test_text_and_dual() -> None:
    assert txt("Text(12)") == "12"
    assert math.isnan(num("Text(12)"))
    assert value("Dual('one', 1)") == ("one", 1.0)
    assert num("Dual('x', 2) + 1") == 3


def test_num_hash_interpretation() -> None:
    assert value("Num#('1,234.5', '#,##0.0')") == ("1,234.5", 1234.5)
    assert num("Num#('1 234,5', '# ##0,0', ',', ' ')") == 1234.5
    assert num("Num#('25%', '0%')") == 0.25
    assert num("Num#('12')") == 12


def test_dates_and_interpretation() -> None:
    assert value("Date#('2018-08-21', 'YYYY-MM-DD')") == ("2018-08-21", 43333.0)
    assert num("Date#('21/08/2018', 'DD/MM/YYYY')") == 43333
    assert num("Date#('21-Aug-2018', 'DD-MMM-YYYY')") == 43333
    assert num("Date#('August 21, 2018', 'MMMM D, YYYY')") == 43333
    assert num("Date#('8/21/2018')") == 43333  # default DateFormat M/D/YYYY
    assert num("Date#('2018-02-30', 'YYYY-MM-DD')") != num("Date#('2018-02-30', 'YYYY-MM-DD')")  # NaN
    assert value("Date(43333)") == ("8/21/2018", 43333.0)
    assert txt("Date(43333, 'DD/MM/YYYY')") == "21/08/2018"
    assert txt("Date(43333, 'WWW D MMMM YY')") == "Tue 21 August 18"
    assert num("MakeDate(2018, 8, 21)") == 43333
    assert num("MakeDate(2018)") == num("MakeDate(2018, 1, 1)")
    assert is_null("MakeDate(2018, 2, 30)")


def test_date_parts() -> None:
    assert num("Year(43333)") == 2018
    assert value("Month(43333)") == ("Aug", 8.0)
    assert num("Day(43333)") == 21
    assert value("WeekDay(43333)") == ("Tue", 1.0)  # Monday-first by default
    assert num("Year('2018-08-21')") == 2018  # text dates are interpreted
    assert num("Year(Date#('1900-03-01', 'YYYY-MM-DD'))") == 1900
    assert num("DayNumberOfYear(43333)") == 233


def test_iso_weeks() -> None:
    assert num("Week(MakeDate(2021, 1, 3))") == 53
    assert num("WeekYear(MakeDate(2021, 1, 3))") == 2020
    assert num("Week(MakeDate(2021, 1, 4))") == 1
    assert num("Week(MakeDate(2018, 12, 31))") == 1
    assert num("WeekYear(MakeDate(2018, 12, 31))") == 2019


def test_broken_us_weeks() -> None:
    loc = Locale.from_variables({"FirstWeekDay": "6", "BrokenWeeks": "1", "ReferenceDay": "0"})
    assert num("Week(MakeDate(2021, 1, 2))", locale=loc) == 1
    assert num("Week(MakeDate(2021, 1, 3))", locale=loc) == 2  # a Sunday starts week 2
    assert num("WeekDay(MakeDate(2021, 1, 3))", locale=loc) == 0


def test_period_starts_and_ends() -> None:
    assert value("MonthStart(43333)") == ("8/1/2018", 43313.0)
    assert num("MonthStart(43333, -1)") == num("MakeDate(2018, 7, 1)")
    assert num("Floor(MonthEnd(43333))") == num("MakeDate(2018, 8, 31)")
    assert num("MonthEnd(43333)") > num("MakeDate(2018, 8, 31)") + 0.9999
    assert num("YearStart(43333)") == num("MakeDate(2018, 1, 1)")
    assert num("Floor(YearEnd(43333))") == num("MakeDate(2018, 12, 31)")
    assert num("QuarterStart(43333)") == num("MakeDate(2018, 7, 1)")
    assert num("WeekStart(43333)") == num("MakeDate(2018, 8, 20)")
    assert num("DayStart(43333.75)") == 43333
    assert num("AddMonths(MakeDate(2018, 1, 31), 1)") == num("MakeDate(2018, 2, 28)")
    assert num("AddMonths(MakeDate(2018, 3, 15), -3)") == num("MakeDate(2017, 12, 15)")
    assert num("AddYears(MakeDate(2020, 2, 29), 1)") == num("MakeDate(2021, 2, 28)")
    assert txt("MonthName(43333)") == "Aug 2018"


def test_times_and_intervals() -> None:
    assert num("Hour(0.75)") == 18
    assert num("Minute(0.5 + 1/1440 * 5)") == 5
    assert num("Second(1/86400 * 7)") == 7
    assert txt("Time(0.75)") == "6:00:00 PM"
    assert txt("Time(0.75, 'hh:mm')") == "18:00"
    assert txt("Timestamp(43333.5)") == "8/21/2018 12:00:00 PM"
    assert txt("Timestamp(43333.5, 'YYYY-MM-DD hh:mm:ss.fff')") == "2018-08-21 12:00:00.000"
    assert txt("Interval(1.5, 'hh:mm')") == "36:00"
    assert txt("Interval(1.5, 'D hh:mm')") == "1 12:00"
    assert txt("Interval(0.5 + 1/86400 * 90, '[h]:mm:ss')") == "12:01:30"
    assert num("Time#('12:30', 'hh:mm')") == pytest.approx(12.5 / 24)
    assert num("Timestamp#('8/21/2018 1:02:03 PM')") == pytest.approx(43333 + (13 * 3600 + 123) / 86400)
    assert num("Interval#('36:00', 'hh:mm')") == pytest.approx(1.5)
    assert num("MakeTime(18)") == 0.75


def test_today_and_now() -> None:
    today, now = num("Today()"), num("Now()")
    assert today == math.floor(now)
    assert 40000 < today < 80000


# -- numbers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("Round(2.5)", 3),
        ("Round(-2.5)", -2),
        ("Round(2.675, 0.01)", 2.68),
        ("Round(17, 5)", 15),
        ("Round(3.88, 0.1)", 3.9),
        ("Round(12, 5, 1)", 11),
        ("Floor(2.7)", 2),
        ("Floor(-2.7)", -3),
        ("Floor(17, 5)", 15),
        ("Ceil(2.1)", 3),
        ("Ceil(17, 5)", 20),
        ("Mod(7, 2)", 1),
        ("Mod(-7, 2)", 1),
        ("Fmod(-7, 2)", -1),
        ("Div(7, 2)", 3),
        ("Div(-7, 2)", -3),
        ("Fabs(-3)", 3),
        ("Sqr(3)", 9),
        ("Sqrt(9)", 3),
        ("Exp(0)", 1),
        ("Log(1)", 0),
        ("Log10(1000)", 3),
        ("Pow(2, 10)", 1024),
        ("Even(4)", -1),
        ("Even(3)", 0),
        ("Odd(3)", -1),
        ("Sign(-4)", -1),
        ("Frac(2.25)", 0.25),
        ("BitCount(7)", 3),
        ("RangeSum(1, 'a', Null(), 2)", 3),
        ("RangeSum(Null())", 0),
        ("RangeMin(3, 1, 'x')", 1),
        ("RangeMax(3, 1, 'x')", 3),
        ("RangeAvg(1, 2, 'x')", 1.5),
        ("RangeCount(1, 'a', Null())", 2),
        ("RangeNumericCount(1, 'a', Null())", 1),
        ("RangeNullCount(1, 'a', Null())", 1),
        ("RangeTextCount(1, 'a', Null())", 1),
    ],
)
def test_numeric_functions(expr: str, expected: float) -> None:
    assert num(expr) == pytest.approx(expected)


def test_mod_with_negative_divisor_is_null() -> None:
    assert is_null("Mod(7, -2)")
    assert is_null("Sqrt(-1)")
    assert is_null("RangeMax(Null(), 'a')")


def test_rand_in_unit_interval() -> None:
    x = num("Rand()")
    assert 0 <= x < 1


def test_hashes_are_stable_and_sized() -> None:
    a = txt("Hash128('a', 'b')")
    assert len(a) == 22 and a == txt("Hash128('a', 'b')")
    assert a != txt("Hash128('ab')")
    assert len(txt("Hash160(1)")) == 27
    assert len(txt("Hash256(1)")) == 43


# -- vectorised behaviour and the registry ------------------------------------------------------


class Frame:
    """A minimal evaluation context over in-memory columns."""

    def __init__(self, columns: dict[str, Duals], locale: Locale | None = None) -> None:
        self.columns = columns
        self.nrows = len(next(iter(columns.values())))
        self.locale = locale or Locale()

    def field(self, name: str) -> Duals:
        if name not in self.columns:
            raise UnknownField(name)
        return self.columns[name]

    def variable(self, name: str) -> str | None:
        return None

    def aggregate(self, call):
        raise AssertionError("no aggregation expected")

    def function(self, name, args):
        return None


def test_text_functions_on_large_columns_use_distinct_values() -> None:
    n = 200_000
    col = Duals.from_texts(np.array(["alpha", "beta", None, "gamma"] * (n // 4), dtype=object))
    out = evaluate(parse_expression("Upper(Left(s, 3)) & '-' & Len(s)"), Frame({"s": col}))
    assert out.text[:4].tolist() == ["ALP-5", "BET-4", "-0", "GAM-5"]
    assert len(out) == n


def test_row_varying_parameters() -> None:
    frame = Frame(
        {
            "s": Duals.from_texts(["abc", "defg", "hi"]),
            "k": Duals.from_numbers([1, 2, 3]),
        }
    )
    assert evaluate(parse_expression("Left(s, k)"), frame).text.tolist() == ["a", "de", "hi"]
    assert evaluate(parse_expression("Match(s, 'hi', 'abc')"), frame).num.tolist() == [2, 0, 1]


def test_call_scalar_directly_and_argument_errors() -> None:
    env = Frame({"x": Duals.from_numbers([1.0])})
    out = call_scalar("upper", [Duals.from_texts(["x"])], env)
    assert out.text.tolist() == ["X"]
    with pytest.raises(Exception, match="LEFT takes 2 arguments"):
        call_scalar("Left", [Duals.from_texts(["x"])], env)


def test_unknown_function_and_field() -> None:
    with pytest.raises(UnknownFunction):
        evaluate_constant("NoSuchFunction(1)")
    with pytest.raises(UnknownField):
        evaluate(FieldRef("missing"), Frame({"x": Duals.from_numbers([1.0])}))
