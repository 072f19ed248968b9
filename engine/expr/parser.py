"""Recursive-descent parser: expression text -> ``ast.Node``.

Precedence, loosest first (Qlik documents NOT > AND > OR for logic and that relational operators
compare the results of arithmetic; string concatenation binds looser than ``+``):

    OR XOR  <  AND  <  NOT  <  = <> < > <= >= LIKE PRECEDES FOLLOWS  <  BITOR BITXOR  <  BITAND
            <  &  <  + -  <  * /  <  unary - + BITNOT  <  primary

All binary operators are left-associative.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from .ast import (
    BinOp,
    Call,
    ElementField,
    ElementFunction,
    ElementList,
    ElementSet,
    ElementSetOp,
    ElementValue,
    FieldRef,
    Literal,
    Node,
    SetEntity,
    SetExpr,
    SetModifier,
    SetOp,
    UnaryOp,
)
from .lexer import NAME_KINDS, ExprSyntaxError, Kind, Token, tokenize

# enum members bound once: ``Kind.X`` is a class attribute lookup on every comparison
_NUMBER = Kind.NUMBER
_STRING = Kind.STRING
_DQUOTED = Kind.DQUOTED
_BRACKETED = Kind.BRACKETED
_IDENT = Kind.IDENT
_OP = Kind.OP
_EOF = Kind.EOF


_RELATIONAL = ("=", "<>", "<", ">", "<=", ">=")
_RELATIONAL_WORDS = ("LIKE", "PRECEDES", "FOLLOWS")
_QUALIFIERS = ("DISTINCT", "NODISTINCT", "TOTAL", "ALL")
_NAME_KINDS = NAME_KINDS


class _Parser:
    def __init__(self, text: str, tokens: Sequence[Token] | None = None, base: int = 0) -> None:
        self.text = text
        self.tokens = tokenize(text) if tokens is None else tokens
        self.base = base  # the offset of ``text`` in the tokens' positions
        self.i = 0

    # -- token helpers ---------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not _EOF:
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> ExprSyntaxError:
        tok = tok or self.tok
        pos = tok.pos - self.base
        found = "end of expression" if tok.kind is _EOF else repr(self.text[pos : tok.end - self.base])
        return ExprSyntaxError(f"{message}, found {found}", pos)

    def expect_op(self, op: str) -> Token:
        if not self.tok.is_op(op):
            raise self.error(f"Expected '{op}'")
        return self.advance()

    def name(self, what: str = "a field name") -> str:
        tok = self.tok
        if tok.kind in _NAME_KINDS:
            self.advance()
            return tok.value
        raise self.error(f"Expected {what}")

    # -- expressions -----------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.tok.is_op("="):
            self.advance()
        if self.tok.kind is _EOF:
            raise self.error("Empty expression")
        node = self.expr()
        end = self.tok  # read afresh: mypy keeps the narrowing above across the call
        if end.kind is not _EOF:
            raise self.error("Unexpected token")
        return node

    def expr(self) -> Node:
        return self.or_expr()

    def or_expr(self) -> Node:
        left = self.and_expr()
        while self.tok.is_word("OR", "XOR"):
            op = self.advance().value.upper()
            left = BinOp(op, left, self.and_expr())
        return left

    def and_expr(self) -> Node:
        left = self.not_expr()
        while self.tok.is_word("AND"):
            self.advance()
            left = BinOp("AND", left, self.not_expr())
        return left

    def not_expr(self) -> Node:
        if self.tok.is_word("NOT"):
            self.advance()
            return UnaryOp("NOT", self.not_expr())
        return self.relational()

    def relational(self) -> Node:
        left = self.bit_or()
        while True:
            tok = self.tok
            if tok.kind is _OP and tok.value in _RELATIONAL:
                op = tok.value
            elif tok.is_word(*_RELATIONAL_WORDS):
                op = tok.value.upper()
            else:
                return left
            self.advance()
            left = BinOp(op, left, self.bit_or())

    def bit_or(self) -> Node:
        left = self.bit_and()
        while self.tok.is_word("BITOR", "BITXOR"):
            op = self.advance().value.upper()
            left = BinOp(op, left, self.bit_and())
        return left

    def bit_and(self) -> Node:
        left = self.concat()
        while self.tok.is_word("BITAND"):
            self.advance()
            left = BinOp("BITAND", left, self.concat())
        return left

    def concat(self) -> Node:
        left = self.additive()
        while self.tok.is_op("&"):
            self.advance()
            left = BinOp("&", left, self.additive())
        return left

    def additive(self) -> Node:
        left = self.term()
        while self.tok.is_op("+", "-"):
            op = self.advance().value
            left = BinOp(op, left, self.term())
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.tok.is_op("*", "/"):
            op = self.advance().value
            left = BinOp(op, left, self.unary())
        return left

    def unary(self) -> Node:
        tok = self.tok
        if tok.is_op("-", "+"):
            self.advance()
            operand = self.unary()
            if tok.value == "-" and isinstance(operand, Literal) and operand.num is not None:
                return Literal(-operand.num, None)
            return UnaryOp(tok.value, operand)
        if tok.is_word("BITNOT"):
            self.advance()
            return UnaryOp("BITNOT", self.unary())
        if tok.is_word("NOT"):
            # NOT directly after an arithmetic operator: Qlik accepts `a + not b`.
            self.advance()
            return UnaryOp("NOT", self.unary())
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind is _NUMBER:
            self.advance()
            return Literal(float(tok.value), None)
        if tok.kind is _STRING:
            self.advance()
            return Literal(None, tok.value)
        if tok.is_op("("):
            self.advance()
            node = self.expr()
            self.expect_op(")")
            return node
        if tok.kind is _IDENT and self.peek().is_op("("):
            return self.call()
        if tok.kind in _NAME_KINDS:
            if tok.kind is _IDENT and tok.value.upper() in (
                "AND",
                "OR",
                "XOR",
                "LIKE",
                "PRECEDES",
                "FOLLOWS",
                "BITAND",
                "BITOR",
                "BITXOR",
            ):
                raise self.error("Expected an operand")
            self.advance()
            return FieldRef(tok.value)
        raise self.error("Expected an operand")

    def call(self) -> Node:
        name = self.advance().value.upper()
        self.expect_op("(")
        distinct = nodistinct = total = all_ = False
        total_fields: tuple[str, ...] = ()
        set_expr: SetExpr | None = None
        # Qualifiers and the set expression lead the argument list, in any order.
        while True:
            tok = self.tok
            if tok.is_op("{") and set_expr is None:
                self.advance()
                set_expr = self.set_expression()
                self.expect_op("}")
            elif tok.is_word(*_QUALIFIERS) and not self.peek().is_op(")", ",") and not self._next_is_binary():
                word = self.advance().value.upper()
                if word == "DISTINCT":
                    distinct = True
                elif word == "NODISTINCT":
                    nodistinct = True
                elif word == "ALL":
                    all_ = True
                else:
                    total = True
                    if self.tok.is_op("<"):
                        self.advance()
                        fields = [self.name()]
                        while self.tok.is_op(","):
                            self.advance()
                            fields.append(self.name())
                        self.expect_op(">")
                        total_fields = tuple(fields)
            else:
                break
        args: list[Node] = []
        if not self.tok.is_op(")"):
            args.append(self.expr())
            while self.tok.is_op(","):
                self.advance()
                args.append(self.expr())
        self.expect_op(")")
        return Call(name, tuple(args), distinct, total, total_fields, set_expr, nodistinct, all_)

    def _next_is_binary(self) -> bool:
        """``Sum(Total * 2)`` uses a field called Total; ``Sum(TOTAL <a> x)`` does not."""
        nxt = self.peek()
        if self.tok.is_word("TOTAL") and nxt.is_op("<"):
            return False
        return nxt.kind is _OP and nxt.value in ("*", "/", "+", "&", "=", "<>", "<", ">", "<=", ">=")

    # -- set analysis ----------------------------------------------------------------------------
    def set_expression(self) -> SetExpr:
        left = self.set_term()
        while self.tok.is_op("+", "-", "*", "/"):
            op = self.advance().value
            left = SetOp(op, left, self.set_term())
        return left

    def set_term(self) -> SetExpr:
        tok = self.tok
        if tok.is_op("("):
            self.advance()
            inner = self.set_expression()
            self.expect_op(")")
            return inner
        identifier: str | None = None
        if tok.kind is _NUMBER:
            identifier = tok.value
            self.advance()
        elif tok.kind in (_IDENT, _BRACKETED):
            identifier = tok.value
            self.advance()
        modifiers: tuple[SetModifier, ...] = ()
        if self.tok.is_op("<>"):
            self.advance()
        elif self.tok.is_op("<"):
            modifiers = self.set_modifiers()
        elif identifier is None:
            raise self.error("Expected a set identifier or modifier")
        return SetEntity(identifier, modifiers)

    def set_modifiers(self) -> tuple[SetModifier, ...]:
        self.expect_op("<")
        mods = [self.set_modifier()]
        while self.tok.is_op(","):
            self.advance()
            mods.append(self.set_modifier())
        self.expect_op(">")
        return tuple(mods)

    def set_modifier(self) -> SetModifier:
        field = self.name()
        tok = self.tok
        if tok.is_op("+", "-", "*", "/") and self.peek().is_op("=") and self.peek().pos == tok.end:
            self.advance()
            self.advance()
            op = tok.value + "="
        elif tok.is_op("="):
            self.advance()
            op = "="
        else:
            raise self.error("Expected '=' in set modifier")
        if self.tok.is_op(">", ","):
            return SetModifier(field, op, None)
        return SetModifier(field, op, self.element_set())

    def element_set(self) -> ElementSet:
        left = self.element_term()
        while self.tok.is_op("+", "-", "*", "/"):
            op = self.advance().value
            left = ElementSetOp(op, left, self.element_term())
        return left

    def element_term(self) -> ElementSet:
        tok = self.tok
        if tok.is_op("("):
            self.advance()
            inner = self.element_set()
            self.expect_op(")")
            return inner
        if tok.is_op("{"):
            self.advance()
            items: list[ElementValue] = []
            if not self.tok.is_op("}"):
                items.append(self.element_value())
                while self.tok.is_op(","):
                    self.advance()
                    items.append(self.element_value())
            self.expect_op("}")
            return ElementList(tuple(items))
        if tok.kind is _IDENT and tok.value.upper() in ("P", "E") and self.peek().is_op("("):
            func = self.advance().value.upper()
            self.advance()
            scope: SetExpr | None = None
            if self.tok.is_op("{"):
                self.advance()
                scope = self.set_expression()
                self.expect_op("}")
            field = None if self.tok.is_op(")") else self.name()
            self.expect_op(")")
            return ElementFunction(func, scope, field)
        if tok.kind in _NAME_KINDS:
            self.advance()
            if self.tok.is_op("::"):
                self.advance()
                return ElementField(self.name(), tok.value)
            return ElementField(tok.value)
        raise self.error("Expected an element set")

    def element_value(self) -> ElementValue:
        tok = self.tok
        if tok.kind is _STRING:
            self.advance()
            return ElementValue(tok.value, "literal")
        if tok.kind is _DQUOTED:
            self.advance()
            return ElementValue(tok.value, "search")
        if tok.is_op("-", "+") and self.peek().kind is _NUMBER:
            self.advance()
            num = self.advance()
            return ElementValue(("-" if tok.value == "-" else "") + num.value, "number")
        if tok.kind in (_NUMBER, _IDENT, _BRACKETED):
            self.advance()
            return ElementValue(tok.value, "number")
        raise self.error("Expected an element value")


@lru_cache(maxsize=4096)
def parse_expression(text: str) -> Node:
    """Parse one expression (a leading ``=`` is ignored); raises ``ExprSyntaxError``."""
    return _Parser(text).parse()


def parse_tokens(text: str, tokens: Sequence[Token], base: int = 0) -> Node:
    """Parse an expression already tokenized (a load script's statement tokenizer cut it out of its
    statement): ``tokens`` end with EOF and their positions are ``base`` + offsets into ``text``. Same
    result and errors (positions relative to ``text``) as :func:`parse_expression` on ``text``, since
    both use the one tokenizer."""
    return _Parser(text, tokens, base).parse()
