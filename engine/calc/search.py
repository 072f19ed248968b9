"""Search strings over a field's symbols: ``Field.Select``, set-analysis searches, list-object search.

Matching runs over the distinct values (the symbol table), never over rows, with pyarrow compute.

``search(model, inf, field, match)`` implements the search strings of ``Field.Select`` and of
double-quoted set-analysis elements:

* ``=expr``: the expression is evaluated once per value (aggregations over the rows associated with
  it); values where it is true are matched;
* ``>5``, ``<=10``, ``>=1<5``: numeric search (every condition must hold); the bounds are read as
  numbers, or as dates/times in the locale's formats; values without a number never match;
* text containing ``*`` or ``?``: wildcard match of the whole text, case-insensitive;
* anything else: the whole text, case-insensitive (a number-like search also matches by number).

``list_search(model, inf, field, match)`` is the list-object search (``SearchListObjectFor``): the
search string is split into words and a value matches when one of its words starts with one of them
(case-insensitive); a word with wildcards matches the whole value instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.expr import Locale, interpret_texts
from engine.expr.functions import wildcard_regex
from engine.model.datamodel import DataModel
from engine.model.selection import Inference, SelectionState

_NUMERIC = re.compile(r"\s*(<=|>=|<|>)\s*([^<>]*)")


def _texts(model: DataModel, field: str) -> pa.Array:
    return pa.array(model.fields[field].symbols.text, type=pa.string())


def _bool(res: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(res, False).to_numpy(zero_copy_only=False), dtype=bool)


def _to_number(text: str, locale: Locale) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    x = float(interpret_texts(np.array([text], dtype=object), locale)[0])
    return x


def numeric_conditions(match: str, locale: Locale | None = None) -> list[tuple[str, float]] | None:
    """``">=1<5"`` → ``[(">=", 1.0), ("<", 5.0)]``; None when ``match`` is not a numeric search."""
    s = match.strip()
    if not s or s[0] not in "<>":
        return None
    out: list[tuple[str, float]] = []
    pos = 0
    while pos < len(s):
        m = _NUMERIC.match(s, pos)
        if m is None or m.end() == pos:
            return None
        x = _to_number(m.group(2), locale or Locale())
        if math.isnan(x):
            return None
        out.append((m.group(1), x))
        pos = m.end()
    return out


def numeric_mask(nums: np.ndarray, conds: list[tuple[str, float]]) -> np.ndarray:
    """Values (float64, NaN = no number) satisfying every condition."""
    out = ~np.isnan(nums)
    with np.errstate(invalid="ignore"):
        for op, x in conds:
            out &= {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}[op](nums, x)
    result: np.ndarray = out
    return result


def wildcard_mask(texts: pa.Array, pattern: str) -> np.ndarray:
    """Case-insensitive whole-text wildcard match (``*`` any run, ``?`` one character)."""
    if not len(texts):
        return np.zeros(0, dtype=bool)
    return _bool(pc.match_substring_regex(texts, wildcard_regex(pattern), ignore_case=True))


def text_mask(model: DataModel, field: str, match: str, locale: Locale | None = None) -> np.ndarray:
    """Symbols matching a search string that is neither an expression nor numeric: wildcards or
    the whole text, case-insensitive (and, for a number-like string, the same number)."""
    syms = model.fields[field].symbols
    texts = _texts(model, field)
    if "*" in match or "?" in match:
        return wildcard_mask(texts, match)
    out = _bool(pc.equal(pc.utf8_lower(texts), match.lower())) if len(texts) else np.zeros(0, dtype=bool)
    x = _to_number(match, locale or Locale()) if match.strip() else math.nan
    if not math.isnan(x):
        out |= syms.num == x
    return out


SymbolEvaluator = Callable[[str, str], np.ndarray]
"""``(field, expression text) -> bool mask over the field's symbols`` for ``=expr`` searches."""


def search_mask(
    model: DataModel,
    inf: Inference,
    field: str,
    match: str,
    *,
    locale: Locale | None = None,
    evaluate_symbols: SymbolEvaluator | None = None,
) -> np.ndarray:
    """Bool mask over the field's symbols matched by a ``Field.Select`` search string (symbols the
    section-access reduction removed never match)."""
    n = len(model.fields[field].symbols)
    if match.startswith("="):
        if evaluate_symbols is None:
            from engine.calc.evaluation import symbol_truth

            out = symbol_truth(model, inf, field, match[1:], locale=locale)
        else:
            out = evaluate_symbols(field, match[1:])
    else:
        conds = numeric_conditions(match, locale)
        if conds is not None:
            out = numeric_mask(model.fields[field].symbols.num, conds)
        else:
            out = text_mask(model, field, match, locale)
    out = np.asarray(out, dtype=bool)[:n]
    result: np.ndarray = out & inf.exists(field)
    return result


def search(
    model: DataModel,
    inf: Inference,
    field: str,
    match: str,
    *,
    locale: Locale | None = None,
    only_possible: bool = False,
) -> np.ndarray:
    """Symbol indexes (sorted int64) matched by a ``Field.Select`` search string; with
    ``only_possible`` the excluded values are left out (what accepting a search selects)."""
    mask = search_mask(model, inf, field, match, locale=locale)
    if only_possible:
        mask &= inf.possible(field)
    return np.flatnonzero(mask)


def list_search_mask(model: DataModel, field: str, match: str) -> np.ndarray:
    """Bool mask over symbols for a list-object ("normal") search, see the module docstring."""
    texts = _texts(model, field)
    n = len(texts)
    out = np.zeros(n, dtype=bool)
    if not n:
        return out
    lower = pc.utf8_lower(texts)
    for word in match.split():
        if "*" in word or "?" in word:
            out |= wildcard_mask(texts, word)
            continue
        w = re.escape(word.lower())
        out |= _bool(pc.match_substring_regex(lower, rf"(^|[^\w]){w}"))
    return out


def list_search(model: DataModel, inf: Inference, field: str, match: str) -> np.ndarray:
    """Symbol indexes (sorted) matched by a list-object search, among the values that exist."""
    return np.flatnonzero(list_search_mask(model, field, match) & inf.exists(field))


def select_search(
    state: SelectionState,
    model: DataModel,
    inf: Inference,
    field: str,
    match: str,
    *,
    locale: Locale | None = None,
    toggle: bool = False,
) -> SelectionState:
    """``Field.Select`` / ``Field.ToggleSelect`` with a search string: the new selection state."""
    hits = search(model, inf, field, match, locale=locale)
    if toggle:
        cur = state.selected(field)
        cur = np.empty(0, dtype=np.int64) if cur is None else cur.astype(np.int64)
        hits = np.setxor1d(cur, hits)
    return state.with_selection(field, hits)


def _searchable(model: DataModel) -> list[str]:
    """The fields a search without a field list looks in: all but those ``Search Exclude`` left out."""
    return [f for f in model.fields if f not in model.search_excluded]


def search_results(
    model: DataModel,
    inf: Inference,
    fields: list[str],
    terms: list[str],
    *,
    offset: int = 0,
    count: int = 10,
    max_matches: int = 5,
) -> dict[str, object]:
    """``Doc.SearchResults``: per field, the existing values in which any term starts a word
    (case-insensitive), grouped as the engine's one ``DatasetType`` group; paging over fields."""
    names = [f for f in (fields or _searchable(model)) if f in model.fields and not model.fields[f].is_system]
    items: list[dict[str, object]] = []
    matched_terms: set[int] = set()
    for name in names:
        per_term = [list_search_mask(model, name, term) & inf.exists(name) for term in terms if term.strip()]
        if not per_term:
            continue
        hit = np.logical_or.reduce(per_term)
        found = np.flatnonzero(hit)
        if not len(found):
            continue
        matched = [i for i, m in enumerate(per_term) if m.any()]
        matched_terms.update(matched)
        texts = model.fields[name].symbols.texts(found[:max_matches]).tolist()
        items.append(
            {
                "qItemType": "Field",
                "qTotalNumberOfMatches": int(len(found)),
                "qIdentifier": name,
                "qItemMatches": [{"qText": t, "qAttributes": []} for t in texts],
                "qSearchTermsMatched": matched,
            }
        )
    page = items[offset : offset + count] if count > 0 else items[offset:]
    groups = (
        [
            {
                "qId": 0,
                "qGroupType": "DatasetType",
                "qSearchTermsMatched": sorted(matched_terms),
                "qTotalNumberOfItems": len(items),
                "qItems": page,
            }
        ]
        if items
        else []
    )
    return {"qSearchTerms": list(terms), "qTotalNumberOfGroups": len(groups), "qSearchGroupArray": groups}


def search_suggestions(
    model: DataModel, inf: Inference, fields: list[str], terms: list[str], limit: int = 10
) -> dict[str, object]:
    """``Doc.SearchSuggest``: existing values that complete the last term."""
    term = terms[-1] if terms else ""
    out: list[dict[str, object]] = []
    for name in fields or _searchable(model):
        if name not in model.fields or not term.strip() or len(out) >= limit:
            continue
        found = np.flatnonzero(list_search_mask(model, name, term) & inf.exists(name))
        out += [
            {"qValue": t, "qValueInt": 0} for t in model.fields[name].symbols.texts(found[:limit]).tolist()
        ]
    return {"qSuggestions": out[:limit], "qFieldNames": []}
