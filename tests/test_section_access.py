"""Section access over real sockets with real JWTs: who may open, what each user sees, and that nothing
outside a user's reduction ever reaches their socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from tests.harness import REPO, Client, RunningEngine
from tests.jwt_keys import SECRET, bearer, mint

#: The Qlik Core authorization tutorial's app (core-website docs/tutorials/authorization.md), exactly.
SEED_SCRIPT = (REPO / "scripts" / "section-access-seed.qvs").read_text()

#: Groups, star, OMIT and a second table reached through COUNTRY. IT is in the data but listed nowhere in
#: the security table; ES is listed but not in the data; FR is only in Capitals.
MATRIX_SCRIPT = """section access;
LOAD * inline [
ACCESS, USERID, GROUP, COUNTRY, OMIT
ADMIN, admin, *, ,
USER, us-user, *, US,
USER, uk-user, *, UK, PRODUCT
USER, *, EUROPE, UK,
USER, *, EUROPE, DE,
USER, star-user, *, *,
USER, nobody-user, *, ES,
ADMIN, limited-admin, *, DE,
];
section Application;
Sales:
LOAD * INLINE [
COUNTRY, PRODUCT, SALES_AMOUNT
US, Electronics, 101
US, Furniture, 102
US, Other, 103
UK, Electronics, 201
UK, Furniture, 202
UK, Other, 203
DE, Electronics, 301
DE, Furniture, 302
DE, Other, 303
IT, Electronics, 401
];
Capitals:
LOAD * INLINE [
COUNTRY, CAPITAL
US, Washington
UK, London
DE, Berlin
IT, Rome
FR, Paris
];
"""

SALES = [("US", "Electronics", 101), ("US", "Furniture", 102), ("US", "Other", 103),
         ("UK", "Electronics", 201), ("UK", "Furniture", 202), ("UK", "Other", 203),
         ("DE", "Electronics", 301), ("DE", "Furniture", 302), ("DE", "Other", 303)]
MATRIX_SALES = [*SALES, ("IT", "Electronics", 401)]
CAPITALS = {"US": "Washington", "UK": "London", "DE": "Berlin", "IT": "Rome", "FR": "Paris"}


def token(sub: str, groups: list[str] | None = None) -> dict[str, str]:
    claims: dict[str, Any] = {"sub": sub}
    if groups is not None:
        claims["groups"] = groups
    return {"Authorization": bearer(mint(claims))}


def jwt_engine(engine_factory) -> RunningEngine:
    return engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}")


def run(coro) -> Any:
    return asyncio.run(coro)


async def create_app(eng: RunningEngine, script: str, name: str = "sa") -> str:
    """Create, load and save an app as ``admin``; returns its id."""
    async with Client.open(eng.url(), token("admin")) as c:
        app_id = (await c.call("CreateApp", -1, name))["qAppId"]
        doc = (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]
        await c.call("SetScript", doc, script)
        assert (await c.call("DoReload", doc))["qReturn"] is True
        await c.call("DoSave", doc)
    return app_id


async def open_doc(c: Client, app_id: str) -> int:
    return (await c.call("OpenDoc", -1, app_id))["qReturn"]["qHandle"]


async def table_rows(c: Client, doc: int, table: str) -> list[tuple]:
    data = (await c.call("GetTableData", doc, 0, 1000, False, table))["qData"]
    return [tuple(cell["qNumber"] if cell["qIsNumeric"] else cell["qText"] for cell in row["qValue"])
            for row in data]


async def table_header(c: Client, doc: int, table: str) -> list[str]:
    data = (await c.call("GetTableData", doc, -1, 1, False, table))["qData"]
    return [cell["qText"] for cell in data[0]["qValue"]]


# -- the seed's example ----------------------------------------------------------------------------------


def test_seed_example_each_user_sees_their_rows(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, SEED_SCRIPT)
        expected = {
            "admin": SALES,
            "us-user": [r for r in SALES if r[0] == "US"],
            "uk-user": [r for r in SALES if r[0] == "UK"],
            "de-user": [r for r in SALES if r[0] == "DE"],
        }
        for user, rows in expected.items():
            async with Client.open(eng.url(f"/app/{app_id}"), token(user)) as c:
                doc = await open_doc(c, app_id)
                got = await table_rows(c, doc, "Sales")
                assert got == [(a, b, float(n)) for a, b, n in rows], user
                assert len(got) == (9 if user == "admin" else 3)
                layout = (await c.call("GetAppLayout", doc))["qLayout"]
                assert layout["qHasSectionAccess"] is True
                country = (await c.call("GetField", doc, "COUNTRY"))["qReturn"]["qHandle"]
                assert (await c.call("GetCardinal", country))["qReturn"] == (3 if user == "admin" else 1)

    run(scenario())


def test_seed_example_unknown_user_is_denied_and_sees_nothing(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, SEED_SCRIPT)
        async with Client.open(eng.url(f"/app/{app_id}"), token("fr-user")) as c:
            resp = await c.request("OpenDoc", -1, [app_id])
            assert resp["error"] == {"code": 5, "parameter": app_id, "message": "Access denied"}
            assert "result" not in resp and "change" not in resp
            # the session has no document: nothing of the app is reachable
            resp = await c.request("GetActiveDoc", -1, [])
            assert resp["error"]["code"] == 1007
            resp = await c.request("GetTableData", 1, [0, 10, False, "Sales"])
            assert resp["error"]["code"] == -32602
            assert_no_data(c.frames, forbidden_texts={r[1] for r in SALES} | {"US", "UK", "DE"},
                           forbidden_numbers={float(r[2]) for r in SALES})

    run(scenario())


def test_personal_mode_cannot_open_a_section_access_app(engine_factory, tmp_path):
    docs = tmp_path / "shared-apps"
    eng = engine_factory("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}", document_dir=docs)

    async def scenario():
        app_id = await create_app(eng, SEED_SCRIPT)
        personal = engine_factory(document_dir=docs)
        async with Client.open(personal.url()) as c:
            listed = {d["qDocId"]: d for d in (await c.call("GetDocList", -1))["qDocList"]}
            assert listed[app_id]["qHasSectionAccess"] is True
            resp = await c.request("OpenDoc", -1, [app_id])
            assert resp["error"] == {"code": 12002, "parameter": app_id,
                                     "message": "Section access detected when opening an app in QlikView Personal."}
            # a session app copied from it carries the section access along
            resp = await c.request("CreateSessionAppFromApp", -1, [app_id])
            assert resp["error"]["code"] == 12002

    run(scenario())


def test_doc_list_and_layout_report_section_access(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, SEED_SCRIPT)
        plain = await create_app(eng, "T: LOAD * INLINE [A\n1];", name="plain")
        async with Client.open(eng.url(), token("us-user")) as c:
            listed = {d["qDocId"]: d["qHasSectionAccess"] for d in (await c.call("GetDocList", -1))["qDocList"]}
            assert listed == {app_id: True, plain: False}
            doc = await open_doc(c, plain)
            assert (await c.call("GetAppLayout", doc))["qLayout"]["qHasSectionAccess"] is False
            assert (await c.call("GetScript", doc))["qScript"].startswith("T:")

    run(scenario())


# -- script, reload and save are ADMIN only ---------------------------------------------------------------


def test_only_admin_may_read_or_change_the_script_reload_or_save(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT)
        for user in ("us-user", "star-user"):
            async with Client.open(eng.url(), token(user)) as c:
                doc = await open_doc(c, app_id)
                for method, params in [("GetScript", []), ("SetScript", ["x"]), ("DoReload", []),
                                       ("DoReloadEx", []), ("DoSave", []), ("CheckScriptSyntax", []),
                                       ("CreateConnection", [{"qName": "c", "qConnectionString": "/tmp"}])]:
                    resp = await c.request(method, doc, params)
                    assert resp["error"]["code"] == 5, (user, method)
        for user in ("admin", "limited-admin"):
            async with Client.open(eng.url(), token(user)) as c:
                doc = await open_doc(c, app_id)
                assert (await c.call("GetScript", doc))["qScript"] == MATRIX_SCRIPT
                assert (await c.call("DoReload", doc))["qReturn"] is True
                await c.call("DoSave", doc)

    run(scenario())


# -- groups, star, omit, admin with a value --------------------------------------------------------------


def test_group_rows_match_token_groups_case_insensitively(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT)
        async with Client.open(eng.url(), token("eu-analyst", ["Europe", "other"])) as c:
            doc = await open_doc(c, app_id)
            assert {r[0] for r in await table_rows(c, doc, "Sales")} == {"UK", "DE"}
            assert await table_rows(c, doc, "Capitals") == [("UK", "London"), ("DE", "Berlin")]
        async with Client.open(eng.url(), token("eu-analyst", ["asia"])) as c:
            assert (await c.request("OpenDoc", -1, [app_id]))["error"]["code"] == 5
        async with Client.open(eng.url(), token("eu-analyst")) as c:
            assert (await c.request("OpenDoc", -1, [app_id]))["error"]["code"] == 5
        # a user row and a group row both apply: values are the union
        async with Client.open(eng.url(), token("US-USER", ["europe"])) as c:
            doc = await open_doc(c, app_id)
            assert {r[0] for r in await table_rows(c, doc, "Sales")} == {"US", "UK", "DE"}

    run(scenario())


def test_star_means_the_values_listed_in_the_column(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT)
        async with Client.open(eng.url(), token("star-user")) as c:
            doc = await open_doc(c, app_id)
            # listed: US, UK, DE, ES; IT and FR are in the data but listed nowhere, ES matches nothing
            assert await table_rows(c, doc, "Sales") == [(a, b, float(n)) for a, b, n in SALES]
            assert [r[0] for r in await table_rows(c, doc, "Capitals")] == ["US", "UK", "DE"]
        async with Client.open(eng.url(), token("admin")) as c:
            doc = await open_doc(c, app_id)
            await c.call("SetScript", doc, MATRIX_SCRIPT.replace("USER, star-user, *, *,", "USER, star-user, *, *,\nUSER, it-user, *, IT,"))
            assert (await c.call("DoReload", doc))["qReturn"] is True
            await c.call("DoSave", doc)
        async with Client.open(eng.url(), token("star-user")) as c:
            doc = await open_doc(c, app_id)
            assert len(await table_rows(c, doc, "Sales")) == 10
            assert [r[0] for r in await table_rows(c, doc, "Capitals")] == ["US", "UK", "DE", "IT"]
            country = (await c.call("GetField", doc, "COUNTRY"))["qReturn"]["qHandle"]
            assert (await c.call("GetCardinal", country))["qReturn"] == 4

    run(scenario())


def test_strict_exclusion_denies_values_absent_from_the_data(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT)
        async with Client.open(eng.url(), token("nobody-user")) as c:
            resp = await c.request("OpenDoc", -1, [app_id])
            assert resp["error"] == {"code": 5, "parameter": app_id, "message": "Access denied"}
            assert_no_data(c.frames, ALL_TEXTS, ALL_NUMBERS)

    run(scenario())


def test_admin_with_a_value_is_reduced_and_omit_removes_fields(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT)
        async with Client.open(eng.url(), token("limited-admin")) as c:
            doc = await open_doc(c, app_id)
            assert {r[0] for r in await table_rows(c, doc, "Sales")} == {"DE"}
        async with Client.open(eng.url(), token("uk-user")) as c:
            doc = await open_doc(c, app_id)
            resp = await c.request("GetField", doc, ["PRODUCT"])
            assert resp["error"]["code"] == 2
            resp = await c.request("GetFieldDescription", doc, ["PRODUCT"])
            assert resp["error"]["code"] == 2
            assert await table_header(c, doc, "Sales") == ["COUNTRY", "SALES_AMOUNT"]
            assert await table_rows(c, doc, "Sales") == [("UK", 201.0), ("UK", 202.0), ("UK", 203.0)]
            tk = await c.call("GetTablesAndKeys", doc, {}, {}, 0, False, False)
            names = {f["qName"] for t in tk["qtr"] for f in t["qFields"]}
            assert names == {"COUNTRY", "SALES_AMOUNT", "CAPITAL"}
            fl = await field_list(c, doc)
            assert [i["qName"] for i in fl] == ["COUNTRY", "SALES_AMOUNT", "CAPITAL"]

    run(scenario())


# -- reloads recompute every session's reduction ---------------------------------------------------------


def test_reload_by_admin_recomputes_other_sessions_and_revokes(engine_factory):
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, SEED_SCRIPT)
        async with (Client.open(eng.url(), token("admin")) as adm, Client.open(eng.url(), token("us-user")) as us,
                    Client.open(eng.url(), token("uk-user")) as uk):
            a_doc, us_doc, uk_doc = await open_doc(adm, app_id), await open_doc(us, app_id), await open_doc(uk, app_id)
            assert len(await table_rows(us, us_doc, "Sales")) == 3
            assert {r[0] for r in await table_rows(uk, uk_doc, "Sales")} == {"UK"}
            new = SEED_SCRIPT.replace("USER, us-user,US,\n", "").replace("USER, uk-user,UK,", "USER, uk-user,DE,")
            await adm.call("SetScript", a_doc, new)
            assert (await adm.call("DoReload", a_doc))["qReturn"] is True
            # uk-user now sees DE; us-user lost access: 5 on the next call, whatever it is
            assert {r[0] for r in await table_rows(uk, uk_doc, "Sales")} == {"DE"}
            for method, params in [("GetTableData", [0, 10, False, "Sales"]), ("GetAppLayout", []),
                                   ("GetTablesAndKeys", [{}, {}, 0, False, False]), ("GetField", ["COUNTRY"])]:
                resp = await us.request(method, us_doc, params)
                assert resp["error"]["code"] == 5, method
            assert (await us.request("GetActiveDoc", -1, []))["error"]["code"] == 5
            assert (await us.request("OpenDoc", -1, [app_id]))["error"]["code"] == 5
            assert len(await table_rows(adm, a_doc, "Sales")) == 9

    run(scenario())


# -- the leak matrix ---------------------------------------------------------------------------------------

#: user → (token groups, visible Sales rows, visible Capitals countries, omitted fields)
USERS: dict[str, tuple[list[str] | None, list[tuple], list[str], set[str]]] = {
    "admin": (None, MATRIX_SALES, ["US", "UK", "DE", "IT", "FR"], set()),
    "us-user": (None, [r for r in SALES if r[0] == "US"], ["US"], set()),
    "uk-user": (None, [r for r in SALES if r[0] == "UK"], ["UK"], {"PRODUCT"}),
    "eu-analyst": (["EUROPE"], [r for r in SALES if r[0] in ("UK", "DE")], ["UK", "DE"], set()),
    "limited-admin": (None, [r for r in SALES if r[0] == "DE"], ["DE"], set()),
    "star-user": (None, SALES, ["US", "UK", "DE"], set()),
}

ALL_TEXTS = {r[1] for r in MATRIX_SALES} | set(CAPITALS) | set(CAPITALS.values())
ALL_NUMBERS = {float(r[2]) for r in MATRIX_SALES}


def visible(user: str) -> tuple[set[str], set[float]]:
    _, sales, capitals, omit = USERS[user]
    texts = {r[0] for r in sales} | set(capitals) | {CAPITALS[c] for c in capitals}
    if "PRODUCT" not in omit:
        texts |= {r[1] for r in sales}
    return texts, {float(r[2]) for r in sales}


def _walk(obj: Any, texts: set[str], numbers: set[float], key: str = "") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _walk(v, texts, numbers, k)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, texts, numbers, key)
    elif isinstance(obj, str):
        texts.add(obj)
    elif isinstance(obj, int | float) and not isinstance(obj, bool) and key in ("qNum", "qNumber", "qValue",
                                                                                  "qMin", "qMax"):
        numbers.add(float(obj))


def assert_no_data(frames: Iterable[dict], forbidden_texts: set[str], forbidden_numbers: set[float]) -> None:
    texts: set[str] = set()
    numbers: set[float] = set()
    for f in frames:
        _walk(f, texts, numbers)
    assert not texts & forbidden_texts, texts & forbidden_texts
    assert not numbers & forbidden_numbers, numbers & forbidden_numbers


def texts_of(obj: Any) -> tuple[set[str], set[float]]:
    texts: set[str] = set()
    numbers: set[float] = set()
    _walk(obj, texts, numbers)
    return texts, numbers


async def field_list(c: Client, doc: int) -> list[dict]:
    h = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "fl"},
                                                   "qFieldListDef": {"qShowSrcTables": True}}))["qReturn"]["qHandle"]
    return (await c.call("GetLayout", h))["qLayout"]["qFieldList"]["qItems"]


async def _m_table_data(c, doc, user):
    for table in ("Sales", "Capitals"):
        rows = await table_rows(c, doc, table)
        _, sales, capitals, omit = USERS[user]
        if table == "Sales":
            want = [tuple(v for i, v in enumerate((a, b, float(n))) if not (i == 1 and omit)) for a, b, n in sales]
        else:
            want = [(k, CAPITALS[k]) for k in capitals]
        assert rows == want, (user, table)


async def _m_tables_and_keys(c, doc, user):
    tk = await c.call("GetTablesAndKeys", doc, {}, {}, 0, True, False)
    counts = {t["qName"]: t["qNoOfRows"] for t in tk["qtr"]}
    _, sales, capitals, _ = USERS[user]
    assert counts == {"Sales": len(sales), "Capitals": len(capitals)}
    distinct = {f["qName"]: f["qnTotalDistinctValues"] for t in tk["qtr"] for f in t["qFields"]}
    assert distinct["COUNTRY"] == len(set(capitals) | {r[0] for r in sales})


async def _m_field_description(c, doc, user):
    _, sales, capitals, omit = USERS[user]
    for name, want in [("COUNTRY", len(set(capitals))), ("SALES_AMOUNT", len(sales)), ("PRODUCT", len({r[1] for r in sales}))]:
        resp = await c.request("GetFieldDescription", doc, [name])
        if name in omit:
            assert resp["error"]["code"] == 2
        else:
            assert resp["result"]["qReturn"]["qCardinal"] == want, (user, name)


async def _m_cardinal(c, doc, user):
    _, sales, capitals, omit = USERS[user]
    h = (await c.call("GetField", doc, "CAPITAL"))["qReturn"]["qHandle"]
    assert (await c.call("GetCardinal", h))["qReturn"] == len(capitals)
    h = (await c.call("GetField", doc, "SALES_AMOUNT"))["qReturn"]["qHandle"]
    assert (await c.call("GetCardinal", h))["qReturn"] == len(sales)


async def _m_field_list(c, doc, user):
    _, sales, capitals, omit = USERS[user]
    items = {i["qName"]: i["qCardinal"] for i in await field_list(c, doc)}
    want = {"COUNTRY": len(capitals), "PRODUCT": len({r[1] for r in sales}), "SALES_AMOUNT": len(sales),
            "CAPITAL": len(capitals)}
    assert items == {k: v for k, v in want.items() if k not in omit}


async def _m_list_object(c, doc, user):
    _, sales, capitals, omit = USERS[user]
    for fname, want in [("COUNTRY", set(capitals)), ("CAPITAL", {CAPITALS[k] for k in capitals})]:
        props = {"qInfo": {"qType": "lb"}, "qListObjectDef": {
            "qDef": {"qFieldDefs": [fname]}, "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 50}]}}
        h = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
        lo = (await c.call("GetLayout", h))["qLayout"]["qListObject"]
        got = {row[0]["qText"] for page in lo["qDataPages"] for row in page["qMatrix"]}
        assert got == want, (user, fname)
        assert lo["qSize"]["qcy"] == len(want)


async def _m_hypercube(c, doc, user):
    _, sales, capitals, omit = USERS[user]
    props = {"qInfo": {"qType": "t"}, "qHyperCubeDef": {
        "qDimensions": [{"qDef": {"qFieldDefs": ["COUNTRY"]}}],
        "qMeasures": [{"qDef": {"qDef": "Sum(SALES_AMOUNT)"}}], "qSuppressZero": True,
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 50}]}}
    h = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
    hc = (await c.call("GetLayout", h))["qLayout"]["qHyperCube"]
    got = {row[0]["qText"]: row[1]["qNum"] for page in hc["qDataPages"] for row in page["qMatrix"]}
    want: dict[str, float] = {}
    for country, _, amount in sales:
        want[country] = want.get(country, 0) + amount
    assert got == want, user
    assert hc["qGrandTotalRow"][0]["qNum"] == sum(r[2] for r in sales)


async def _m_evaluate(c, doc, user):
    _, sales, capitals, _ = USERS[user]
    assert (await c.call("Evaluate", doc, "Sum(SALES_AMOUNT)"))["qReturn"] == str(sum(r[2] for r in sales))
    assert (await c.call("Evaluate", doc, "Count(DISTINCT COUNTRY)"))["qReturn"] == str(len(capitals))
    # {1} ignores selections, never the reduction
    v = (await c.call("EvaluateEx", doc, "Sum({1} SALES_AMOUNT)"))["qValue"]
    assert v["qNumber"] == sum(r[2] for r in sales)


async def _m_clear_all(c, doc, user):
    _, sales, capitals, _ = USERS[user]
    h = (await c.call("GetField", doc, "COUNTRY"))["qReturn"]["qHandle"]
    await c.call("SelectValues", h, [{"qText": "US"}, {"qText": "FR"}], False, False)
    await c.call("ClearAll", doc, True)
    assert (await c.call("Evaluate", doc, "Count(SALES_AMOUNT)"))["qReturn"] == str(len(sales))


async def _m_alternate_state(c, doc, user):
    _, sales, _, _ = USERS[user]
    await c.call("AddAlternateState", doc, "B")
    props = {"qInfo": {"qType": "t"}, "qStateName": "B", "qHyperCubeDef": {
        "qStateName": "B", "qDimensions": [{"qDef": {"qFieldDefs": ["SALES_AMOUNT"]}}],
        "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 50}]}}
    h = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
    hc = (await c.call("GetLayout", h))["qLayout"]["qHyperCube"]
    got = {row[0]["qNum"] for page in hc["qDataPages"] for row in page["qMatrix"]}
    assert got == {r[2] for r in sales}


async def _m_search(c, doc, user):
    _, sales, capitals, _ = USERS[user]
    res = await c.call("SearchResults", doc, {"qSearchFields": ["CAPITAL", "COUNTRY"]}, ["w", "l", "b", "r", "p"],
                       {"qOffset": 0, "qCount": 50})
    texts, _ = texts_of(res)
    assert {CAPITALS[k] for k in capitals} <= texts


async def _m_variable(c, doc, user):
    _, sales, _, _ = USERS[user]
    h = (await c.call("CreateSessionVariable", doc, {"qInfo": {"qType": "variable"}, "qName": "vTotal",
                                                     "qDefinition": "=Sum(SALES_AMOUNT)"}))["qReturn"]["qHandle"]
    assert (await c.call("GetLayout", h))["qLayout"]["qText"] == str(sum(r[2] for r in sales))


async def _m_bookmark(c, doc, user):
    # admin's bookmark selects FR and US; applying it never brings back what the user does not have
    _, sales, _, _ = USERS[user]
    h = (await c.call("GetBookmark", doc, "BM-ALL"))["qReturn"]["qHandle"]
    await c.call("Apply", h)
    await c.call("ClearAll", doc, True)
    assert (await c.call("Evaluate", doc, "Sum(SALES_AMOUNT)"))["qReturn"] == str(sum(r[2] for r in sales))


async def _m_bookmark_layout(c, doc, user):
    # the admin's bookmark stores US and FR; a user's layout of it shows only what the user's model holds
    _, _, capitals, _ = USERS[user]
    h = (await c.call("GetBookmark", doc, "BM-ALL"))["qReturn"]["qHandle"]
    items = (await c.call("GetLayout", h))["qLayout"]["qBookmark"]["qStateData"][0]["qFieldItems"]
    shown = {v["qText"] for item in items for v in item["qValues"]}
    assert shown == {"US", "FR"} & set(capitals)


MATRIX = [
    pytest.param(_m_bookmark_layout, id="bookmark-layout"),
    pytest.param(_m_table_data, id="GetTableData"),
    pytest.param(_m_tables_and_keys, id="GetTablesAndKeys"),
    pytest.param(_m_field_description, id="GetFieldDescription"),
    pytest.param(_m_cardinal, id="GetCardinal"),
    pytest.param(_m_field_list, id="field-list"),
    pytest.param(_m_list_object, id="list-object"),
    pytest.param(_m_hypercube, id="hypercube"),
    pytest.param(_m_evaluate, id="Evaluate"),
    pytest.param(_m_clear_all, id="ClearAll"),
    pytest.param(_m_alternate_state, id="alternate-state"),
    pytest.param(_m_search, id="search"),
    pytest.param(_m_variable, id="variable"),
    pytest.param(_m_bookmark, id="bookmark"),
]


@pytest.mark.parametrize("method", MATRIX)
def test_leak_matrix(engine_factory, method):
    """Every user × a data-returning method: exact answers, and no value outside the user's reduction in
    any frame their socket received."""
    eng = jwt_engine(engine_factory)

    async def scenario():
        app_id = await create_app(eng, MATRIX_SCRIPT)
        async with Client.open(eng.url(), token("admin")) as c:
            doc = await open_doc(c, app_id)
            bm = {"qInfo": {"qId": "BM-ALL", "qType": "bookmark"}, "qMetaDef": {"title": "all"}}
            h = (await c.call("GetField", doc, "COUNTRY"))["qReturn"]["qHandle"]
            await c.call("SelectValues", h, [{"qText": "US"}, {"qText": "FR"}], False, False)
            await c.call("CreateBookmark", doc, bm)
            await c.call("DoSave", doc)
        for user, (groups, *_rest) in USERS.items():
            async with Client.open(eng.url(), token(user, groups)) as c:
                doc = await open_doc(c, app_id)
                await method(c, doc, user)
                texts, numbers = visible(user)
                assert_no_data(c.frames, ALL_TEXTS - texts, ALL_NUMBERS - numbers)

    run(scenario())


def test_demo_script_walkthrough(engine_factory):
    import importlib.util


    spec = importlib.util.spec_from_file_location("qix_demo", REPO / "scripts" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    eng = jwt_engine(engine_factory)
    url = eng.url("").rstrip("/")
    lines = run(demo.run_demo(url, SECRET))
    assert lines[0] == "app 'section-access-demo' loaded with section access"
    assert lines[1] == "== admin: 9 rows of Sales"
    assert lines[2].split() == ["COUNTRY", "PRODUCT", "SALES_AMOUNT"]
    assert lines[3].split() == ["US", "Electronics", "101"]
    us = lines.index("== us-user: 3 rows of Sales")
    assert [ln.split()[2] for ln in lines[us + 2: us + 5]] == ["101", "102", "103"]
    assert lines[-1] == ('== fr-user: OpenDoc failed: {"code": 5, "parameter": "section-access-demo", '
                         '"message": "Access denied"}')
    # a second run resets the existing app
    assert run(demo.run_demo(url, SECRET, ["uk-user"]))[1:3] == ["== uk-user: 3 rows of Sales",
                                                                lines[2]]
