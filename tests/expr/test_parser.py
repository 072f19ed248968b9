"""Parser: precedence, quoting, qualifiers, set analysis shapes, errors with positions."""

from __future__ import annotations

import pytest

from engine.expr import (
    BinOp,
    Call,
    ElementField,
    ElementFunction,
    ElementList,
    ElementSetOp,
    ElementValue,
    ExprSyntaxError,
    FieldRef,
    Literal,
    SetEntity,
    SetModifier,
    SetOp,
    UnaryOp,
    parse_expression,
    unparse,
)


def test_leading_equals_is_ignored() -> None:
    assert parse_expression("=Sum(Value)") == parse_expression("Sum(Value)")
    assert parse_expression("=1+1") == BinOp("+", Literal(1.0, None), Literal(1.0, None))


def test_numbers_and_strings() -> None:
    assert parse_expression("1.5") == Literal(1.5, None)
    assert parse_expression("1e3") == Literal(1000.0, None)
    assert parse_expression("2.5E-1") == Literal(0.25, None)
    assert parse_expression("'it''s'") == Literal(None, "it's")
    assert parse_expression("-3") == Literal(-3.0, None)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Sales", "Sales"),
        ("[Order Date]", "Order Date"),
        ('"Order Date"', "Order Date"),
        ("`Order Date`", "Order Date"),
        ("%KeyField", "%KeyField"),
        ("Table.Field", "Table.Field"),
        ("$Field", "$Field"),
        ("Amount#", "Amount#"),
        ("Größe", "Größe"),
    ],
)
def test_field_references(text: str, name: str) -> None:
    assert parse_expression(text) == FieldRef(name)


def test_arithmetic_precedence() -> None:
    tree = parse_expression("1 + 2 * 3 - 4 / 2")
    assert tree == BinOp(
        "-",
        BinOp("+", Literal(1.0, None), BinOp("*", Literal(2.0, None), Literal(3.0, None))),
        BinOp("/", Literal(4.0, None), Literal(2.0, None)),
    )


def test_concat_binds_looser_than_plus_and_tighter_than_comparison() -> None:
    tree = parse_expression("'a' & 1 + 2 = 'a3'")
    assert tree == BinOp(
        "=",
        BinOp("&", Literal(None, "a"), BinOp("+", Literal(1.0, None), Literal(2.0, None))),
        Literal(None, "a3"),
    )


def test_logical_precedence_not_and_or() -> None:
    tree = parse_expression("a = 1 or not b = 2 and c")
    assert tree == BinOp(
        "OR",
        BinOp("=", FieldRef("a"), Literal(1.0, None)),
        BinOp("AND", UnaryOp("NOT", BinOp("=", FieldRef("b"), Literal(2.0, None))), FieldRef("c")),
    )


def test_keywords_case_insensitive_and_xor() -> None:
    assert parse_expression("a AnD b xor c") == BinOp(
        "XOR", BinOp("AND", FieldRef("a"), FieldRef("b")), FieldRef("c")
    )


def test_relational_words() -> None:
    assert parse_expression("x like 'a*'") == BinOp("LIKE", FieldRef("x"), Literal(None, "a*"))
    assert parse_expression("x precedes y").op == "PRECEDES"
    assert parse_expression("x FOLLOWS y").op == "FOLLOWS"
    assert parse_expression("a <> b").op == "<>"
    assert parse_expression("a <= b").op == "<="


def test_unary_and_bit_operators() -> None:
    assert parse_expression("-x * 2") == BinOp("*", UnaryOp("-", FieldRef("x")), Literal(2.0, None))
    assert parse_expression("a bitand b bitor c") == BinOp(
        "BITOR", BinOp("BITAND", FieldRef("a"), FieldRef("b")), FieldRef("c")
    )
    assert parse_expression("bitnot 5") == UnaryOp("BITNOT", Literal(5.0, None))


def test_parentheses_override() -> None:
    assert parse_expression("(1 + 2) * 3") == BinOp(
        "*", BinOp("+", Literal(1.0, None), Literal(2.0, None)), Literal(3.0, None)
    )


def test_function_names_upper_cased_and_qualifiers() -> None:
    assert parse_expression("sum(x)") == Call("SUM", (FieldRef("x"),))
    assert parse_expression("Count(DISTINCT id)") == Call("COUNT", (FieldRef("id"),), distinct=True)
    assert parse_expression("Sum(TOTAL Sales)") == Call("SUM", (FieldRef("Sales"),), total=True)
    call = parse_expression("Sum(TOTAL <Region, [Sub Region]> Sales)")
    assert isinstance(call, Call) and call.total and call.total_fields == ("Region", "Sub Region")
    assert parse_expression("Count(NODISTINCT x)").nodistinct
    assert parse_expression("Sum(ALL x)").all
    assert parse_expression("Num#(x, '0')").name == "NUM#"
    assert parse_expression("Today()") == Call("TODAY", ())


def test_field_named_total_is_not_a_qualifier() -> None:
    assert parse_expression("Sum(Total)") == Call("SUM", (FieldRef("Total"),))
    assert parse_expression("Sum(Total * 2)") == Call(
        "SUM", (BinOp("*", FieldRef("Total"), Literal(2.0, None)),)
    )


def test_set_identifiers() -> None:
    assert parse_expression("Sum({1} X)").set_expr == SetEntity("1")
    assert parse_expression("Sum({$} X)").set_expr == SetEntity("$")
    assert parse_expression("Sum({$1} X)").set_expr == SetEntity("$1")
    assert parse_expression("Sum({$_2} X)").set_expr == SetEntity("$_2")
    assert parse_expression("Sum({BM01} X)").set_expr == SetEntity("BM01")
    assert parse_expression("Sum({[My State]} X)").set_expr == SetEntity("My State")
    assert parse_expression("Sum({1-$} X)").set_expr == SetOp("-", SetEntity("1"), SetEntity("$"))


def test_set_modifiers_literal_and_search() -> None:
    s = parse_expression("Sum({<F={'a','b'}>} X)").set_expr
    assert s == SetEntity(
        None,
        (SetModifier("F", "=", ElementList((ElementValue("a", "literal"), ElementValue("b", "literal")))),),
    )
    s = parse_expression('Sum({<F={">5"}, G={1,2}>} X)').set_expr
    assert s.modifiers[0] == SetModifier("F", "=", ElementList((ElementValue(">5", "search"),)))
    assert s.modifiers[1] == SetModifier(
        "G", "=", ElementList((ElementValue("1", "number"), ElementValue("2", "number")))
    )
    assert parse_expression('Sum({<F={"*ab*"}>} X)').set_expr.modifiers[0].elements == ElementList(
        (ElementValue("*ab*", "search"),)
    )


def test_set_clear_and_operators() -> None:
    assert parse_expression("Sum({<F=>} X)").set_expr == SetEntity(None, (SetModifier("F", "=", None),))
    assert parse_expression("Sum({<F=, G={1}>} X)").set_expr.modifiers[0] == SetModifier("F", "=", None)
    s = parse_expression("Sum({$<F+={1}, G-={2}, H*={3}, I/={4}>} X)").set_expr
    assert [m.op for m in s.modifiers] == ["+=", "-=", "*=", "/="]
    assert s.identifier == "$"
    s = parse_expression("Sum({1<F={x}>} X)").set_expr
    assert s == SetEntity("1", (SetModifier("F", "=", ElementList((ElementValue("x", "number"),))),))


def test_set_element_functions_and_fields() -> None:
    m = parse_expression("Sum({<F=P(G)>} X)").set_expr.modifiers[0]
    assert m.elements == ElementFunction("P", None, "G")
    m = parse_expression("Sum({<F=E({1<H={3}>} G)>} X)").set_expr.modifiers[0]
    assert m.elements == ElementFunction(
        "E", SetEntity("1", (SetModifier("H", "=", ElementList((ElementValue("3", "number"),))),)), "G"
    )
    assert parse_expression("Sum({<F=P()>} X)").set_expr.modifiers[0].elements == ElementFunction(
        "P", None, None
    )
    assert parse_expression("Sum({<F=G>} X)").set_expr.modifiers[0].elements == ElementField("G")
    assert parse_expression("Sum({<F=$::G>} X)").set_expr.modifiers[0].elements == ElementField("G", "$")


def test_element_set_operators() -> None:
    e = parse_expression("Sum({<F={1}+{2}-{3}>} X)").set_expr.modifiers[0].elements
    assert isinstance(e, ElementSetOp) and e.op == "-"
    assert isinstance(e.left, ElementSetOp) and e.left.op == "+"
    e = parse_expression("Sum({<F={1,2}*P(G)>} X)").set_expr.modifiers[0].elements
    assert e == ElementSetOp(
        "*",
        ElementList((ElementValue("1", "number"), ElementValue("2", "number"))),
        ElementFunction("P", None, "G"),
    )


def test_set_entity_operators() -> None:
    s = parse_expression("Sum({$<A={1}> + 1<B={2}>} X)").set_expr
    assert isinstance(s, SetOp) and s.op == "+"
    assert s.left.identifier == "$" and s.right.identifier == "1"
    s = parse_expression("Sum({<A={1}> * <B={2}>} X)").set_expr
    assert s.op == "*" and s.left.identifier is None


def test_set_with_qualifiers_and_negative_number() -> None:
    call = parse_expression("Count({1<Year={-1, 2019}>} DISTINCT TOTAL <A> id)")
    assert call.distinct and call.total and call.total_fields == ("A",)
    assert call.set_expr.modifiers[0].elements.items[0] == ElementValue("-1", "number")


def test_comments_are_skipped() -> None:
    assert parse_expression("1 /* one */ + // rest\n 2") == BinOp("+", Literal(1.0, None), Literal(2.0, None))


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("1 +", 3),
        ("Sum(x", 5),
        ("'abc", 0),
        ("a b", 2),
        ("(1 + 2", 6),
        ("", 0),
        ("1 + * 2", 4),
        ("[abc", 0),
        ("Sum({<F={'a'}} X)", 13),
        ("x ? y", 2),
        ("$(v)", 0),
    ],
)
def test_errors_carry_positions(text: str, position: int) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse_expression(text)
    assert info.value.position == position


@pytest.mark.parametrize(
    "text",
    [
        "Sum(Value)",
        "1 + 2 * 3",
        "(1 + 2) * 3",
        "a - (b - c)",
        "'it''s' & [Order Date]",
        "NOT a AND b",
        "Sum({1<F={'a', 'b'}, G={\">5\"}>} DISTINCT TOTAL <X, Y> Sales) / Count(id)",
        "Sum({$<F=P({1} G)>+1-$} x)",
        "If(x > 1, 'big', Null())",
        "-x * 2",
    ],
)
def test_unparse_round_trips(text: str) -> None:
    node = parse_expression(text)
    assert parse_expression(unparse(node)) == node
    assert unparse(parse_expression(unparse(node))) == unparse(node)


def test_unparse_canonical_forms() -> None:
    assert unparse(parse_expression("sum( [Sales] )")) == "SUM(Sales)"
    assert unparse(parse_expression("a-(b-c)")) == "a - (b - c)"
    assert unparse(parse_expression("[Order Date]")) == "[Order Date]"
