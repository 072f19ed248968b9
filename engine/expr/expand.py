"""Dollar-sign expansion: the textual macro step run before a statement or chart expression is parsed.

Forms handled (inner expansions first, everywhere in the text including inside quoted strings):

* ``$(v)``: the text of variable ``v``; an undefined variable expands to the empty string;
* ``$(v(a, b))``: the text of ``v`` with ``$1``, ``$2``, ... replaced by the arguments and ``$0`` by
  their count (parameters without an argument stay as written);
* ``$(#v)``: the number of ``v`` written with a ``.`` decimal point (``0`` when not numeric);
* ``$(=expr)``: the text of the evaluated expression (via the ``evaluate_expression`` callback);
* ``$(Include=file)`` / ``$(Must_Include=file)``: via the optional ``include`` callback, else kept as is.

A variable's text is itself expanded (it may hold ``$(...)``); ``MAX_DEPTH`` bounds the recursion,
and every result is held to ``MaxStringLength`` as it is assembled (a variable holding ``$(v)$(v)``
nested a few levels deep would otherwise double its size at each level).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from engine.errors import INVALID_PARAMETERS, QixError

from .formatting import DEFAULT_LOCALE, Locale, interpret_texts
from .limits import check_length, checkpoint

MAX_DEPTH = 64


class ExpansionError(QixError):
    """Dollar expansion that does not terminate (a variable that refers to itself)."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMETERS, "", message)


def _find_close(text: str, start: int) -> int:
    """Index of the ``)`` closing the ``$(`` whose content starts at ``start``, or -1."""
    depth = 0
    i, n = start, len(text)
    quote: str | None = None
    while i < n:
        ch = text[i]
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            quote = "]"
        elif ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    # An unbalanced quote inside the macro: retry counting parentheses only.
    if quote is not None:
        depth = 0
        for j in range(start, n):
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                if depth == 0:
                    return j
                depth -= 1
    return -1


def split_arguments(text: str) -> list[str]:
    """Split ``a, 'b,c', f(d, e)`` at top-level commas (quotes, brackets and parentheses nest)."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    cur: list[str] = []
    for ch in text:
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            quote = "]"
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def substitute_parameters(body: str, args: list[str]) -> str:
    """Replace ``$0`` by the argument count and ``$1``..``$n`` by the arguments (``$10`` before ``$1``)."""
    out: list[str] = []
    size = len(body)
    i, n = 0, len(body)
    while i < n:
        if body[i] == "$" and i + 1 < n and body[i + 1].isdigit():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            k = int(body[i + 1 : j])
            if k == 0:
                out.append(str(len(args)))
                i = j
                continue
            if k <= len(args):
                size += len(args[k - 1])
                check_length(size, "Dollar-sign expansion")
                out.append(args[k - 1])
                i = j
                continue
        out.append(body[i])
        i += 1
    return "".join(out)


def _numeric_text(value: str | None, locale: Locale) -> str:
    if value is None:
        return "0"
    x = float(interpret_texts([value], locale)[0])
    if math.isnan(x):
        try:
            x = float(value.strip())
        except ValueError:
            return "0"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def expand(
    text: str,
    lookup_variable: Callable[[str], str | None],
    evaluate_expression: Callable[[str], str] | None = None,
    *,
    include: Callable[[str, bool], str] | None = None,
    locale: Locale = DEFAULT_LOCALE,
    _depth: int = 0,
    _memo: dict[str, str] | None = None,
) -> str:
    """Expand every ``$(...)`` in ``text``; see the module docstring for the forms."""
    if "$(" not in text:
        return text
    if _memo is None:  # a plain $(v) expands once per call: $(a) = $(b)$(b), $(b) = $(c)$(c) ... is linear
        _memo = {}
    if _depth > MAX_DEPTH:
        raise ExpansionError("Dollar-sign expansion nested too deeply (a variable refers to itself?)")
    out: list[str] = []
    size = 0
    i = 0
    while True:
        j = text.find("$(", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        size += j - i
        checkpoint()
        close = _find_close(text, j + 2)
        if close < 0:
            out.append(text[j:])
            break
        raw = text[j + 2 : close]
        inner = expand(raw, lookup_variable, evaluate_expression, include=include, locale=locale,
                       _depth=_depth + 1, _memo=_memo)
        piece = _expand_one(
            inner, text[j : close + 1], lookup_variable, evaluate_expression, include, locale, _depth, _memo
        )
        size += len(piece)
        check_length(size + len(text) - close - 1, "Dollar-sign expansion")
        out.append(piece)
        i = close + 1
    return "".join(out)


def _expand_one(
    content: str,
    original: str,
    lookup_variable: Callable[[str], str | None],
    evaluate_expression: Callable[[str], str] | None,
    include: Callable[[str, bool], str] | None,
    locale: Locale,
    depth: int,
    memo: dict[str, str],
) -> str:
    stripped = content.strip()
    if stripped.startswith("="):
        if evaluate_expression is None:
            return ""
        return evaluate_expression(stripped[1:])
    head = stripped.split("=", 1)[0].strip().lower()
    if "=" in stripped and head in ("include", "must_include"):
        if include is None:
            return original
        return include(stripped.split("=", 1)[1].strip(), head == "must_include")
    if stripped.startswith("#"):
        return _numeric_text(lookup_variable(stripped[1:].strip()), locale)
    name, args = stripped, None
    paren = stripped.find("(")
    if paren > 0 and stripped.endswith(")"):
        name = stripped[:paren].strip()
        args = split_arguments(stripped[paren + 1 : -1])
        if args == [""]:
            args = []
    if args is None and name in memo:
        return memo[name]
    value = lookup_variable(name)
    if value is None:
        return ""
    if args is not None:
        value = substitute_parameters(value, args)
    out = expand(value, lookup_variable, evaluate_expression, include=include, locale=locale,
                 _depth=depth + 1, _memo=memo)
    if args is None:
        memo[name] = out
    return out
