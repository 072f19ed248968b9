"""The ABAC rules language: one rule per line, parsed once, compiled to closures for each user.

A rule is a condition over ``user`` (the JWT claims) and ``resource`` (an app or an object in one) that,
when true, grants the actions named by its ``resource._actions = ...`` terms. The grammar is small::

    rule       := or EOF
    or         := and (("or" | "||") and)*
    and        := not (("and" | "&&") not)*
    not        := "!" not | comparison
    comparison := operand [("=" | "==" | "!=" | "!==" | "like" | "matches") operand]
    operand    := "(" or ")" | path ["(" STRING ")"] | STRING | NUMBER | "true" | "false"
                | "{" [literal ("," literal)*] "}"
    path       := ("user" | "resource") ("." NAME)*

so comparisons bind tighter than ``!``, ``!`` tighter than ``and``, ``and`` tighter than ``or``. Keywords
are case-insensitive; ``#`` starts a comment outside strings.

Semantics (the documented ones, and the choices made where the documentation is silent):

* Every operand is a list of texts. A JSON string is itself, a number its shortest decimal form (``3.0``
  is ``3``), a boolean ``true``/``false``; arrays are flattened; objects and null contribute nothing. A
  missing attribute is the empty list, so every comparison with it is false (``!=`` included).
* A comparison is true when *some* pair of left and right texts satisfies it: ``=`` equal ignoring case
  (Unicode case folding), ``==`` equal, ``!=`` different ignoring case, ``!==`` different, ``like``
  wildcard match ignoring case (``?`` one character, ``*`` any run, ``\\?`` ``\\*`` ``\\\\`` literal; a
  backslash before anything else is itself), ``matches`` a regular expression (RE2 syntax) over the
  whole text, ignoring case. ``like`` and ``matches`` fold case one character at a time (so ``"ß" =
  "SS"`` holds but ``"ß" like "SS"`` does not). No pattern can hang the engine: ``matches`` runs on RE2
  (``google-re2``: linear time, bounded memory) and ``like`` matches the pieces between stars one after
  the other, never backtracking across a star.
* A value used as a condition (``user.allowCreate && ...``) is true when one of its texts is ``true``.
* ``user.id`` and ``user.sub`` are the token's ``sub``; a bare ``user`` is ``user.id`` and a bare
  ``resource`` (or ``resource.app``) its ``id``. Claim names match exactly, else ignoring case. A path
  through an array applies to each element.
* ``resource._actions = X`` (``X`` an action or a set of them, ``"*"`` for all) is always true; a rule
  grants the actions of the ``_actions`` terms that took part in making it true (every such term of a
  conjunction, those of the true branches of a disjunction, none under ``!``). Any other use of
  ``_actions`` is a syntax error. ``_action`` is accepted as a spelling of it (the docs use both).
* ``resource.HasPrivilege("a")`` is true when ``a`` has been granted to this resource by an earlier allow
  rule and not denied; ``resource.app.HasPrivilege("a")`` asks the app's complete decision.
* String literals take ``\\"`` for a quote; any other backslash stays as written, so ``"DOMAIN\\user"``
  and ``like`` / ``matches`` escapes read the same as in the documentation (the price: a literal cannot
  end in a lone backslash; in a ``like`` pattern write ``\\\\`` for one).

Rules are compiled per user: every ``user`` term is resolved when a session's user is first seen, so a
rule about another role folds away to nothing and only the resource-dependent remainder runs per check.
Terms have no side effects, so the parser puts a conjunction's claims-only terms first: compiling a rule
for someone it is not about stops at its first term.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeAlias

import orjson
import re2

# --------------------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------------------

CREATE, READ, UPDATE, RELOAD, DELETE = "create", "read", "update", "reload", "delete"
IMPORT, EXPORT, EXPORT_DATA = "import", "export", "export data"
#: The engine's actions, in the order privilege lists show them.
ACTIONS: tuple[str, ...] = (READ, CREATE, UPDATE, DELETE, RELOAD, IMPORT, EXPORT, EXPORT_DATA)
ALL = "*"
_ACTION_ALIASES = {"exportdata": EXPORT_DATA}


def normalize_action(name: str) -> str:
    """An action as rules and checks compare it: lower case, single spaces, ``exportdata`` = ``export data``."""
    text = " ".join(name.split()).lower()
    return _ACTION_ALIASES.get(text, text)


# --------------------------------------------------------------------------------------------------------
# The resource a rule looks at
# --------------------------------------------------------------------------------------------------------

APP, APP_OBJECT = "App", "App.Object"


@dataclass(frozen=True, eq=False)
class Resource:
    """An app, or an object in one, with the attributes rules may read.

    Hashable and compared by value (decisions are cached per resource), so build one per state of the
    thing it describes and keep it: the key is computed once, at construction.
    """

    resourcetype: str
    id: str
    name: str = ""
    owner: str = ""
    description: str = ""
    #: ``resource._objecttype`` of an App.Object (``sheet``, ``dimension``, ``variable``, ``field``, ...)
    objecttype: str = ""
    #: the app an App.Object belongs to
    app: Resource | None = None
    #: further attributes (``published``, ``custom``, ...): JSON values
    attributes: Mapping[str, Any] = field(default_factory=dict)
    _key: tuple[Any, ...] = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        extra = b""
        if self.attributes:  # a read-only copy: the key below must keep describing it
            object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
            extra = orjson.dumps(dict(self.attributes), option=orjson.OPT_SORT_KEYS, default=str)
        key = (self.resourcetype, self.id, self.name, self.owner, self.description, self.objecttype,
               None if self.app is None else self.app._key, extra)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and self._hash == other._hash and self._key == other._key

    @classmethod
    def for_app(cls, app_id: str, name: str = "", owner: str = "", description: str = "",
                **attributes: Any) -> Resource:
        return cls(APP, app_id, name, owner, description, attributes=attributes)

    @classmethod
    def for_object(cls, app: Resource, object_id: str, objecttype: str, name: str = "", owner: str = "",
                   description: str = "", **attributes: Any) -> Resource:
        return cls(APP_OBJECT, object_id, name, owner, description, objecttype, app, attributes)


# --------------------------------------------------------------------------------------------------------
# Values: every operand is a tuple of texts
# --------------------------------------------------------------------------------------------------------

Texts: TypeAlias = tuple[str, ...]
_NOTHING: Texts = ()


def texts(value: Any) -> Texts:
    """A JSON value as the texts comparisons see (see the module docstring)."""
    if value is None:
        return _NOTHING
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            out.extend(texts(item))
        return tuple(out)
    scalar = _scalar_text(value)
    return _NOTHING if scalar is None else (scalar,)


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)
    return None


def _member(container: Any, name: str) -> Any:
    """``container.name``: exact key first, then ignoring case; over an array, each element's member."""
    if isinstance(container, Mapping):
        if name in container:
            return container[name]
        folded = name.casefold()
        for key, value in container.items():
            if isinstance(key, str) and key.casefold() == folded:
                return value
        return None
    if isinstance(container, list | tuple):
        found = [_member(item, name) for item in container]
        return [item for item in found if item is not None]
    return None


def lookup(value: Any, path: Sequence[str]) -> Any:
    for name in path:
        if value is None:
            return None
        value = _member(value, name)
    return value


def user_value(claims: Mapping[str, Any], path: Sequence[str]) -> Any:
    """``user.<path>`` for a token's claims; ``user``, ``user.id`` and ``user.sub`` are the ``sub``."""
    if not path or path[0].casefold() in ("id", "sub") and len(path) == 1:
        return claims.get("sub")
    return lookup(claims, path)


_BUILTIN = {"id": "id", "name": "name", "owner": "owner", "description": "description",
            "_resourcetype": "resourcetype", "_objecttype": "objecttype"}


def resource_value(resource: Resource | None, path: Sequence[str]) -> Any:
    """``resource.<path>``: built-in attributes (names ignoring case), ``app``, then ``attributes``."""
    while resource is not None and path and path[0].casefold() == "app":
        resource, path = resource.app, path[1:]
    if resource is None:
        return None
    if not path:
        return resource.id
    attr = _BUILTIN.get(path[0].casefold())
    if attr is not None:
        value: Any = getattr(resource, attr)
        if attr == "objecttype" and resource.resourcetype != APP_OBJECT:
            return None
        return lookup(value, path[1:]) if len(path) > 1 else value
    return lookup(resource.attributes, path)


# --------------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------------

class RuleSyntaxError(Exception):
    """A rule does not parse; ``line`` and ``column`` are 1-based, into the rules file."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message, line, column)
        self.message, self.line, self.column = message, line, column

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "name", "string", "number", "op", "eof"
    text: str  # operators and keywords normalized (``and`` is ``&&``); the value of a string
    column: int
    raw: str = ""  # as written


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>\#.*)
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?![A-Za-z_0-9]))
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>!==|!=|==|&&|\|\||[=!(){},.])
  | (?P<quote>")
""", re.VERBOSE)
_KEYWORDS = {"and": "&&", "or": "||", "like": "like", "matches": "matches", "true": "true", "false": "false"}
_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)
MAX_RULE_LENGTH = 64 * 1024


def tokenize(text: str, line: int = 1) -> list[Token]:
    """One rule's tokens; keywords come back as operators (``and`` as ``&&``, ``or`` as ``||``)."""
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(f"rule longer than {MAX_RULE_LENGTH} characters", line, 1)
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleSyntaxError(f"unexpected character {text[pos]!r}", line, pos + 1)
        kind = m.lastgroup
        if kind == "quote":
            body = _STRING_BODY.match(text, m.end())
            if body is None:
                raise RuleSyntaxError("string not closed: a '\"' is missing", line, pos + 1)
            tokens.append(Token("string", body.group()[:-1].replace('\\"', '"'), pos + 1, text[pos:body.end()]))
            pos = body.end()
            continue
        if kind == "name" and m.group().lower() in _KEYWORDS:
            tokens.append(Token("op", _KEYWORDS[m.group().lower()], pos + 1, m.group()))
        elif kind in ("name", "number", "op"):
            tokens.append(Token(kind, m.group(), pos + 1, m.group()))
        pos = m.end()
    tokens.append(Token("eof", "", len(text) + 1))
    return tokens


# --------------------------------------------------------------------------------------------------------
# Syntax tree
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Literal:
    values: Texts
    is_list: bool
    column: int


@dataclass(frozen=True, slots=True)
class Attr:
    root: str  # "user" | "resource"
    path: tuple[str, ...]
    column: int


@dataclass(frozen=True, slots=True)
class HasPrivilege:
    depth: int  # 0 = the resource, 1 = its app
    action: str
    column: int


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Literal | Attr
    right: Literal | Attr
    column: int


@dataclass(frozen=True, slots=True)
class Grant:
    actions: frozenset[str]
    column: int


@dataclass(frozen=True, slots=True)
class Truth:
    """A value used as a condition."""

    value: Literal | Attr


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    resource: bool = False  # reads the resource (set by the parser)


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]
    grants: bool = False  # some operand grants actions (set by the parser)
    resource: bool = False  # some operand reads the resource


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]
    grants: bool = False
    resource: bool = False


Node: TypeAlias = Compare | Grant | Truth | HasPrivilege | Not | And | Or


def _contains_grant(node: Node) -> bool:
    # Not hides grants: its operand's actions are never granted
    return isinstance(node, Grant) or (isinstance(node, And | Or) and node.grants)


def _reads_resource(node: Node) -> bool:
    """Whether a node's truth depends on the resource (else the user's claims alone decide it)."""
    if isinstance(node, Compare):
        return any(isinstance(v, Attr) and v.root == "resource" for v in (node.left, node.right))
    if isinstance(node, Truth):
        return isinstance(node.value, Attr) and node.value.root == "resource"
    if isinstance(node, HasPrivilege):
        return True
    if isinstance(node, Grant):
        return False
    return node.resource


def reads_user(node: Node) -> bool:
    """Whether any term of a rule reads ``user`` (if not, one compilation serves every user)."""
    if isinstance(node, Compare):
        return any(isinstance(v, Attr) and v.root == "user" for v in (node.left, node.right))
    if isinstance(node, Truth):
        return isinstance(node.value, Attr) and node.value.root == "user"
    if isinstance(node, Not):
        return reads_user(node.operand)
    if isinstance(node, And | Or):
        return any(map(reads_user, node.operands))
    return False

_Value: TypeAlias = Literal | Attr
_COMPARISONS = ("=", "==", "!=", "!==", "like", "matches")
MAX_DEPTH = 64


def _is_actions(attr: Attr) -> bool:
    return attr.root == "resource" and any(p.casefold() in ("_actions", "_action") for p in attr.path)


class _Parser:
    def __init__(self, tokens: list[Token], line: int) -> None:
        self.tokens, self.line, self.i, self.depth = tokens, line, 0, 0
        self.unknown_actions: list[tuple[str, int]] = []

    # -- helpers --
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, column: int | None = None) -> RuleSyntaxError:
        return RuleSyntaxError(message, self.line, self.tok.column if column is None else column)

    def _describe(self, tok: Token) -> str:
        if tok.kind == "eof":
            return "the end of the rule"
        return repr(tok.raw)

    def take(self, *ops: str) -> Token | None:
        tok = self.tok
        if tok.kind == "op" and tok.text in ops:
            self.i += 1
            return tok
        return None

    # -- grammar --
    def rule(self) -> Node:
        node = self.or_()
        if self.tok.kind != "eof":
            raise self.error(f"unexpected {self._describe(self.tok)}: expected 'and', 'or' or the end of the rule")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.take("||"):
            items.append(self.and_())
        if len(items) == 1:
            return items[0]
        # terms have no side effects, so their order is free: claims-only ones first let a rule about
        # someone else fold away at its first term when compiled for a user
        items.sort(key=_reads_resource)
        return Or(tuple(items), any(map(_contains_grant, items)), any(map(_reads_resource, items)))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.take("&&"):
            items.append(self.not_())
        if len(items) == 1:
            return items[0]
        items.sort(key=_reads_resource)  # claims-only terms first, as in or_()
        return And(tuple(items), any(map(_contains_grant, items)), any(map(_reads_resource, items)))

    def not_(self) -> Node:
        bang = self.take("!")
        if bang:
            self._enter(bang.column)
            operand = self.not_()
            node = Not(operand, _reads_resource(operand))
            self.depth -= 1
            return node
        return self.comparison()

    def _enter(self, column: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} deep", column)

    def comparison(self) -> Node:
        start = self.tok
        left = self.operand()
        op = self.take(*_COMPARISONS)
        if op is None:
            if isinstance(left, Attr):
                if _is_actions(left):
                    raise self.error("resource._actions must be followed by '=' and the actions it grants",
                                     left.column)
                return Truth(left)
            if isinstance(left, Literal):
                return Truth(left)
            return left
        if not isinstance(left, Literal | Attr):
            raise self.error(f"'{op.text}' compares values, not conditions: remove the parentheses or the "
                             f"comparison", op.column)
        if self.tok.kind == "eof":
            raise self.error(f"expected a value after '{op.text}'")
        right_tok = self.tok
        right = self.operand()
        if not isinstance(right, Literal | Attr):
            raise self.error(f"'{op.text}' compares values, not conditions", right_tok.column)
        if isinstance(left, Attr) and _is_actions(left):
            return self._grant(left, op, right, right_tok)
        if isinstance(right, Attr) and _is_actions(right):
            raise self.error("resource._actions may only stand left of '='", right.column)
        if op.text in ("like", "matches") and isinstance(right, Literal):
            for pattern in right.values:
                _check_pattern(op.text, pattern, self.line, right.column)
        return Compare(op.text, left, right, start.column)

    def _grant(self, left: Attr, op: Token, right: _Value, right_tok: Token) -> Grant:
        if left.path[0].casefold() not in ("_actions", "_action") or len(left.path) != 1:
            raise self.error("only resource._actions grants actions", left.column)
        if op.text != "=":
            raise self.error(f"resource._actions takes '=', not '{op.text}'", op.column)
        if not isinstance(right, Literal) or right_tok.kind not in ("string", "op"):
            raise self.error("resource._actions = takes an action in quotes or a {list} of them", right_tok.column)
        actions = set()
        for value in right.values:
            action = normalize_action(value)
            if not action:
                continue
            if action != ALL and action not in ACTIONS:
                self.unknown_actions.append((value, right.column))
            actions.add(action)
        return Grant(frozenset(actions), left.column)

    def operand(self) -> Node | _Value:
        tok = self.tok
        if tok.kind == "op" and tok.text == "(":
            self.i += 1
            self._enter(tok.column)
            inner = self.or_()
            self.depth -= 1
            if not self.take(")"):
                raise self.error(f"expected ')' to close the '(' at column {tok.column}, found "
                                 f"{self._describe(self.tok)}")
            if isinstance(inner, Truth):
                return inner.value  # a parenthesised value stays a value: ("x") = user.a
            return inner
        if tok.kind == "op" and tok.text == "{":
            return self.list_()
        if tok.kind in ("string", "number") or (tok.kind == "op" and tok.text in ("true", "false")):
            self.i += 1
            return Literal(self._scalar(tok), False, tok.column)
        if tok.kind == "name":
            return self.path()
        raise self.error(f"expected a value or a condition, found {self._describe(tok)}")

    def _scalar(self, tok: Token) -> Texts:
        if tok.kind == "number":
            return texts(float(tok.text) if "." in tok.text else int(tok.text))
        return (tok.text,)

    def list_(self) -> Literal:
        start = self.tok
        self.i += 1
        values: list[str] = []
        if self.take("}"):
            return Literal((), True, start.column)
        while True:
            tok = self.tok
            if tok.kind in ("string", "number") or (tok.kind == "op" and tok.text in ("true", "false")):
                self.i += 1
                values.extend(self._scalar(tok))
            else:
                raise self.error(f"a {{list}} holds strings, numbers or true/false, found {self._describe(tok)}")
            if self.take("}"):
                return Literal(tuple(values), True, start.column)
            if not self.take(","):
                raise self.error(f"expected ',' or '}}' in the list opened at column {start.column}, found "
                                 f"{self._describe(self.tok)}")

    def path(self) -> _Value | HasPrivilege:
        root_tok = self.tok
        root = root_tok.text.lower()
        if root not in ("user", "resource"):
            raise self.error(f"unknown name {root_tok.text!r}: rules read 'user' and 'resource'")
        self.i += 1
        path: list[str] = []
        while self.take("."):
            name = self.tok
            # after a dot a keyword is a name again (user.like)
            if name.kind != "name" and not (name.kind == "op" and name.raw.isidentifier()):
                raise self.error(f"expected an attribute name after '.', found {self._describe(name)}")
            path.append(name.raw)
            self.i += 1
        if self.tok.kind == "op" and self.tok.text == "(":
            return self._call(root, path, root_tok)
        return Attr(root, tuple(path), root_tok.column)

    def _call(self, root: str, path: list[str], root_tok: Token) -> HasPrivilege:
        open_tok = self.tok
        if not path or path[-1].casefold() != "hasprivilege":
            name = ".".join([root, *path])
            raise self.error(f"{name} is not a function: the only one is resource.HasPrivilege(\"action\")",
                             open_tok.column)
        owner = path[:-1]
        if root != "resource" or any(p.casefold() != "app" for p in owner):
            raise self.error("HasPrivilege is a function of resource (or resource.app)", root_tok.column)
        self.i += 1
        arg = self.tok
        if arg.kind != "string":
            raise self.error("HasPrivilege takes one action in quotes, e.g. HasPrivilege(\"read\")")
        self.i += 1
        if not self.take(")"):
            raise self.error(f"expected ')' to close HasPrivilege( at column {open_tok.column}")
        return HasPrivilege(len(owner), normalize_action(arg.text), root_tok.column)


def _like_segments(pattern: str) -> list[list[str]]:
    """A ``like`` pattern split at its unescaped ``*``: each piece a list of one-character expressions."""
    segments: list[list[str]] = [[]]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "?*\\":
            segments[-1].append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            segments.append([])
        else:
            segments[-1].append("." if ch == "?" else re.escape(ch))
        i += 1
    return segments


_LIKE_FLAGS = re.IGNORECASE | re.DOTALL


def compile_like(pattern: str) -> Callable[[str], bool]:
    """A ``like`` pattern as a whole-text predicate, in time proportional to text length x pattern length.

    The pieces between stars have fixed lengths, so the first must match at the start, the last at
    the end, and each middle one is searched for left to right from where the previous one ended (the
    leftmost place is never worse). No backtracking across stars: no pattern can blow up. Python's
    ``re`` runs each piece (three times faster than a call into RE2 for these short texts).
    """
    segments = _like_segments(pattern)
    if len(segments) <= 2:  # at most one star: one expression, O(text x pattern) at worst
        whole = re.compile(".*".join("".join(seg) for seg in segments), _LIKE_FLAGS)
        return lambda text: whole.fullmatch(text) is not None
    head = re.compile("".join(segments[0]), _LIKE_FLAGS)
    tail = re.compile("".join(segments[-1]), _LIKE_FLAGS)
    middle = tuple(re.compile("".join(seg), _LIKE_FLAGS) for seg in segments[1:-1] if seg)
    head_len, tail_len = len(segments[0]), len(segments[-1])

    def like(text: str) -> bool:
        end = len(text) - tail_len
        if end < head_len or head.match(text) is None or tail.fullmatch(text, end) is None:
            return False
        pos = head_len
        for seg in middle:
            found = seg.search(text, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True
    return like


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.log_errors = False  # an error is ours to report, in one line
_RE2_OPTIONS.dot_nl = True
_RE2_OPTIONS.max_mem = 8 << 20  # per compiled expression; RE2 fails to compile past it instead of growing
MAX_PATTERN_LENGTH = 4096
#: answers a ``matches`` pattern remembers, for texts of at most _MEMO_TEXT characters (so at most
#: 1,024 patterns x 512 x 256 characters in all)
_MEMO_SIZE = 512
_MEMO_TEXT = 256


class PatternError(ValueError):
    pass


def compile_pattern(op: str, pattern: str) -> Callable[[str], bool]:
    """A ``like`` or ``matches`` pattern as a whole-text predicate (``matches`` on RE2: linear time,
    bounded memory)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    if op == "like":
        return compile_like(pattern)
    try:
        compiled = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as err:
        detail = err.args[0] if err.args else err
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise PatternError(f"invalid regular expression: {detail}") from None
    fullmatch = compiled.fullmatch
    seen: dict[str, bool] = {}

    def matches(text: str) -> bool:
        # A call into RE2 costs a few microseconds, mostly in the binding, and every user's first check
        # of an object asks about the same names and descriptions: remember recent answers.
        hit = seen.get(text)
        if hit is None:
            # UTF-8 bytes in: the binding then skips mapping byte offsets back to characters
            hit = fullmatch(text.encode("utf-8", "surrogatepass")) is not None
            if len(text) <= _MEMO_TEXT:
                if len(seen) >= _MEMO_SIZE:
                    seen.clear()
                seen[text] = hit
        return hit
    return matches


def _check_pattern(op: str, pattern: str, line: int, column: int) -> None:
    try:
        _cached_pattern(op, pattern)
    except PatternError as err:
        raise RuleSyntaxError(str(err), line, column) from None


_PATTERNS: dict[tuple[str, str], Callable[[str], bool]] = {}
_MAX_PATTERNS = 1024


def _cached_pattern(op: str, pattern: str) -> Callable[[str], bool]:
    key = (op, pattern)
    hit = _PATTERNS.get(key)
    if hit is None:
        if len(_PATTERNS) >= _MAX_PATTERNS:
            _PATTERNS.clear()
        hit = _PATTERNS[key] = compile_pattern(op, pattern)
    return hit


def _dynamic_pattern(op: str, pattern: str) -> Callable[[str], bool] | None:
    """A pattern read from an attribute at check time: an invalid one matches nothing."""
    try:
        return _cached_pattern(op, pattern)
    except PatternError:
        return None


# --------------------------------------------------------------------------------------------------------
# Rules and rule files
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One parsed rule: its line in the file, its text and its tree."""

    line: int
    text: str
    node: Node
    #: action names the rule grants that the engine does not know (kept, reported as a warning)
    unknown_actions: tuple[tuple[str, int], ...] = ()


def type_requirement(node: Node) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The ``_resourcetype`` and ``_objecttype`` values (case-folded) a rule can be true for, read from
    its top-level ``=`` conjuncts with a literal; None where the rule does not restrict one.

    A policy uses it to skip, for a resource of another type, rules that cannot be true for it.
    """
    found: dict[str, frozenset[str]] = {}
    for part in node.operands if isinstance(node, And) else (node,):
        if not isinstance(part, Compare) or part.op != "=":
            continue
        attr, literal = part.left, part.right
        if isinstance(attr, Literal):
            attr, literal = literal, attr
        if not isinstance(attr, Attr) or not isinstance(literal, Literal) or attr.root != "resource":
            continue
        if len(attr.path) != 1 or attr.path[0].casefold() not in ("_resourcetype", "_objecttype"):
            continue
        name = attr.path[0].casefold()
        values = frozenset(v.casefold() for v in literal.values)
        found[name] = found[name] & values if name in found else values
    return found.get("_resourcetype"), found.get("_objecttype")


def necessary_claim(node: Node) -> tuple[tuple[str, ...], frozenset[str]] | None:
    """A claim a rule needs: ``(path, values)`` when the rule can only be true for a user one of whose
    ``user.<path>`` texts, case-folded, is in ``values`` (a top-level ``user.x = literal`` or ``user.x``
    conjunct). A policy indexes rules by it, so a new user's compilation skips rules about others.
    """
    for part in node.operands if isinstance(node, And) else (node,):
        if isinstance(part, Truth) and isinstance(part.value, Attr) and part.value.root == "user":
            return part.value.path, frozenset({"true"})
        if isinstance(part, Compare) and part.op == "=":
            attr, literal = part.left, part.right
            if isinstance(attr, Literal):
                attr, literal = literal, attr
            if isinstance(attr, Attr) and isinstance(literal, Literal) and attr.root == "user":
                return attr.path, frozenset(v.casefold() for v in literal.values)
    return None


def parse_rule(text: str, line: int = 1) -> Rule | None:
    """One line of a rules file; None for a blank or comment-only line."""
    tokens = tokenize(text, line)
    if tokens[0].kind == "eof":
        return None
    parser = _Parser(tokens, line)
    node = parser.rule()
    return Rule(line, text.strip(), node, tuple(parser.unknown_actions))


def parse_rules(text: str) -> list[Rule]:
    """Every rule of a rules file, in order. Raises RuleSyntaxError at the first bad one."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        rule = parse_rule(line, number)
        if rule is not None:
            rules.append(rule)
    return rules


# --------------------------------------------------------------------------------------------------------
# Compilation: a rule for one user -> a closure over (resource, context)
# --------------------------------------------------------------------------------------------------------

class Context(Protocol):
    """What a check knows besides the resource: which actions are granted so far."""

    def has_privilege(self, depth: int, action: str) -> bool: ...


Check: TypeAlias = Callable[[Resource, Context], bool]
GrantCheck: TypeAlias = Callable[[Resource, Context], "frozenset[str] | None"]
#: a compiled condition: a constant when the user alone decides it
Cond: TypeAlias = bool | Check
#: a compiled rule: None = never true, a frozenset = always true granting it, else a closure
Granting: TypeAlias = "frozenset[str] | None | GrantCheck"

_Getter: TypeAlias = Callable[[Resource], Texts]
_EMPTY: frozenset[str] = frozenset()


def _value(node: _Value, claims: Mapping[str, Any]) -> Texts | _Getter:
    """A constant (literal or user attribute) or a getter reading the resource."""
    if isinstance(node, Literal):
        return node.values
    if node.root == "user":
        return texts(user_value(claims, node.path))
    path = node.path
    if not path or path == ("app",):
        depth = len(path)
        if depth == 0:
            return lambda r: (r.id,)
        return lambda r: (r.app.id,) if r.app is not None else _NOTHING
    if len(path) == 1:
        attr = _BUILTIN.get(path[0].casefold())
        if attr == "resourcetype":
            return lambda r: (r.resourcetype,)
        if attr == "objecttype":
            return lambda r: (r.objecttype,) if r.resourcetype == APP_OBJECT else _NOTHING
        if attr is not None:
            return lambda r: (getattr(r, attr),)
    return lambda r: texts(resource_value(r, path))


def _equal_folded(left: Texts, right: Texts) -> bool:
    folded = {b.casefold() for b in right}
    return any(a.casefold() in folded for a in left)


def _equal(left: Texts, right: Texts) -> bool:
    return any(a in right for a in left)


def _differ_folded(left: Texts, right: Texts) -> bool:
    return any(a.casefold() != b.casefold() for a in left for b in right)


def _differ(left: Texts, right: Texts) -> bool:
    return any(a != b for a in left for b in right)


def _pattern_test(op: str) -> Callable[[Texts, Texts], bool]:
    def test(left: Texts, right: Texts) -> bool:
        if not left:
            return False
        for pattern in right:
            predicate = _dynamic_pattern(op, pattern)
            if predicate is not None and any(predicate(a) for a in left):
                return True
        return False
    return test


#: each comparison over two lists of texts: some pair satisfies it
_PAIR_TESTS: dict[str, Callable[[Texts, Texts], bool]] = {
    "=": _equal_folded, "==": _equal, "!=": _differ_folded, "!==": _differ,
    "like": _pattern_test("like"), "matches": _pattern_test("matches"),
}


def _const_right_test(op: str, right: Texts) -> Callable[[Texts], bool]:
    """The comparison with a constant right side, prepared once (folded set, compiled patterns)."""
    if op == "=":
        folded = frozenset(b.casefold() for b in right)
        if len(folded) == 1:
            (one,) = folded
            return lambda left: any(a.casefold() == one for a in left) if len(left) != 1 else \
                left[0].casefold() == one
        return lambda left: not folded.isdisjoint(map(str.casefold, left))
    if op == "==":
        exact = frozenset(right)
        return lambda left: not exact.isdisjoint(left)
    if op in ("!=", "!=="):
        fold = op == "!="
        distinct = frozenset(b.casefold() if fold else b for b in right)
        if len(distinct) >= 2:  # any text differs from at least one of two different values
            return lambda left: bool(left)
        if not distinct:
            return lambda left: False
        (only,) = distinct
        if fold:
            return lambda left: any(a.casefold() != only for a in left)
        return lambda left: any(a != only for a in left)
    # patterns from a user's claims were not checked by the parser: an invalid one matches nothing
    predicates = [p for p in (_dynamic_pattern(op, text) for text in right) if p is not None]
    if len(predicates) == 1:
        (predicate,) = predicates
        return lambda left: any(map(predicate, left))
    return lambda left: any(p(a) for a in left for p in predicates)


def _scalar_getter(node: _Value) -> Callable[[Resource], str | None] | None:
    """For ``resource.<built-in>`` and ``resource.app.<built-in>``: a getter of the one text (None when
    absent), so the common comparison is one closure call instead of three."""
    if not isinstance(node, Attr) or node.root != "resource" or not node.path:
        return None
    path = node.path
    via_app = path[0].casefold() == "app"
    if via_app:
        path = path[1:]
    attr = "id" if not path else _BUILTIN.get(path[0].casefold()) if len(path) == 1 else None
    if attr is None:
        return None
    own: Callable[[Resource], str | None]
    if attr == "objecttype":
        def own_type(r: Resource) -> str | None:
            return r.objecttype if r.resourcetype == APP_OBJECT else None
        own = own_type
    else:
        own = operator.attrgetter(attr)  # a C call: the common case costs no Python frame
    if not via_app:
        return own

    def of_app(r: Resource) -> str | None:
        return own(r.app) if r.app is not None else None
    return of_app


def _scalar_compare(op: str, get: Callable[[Resource], str | None], right: Texts) -> Cond:
    """``resource.<built-in> op constant`` as one closure."""
    if op == "=":
        folded = frozenset(b.casefold() for b in right)
        if not folded:
            return False
        if len(folded) == 1:
            (one,) = folded
            return lambda r, c: (v := get(r)) is not None and v.casefold() == one
        return lambda r, c: (v := get(r)) is not None and v.casefold() in folded
    if op in ("like", "matches") and len(right) == 1:
        predicate = _dynamic_pattern(op, right[0])
        if predicate is None:
            return False
        return lambda r, c: (v := get(r)) is not None and predicate(v)
    test = _const_right_test(op, right)
    return lambda r, c: (v := get(r)) is not None and test((v,))


def _compare(node: Compare, claims: Mapping[str, Any]) -> Cond:
    left, right = _value(node.left, claims), _value(node.right, claims)
    if isinstance(left, tuple) and isinstance(right, tuple):  # the user's claims decide it
        return _PAIR_TESTS[node.op](left, right)
    if isinstance(right, tuple) and not isinstance(left, tuple):
        scalar = _scalar_getter(node.left)
        if scalar is not None:
            return _scalar_compare(node.op, scalar, right)
    if isinstance(left, tuple) and not isinstance(right, tuple) and node.op in ("=", "==", "!=", "!=="):
        scalar = _scalar_getter(node.right)  # these four are symmetric: constant on the right
        if scalar is not None:
            return _scalar_compare(node.op, scalar, left)
    if isinstance(right, tuple):
        test = _const_right_test(node.op, right)
        if isinstance(left, tuple):
            return test(left)
        get_left = left
        return lambda r, c: test(get_left(r))
    pair = _PAIR_TESTS[node.op]
    get_right = right
    if isinstance(left, tuple):
        const_left = left
        if not const_left:
            return False
        return lambda r, c: pair(const_left, get_right(r))
    get_l = left
    return lambda r, c: pair(get_l(r), get_right(r))


def _truthy(values: Texts) -> bool:
    return any(v.casefold() == "true" for v in values)


def compile_condition(node: Node, claims: Mapping[str, Any]) -> Cond:
    """A node as a plain condition (grants inside count only as 'true')."""
    if isinstance(node, Compare):
        return _compare(node, claims)
    if isinstance(node, Truth):
        value = _value(node.value, claims)
        if isinstance(value, tuple):
            return _truthy(value)
        get = value
        return lambda r, c: _truthy(get(r))
    if isinstance(node, Grant):
        return True
    if isinstance(node, HasPrivilege):
        depth, action = node.depth, node.action
        return lambda r, c: c.has_privilege(depth, action)
    if isinstance(node, Not):
        inner = compile_condition(node.operand, claims)
        if isinstance(inner, bool):
            return not inner
        f = inner
        return lambda r, c: not f(r, c)
    conds: list[Cond] = []
    stop = isinstance(node, Or)  # the constant that decides the whole: True for or, False for and
    for operand in node.operands:  # claims-only terms come first: they may decide the whole
        cond = compile_condition(operand, claims)
        if cond is stop:
            return stop
        conds.append(cond)
    return _any(conds) if stop else _all(conds)


def _all(conds: list[Cond]) -> Cond:
    checks: list[Check] = []
    for cond in conds:
        if isinstance(cond, bool):
            if not cond:
                return False
        else:
            checks.append(cond)
    if not checks:
        return True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda r, c: a(r, c) and b(r, c)
    frozen = tuple(checks)

    def every(r: Resource, c: Context) -> bool:
        for check in frozen:
            if not check(r, c):
                return False
        return True
    return every


def _any(conds: list[Cond]) -> Cond:
    checks: list[Check] = []
    for cond in conds:
        if isinstance(cond, bool):
            if cond:
                return True
        else:
            checks.append(cond)
    if not checks:
        return False
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def some(r: Resource, c: Context) -> bool:
        for check in frozen:
            if check(r, c):
                return True
        return False
    return some


def compile_granting(node: Node, claims: Mapping[str, Any]) -> Granting:
    """A rule for one user: what it grants, as a constant or a closure (see the module docstring)."""
    if not _contains_grant(node):
        cond = compile_condition(node, claims)
        if isinstance(cond, bool):
            return _EMPTY if cond else None
        check = cond
        return lambda r, c: _EMPTY if check(r, c) else None
    if isinstance(node, Grant):
        return node.actions
    if isinstance(node, And):
        return _grant_all(node.operands, claims)
    assert isinstance(node, Or)
    return _grant_any(node.operands, claims)


def _grant_all(operands: Iterable[Node], claims: Mapping[str, Any]) -> Granting:
    static: set[str] = set()
    conds: list[Cond] = []
    grants: list[GrantCheck] = []
    # claims-only terms come first: the first one the user's claims make false ends the compilation
    for operand in operands:
        if _contains_grant(operand):
            part = compile_granting(operand, claims)
            if part is None:
                return None
            if isinstance(part, frozenset):
                static |= part
            else:
                grants.append(part)
        else:
            cond = compile_condition(operand, claims)
            if cond is False:
                return None
            conds.append(cond)
    cond = _all(conds)
    if cond is False:
        return None
    fixed = frozenset(static)
    if not grants:
        if cond is True:
            return fixed
        check = cond
        return lambda r, c: fixed if check(r, c) else None
    parts = tuple(grants)
    check_all: Check | None = None if isinstance(cond, bool) else cond

    def granting(r: Resource, c: Context) -> frozenset[str] | None:
        if check_all is not None and not check_all(r, c):
            return None
        acts = fixed
        for part in parts:
            got = part(r, c)
            if got is None:
                return None
            acts = acts | got
        return acts
    return granting


def _grant_any(operands: Iterable[Node], claims: Mapping[str, Any]) -> Granting:
    static: set[str] = set()
    always = False
    conds: list[Cond] = []
    grants: list[GrantCheck] = []
    for operand in operands:
        if _contains_grant(operand):
            part = compile_granting(operand, claims)
            if isinstance(part, frozenset):
                always = True
                static |= part
            elif part is not None:
                grants.append(part)
        else:
            conds.append(compile_condition(operand, claims))
    cond = _any(conds)
    fixed = frozenset(static)
    if cond is True:
        always = True
    if not grants:
        if always:
            return fixed
        if isinstance(cond, bool):  # False: True made it always
            return None
        check = cond
        return lambda r, c: fixed if check(r, c) else None
    parts = tuple(grants)
    check_any: Check | None = None if isinstance(cond, bool) else cond

    def granting(r: Resource, c: Context) -> frozenset[str] | None:
        true = always
        acts = fixed
        for part in parts:
            got = part(r, c)
            if got is not None:
                true = True
                acts = acts | got
        if not true and check_any is not None:
            true = check_any(r, c)
        return acts if true else None
    return granting
