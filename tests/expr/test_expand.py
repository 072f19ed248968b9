"""Dollar-sign expansion."""

from __future__ import annotations

import pytest

from engine.expr.evaluate import evaluate_constant
from engine.expr.expand import ExpansionError, expand, split_arguments, substitute_parameters

VARS = {
    "vPath": "lib://data/",
    "vYear": "2019",
    "vHalf": "0.5",
    "vAdd": "$1 + $2",
    "vCount": "$0",
    "vNested": "$(vYear)-01",
    "vName": "Year",
    "vLoop": "$(vLoop)",
    "vText": "abc",
}


def lookup(name: str) -> str | None:
    return VARS.get(name)


def calc(text: str) -> str:
    return evaluate_constant(text, VARS).display_text()[0]


def test_plain_variables_everywhere() -> None:
    assert expand("FROM [$(vPath)x.qvd]", lookup) == "FROM [lib://data/x.qvd]"
    assert expand("'$(vYear)'", lookup) == "'2019'"
    assert expand("$(undefined)x", lookup) == "x"
    assert expand("no dollars", lookup) == "no dollars"
    assert expand("Sum({$<A={1}>} x)", lookup) == "Sum({$<A={1}>} x)"


def test_parameters() -> None:
    assert expand("$(vAdd(1, 2))", lookup) == "1 + 2"
    assert expand("$(vAdd('a,b', f(1,2)))", lookup) == "'a,b' + f(1,2)"
    assert expand("$(vCount(a, b, c))", lookup) == "3"
    assert expand("$(vAdd(7))", lookup) == "7 + $2"


def test_nested_and_recursive() -> None:
    assert expand("$(vNested)", lookup) == "2019-01"
    assert expand("$(v$(vName))", lookup) == "2019"
    with pytest.raises(ExpansionError):
        expand("$(vLoop)", lookup)


def test_numeric_and_expression_forms() -> None:
    assert expand("$(#vHalf)", lookup) == "0.5"
    assert expand("$(#vYear)", lookup) == "2019"
    assert expand("$(#vText)", lookup) == "0"
    assert expand("x = $(=1+2)", lookup, calc) == "x = 3"
    assert expand("$(=vYear + 1)", lookup, calc) == "2020"
    assert expand("$(=1+1)", lookup) == ""


def test_include_forms() -> None:
    assert expand("$(Include=lib://x.qvs)", lookup) == "$(Include=lib://x.qvs)"
    seen: list[tuple[str, bool]] = []

    def include(path: str, must: bool) -> str:
        seen.append((path, must))
        return "LOAD 1 AutoGenerate 1;"

    assert expand("$(Must_Include=lib://x.qvs)", lookup, include=include) == "LOAD 1 AutoGenerate 1;"
    assert seen == [("lib://x.qvs", True)]


def test_unterminated_is_left_alone() -> None:
    assert expand("a $(vYear", lookup) == "a $(vYear"


def test_helpers() -> None:
    assert split_arguments("a, 'b,c', [d,e], f(1, 2)") == ["a", "'b,c'", "[d,e]", "f(1, 2)"]
    assert substitute_parameters("$1$10$0", [str(i) for i in range(1, 11)]) == "11010"
