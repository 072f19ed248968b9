"""Evaluator: operators, NULL rules, comparisons, variables, delegation to the context."""

from __future__ import annotations

import numpy as np
import pytest

from engine.expr import (
    AGGREGATIONS,
    Call,
    Duals,
    Locale,
    Node,
    UnknownField,
    contains_aggregation,
    evaluate,
    evaluate_constant,
    fields_of,
    parse_expression,
)
from engine.model.numformat import format_default


class Frame:
    """An evaluation context over in-memory columns that records delegated calls."""

    def __init__(self, columns: dict[str, Duals], variables: dict[str, str] | None = None) -> None:
        self.columns = columns
        self.variables = variables or {}
        self.nrows = len(next(iter(columns.values()))) if columns else 1
        self.locale = Locale()
        self.aggregated: list[Call] = []

    def field(self, name: str) -> Duals:
        if name not in self.columns:
            raise UnknownField(name)
        return self.columns[name]

    def variable(self, name: str) -> str | None:
        return self.variables.get(name)

    def aggregate(self, call: Call) -> Duals:
        self.aggregated.append(call)
        return Duals.const(float(len(self.aggregated) * 10), self.nrows)

    def function(self, name: str, args: tuple[Node, ...]) -> Duals | None:
        if name == "RECNO":
            return Duals.from_numbers(np.arange(1, self.nrows + 1, dtype=np.float64))
        return None


def ev(text: str, frame: Frame) -> Duals:
    return evaluate(parse_expression(text), frame)


@pytest.fixture
def frame() -> Frame:
    return Frame(
        {
            "a": Duals.from_numbers([1.0, 2.0, np.nan, 4.0]),
            "s": Duals.from_texts(["x", None, "Abc", "10"]),
            "d": Duals.from_pairs(["one", "two", "three", "four"], [1.0, 2.0, 3.0, 4.0]),
        }
    )


def test_arithmetic_with_null(frame: Frame) -> None:
    out = ev("a * 2 + 1", frame)
    np.testing.assert_array_equal(out.num, [3, 5, np.nan, 9])
    assert out.is_null().tolist() == [False, False, True, False]
    np.testing.assert_array_equal(ev("s + 1", frame).num, [np.nan, np.nan, np.nan, 11])  # '10' reads as 10
    np.testing.assert_array_equal(ev("d / 2", frame).num, [0.5, 1, 1.5, 2])


def test_concat_treats_null_as_empty(frame: Frame) -> None:
    assert ev("s & '-' & a", frame).text.tolist() == ["x-1", "-2", "Abc-", "10-4"]
    assert ev("d & ''", frame).text.tolist() == ["one", "two", "three", "four"]


def test_comparisons_and_null(frame: Frame) -> None:
    assert ev("a > 1", frame).num.tolist() == [0, -1, 0, -1]
    assert ev("a = a", frame).num.tolist() == [-1, -1, 0, -1]  # NULL = NULL is false
    assert ev("a <> 2", frame).num.tolist() == [-1, 0, -1, -1]  # <> with NULL is true
    assert ev("s = 'Abc'", frame).num.tolist() == [0, 0, -1, 0]
    assert ev("s = 'abc'", frame).num.tolist() == [0, 0, 0, 0]  # case sensitive
    assert ev("s > 9", frame).num.tolist() == [-1, 0, -1, -1]  # text vs number: text comparison, '10' numeric
    assert ev("d = 2", frame).num.tolist() == [0, -1, 0, 0]  # duals compare by number
    assert ev("d = 'two'", frame).num.tolist() == [0, -1, 0, 0]


def test_numeric_comparison_of_number_like_text() -> None:
    assert evaluate_constant("' 11' < ' 2'").num[0] == 0
    assert evaluate_constant("' 11' precedes ' 2'").num[0] == -1
    assert evaluate_constant("'b' follows 'a'").num[0] == -1
    assert evaluate_constant("'10' = 10.0").num[0] == -1


def test_logic(frame: Frame) -> None:
    assert ev("a > 1 and s = '10'", frame).num.tolist() == [0, 0, 0, -1]
    assert ev("a > 1 or s = 'x'", frame).num.tolist() == [-1, -1, 0, -1]
    assert ev("a > 1 xor a > 3", frame).num.tolist() == [0, -1, 0, 0]
    assert ev("not a > 1", frame).num.tolist() == [-1, 0, -1, 0]


def test_like(frame: Frame) -> None:
    assert ev("s like 'a*'", frame).num.tolist() == [0, 0, -1, 0]
    assert ev("s like '?'", frame).num.tolist() == [-1, 0, 0, 0]
    assert evaluate_constant("'a.c' like 'a?c'").num[0] == -1
    assert evaluate_constant("'abc' like 'a.c'").num[0] == 0


def test_bit_operators() -> None:
    assert evaluate_constant("6 bitand 3").num[0] == 2
    assert evaluate_constant("6 bitor 3").num[0] == 7
    assert evaluate_constant("6 bitxor 3").num[0] == 5
    assert evaluate_constant("bitnot 0").num[0] == -1


def test_unary_minus_and_pure_number_display() -> None:
    out = evaluate_constant("-(1/4)")
    assert out.num[0] == -0.25 and out.text[0] is None
    assert out.display_text()[0] == format_default(-0.25)


def test_if_vectorised(frame: Frame) -> None:
    out = ev("If(a > 1, 'big', If(IsNull(a), 'none', 'small'))", frame)
    assert out.text.tolist() == ["small", "big", "none", "big"]


def test_aggregations_are_delegated(frame: Frame) -> None:
    out = ev("Sum({1} a) / Count(DISTINCT s)", frame)
    assert [c.name for c in frame.aggregated] == ["SUM", "COUNT"]
    assert frame.aggregated[0].set_expr is not None and frame.aggregated[1].distinct
    assert out.num.tolist() == [0.5] * 4


def test_context_functions_come_first(frame: Frame) -> None:
    assert ev("RecNo() * 10", frame).num.tolist() == [10, 20, 30, 40]


def test_variables_by_name() -> None:
    frame = Frame(
        {"x": Duals.from_numbers([1.0, 2.0])},
        {"vFactor": "3", "vExpr": "=x + vFactor", "vText": "hello world"},
    )
    assert ev("x * vFactor", frame).num.tolist() == [3, 6]
    assert ev("vExpr", frame).num.tolist() == [4, 5]
    assert ev("vText", frame).text.tolist() == ["hello world", "hello world"]
    with pytest.raises(UnknownField):
        ev("nothing", frame)


def test_variable_text_that_does_not_evaluate_is_its_text() -> None:
    frame = Frame({"x": Duals.from_numbers([1.0])}, {"v": "v + 1", "w": "abc", "p": "lib://x/"})
    assert ev("v", frame).text.tolist() == ["v + 1"]  # self reference stops, the text remains
    assert ev("w", frame).text.tolist() == ["abc"]
    assert ev("p & 'f.qvd'", frame).text.tolist() == ["lib://x/f.qvd"]


def test_evaluate_constant() -> None:
    assert evaluate_constant("3+4").num[0] == 7
    assert evaluate_constant("=1+1").num[0] == 2
    assert evaluate_constant("vA * 2", {"vA": "21"}).num[0] == 42
    assert evaluate_constant("vA * 2", lambda name: "5" if name == "vA" else None).num[0] == 10
    assert evaluate_constant("'count(ID) = ' & 100").text[0] == "count(ID) = 100"
    with pytest.raises(UnknownField):
        evaluate_constant("SomeField + 1")


def test_helpers() -> None:
    node = parse_expression("Sum(a * b) + If(c, [d e], 1)")
    assert fields_of(node) == {"a", "b", "c", "d e"}
    assert contains_aggregation(node)
    assert not contains_aggregation(parse_expression("Upper(x)"))
    assert {"SUM", "COUNT", "AVG", "MIN", "MAX", "ONLY", "CONCAT", "AGGR"} <= AGGREGATIONS


def test_duals_helpers() -> None:
    d = Duals.const("a", 3)
    assert d.text.tolist() == ["a"] * 3 and np.isnan(d.num).all()
    assert Duals.const(None, 2).is_null().all()
    assert Duals.const(("x", 1), 1).scalar() == ("x", 1.0)
    both = Duals.concat([Duals.from_numbers([1.0]), Duals.from_texts(["b"])])
    assert both.display_text().tolist() == ["1", "b"]
    assert both.take(np.array([1, 0])).display_text().tolist() == ["b", "1"]
    assert Duals.from_numbers([0, 2, np.nan]).truthy().tolist() == [False, True, False]
    assert Duals.from_texts(["1", "x"]).truthy().tolist() == [False, False]
    assert Duals.from_numbers([np.nan]).display_text(null="-").tolist() == ["-"]


def test_row_expanding_calls() -> None:
    from engine.expr import row_expanding_calls

    calls = row_expanding_calls(parse_expression("Upper(SubField(s, ';')) & SubField(t, ',', 1)"))
    assert [len(c.args) for c in calls] == [2]
    assert row_expanding_calls(parse_expression("Concat(SubField(s, ';'))")) == []


def test_number_interpretation_of_large_text_column() -> None:
    frame = Frame({"s": Duals.from_texts(np.array(["1", "x", None, "2.5"] * 50_000, dtype=object))})
    out = ev("s * 2", frame)
    np.testing.assert_array_equal(out.num[:4], [2, np.nan, np.nan, 5])
