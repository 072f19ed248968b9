"""Section access logic without sockets: grants, strict exclusion, reduced models, the shared cache, the
DocSession hooks, and a property test against an independent plain-Python reference."""

from __future__ import annotations

import gc
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.app import guard
from engine.app.access import (
    AccessCache,
    decide,
    grant_for,
    match_symbols,
    private_nbytes,
    reduce_model,
)
from engine.app.app import App, DocSession
from engine.app.guard import AppGuard
from engine.auth import Identity
from engine.errors import QixError
from engine.model.datamodel import DataModel
from engine.model.selection import SelectionState, infer
from tests.modelutil import make_model


def table(columns: list[str], *rows: list[Any]) -> dict:
    return {"columns": columns, "rows": [list(r) for r in rows]}


SEED = table(["ACCESS", "USERID", "COUNTRY"],
             ["ADMIN", "ADMIN", ""], ["USER", "US-USER", "US"], ["USER", "UK-USER", "UK"], ["USER", "DE-USER", "DE"])


def seed_model() -> DataModel:
    countries = ["US"] * 3 + ["UK"] * 3 + ["DE"] * 3
    return make_model({"Sales": {"COUNTRY": countries, "PRODUCT": ["Electronics", "Furniture", "Other"] * 3,
                                 "SALES_AMOUNT": [101, 102, 103, 201, 202, 203, 301, 302, 303]}})


def rows_of(model: DataModel, name: str) -> list[tuple]:
    t = model.tables[name]
    cols = []
    for f, codes in t.columns.items():
        text = model.fields[f].symbols.text
        cols.append([None if c < 0 else text[c] for c in codes.tolist()])
    return list(zip(*cols, strict=True))


# -- grants ----------------------------------------------------------------------------------------------


def test_seed_grants():
    fields = {"COUNTRY", "PRODUCT", "SALES_AMOUNT"}
    admin = grant_for(SEED, "admin", (), fields)
    assert admin is not None and admin.admin and dict(admin.values) == {} and admin.omit == frozenset()
    us = grant_for(SEED, "us-user", (), fields)
    assert us is not None and not us.admin and dict(us.values) == {"COUNTRY": frozenset({"US"})}
    assert grant_for(SEED, "fr-user", (), fields) is None
    assert grant_for(SEED, "Us-User", (), fields) == us


def test_identity_columns_user_group_star_and_blank():
    t = table(["ACCESS", "USERID", "GROUP", "R"],
              ["USER", "*", "SALES", "1"], ["USER", "JDOE", "*", "2"], ["USER", "", "*", "3"],
              ["USER", "*", "", "4"], ["USER", "BOB", "HR", "5"])
    f = {"R"}
    assert grant_for(t, "jdoe", (), f).values["R"] == {"2"}
    assert grant_for(t, "jdoe", ("Sales",), f).values["R"] == {"1", "2"}
    assert grant_for(t, "ann", ("sales",), f).values["R"] == {"1"}
    assert grant_for(t, "ann", ("hr",), f) is None          # HR only with USERID BOB
    assert grant_for(t, "bob", ("hr",), f).values["R"] == {"5"}
    assert grant_for(t, "", (), f) is None                  # a blank cell matches nobody, not even ""


def test_table_without_identity_columns_applies_to_everyone():
    t = table(["ACCESS", "R"], ["USER", "1"])
    assert grant_for(t, "anyone", (), {"R"}).values["R"] == {"1"}


def test_access_level_must_be_valid():
    t = table(["ACCESS", "USERID", "R"], ["READ", "ANN", "1"], ["", "ANN", "2"], [None, "ANN", "3"])
    assert grant_for(t, "ann", (), {"R"}) is None
    assert grant_for(table(["USERID", "R"], ["ANN", "1"]), "ann", (), {"R"}) is None


def test_star_blank_and_admin_reduction_semantics():
    t = table(["ACCESS", "USERID", "R", "S"],
              ["USER", "A", "*", ""], ["USER", "B", "", "X"], ["ADMIN", "C", "", "Y"], ["ADMIN", "D", "2", ""],
              ["USER", "E", "1", ""], ["ADMIN", "E", "", ""], ["USER", "F", "*", "*"])
    f = {"R", "S"}
    a = grant_for(t, "a", (), f)
    assert dict(a.values) == {"R": {"2", "1"}, "S": set()}                 # * = listed values, never "*"
    assert dict(grant_for(t, "b", (), f).values) == {"R": set(), "S": {"X"}}  # USER blank: nothing
    assert dict(grant_for(t, "c", (), f).values) == {"S": {"Y"}}           # ADMIN blank: unreduced
    assert dict(grant_for(t, "d", (), f).values) == {"R": {"2"}}           # ADMIN with a value: reduced
    e = grant_for(t, "e", (), f)
    assert e.admin and dict(e.values) == {}                               # an ADMIN blank row wins
    assert dict(grant_for(t, "f", (), f).values) == {"R": {"1", "2"}, "S": {"X", "Y"}}


def test_omit_and_column_kinds():
    t = table(["ACCESS", "USERID", "OMIT", "NTNAME", "NOT_A_FIELD", "R"],
              ["USER", "A", "X", "DOM\\A", "Q", ""], ["USER", "A", "Y", "", "", ""], ["USER", "B", "*", "", "", ""],
              ["USER", "C", "NOPE", "", "", ""])
    f = {"X", "Y", "Z", "R", "NTNAME"}
    assert grant_for(t, "a", (), f).omit == {"X", "Y"}
    assert grant_for(t, "b", (), f).omit == {"X", "Y"}                     # * = the names listed in OMIT
    assert grant_for(t, "c", (), f).omit == frozenset()                   # not a field: nothing to omit
    # NTNAME is a system column even if a data field has that name; NOT_A_FIELD is ignored
    assert set(grant_for(t, "a", (), f).values) == {"R"}


def test_grant_key_names_the_distinct_reduction():
    t = table(["ACCESS", "USERID", "GROUP", "R"], ["USER", "A", "*", "1"], ["USER", "*", "G", "1"])
    assert grant_for(t, "a", (), {"R"}).key() == grant_for(t, "z", ("g",), {"R"}).key()


# -- deciding against the data -------------------------------------------------------------------------


def test_match_symbols_by_text_or_number():
    m = make_model({"T": {"N": [1, 2, 2.5, "x"], "S": ["01", "A", "a", None]}})
    assert match_symbols(m, "N", {"1", "2.50", "X", "x"}).tolist() == [0, 2, 3]
    assert match_symbols(m, "S", {"01", "A"}).tolist() == [0, 1]
    assert match_symbols(m, "S", {"1"}).tolist() == []


def test_decide_seed_example():
    m = seed_model()
    admin = decide(SEED, m, "admin")
    assert not admin.denied and admin.admin and admin.reduction is None
    us = decide(SEED, m, "us-user")
    assert not us.denied and not us.admin
    assert us.reduction.rows["Sales"].tolist() == [True] * 3 + [False] * 6
    assert us.reduction.symbols["SALES_AMOUNT"].tolist() == [True] * 3 + [False] * 6
    assert decide(SEED, m, "fr-user").denied


def test_strict_exclusion():
    m = seed_model()
    t = table(["ACCESS", "USERID", "COUNTRY", "PRODUCT"],
              ["USER", "A", "FR", ""], ["USER", "B", "FR", "OTHER"], ["USER", "B", "US", "Other"],
              ["USER", "C", "US", "Other"], ["USER", "D", "", "Other"])
    t["rows"] = [[c.upper() for c in r] for r in t["rows"]]
    assert decide(t, m, "a").denied                         # FR: not in the data
    assert decide(t, m, "d").denied                         # USER blank on COUNTRY: no value at all
    # OTHER is upper-case, the data says "Other": data values are not upper-cased, so nothing matches
    assert decide(t, m, "c").denied
    t2 = table(["ACCESS", "USERID", "COUNTRY", "PRODUCT"], ["USER", "A", "US", "Z"], ["USER", "A", "FR", "Z"])
    m2 = make_model({"Sales": {"COUNTRY": ["US", "UK"], "PRODUCT": ["Y", "Z"]}})
    assert decide(t2, m2, "a").denied                       # both fields match, their combination nothing
    t3 = table(["ACCESS", "USERID", "COUNTRY"], ["USER", "A", "US"], ["USER", "A", "FR"])
    d = decide(t3, m2, "a")
    assert not d.denied and d.reduction.rows["Sales"].tolist() == [True, False]  # FR ignored, US applies


def test_reduction_propagates_through_associations():
    m = make_model({
        "Sales": {"COUNTRY": ["US", "US", "UK", "DE"], "ORDER": [1, 2, 3, 4]},
        "Lines": {"ORDER": [1, 1, 2, 3, 4, 4], "ITEM": ["a", "b", "c", "d", "e", "f"]},
        "Items": {"ITEM": ["a", "b", "c", "d", "e", "f", "g"], "PRICE": [1, 2, 3, 4, 5, 6, 7]},
        "Other": {"X": ["p", "q"]},
    })
    t = table(["ACCESS", "USERID", "COUNTRY"], ["USER", "A", "US"])
    view = reduce_model(m, decide(t, m, "a").reduction.rows, frozenset())
    assert rows_of(view, "Sales") == [("US", "1"), ("US", "2")]
    assert rows_of(view, "Lines") == [("1", "a"), ("1", "b"), ("2", "c")]
    assert rows_of(view, "Items") == [("a", "1"), ("b", "2"), ("c", "3")]
    assert rows_of(view, "Other") == [("p",), ("q",)]           # not associated: untouched
    assert view.tables["Other"].columns.raw("X") is m.tables["Other"].columns.raw("X")
    assert view.fields["X"].symbols is m.fields["X"].symbols
    assert list(view.fields["PRICE"].symbols.text) == ["1", "2", "3"]


def test_reduce_model_omit_and_sharing():
    m = make_model({"A": {"K": [1, 2], "V": ["x", "y"]}, "B": {"K": [1, 2], "W": ["u", "v"]}, "C": {"Z": ["z"]}})
    assert reduce_model(m, None, frozenset()) is m
    assert reduce_model(m, {"A": np.ones(2, dtype=bool)}, frozenset()) is m
    r = reduce_model(m, None, frozenset({"K", "Z"}))
    assert list(r.tables) == ["A", "B"]                          # C lost its only column
    assert set(r.fields) == {"V", "W"} and not r.key_fields
    assert "$key" in m.fields["K"].tags                          # the base model is untouched
    assert private_nbytes(r, m) == 0                             # everything kept is shared
    r2 = reduce_model(m, {"A": np.array([False, True])}, frozenset())
    assert rows_of(r2, "A") == [("2", "y")] and list(r2.fields["V"].symbols.text) == ["y"]
    assert rows_of(r2, "B") == [("1", "u"), ("2", "v")]          # rows given per table; no propagation here
    assert list(r2.fields["K"].symbols.text) == ["1", "2"]       # B still holds K=1
    assert r2.tables["B"].columns.raw("K") is m.tables["B"].columns.raw("K")
    assert r2.fields["K"].symbols is m.fields["K"].symbols
    assert private_nbytes(r2, m) > 0


# -- the cache -------------------------------------------------------------------------------------------


def test_cache_shares_one_view_per_distinct_reduction():
    cache = AccessCache()
    m = seed_model()
    t = table(["ACCESS", "USERID", "GROUP", "COUNTRY"],
              ["USER", "A", "*", "US"], ["USER", "*", "G", "US"], ["USER", "B", "*", "UK"], ["ADMIN", "C", "*", ""])
    a = cache.user_access(t, m, "a")
    g = cache.user_access(t, m, "someone", ("g",))
    b = cache.user_access(t, m, "b")
    c = cache.user_access(t, m, "c")
    assert a.view is g.view and a.view is not b.view
    assert c.admin and c.view.model is m and c.view.nbytes == 0
    assert (cache.stats.hits, cache.stats.misses, len(cache)) == (1, 3, 3)
    assert cache.nbytes == a.view.nbytes + b.view.nbytes > 0
    assert cache.user_access(t, m, "nobody").denied


def test_cache_is_bounded_and_forgets_dead_models():
    m = seed_model()
    t = table(["ACCESS", "USERID", "COUNTRY"], ["USER", "A", "US"], ["USER", "B", "UK"], ["USER", "C", "DE"])
    probe = AccessCache()
    one = probe.user_access(t, m, "a").view.nbytes
    cache = AccessCache(max_bytes=2 * one)
    for u in "abc":
        cache.user_access(t, m, u)
    assert len(cache) == 2 and cache.stats.evictions == 1 and cache.nbytes <= 2 * one
    cache.user_access(t, m, "a")                                 # evicted first (least recently used)
    assert cache.stats.misses == 4
    del m
    gc.collect()
    assert len(cache) == 0 and cache.nbytes == 0


# -- DocSession hooks ----------------------------------------------------------------------------------


def _doc(app: App, user: str | None, groups: tuple[str, ...] = ()) -> DocSession:
    ident = Identity.personal() if user is None else Identity(user=user, groups=groups, authenticated=True)
    return DocSession(app, ident)


def _script_check(doc: DocSession) -> None:
    AppGuard().check(doc.identity, doc.app.facts(), guard.READ, script=True)


def test_doc_session_model_access_and_script_rights():
    app = App("sa", "sa", model=seed_model(), section_access=SEED)
    us = _doc(app, "us-user")
    assert us.model.tables["Sales"].nrows == 3 and us.model is _doc(app, "US-USER").model
    with pytest.raises(QixError) as err:
        _script_check(us)
    assert err.value.code == 5
    admin = _doc(app, "admin")
    _script_check(admin)
    assert admin.model is app.model
    with pytest.raises(QixError) as err:
        _ = _doc(app, "fr-user").model
    assert err.value.code == 5
    with pytest.raises(QixError) as err:
        _doc(app, None).user_access()
    assert err.value.code == 12002
    plain = App("p", "p", model=seed_model())
    assert _doc(plain, None).model is plain.model and _doc(plain, None).user_access() is None
    _script_check(_doc(plain, "anyone"))


def test_doc_session_recomputes_after_a_reload():
    from engine.script.runner import SectionAccessTable

    app = App("sa", "sa", model=seed_model(), section_access=SEED)
    us, uk = _doc(app, "us-user"), _doc(app, "uk-user")
    assert us.model.tables["Sales"].nrows == 3
    before = uk.model
    new = SectionAccessTable({"T": {"ACCESS": ["USER"], "USERID": ["UK-USER"], "COUNTRY": ["DE"]}})
    app.swap_data(seed_model(), new, {})
    with pytest.raises(QixError) as err:
        _ = us.model
    assert err.value.code == 5
    assert uk.model is not before and rows_of(uk.model, "Sales")[0][0] == "DE"


# -- property test against an independent reference ----------------------------------------------------

TABLES = {"T1": ["A", "K1"], "T2": ["K1", "B", "K2"], "T3": ["K2", "C"], "T4": ["D"]}
DOMAINS: dict[str, list[Any]] = {
    "A": ["A0", "A1", "A2", "A3"], "K1": ["K0", "K1", "K2", "K3"], "B": ["B0", "B1", "B2", None],
    "K2": [0, 1, 2, 3], "C": [10, 11, 12, "C3"], "D": ["D0", "D1"],
}
SYSTEM = {"ACCESS", "USERID", "GROUP", "OMIT"}
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def ref_matches(value: str, data: Any) -> bool:
    if data is None:
        return False
    if str(data) == value:
        return True
    return isinstance(data, int | float) and bool(NUMBER.fullmatch(value)) and float(value) == float(data)


def ref_possible(tables: dict[str, list[dict]], cols: dict[str, list[str]],
                 selections: dict[str, set]) -> dict[str, list[dict]]:
    """Possible rows per table on a tree schema, by recursive semi-joins (plain Python sets).

    A side of a key constrains it only when a selection lies on that side (a selection in the key itself
    does not count: associated tables behave as a full outer join); NULL never links.
    """
    holders: dict[str, list[str]] = {}
    for t, cs in cols.items():
        for c in cs:
            holders.setdefault(c, []).append(t)
    keys = {f for f, h in holders.items() if len(h) > 1}

    def satisfying(t: str, skip: str | None) -> tuple[list[dict], bool]:
        constrained = any(f in selections and f != skip for f in cols[t])
        conds = []
        for k in cols[t]:
            if k in keys and k != skip:
                parts = [m for u in holders[k] if u != t and (m := message(u, k)) is not None]
                if parts:
                    constrained = True
                    conds.append((k, set.intersection(*parts)))
        ok = [r for r in tables[t]
              if all(r[f] in selections[f] for f in cols[t] if f in selections)
              and all(r[k] in allowed for k, allowed in conds)]
        return ok, constrained

    def message(u: str, k: str) -> set | None:
        ok, constrained = satisfying(u, k)
        return {r[k] for r in ok if r[k] is not None} if constrained else None

    return {t: satisfying(t, None)[0] for t in tables}


def ref_decide(sa: dict, tables: dict[str, list[dict]], user: str, groups: tuple[str, ...]):
    """(denied, {table: rows as tuples of text over kept columns}) straight from the rules."""
    fields = {c for cs in TABLES.values() for c in cs}
    cols = sa["columns"]
    rows = [dict(zip(cols, r, strict=True)) for r in sa["rows"]]
    me, mine = user.upper(), {g.upper() for g in groups}

    def applies(r: dict) -> bool:
        if "USERID" in r and (not r["USERID"] or r["USERID"] not in (me, "*")):
            return False
        if "GROUP" in r and (not r["GROUP"] or (r["GROUP"] != "*" and r["GROUP"] not in mine)):
            return False
        return r.get("ACCESS") in ("ADMIN", "USER")

    applying = [r for r in rows if applies(r)]
    if not applying:
        return True, None
    selections: dict[str, set] = {}
    for col in cols:
        if col in SYSTEM or col not in fields:
            continue
        if any(r["ACCESS"] == "ADMIN" and not r[col] for r in applying):
            continue
        wanted: set[str] = set()
        for r in applying:
            if r[col] == "*":
                wanted |= {x[col] for x in rows if x[col] and x[col] != "*"}
            elif r[col]:
                wanted.add(r[col])
        data_values = {r[col] for t, cs in TABLES.items() if col in cs for r in tables[t]}
        matched = {v for v in data_values if any(ref_matches(w, v) for w in wanted)}
        if not matched:
            return True, None
        selections[col] = matched
    omit: set[str] = set()
    if "OMIT" in cols:
        for r in applying:
            if r["OMIT"] == "*":
                omit |= {x["OMIT"] for x in rows if x["OMIT"] and x["OMIT"] != "*"}
            elif r["OMIT"]:
                omit.add(r["OMIT"])
    kept = ref_possible(tables, TABLES, selections)
    for f, values in selections.items():
        present = {r[f] for t, cs in TABLES.items() if f in cs for r in kept[t]}
        if not present & values:
            return True, None
    out = {}
    for t, cs in TABLES.items():
        keep = [c for c in cs if c not in omit]
        if keep:
            out[t] = [tuple(None if r[c] is None else str(r[c]) for c in keep) for r in kept[t]]
    return False, out


@st.composite
def scenarios(draw):
    tables = {t: [{c: draw(st.sampled_from(DOMAINS[c])) for c in cs} for _ in range(draw(st.integers(1, 8)))]
              for t, cs in TABLES.items()}
    reduce_cols = draw(st.lists(st.sampled_from(["A", "B", "K1", "C", "D", "NOPE"]), unique=True, max_size=2))
    has_group = draw(st.booleans())
    has_omit = draw(st.booleans())
    columns = ["ACCESS", "USERID", *(["GROUP"] if has_group else []), *reduce_cols, *(["OMIT"] if has_omit else [])]
    user = draw(st.sampled_from(["u0", "u1", "U2", "u9"]))
    groups = tuple(draw(st.lists(st.sampled_from(["g0", "G1", "g7"]), unique=True, max_size=2)))

    def cell(col: str, mine: bool) -> str:
        if col == "ACCESS":
            return draw(st.sampled_from(["ADMIN", "USER", "USER", "USER", *([] if mine else ["", "OTHER"])]))
        if col == "USERID":
            return draw(st.sampled_from([user.upper(), "*"] if mine else ["U0", "U1", "U2", "*", ""]))
        if col == "GROUP":
            return draw(st.sampled_from(["*", *(g.upper() for g in groups)] if mine else ["G0", "G1", "*", ""]))
        if col == "OMIT":
            return draw(st.sampled_from(["", "", "", "*", "A", "B", "C", "D", "K2"]))
        domain = [str(v) for v in DOMAINS.get(col, ["X"]) if v is not None]
        return draw(st.sampled_from([*domain, *domain, *domain, "*", "*", "", "ZZ"]))

    # most tables have a row for the user (so most examples reduce rather than deny)
    mine = draw(st.integers(0, 2))
    rows = [[cell(c, i < mine) for c in columns] for i in range(draw(st.integers(0, 6)) + mine)]
    rows = draw(st.permutations(rows))
    return tables, {"columns": columns, "rows": rows}, user, groups


def _model(tables: dict[str, list[dict]]) -> DataModel:
    return make_model({t: {c: [r[c] for r in tables[t]] for c in cs} for t, cs in TABLES.items()})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_property_reduction_matches_reference(scenario, data):
    tables, sa, user, groups = scenario
    model = _model(tables)
    denied, expected = ref_decide(sa, tables, user, groups)
    decision = decide(sa, model, user, groups)
    assert decision.denied == denied
    access = AccessCache().user_access(sa, model, user, groups)
    assert access.denied == denied
    event("denied" if denied else "reduced" if decision.reduction is not None else "unreduced")
    if decision.omit:
        event("omit")
    if denied:
        return
    view = access.view.model
    # every table and row the user may see, and nothing else
    assert {t: rows_of(view, t) for t in view.tables} == expected
    # symbol tables hold exactly the values still present, in the full model's order
    for f, fld in view.fields.items():
        present = {v for t in view.field_tables[f] for r in rows_of(view, t)
                   for c, v in zip(view.tables[t].columns, r, strict=True) if c == f and v is not None}
        assert set(fld.symbols.text.tolist()) == present
        order = {t: i for i, t in enumerate(model.fields[f].symbols.text.tolist())}
        assert [order[t] for t in fld.symbols.text.tolist()] == sorted(order[t] for t in fld.symbols.text.tolist())
    # a selection on the user's model: every field's possible values against the reference
    if not view.fields:
        return
    f = data.draw(st.sampled_from(sorted(view.fields)))
    values = view.fields[f].symbols.text.tolist()
    if not values:
        return
    chosen = data.draw(st.lists(st.sampled_from(values), min_size=1, unique=True))
    inf = infer(view, SelectionState().with_selection(f, [values.index(v) for v in chosen]))
    ref_tables = {t: [dict(zip(list(view.tables[t].columns), r, strict=True)) for r in rows_of(view, t)]
                  for t in view.tables}
    ref_cols = {t: list(view.tables[t].columns) for t in view.tables}
    kept = ref_possible(ref_tables, ref_cols, {f: set(chosen)})
    for g in view.fields:
        want = {r[g] for t in view.field_tables[g] for r in kept[t] if r[g] is not None}
        got = {t for t, p in zip(view.fields[g].symbols.text.tolist(), inf.possible(g).tolist(), strict=True) if p}
        assert got == want, g
    # the same selection on the full model on top of the Reduction object agrees
    if decision.reduction is not None and not decision.omit:
        full_syms = model.fields[f].symbols.text.tolist()
        base_inf = infer(model, SelectionState().with_selection(f, [full_syms.index(v) for v in chosen]),
                         decision.reduction)
        for g in view.fields:
            got = {t for t, p in zip(model.fields[g].symbols.text.tolist(), base_inf.possible(g).tolist(),
                                     strict=True) if p}
            want = {r[g] for t in view.field_tables[g] for r in kept[t] if r[g] is not None}
            assert got == want, ("base", g)
