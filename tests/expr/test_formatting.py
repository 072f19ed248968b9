"""Format codes and vectorised interpretation of loaded texts."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from engine.expr import Locale, format_datetime, format_number, interpret_texts
from engine.expr.formatting import parse_datetime_texts, serial_from_ymd, ymd_from_serial


def test_serial_numbers_round_trip() -> None:
    assert serial_from_ymd(np.array([1899]), np.array([12]), np.array([30]))[0] == 0
    assert serial_from_ymd(np.array([2018]), np.array([8]), np.array([21]))[0] == 43333
    assert serial_from_ymd(np.array([1900]), np.array([1]), np.array([1]))[0] == 2
    days = np.arange(-1000, 80000, 7, dtype=np.float64)
    y, m, d = ymd_from_serial(days)
    assert np.array_equal(serial_from_ymd(y, m, d), days)


@pytest.mark.parametrize(
    ("x", "fmt", "expected"),
    [
        (1234.5, "#,##0.00", "1,234.50"),
        (1234.5, "#,##0", "1,235"),
        (0.256, "0.0%", "25.6%"),
        (0.5, "0%", "50%"),
        (7, "000", "007"),
        (0.5, "#.00", ".50"),
        (0, "#,##0.00", "0.00"),
        (-0.001, "0.00", "0.00"),
        (1234567.891, "#,##0.##", "1,234,567.89"),
        (12.3, "$#,##0.00", "$12.30"),
        (-12.3, "$#,##0.00", "$-12.30"),
        (-12.3, "$#,##0.00;($#,##0.00)", "($12.30)"),
        (2.675, "0.00", "2.68"),
    ],
)
def test_format_number(x: float, fmt: str, expected: str) -> None:
    assert format_number(x, fmt) == expected


def test_format_number_with_explicit_and_locale_separators() -> None:
    assert format_number(1234567.891, "# ##0,00", ",", " ") == "1 234 567,89"
    de = Locale.from_variables({"DecimalSep": ",", "ThousandSep": "."})
    assert format_number(1234.5, "#.##0,00", locale=de) == "1.234,50"
    assert format_number(1234.5, "#,##0.00", locale=de) == "1,234.50"  # separators read from the code


@pytest.mark.parametrize(
    ("serial", "fmt", "expected"),
    [
        (43333, "YYYY-MM-DD", "2018-08-21"),
        (43333, "DD/MM/YYYY", "21/08/2018"),
        (43333, "M/D/YYYY", "8/21/2018"),
        (43333, "YY", "18"),
        (43333, "MMM", "Aug"),
        (43333, "MMMM", "August"),
        (43333, "WWW", "Tue"),
        (43333, "WWWW", "Tuesday"),
        (43333.5 + 1 / 86400 * 61, "hh:mm:ss", "12:01:01"),
        (43333 + 13.5 / 24, "h:mm TT", "1:30 PM"),
        (43333 + 0.5 / 24, "h:mm TT", "12:30 AM"),
        (43333 + 1.25 / 86400, "hh:mm:ss.fff", "00:00:01.250"),
        (43333, "M/D/YYYY h:mm:ss[.fff] TT", "8/21/2018 12:00:00 AM"),
    ],
)
def test_format_datetime(serial: float, fmt: str, expected: str) -> None:
    assert format_datetime(serial, fmt) == expected


def test_format_intervals() -> None:
    assert format_datetime(1.5, "[h]:mm", interval=True) == "36:00"
    assert format_datetime(1.5, "hh:mm:ss", interval=True) == "36:00:00"
    assert format_datetime(2.25, "D hh:mm", interval=True) == "2 06:00"
    assert format_datetime(-0.5, "hh:mm", interval=True) == "-12:00"


def test_localized_month_names() -> None:
    sv = Locale.from_variables({"MonthNames": "jan;feb;mar;apr;maj;jun;jul;aug;sep;okt;nov;dec"})
    assert format_datetime(43243, "D MMM YYYY", sv) == "23 maj 2018"
    assert parse_datetime_texts(np.array(["23 maj 2018"], dtype=object), "D MMM YYYY", sv)[0] == 43243


def test_locale_from_variables() -> None:
    loc = Locale.from_variables(
        {
            "ThousandSep": " ",
            "DecimalSep": ",",
            "DateFormat": "DD.MM.YYYY",
            "FirstWeekDay": "6",
            "BrokenWeeks": "1",
            "ReferenceDay": "0",
            "DayNames": "Mo;Di;Mi;Do;Fr;Sa;So",
            "Unrelated": "x",
        }
    )
    assert loc.thousand_sep == " " and loc.decimal_sep == ","
    assert loc.date_format == "DD.MM.YYYY"
    assert loc.first_week_day == 6 and loc.broken_weeks and loc.reference_day == 0
    assert loc.day_names[0] == "Mo"
    assert Locale.from_variables({}) == Locale()


def test_interpret_numbers_over_arrays() -> None:
    texts = np.array(
        [
            "1",
            "001",
            "-2.5",
            "+3",
            "1e3",
            "1,234.5",
            "12%",
            " 7 ",
            ".5",
            "abc",
            None,
            "",
            "1,23",
            "12a",
            "1.2.3",
        ],
        dtype=object,
    )
    got = interpret_texts(texts)
    expected = [1, 1, -2.5, 3, 1000, 1234.5, 0.12, 7, 0.5] + [math.nan] * 6
    np.testing.assert_allclose(got, expected, equal_nan=True)


def test_interpret_accepts_pyarrow_arrays() -> None:
    got = interpret_texts(pa.array(["5", None, "x"]))
    np.testing.assert_allclose(got, [5, math.nan, math.nan], equal_nan=True)
    got = interpret_texts(pa.array(["5", "5", "y"]).dictionary_encode())
    np.testing.assert_allclose(got, [5, 5, math.nan], equal_nan=True)


def test_interpret_dates_times_timestamps() -> None:
    texts = np.array(
        [
            "8/21/2018",
            "2018-08-21",
            "8/21/2018 1:02:03 PM",
            "1:30:00 PM",
            "13:30:00",
            "2018-08-21 06:00",
            "$1,234.00",
            "2/30/2018",
        ],
        dtype=object,
    )
    got = interpret_texts(texts)
    assert got[0] == 43333 and got[1] == 43333
    assert got[2] == pytest.approx(43333 + (13 * 3600 + 123) / 86400)
    assert got[3] == pytest.approx(13.5 / 24) and got[4] == pytest.approx(13.5 / 24)
    assert got[5] == pytest.approx(43333.25)
    assert got[6] == 1234
    assert math.isnan(got[7])


def test_interpret_with_european_locale() -> None:
    loc = Locale.from_variables(
        {
            "DecimalSep": ",",
            "ThousandSep": ".",
            "DateFormat": "DD.MM.YYYY",
            "TimestampFormat": "DD.MM.YYYY hh:mm:ss",
        }
    )
    got = interpret_texts(
        np.array(["1.234,5", "12,5", "21.08.2018", "21.08.2018 12:00:00", "3"], dtype=object), loc
    )
    np.testing.assert_allclose(got, [1234.5, 12.5, 43333, 43333.5, 3])


def test_interpret_large_column_is_vectorised() -> None:
    n = 300_000
    texts = np.array([str(i) for i in range(n)], dtype=object)
    got = interpret_texts(texts)
    assert got[12345] == 12345 and not np.isnan(got).any()


@pytest.mark.parametrize(
    "fmt",
    [
        "#,##0.00",
        "#,##0",
        "0.0%",
        "000",
        "#.00",
        "0.0#",
        "$#,##0.00;($#,##0.00)",
        "# ##0,00",
        "0",
        "#,##0.###",
    ],
)
def test_vectorised_number_formatting_matches_scalar(fmt: str) -> None:
    from engine.expr.formatting import format_numbers

    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.normal(0, 1e6, 300),
            rng.random(100),
            [0.0, -0.0, 0.5, -0.004, 2.675, 999.995, 1e13, -1234567.5, np.nan],
        ]
    )
    fast = format_numbers(values, fmt)
    slow = [None if np.isnan(v) else format_number(float(v), fmt) for v in values]
    assert fast.tolist() == slow
