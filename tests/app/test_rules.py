"""The ABAC rules language: tokens, parse errors with positions, operators against a plain-Python reference,
like/matches edge cases, what a rule grants, HasPrivilege.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.app.rules import (
    ACTIONS,
    Grant,
    HasPrivilege,
    Resource,
    RuleSyntaxError,
    compile_granting,
    parse_rule,
    parse_rules,
    tokenize,
)

# --------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------


class Ctx:
    """A check's context with a fixed set of privileges (depth 0) and app privileges (depth 1)."""

    def __init__(self, granted: frozenset[str] = frozenset(), app: frozenset[str] = frozenset()) -> None:
        self.granted, self.app = granted, app

    def has_privilege(self, depth: int, action: str) -> bool:
        return action in (self.granted if depth == 0 else self.app)


APP = Resource.for_app("app-1", "Sales", "owner-1", "Quarterly numbers", published=True,
                       custom={"country": "SE", "tags": ["a", "b"]})
SHEET = Resource.for_object(APP, "sheet-1", "sheet", "Overview", "ada")


def grants(text: str, claims: Mapping[str, Any] | None = None, resource: Resource = SHEET,
           ctx: Ctx | None = None) -> frozenset[str] | None:
    """What one rule grants ``claims`` on ``resource``: None when the rule is false."""
    rule = parse_rule(text)
    assert rule is not None
    compiled = compile_granting(rule.node, claims or {"sub": "ada"})
    if callable(compiled):
        return compiled(resource, ctx or Ctx())
    return compiled


def true(text: str, claims: Mapping[str, Any] | None = None, resource: Resource = SHEET,
         ctx: Ctx | None = None) -> bool:
    return grants(text, claims, resource, ctx) is not None


def error(text: str) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rules(text)
    return info.value


# --------------------------------------------------------------------------------------------------------
# tokens and the documented examples
# --------------------------------------------------------------------------------------------------------


def test_tokens_keywords_strings_and_comments() -> None:
    toks = tokenize('user.a AND resource.b Or !(x == "q\\"uote") && y like "C:\\path" # comment "x"')
    assert [(t.kind, t.text) for t in toks] == [
        ("name", "user"), ("op", "."), ("name", "a"), ("op", "&&"), ("name", "resource"), ("op", "."),
        ("name", "b"), ("op", "||"), ("op", "!"), ("op", "("), ("name", "x"), ("op", "=="),
        ("string", 'q"uote'), ("op", ")"), ("op", "&&"), ("name", "y"), ("op", "like"),
        ("string", "C:\\path"), ("eof", "")]
    assert [t.column for t in toks[:4]] == [1, 5, 6, 8]
    # a backslash pair stays as written, so the string still ends at the next quote
    assert tokenize('"a\\\\" x')[0].text == "a\\\\"


def test_blank_and_comment_lines_are_not_rules() -> None:
    rules = parse_rules('\n   \n# only a comment\nresource._actions = "read"  # trailing\n\t\n')
    assert [(r.line, r.text) for r in rules] == [(4, 'resource._actions = "read"  # trailing')]
    assert parse_rule("   # nothing") is None


UK = {"sub": "john-doe", "country": "uk", "region": "us-east", "roles": ["developer"]}


@pytest.mark.parametrize("rule,expected", [
    # the documentation's examples, given user.country = "uk" and user.id = "john-doe"
    ('!(user.country = "UK")', False),
    ('!(user.country = "SE")', True),
    ('(user.country = "UK") && (user.id = "john-doe")', True),
    ('(user.country = "UK") and (user.id = "john-doe")', True),
    ('(user.country = "SE") && (user.id = "john-doe")', False),
    ('(user.country = "UK") and (user.id = "bill-smith")', False),
    ('(user.country = "UK") || (user.id = "bill-smith")', True),
    ('(user.country = "SE") or (user.id = "john-doe")', True),
    ('(user.country = "SE") or (user.id = "bill-smith")', False),
    ('user.country = "UK"', True),
    ('user.country = "uk"', True),
    ('user.country = {"se", "us", "uk"}', True),
    ('user.org = "United Kingdom"', False),
    ('user.org = {"se", "dk", "ca"}', False),
    ('user.country == "uk"', True),
    ('user.country == {"se", "uk", "ca"}', True),
    ('user.country == "UK"', False),
    ('user.country == {"SE", "UK", "CA"}', False),
    ('user.country != "SE"', True),
    ('user.country != {"SE", "UK", "uk"}', True),
    ('user.country != "UK"', False),
    ('user.country != {"uk", "UK"}', False),
    ('user.country !== "UK"', True),
    ('user.country !== {"uk", "UK", "se"}', True),
    ('user.country !== "uk"', False),
    ('user.country !== {"uk"}', False),
    ('user.region like "us-*"', True),
    ('user.region like "US-*"', True),
    ('user.region like "??-*"', True),
    ('user.region like "us-?"', False),
    ('user.region like "uk-*"', False),
    ('user.roles = {"developer"}', True),
    ('user.sub = "john-doe" and user.id = "JOHN-DOE" and user = "john-doe"', True),
])
def test_documented_examples(rule: str, expected: bool) -> None:
    assert true(rule, UK) is expected


def test_matches_documented_example() -> None:
    rule = 'user.region matches "us-[^-]+-(1|2)"'
    assert true(rule, {"region": "us-east-1"}) and true(rule, {"region": "US-West-2"})
    assert not true(rule, {"region": "us-east-3"}) and not true(rule, {"region": "us-east-1x"})
    assert not true(rule, {"region": "xus-east-1"})  # the whole text must match


# --------------------------------------------------------------------------------------------------------
# parse errors: message, line, column
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,line,column,needle", [
    ('user.a = "x', 1, 10, "string not closed"),
    ("user.a @ 1", 1, 8, "unexpected character '@'"),
    ('user.a = "x" and', 1, 17, "expected a value or a condition, found the end of the rule"),
    ('user.a = "x" "y"', 1, 14, "unexpected '\"y\"': expected 'and', 'or' or the end of the rule"),
    ('(user.a = "x"', 1, 14, "expected ')' to close the '(' at column 1"),
    ('user.a = ', 1, 10, "expected a value after '='"),
    ('owner = "x"', 1, 1, "unknown name 'owner': rules read 'user' and 'resource'"),
    ("user. = 1", 1, 7, "expected an attribute name after '.'"),
    ('user.a = {"x" "y"}', 1, 15, "expected ',' or '}' in the list opened at column 10"),
    ('user.a = {user.b}', 1, 11, "a {list} holds strings, numbers or true/false"),
    ('(user.a = "x") = "y"', 1, 16, "'=' compares values, not conditions"),
    ('user.a = (user.b = "y")', 1, 10, "'=' compares values, not conditions"),
    ("resource._actions", 1, 1, "resource._actions must be followed by '='"),
    ('resource._actions == "read"', 1, 19, "resource._actions takes '=', not '=='"),
    ("resource._actions = user.x", 1, 21, "takes an action in quotes"),
    ('"read" = resource._actions', 1, 10, "resource._actions may only stand left of '='"),
    ('resource.app._actions = "read"', 1, 1, "only resource._actions grants actions"),
    ('user.HasPrivilege("read")', 1, 1, "HasPrivilege is a function of resource"),
    ('resource.owner.HasPrivilege("read")', 1, 1, "HasPrivilege is a function of resource"),
    ('resource.name("x")', 1, 14, "resource.name is not a function"),
    ("resource.HasPrivilege(read)", 1, 23, "HasPrivilege takes one action in quotes"),
    ('resource.HasPrivilege("read"', 1, 29, "expected ')' to close HasPrivilege( at column 22"),
    ('user.a matches "(unclosed"', 1, 16, "invalid regular expression: missing ): (unclosed"),
    ('user.a matches "(a)\\1"', 1, 16, "invalid regular expression: invalid escape sequence"),
    ("!" * 70 + "user.a", 1, 65, "nested more than 64 deep"),
])
def test_parse_errors(text: str, line: int, column: int, needle: str) -> None:
    err = error(text)
    assert (err.line, err.column) == (line, column), str(err)
    assert needle in err.message
    assert str(err) == f"line {line}, column {column}: {err.message}"


def test_error_line_is_the_file_line() -> None:
    err = error('# header\n\nresource._actions = "read"\nuser.a = = 1\n')
    assert (err.line, err.column) == (4, 10)


def test_keywords_after_a_dot_are_names() -> None:
    assert true("user.like and user.or", {"like": True, "or": "TRUE"})


def test_numbers_and_booleans() -> None:
    claims = {"level": 3, "ratio": 0.5, "big": 12345678901234567890123, "flag": False, "whole": 2.0}
    assert true("user.level = 3 and user.level = \"3\" and user.ratio = 0.5 and user.whole = 2", claims)
    assert true("user.big = 12345678901234567890123 and user.flag = false and !user.flag", claims)
    assert true("user.level = 3.0", claims)
    assert not true("user.level = 4 or user.flag = true or user.level = -3", claims)


def test_missing_and_nested_attributes() -> None:
    claims = {"sub": "ada", "custom": {"country": "sweden", "Team": {"name": "blue"}},
              "groups": [{"name": "g1"}, {"name": "G2"}], "nothing": None, "obj": {"a": 1}}
    assert true('user.custom.country = "SWEDEN" and user.custom.team.name = "blue"', claims)
    assert true('user.groups.name = "g2"', claims)  # through an array: each element
    for op in ("=", "==", "!=", "!==", "like", "matches"):
        assert not true(f'user.missing {op} "x"', claims), op
        assert not true(f'user.nothing {op} "x"', claims), op
        assert not true(f'user.obj {op} "x"', claims), op  # an object is no value
        assert not true(f'"x" {op} user.missing', claims), op
    assert not true("user.missing", claims) and true("!user.missing", claims)


def test_resource_attributes() -> None:
    assert true('resource._resourcetype = "app.object" and resource._objecttype = "SHEET"')
    assert true('resource.id = "sheet-1" and resource.name = "overview" and resource.owner = user')
    assert true('resource.app.owner = "owner-1" and resource.app = "app-1" and resource = "sheet-1"')
    assert true('resource.app.published = true and resource.app.custom.tags = "B"')
    assert true('resource.app.description like "*numbers"')
    assert true('resource._resourcetype == "App"', resource=APP)
    assert not true('resource._objecttype = ""', resource=APP)  # an app has no object type
    assert not true('resource.app.owner = "owner-1"', resource=APP)  # nor an app
    assert true('resource._RESOURCETYPE = "app"', resource=APP)  # built-in names ignore case


# --------------------------------------------------------------------------------------------------------
# like and matches
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,pattern,expected", [
    ("", "", True), ("", "*", True), ("", "?", False), ("a", "", False),
    ("abc", "a*", True), ("abc", "*c", True), ("abc", "*b*", True), ("abc", "a?c", True), ("abc", "a?", False),
    ("ABC", "a*c", True), ("a*c", "a\\*c", True), ("abc", "a\\*c", False), ("a?c", "a\\?c", True),
    ("abc", "a\\?c", False), ("a\\c", "a\\\\c", True), ("a\\c", "a\\c", True), ("a\\", "a\\\\", True),
    ("DOMAIN\\ada", "domain\\\\*", True), ("x.y", "x.y", True), ("xzy", "x.y", False),
    ("(a|b)", "(a|b)", True), ("a", "(a|b)", False), ("[x]", "[x]", True), ("two\nlines", "two*", True),
    ("åÄö", "ÅäÖ", True), ("日本語", "日?語", True), ("a+b", "a+b", True), ("aab", "a+b", False),
    ("$^{}", "$^{}", True),
])
def test_like(text: str, pattern: str, expected: bool) -> None:
    rule = f'user.v like "{pattern}"'
    assert true(rule, {"v": text}) is expected
    assert true(f'resource.v like "{pattern}"', resource=Resource.for_app("a", v=text)) is expected


@pytest.mark.parametrize("text,pattern,expected", [
    ("abc", "a.c", True), ("ABC", "a.c", True), ("abc", "b", False), ("abc", ".*b.*", True),
    ("line1\nline2", "line1.line2", True), ("", "", True), ("", "x?", True), ("a-1", "a-[0-9]+", True),
])
def test_matches(text: str, pattern: str, expected: bool) -> None:
    assert true(f'user.v matches "{pattern}"', {"v": text}) is expected


def test_remembered_matches_answers() -> None:
    """matches remembers recent answers per pattern: the same text answers the same, long texts too."""
    rule = 'user.v matches "x+y"'
    long_text = "x" * 300 + "y"
    for _ in range(3):
        assert true(rule, {"v": "xxy"}) and not true(rule, {"v": "xx"})
        assert true(rule, {"v": long_text}) and not true(rule, {"v": long_text + "z"})


def test_patterns_from_attributes() -> None:
    claims = {"pat": "sal*", "re": "[", "pats": ["x*", "s?les"]}
    assert true("resource.app.name like user.pat", claims)
    assert true("resource.app.name like user.pats", claims)
    assert not true("resource.app.name matches user.re", claims)  # an invalid pattern matches nothing
    holder = Resource.for_app("a", pattern="O*", regex="(", name_re="Ov.*")
    assert true('"owner" like resource.pattern', resource=holder)
    assert not true('"owner" matches resource.regex', resource=holder)
    assert true("user.n matches resource.name_re", {"n": "overview"}, resource=holder)


def test_regular_expressions_cannot_hang() -> None:
    """Patterns that backtrack exponentially in Python's re run in linear time on RE2."""
    text = "a" * 100_000
    assert not true('user.v matches "(a+)+b"', {"v": text})
    assert not true('user.v matches "(a|aa)*c"', {"v": text})
    assert not true('user.v like "' + "*a" * 30 + '*b"', {"v": text})
    long_pattern = "a" * 5000
    assert "pattern longer than" in error(f'user.v like "{long_pattern}"').message


# --------------------------------------------------------------------------------------------------------
# grants
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule,claims,expected", [
    ('resource._actions = "read"', {}, {"read"}),
    ('resource._actions = {"Read", "EXPORT DATA", "exportdata"}', {}, {"read", "export data"}),
    ('resource._actions = "*"', {}, {"*"}),
    ('resource._actions = {"*"}', {}, {"*"}),
    ('resource._actions = ""', {}, set()),
    ("resource._actions = {}", {}, set()),
    ('resource._action = "create"', {}, {"create"}),  # the docs spell it both ways
    ('user.x and resource._actions = "read"', {"x": True}, {"read"}),
    ('user.x and resource._actions = "read"', {"x": False}, None),
    ('user.x = "y"', {"x": "y"}, set()),  # true, but grants nothing
    # every grant of a true conjunction counts
    ('resource._actions = "read" and user.x and resource._actions = "update"', {"x": True}, {"read", "update"}),
    # a disjunction grants what its true branches grant
    ('(user.x and resource._actions = "read") or (user.y and resource._actions = "update")',
     {"x": True, "y": False}, {"read"}),
    ('(user.x and resource._actions = "read") or (user.y and resource._actions = "update")',
     {"x": True, "y": True}, {"read", "update"}),
    ('(user.x and resource._actions = "read") or (user.y and resource._actions = "update")', {}, None),
    ('user.x or resource._actions = "read"', {"x": True}, {"read"}),
    # the same where the resource decides (compiled to closures, not folded)
    ('(resource._objecttype = "sheet" and resource._actions = "read") or '
     '(resource.owner = "bob" and resource._actions = "update")', {}, {"read"}),
    ('(resource._objecttype = "sheet" and resource._actions = "read") or '
     '(resource.owner = "ada" and resource._actions = "update")', {}, {"read", "update"}),
    ('(resource._objecttype = "chart" and resource._actions = "read") or resource.owner = "bob"', {}, None),
    ('(resource._objecttype = "chart" and resource._actions = "read") or resource.owner = "ada"', {}, set()),
    ('((resource.owner = "ada" and resource._actions = "read") or resource._objecttype = "x") and '
     '(resource.name like "over*" and resource._actions = "update")', {}, {"read", "update"}),
    ('((resource.owner = "bob" and resource._actions = "read") or resource._objecttype = "sheet") and '
     'resource._actions = "update"', {}, {"update"}),
    ('((resource.owner = "bob" and resource._actions = "read") or resource._objecttype = "x") and '
     'resource._actions = "update"', {}, None),
    ('(resource.owner = "ada" and resource._actions = "read") and (resource.id = "x" and '
     'resource._actions = "update")', {}, None),
    # under ! a grant is only "true", and grants nothing
    ('!(resource._actions = "read")', {}, None),
    ('!(user.x and resource._actions = "read")', {}, set()),
])
def test_what_a_rule_grants(rule: str, claims: dict[str, Any], expected: set[str] | None) -> None:
    got = grants(rule, claims)
    assert (None if got is None else set(got)) == expected


def test_unknown_actions_are_kept_and_reported() -> None:
    rule = parse_rule('resource._actions = {"read", "publish", "Duplicate"}')
    assert rule is not None and isinstance(rule.node, Grant)
    assert rule.node.actions == {"read", "publish", "duplicate"}
    assert rule.unknown_actions == (("publish", 21), ("Duplicate", 21))


def test_has_privilege() -> None:
    rule = 'resource._resourcetype = "App.Object" and resource.HasPrivilege("create") and ' \
           'resource._actions = {"read", "update"}'
    assert grants(rule, ctx=Ctx(frozenset({"create"}))) == {"read", "update"}
    assert grants(rule, ctx=Ctx()) is None
    assert true('resource.app.HasPrivilege("Export Data")', ctx=Ctx(app=frozenset({"export data"})))
    assert not true('resource.app.HasPrivilege("read")', ctx=Ctx(granted=frozenset({"read"})))
    assert true('resource.hasprivilege("read")', ctx=Ctx(granted=frozenset({"read"})))
    node = parse_rule('resource.app.app.HasPrivilege("read")')
    assert node is not None and node.node == HasPrivilege(2, "read", 1)


def test_user_terms_fold_away() -> None:
    """Compiled for a user, a rule about someone else is a constant: nothing left to run per check."""
    rule = parse_rule('user.roles = "admin" and resource._objecttype = "sheet" and resource._actions = "*"')
    assert rule is not None
    assert compile_granting(rule.node, {"roles": ["viewer"]}) is None
    assert callable(compile_granting(rule.node, {"roles": ["admin"]}))
    always = parse_rule('user.roles = "admin" and resource._actions = "*"')
    assert always is not None and compile_granting(always.node, {"roles": "ADMIN"}) == frozenset({"*"})


# --------------------------------------------------------------------------------------------------------
# against a plain-Python reference, on random inputs
# --------------------------------------------------------------------------------------------------------

ALPHABET = "aAbB xX-é*?.\\"
scalars = st.one_of(st.text(ALPHABET, max_size=4), st.integers(-3, 3), st.booleans(),
                    st.sampled_from([0.5, 2.0, -1.25]))
json_values = st.one_of(st.none(), scalars, st.lists(scalars, max_size=3))
NAMES = ("a", "b", "c")


def ref_texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        return [str(int(value)) if value.is_integer() else repr(value)]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in ref_texts(item)]
    return []


def ref_like(text: str, pattern: str) -> bool:
    """Wildcard match by recursion, as the documentation describes it."""
    items: list[str | None] = []  # None = '*', '' = '?', else a literal character
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "?*\\":
            items.append(pattern[i + 1])
            i += 2
            continue
        items.append(None if ch == "*" else "" if ch == "?" else ch)
        i += 1
    text = text.lower()

    @functools.cache
    def match(t: int, p: int) -> bool:
        if p == len(items):
            return t == len(text)
        item = items[p]
        if item is None:
            return match(t, p + 1) or (t < len(text) and match(t + 1, p))
        if t == len(text):
            return False
        return (item == "" or item.lower() == text[t]) and match(t + 1, p + 1)

    return match(0, 0)


def ref_compare(op: str, left: list[str], right: list[str]) -> bool:
    pairs = [(a, b) for a in left for b in right]
    if op == "=":
        return any(a.casefold() == b.casefold() for a, b in pairs)
    if op == "==":
        return any(a == b for a, b in pairs)
    if op == "!=":
        return any(a.casefold() != b.casefold() for a, b in pairs)
    if op == "!==":
        return any(a != b for a, b in pairs)
    if op == "like":
        return any(ref_like(a, b) for a, b in pairs)
    return any(re.fullmatch(b, a, re.IGNORECASE | re.DOTALL) is not None for a, b in pairs)


@dataclass(frozen=True)
class Operand:
    """user.<name>, resource.<name> or a literal (a scalar or a {list})."""

    root: str  # "user", "resource" or "literal"
    name: str = ""
    literal: Any = None

    def render(self) -> str:
        if self.root != "literal":
            return f"{self.root}.{self.name}"
        if isinstance(self.literal, list):
            return "{" + ", ".join(_render_scalar(v) for v in self.literal) + "}"
        return _render_scalar(self.literal)

    def value(self, claims: Mapping[str, Any], attrs: Mapping[str, Any]) -> Any:
        if self.root == "user":
            return claims.get(self.name)
        if self.root == "resource":
            return attrs.get(self.name)
        return self.literal


def _render_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + value.replace('"', '\\"') + '"'


def _writable(value: Any) -> bool:
    """A string literal cannot hold a backslash right before a quote or at its end."""
    if isinstance(value, list):
        return all(_writable(v) for v in value)
    return not isinstance(value, str) or not (value.endswith("\\") or '\\"' in value)


literal_scalars = st.one_of(st.text(ALPHABET + '"', max_size=4), st.integers(-3, 3), st.booleans(),
                            st.sampled_from([0.5, 2.0, -1.25]))
operands = st.one_of(
    st.builds(Operand, st.just("user"), st.sampled_from(NAMES)),
    st.builds(Operand, st.just("resource"), st.sampled_from(NAMES)),
    st.builds(Operand, st.just("literal"), st.just(""), st.one_of(literal_scalars, st.lists(literal_scalars,
                                                                                         max_size=3))),
)
OPS = ("=", "==", "!=", "!==", "like")
environments = st.tuples(st.dictionaries(st.sampled_from(NAMES), json_values),
                         st.dictionaries(st.sampled_from(NAMES), json_values))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(OPS), operands, operands, environments)
def test_comparisons_match_the_reference(op: str, left: Operand, right: Operand,
                                         env: tuple[dict[str, Any], dict[str, Any]]) -> None:
    claims, attrs = env
    assume(_writable(left.literal) and _writable(right.literal))
    resource = Resource.for_app("r", **attrs)
    expected = ref_compare(op, ref_texts(left.value(claims, attrs)), ref_texts(right.value(claims, attrs)))
    assert true(f"{left.render()} {op} {right.render()}", claims, resource) is expected


regex_pieces = st.lists(st.sampled_from(["a", "b", ".", "x*", "(a|b)", "[ab]", "b?", "\\.", "é", "-+", "[^a]"]),
                        max_size=4).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("abABé.-x", max_size=5), min_size=1, max_size=3), regex_pieces, st.booleans())
def test_matches_agrees_with_python_re(values: list[str], pattern: str, from_resource: bool) -> None:
    expected = ref_compare("matches", values, [pattern])
    if from_resource:
        rule, claims, resource = f'resource.v matches "{pattern}"', {}, Resource.for_app("r", v=values)
    else:
        rule, claims, resource = f'user.v matches "{pattern}"', {"v": values}, SHEET
    assert true(rule, claims, resource) is expected


# random conditions: and/or/! over comparisons, values as conditions and grants, written with the fewest
# parentheses the precedence allows and the operators spelled at random

@dataclass(frozen=True)
class Cmp:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Flag:
    operand: Operand


@dataclass(frozen=True)
class Give:
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Neg:
    inner: Any


@dataclass(frozen=True)
class Conj:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Disj:
    items: tuple[Any, ...]


atoms = st.one_of(st.builds(Cmp, st.sampled_from(OPS), operands, operands),
                  st.builds(Flag, st.builds(Operand, st.sampled_from(["user", "resource"]), st.sampled_from(NAMES))),
                  st.builds(Give, st.lists(st.sampled_from(ACTIONS[:4]), min_size=1, max_size=2).map(tuple)))
trees = st.recursive(atoms, lambda kids: st.one_of(
    st.builds(Neg, kids),
    st.builds(Conj, st.lists(kids, min_size=2, max_size=3).map(tuple)),
    st.builds(Disj, st.lists(kids, min_size=2, max_size=3).map(tuple))), max_leaves=8)


def ref_eval(node: Any, claims: Mapping[str, Any], attrs: Mapping[str, Any]) -> tuple[bool, frozenset[str]]:
    if isinstance(node, Cmp):
        return ref_compare(node.op, ref_texts(node.left.value(claims, attrs)),
                           ref_texts(node.right.value(claims, attrs))), frozenset()
    if isinstance(node, Flag):
        return any(t.casefold() == "true" for t in ref_texts(node.operand.value(claims, attrs))), frozenset()
    if isinstance(node, Give):
        return True, frozenset(node.actions)
    if isinstance(node, Neg):
        return not ref_eval(node.inner, claims, attrs)[0], frozenset()
    results = [ref_eval(item, claims, attrs) for item in node.items]
    if isinstance(node, Conj):
        ok = all(r[0] for r in results)
        return ok, frozenset().union(*(r[1] for r in results)) if ok else frozenset()
    ok = any(r[0] for r in results)
    return ok, frozenset().union(*(r[1] for r in results if r[0]))


def level(node: Any) -> int:
    return 1 if isinstance(node, Disj) else 2 if isinstance(node, Conj) else 3


def render(node: Any, spell: Callable[[Any], Any], needs: int = 0) -> str:
    if isinstance(node, Cmp):
        text = f"{node.left.render()} {node.op} {node.right.render()}"
    elif isinstance(node, Flag):
        text = node.operand.render()
    elif isinstance(node, Give):
        text = "resource._actions = {" + ", ".join(f'"{a}"' for a in node.actions) + "}"
    elif isinstance(node, Neg):
        text = "!" + render(node.inner, spell, 3)
    else:
        word = spell(st.sampled_from(["and", "&&", "AND"] if isinstance(node, Conj) else ["or", "||", "Or"]))
        text = f" {word} ".join(render(item, spell, level(node) + 1) for item in node.items)
    wrap = level(node) < needs or (level(node) == 3 and spell(st.integers(0, 5)) == 0)
    return f"({text})" if wrap else text


def _writable_tree(node: Any) -> bool:
    if isinstance(node, Cmp):
        return _writable(node.left.literal) and _writable(node.right.literal)
    if isinstance(node, Neg):
        return _writable_tree(node.inner)
    if isinstance(node, Conj | Disj):
        return all(_writable_tree(item) for item in node.items)
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, environments, st.data())
def test_conditions_and_grants_match_the_reference(tree: Any, env: tuple[dict[str, Any], dict[str, Any]],
                                                   data: st.DataObject) -> None:
    assume(_writable_tree(tree))
    claims, attrs = env
    text = render(tree, data.draw)
    ok, acts = ref_eval(tree, claims, attrs)
    got = grants(text, claims, Resource.for_app("r", **attrs))
    assert got == (acts if ok else None), text


@settings(max_examples=500, deadline=None)
@given(st.text("abAB*?\\.", max_size=12), st.text("abAB*?\\.", max_size=10))
def test_like_agrees_with_the_reference_on_many_stars(text: str, pattern: str) -> None:
    """The segment matcher (first piece at the start, last at the end, middle ones leftmost) is exact."""
    from engine.app.rules import compile_like

    assert compile_like(pattern)(text) is ref_like(text, pattern), (text, pattern)
