"""General numeric, distribution, financial, colour and range functions, checked against the values
the Qlik script reference documents for its examples (to the 4 decimals it prints)."""

from __future__ import annotations

import pytest

from engine.expr import evaluate_constant


def num(text: str) -> float:
    return float(evaluate_constant(text).num[0])


def txt(text: str) -> str | None:
    return evaluate_constant(text).display_text()[0]


def is_null(text: str) -> bool:
    return bool(evaluate_constant(text).is_null()[0])


@pytest.mark.parametrize(("expr", "expected"), [
    ("CHIDIST(8, 15)", 0.9238), ("CHIINV(0.9237827, 15)", 8.0), ("FDIST(15, 8, 6)", 0.0019),
    ("FINV(0.0019369, 8, 6)", 15.0), ("NORMDIST(0.5, 0, 1)", 0.6915), ("NORMINV(0.6914625, 0, 1)", 0.5),
    ("TDIST(1, 30, 2)", 0.3253), ("TINV(0.3253086, 30)", 1.0),
])
def test_distributions_match_the_documented_examples(expr: str, expected: float) -> None:
    assert num(expr) == pytest.approx(expected, abs=5e-5)


def test_distribution_arguments_out_of_range_are_null() -> None:
    for expr in ("NORMDIST(1, 0, -1)", "NORMINV(1.5, 0, 1)", "CHIDIST(-1, 3)", "TDIST(1, 30, 3)", "CHIDIST('x', 3)"):
        assert is_null(expr), expr


def test_combinatorics_and_hyperbolic() -> None:
    assert num("Fact(5)") == 120 and num("Fact(0)") == 1 and is_null("Fact(-1)")
    assert num("Combin(7, 3)") == 35 and num("Combin(5, 2)") == 10 and is_null("Combin(2, 5)")
    assert num("Permut(10, 2)") == 90
    assert num("Cosh(0)") == 1 and num("Sinh(0)") == 0 and num("Tanh(100)") == pytest.approx(1)
    assert num("e()") == pytest.approx(2.718281828)


def test_financial_functions_follow_the_annuity_conventions() -> None:
    assert num("FV(0.005, 36, -20)") == pytest.approx(786.72, abs=0.005)
    assert num("PV(0.005, 36, 20)") == pytest.approx(-657.42, abs=0.005)
    assert num("Pmt(0.1/12, 36, 20000)") == pytest.approx(-645.34, abs=0.005)
    assert num("NPer(0.015, -200, 5000)") == pytest.approx(31.57, abs=0.005)
    # Rate and PV/Pmt are inverses of each other
    assert num("Pmt(Rate(36, -20, 800), 36, 800)") == pytest.approx(-20, abs=1e-6)
    assert num("FV(0, 10, -5)") == 50
    assert num("BlackAndSchole(130, 4, 68.5, 0.4, 0.04, 'call')") == pytest.approx(11.245, abs=0.001)
    assert is_null("BlackAndSchole(130, 4, 68.5, 0.4, 0.04, 'swap')")


def test_colours_are_duals_of_text_and_argb_number() -> None:
    d = evaluate_constant("RGB(255, 0, 0)")
    assert d.text[0] == "RGB(255,0,0)" and d.num[0] == 0xFFFF0000
    assert num("ARGB(0, 0, 0, 255)") == 255
    assert num("HSL(0, 1, 0.5)") == num("RGB(255, 0, 0)")
    assert num("white()") == 0xFFFFFFFF and num("black(0)") == 0


def test_class_and_findoneof() -> None:
    assert txt("Class(23, 10)") == "20 <= x < 30" and num("Class(23, 10)") == 20
    assert txt("Class(23, 10, 'value')") == "20 <= value < 30"
    assert txt("Class(23, 10, 'x', 5)") == "15 <= x < 25"
    assert num("FindOneOf('my example text string', 'et%s')") == 4
    assert num("FindOneOf('my example text string', 'et%s', 3)") == 12
    assert num("FindOneOf('my example text string', '¤%&')") == 0


def test_range_functions_pick_values_across_arguments() -> None:
    assert num("RangeMode(1, 2, 9, 2, 4)") == 2 and txt("RangeMode('a', 4, 'a', 4)") is None
    assert txt("RangeMode('a', 4, 'a')") == "a"
    assert num("RangeOnly(1, 1)") == 1 and is_null("RangeOnly(1, 2)")
    assert num("RangeMaxString(1, 2, 4)") == 4 and txt("RangeMinString('xyz', 'abc')") == "abc"
    assert num("RangeMissingCount(1, 'a', 2, Null())") == 2
    assert num("RangeFractile(0.24, 1, 2, 4, 6)") == pytest.approx(1.72)
    assert num("RangeStDev(1, 2, 4, 2, 5)") == pytest.approx(1.6432, abs=5e-5)
    assert num("RangeSkew(1, 2, 3, 4, 6)") == pytest.approx(0.5901, abs=5e-5)
    assert num("RangeKurtosis(1, 2, 3, 4, 6, 9)") == pytest.approx(0.2503, abs=5e-5)
    assert num("RangeCorrel(2, 3, 6, 8, 9, 4)") == pytest.approx(0.2691, abs=5e-5)


def test_range_financial_functions() -> None:
    assert num("RangeNPV(0.1, -10000, 3000, 4200, 6800)") == pytest.approx(1188.44, abs=0.005)
    assert num("RangeIRR(-70000, 12000, 15000, 18000, 21000, 26000)") == pytest.approx(0.0866, abs=5e-5)
    assert num("RangeXIRR(-2500, '2008-01-01', 2750, '2008-09-01')") == pytest.approx(0.1532, abs=5e-5)
    assert num("RangeXNPV(0.1, -2500, '2008-01-01', 2750, '2008-09-01')") == pytest.approx(80.25, abs=0.005)
    assert is_null("RangeIRR(1, 2, 3)")  # no sign change: no rate


def test_applycodepage_reads_the_text_bytes_in_another_code_page() -> None:
    assert txt("ApplyCodepage('Ã©tÃ©', 65001)") == "été"  # UTF-8 bytes read as Windows-1252
    assert txt("ApplyCodepage('\xe1\xe2\xe3', 1253)") == "αβγ"  # Greek bytes read as Windows-1252
    assert txt("ApplyCodepage('abc', 99999)") is None
