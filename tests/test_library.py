"""Lists, variables, dimensions, measures, bookmarks, alternate states and persistence, over real sockets
(the enigma.js app-object-list example and the sugar-mixins flows among them)."""

from __future__ import annotations

import asyncio

from tests.harness import Client, RunningEngine
from tests.objects_support import (
    create,
    demo_model,
    expect_error,
    install_data,
    layout,
    on_session_doc,
    props_of,
    session_doc,
)

PRIVILEGES = ["read", "update", "delete", "exportdata"]
DIM_TAGS = demo_model().fields["Dim"].tags


def test_app_object_list_of_ten_objects_with_qdata_pointer(engine):
    async def scenario(c: Client, doc: int) -> None:
        for i in range(10):
            await create(c, doc, {"qInfo": {"qType": "my-object"}, "meta": {"title": f"my-object-{i}"}})
        await create(c, doc, {"qInfo": {"qType": "other"}, "meta": {"title": "not listed"}})
        h = (await c.call("CreateSessionObject", doc, {
            "qInfo": {"qType": "my-list"},
            "qAppObjectListDef": {"qType": "my-object", "qData": {"title": "/meta/title", "none": "/no/such"}},
        }))["qReturn"]["qHandle"]
        items = (await layout(c, h))["qAppObjectList"]["qItems"]
        assert sorted(i["qData"]["title"] for i in items) == sorted(f"my-object-{i}" for i in range(10))
        assert all(i["qInfo"]["qType"] == "my-object" and i["qData"]["none"] is None for i in items)
        assert items[0]["qMeta"] == {"privileges": PRIVILEGES}

    on_session_doc(engine, scenario)


def test_sugar_sheet_list_grows_and_its_handle_changes(engine):
    async def scenario(c: Client, doc: int) -> None:
        list_def = {"qInfo": {"qType": "SheetList"},
                    "qAppObjectListDef": {"qType": "sheet", "qData": {"title": "/qMetaDef/title"}}}
        # the mixin first tries getObject(undefined id) and falls back to a session object
        assert (await c.call("GetObject", doc, None))["qReturn"]["qHandle"] is None
        h = (await c.call("CreateSessionObject", doc, list_def))["qReturn"]["qHandle"]
        assert (await layout(c, h))["qAppObjectList"] == {"qItems": []}
        resp = await c.request("CreateObject", doc, [{"qInfo": {"qType": "sheet"}, "qMetaDef": {"title": "S"}}])
        sheet_id = resp["result"]["qInfo"]["qId"]
        assert h in resp["change"]
        items = (await layout(c, h))["qAppObjectList"]["qItems"]
        assert [i["qInfo"]["qId"] for i in items] == [sheet_id]
        assert items[0]["qData"] == {"title": "S"} and items[0]["qMeta"]["title"] == "S"

    on_session_doc(engine, scenario)


def test_measure_and_dimension_lists_match_created_ids(engine):
    async def scenario(c: Client, doc: int) -> None:
        install_data(engine)
        m = await c.call("CreateMeasure", doc, {"qInfo": {"qType": "measure"},
                                                 "qMeasure": {"qLabel": "Total", "qDef": "sum(Value)"},
                                                 "qMetaDef": {"title": "Total"}})
        d = await c.call("CreateDimension", doc, {"qInfo": {"qType": "dimension"},
                                                   "qDim": {"qGrouping": "N", "qFieldDefs": ["Dim"],
                                                            "qFieldLabels": ["Dim"]},
                                                   "qMetaDef": {"title": "Dim"}})
        h = (await c.call("CreateSessionObject", doc, {
            "qInfo": {"qType": "lists"},
            "qMeasureListDef": {"qType": "measure", "qData": {"title": "/qMetaDef/title", "def": "/qMeasure/qDef"}},
            "qDimensionListDef": {"qType": "dimension",
                                  "qData": {"title": "/qMetaDef/title", "info": "/qDimInfos"}},
        }))["qReturn"]["qHandle"]
        lay = await layout(c, h)
        [mitem] = lay["qMeasureList"]["qItems"]
        assert mitem["qInfo"] == m["qInfo"] and mitem["qData"] == {"title": "Total", "def": "sum(Value)"}
        [ditem] = lay["qDimensionList"]["qItems"]
        assert ditem["qInfo"]["qId"] == d["qInfo"]["qId"]
        assert ditem["qData"]["info"] == [{"qApprMaxGlyphCount": 5, "qCardinal": 3, "qTags": DIM_TAGS}]

    on_session_doc(engine, scenario)


def test_variable_list_with_reserved_and_config_flags(engine):
    async def scenario(c: Client, doc: int) -> None:
        install_data(engine, {"ThousandSep": ",", "ScriptErrorCount": "0", "vScript": "7"})
        created = await c.call("CreateVariableEx", doc, {"qName": "vMine", "qDefinition": "=1+2",
                                                         "qComment": "mine"})
        await c.call("CreateSessionVariable", doc, {"qName": "vSession", "qDefinition": "x"})
        h = (await c.call("CreateSessionObject", doc, {
            "qInfo": {"qType": "VariableList"},
            "qVariableListDef": {"qType": "variable", "qShowReserved": True, "qShowConfig": True,
                                 "qData": {"tags": "/tags"}},
        }))["qReturn"]["qHandle"]
        items = (await layout(c, h))["qVariableList"]["qItems"]
        first = next(i for i in items if not i["qIsReserved"])
        assert first["qInfo"]["qId"] == created["qInfo"]["qId"]
        assert first["qName"] == "vMine" and first["qDefinition"] == "=1+2" and first["qDescription"] == "mine"
        assert first["qIsScriptCreated"] is False and first["qData"] == {"tags": None}
        by_name = {i["qName"]: i for i in items}
        assert "vSession" not in by_name  # qShowSession off
        assert by_name["ThousandSep"]["qIsConfig"] and by_name["ThousandSep"]["qIsReserved"]
        assert by_name["ScriptErrorCount"]["qIsReserved"] and not by_name["ScriptErrorCount"]["qIsConfig"]
        assert by_name["vScript"]["qIsScriptCreated"] and not by_name["vScript"]["qIsReserved"]
        plain = (await c.call("CreateSessionObject", doc, {
            "qInfo": {"qType": "VariableList"}, "qVariableListDef": {"qType": "variable", "qShowSession": True},
        }))["qReturn"]["qHandle"]
        names = [i["qName"] for i in (await layout(c, plain))["qVariableList"]["qItems"]]
        assert names == ["vMine", "vSession", "vScript"]

    on_session_doc(engine, scenario)


def test_field_list_hides_system_and_hidden_fields(engine):
    async def scenario(c: Client, doc: int) -> None:
        install_data(engine)
        h = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "FieldList"}, "qFieldListDef": {}}))
        items = (await layout(c, h["qReturn"]["qHandle"]))["qFieldList"]["qItems"]
        assert [i["qName"] for i in items] == ["Key", "Value", "Dim"]
        key = items[0]
        assert key == {"qName": "Key", "qCardinal": 3, "qTags": demo_model().fields["Key"].tags,
                       "qIsHidden": False, "qIsSystem": False, "qIsSemantic": False, "qAndMode": False,
                       "qIsDefinitionOnly": False}
        every = {"qShowSystem": True, "qShowHidden": True, "qShowSrcTables": True, "qShowSemantic": True,
                 "qShowDerivedFields": True, "qShowImplicit": True, "qShowDefinitionOnly": True}
        h = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "FieldList"}, "qFieldListDef": every}))
        items = (await layout(c, h["qReturn"]["qHandle"]))["qFieldList"]["qItems"]
        assert [i["qName"] for i in items if not i["qIsHidden"]] == ["Key", "Value", "Dim"]
        assert {i["qName"]: i["qSrcTables"] for i in items}["Key"] == ["Facts", "Names"]
        assert [i["qName"] for i in items if i["qIsHidden"]] == ["Hidden"]

    on_session_doc(engine, scenario)


def test_variables_create_get_values_and_destroy(engine):
    async def scenario(c: Client, doc: int) -> None:
        resp = await c.request("CreateVariableEx", doc, [{"qName": "v1", "qDefinition": "=2*21",
                                                          "tags": ["t"]}])
        var = resp["result"]["qReturn"]
        assert var["qType"] == "GenericVariable" and var["qGenericType"] == "variable"
        assert resp["change"] == [var["qHandle"]]
        vid = resp["result"]["qInfo"]["qId"]
        h = var["qHandle"]
        lay = await layout(c, h)
        assert lay == {"qInfo": {"qId": vid, "qType": "variable"}, "qMeta": {"privileges": PRIVILEGES},
                       "qText": "42", "qNum": 42, "qIsScriptCreated": False, "tags": ["t"]}
        prop = await props_of(c, h)
        assert prop["qName"] == "v1" and prop["qDefinition"] == "=2*21" and prop["tags"] == ["t"]
        assert (await c.call("GetRawContent", h)) == {"qReturn": "=2*21"}
        resp = await c.request("SetStringValue", h, ["hello"])
        assert resp["change"] == [h]
        assert (await layout(c, h))["qText"] == "hello" and (await layout(c, h))["qNum"] == "NaN"
        await c.call("SetNumValue", h, 3.5)
        lay = await layout(c, h)
        assert (lay["qText"], lay["qNum"]) == ("3.5", 3.5)
        await c.call("SetDualValue", h, "three", 3)
        lay = await layout(c, h)
        assert (lay["qText"], lay["qNum"]) == ("three", 3)
        assert (await c.call("GetRawContent", h)) == {"qReturn": "three"}
        await c.call("ApplyPatches", h, [{"qOp": "replace", "qPath": "/qDefinition", "qValue": '"12"'}])
        lay = await layout(c, h)
        assert (lay["qText"], lay["qNum"]) == ("12", 12)
        by_id = (await c.call("GetVariableById", doc, vid))["qReturn"]
        by_name = (await c.call("GetVariableByName", doc, "v1"))["qReturn"]
        assert by_id["qGenericId"] == by_name["qGenericId"] == vid
        assert len({h, by_id["qHandle"], by_name["qHandle"]}) == 3
        assert (await expect_error(c, "CreateVariableEx", doc, {"qName": "v1"})).code == 3
        assert (await expect_error(c, "CreateVariableEx", doc, {"qName": ""})).code == 8
        s = (await c.call("CreateSessionVariable", doc, {"qName": "s1", "qDefinition": "abc"}))["qReturn"]
        assert (await layout(c, s["qHandle"]))["qText"] == "abc"
        assert (await c.call("DestroySessionVariable", doc, vid)) == {"qSuccess": False}
        resp = await c.request("DestroySessionVariable", doc, [s["qGenericId"]])
        assert resp["result"] == {"qSuccess": True} and resp["close"] == [s["qHandle"]]
        resp = await c.request("DestroyVariableByName", doc, ["v1"])
        assert resp["result"] == {"qSuccess": True}
        assert resp["close"] == sorted([h, by_id["qHandle"], by_name["qHandle"]])
        assert (await c.call("DestroyVariableById", doc, vid)) == {"qSuccess": False}
        v2 = await c.call("CreateVariableEx", doc, {"qName": "v2"})
        assert (await c.call("DestroyVariableById", doc, v2["qInfo"]["qId"])) == {"qSuccess": True}

    on_session_doc(engine, scenario)


def test_script_variables_by_name(engine):
    async def scenario(c: Client, doc: int) -> None:
        install_data(engine, {"vScript": "12"})
        oi = (await c.call("GetVariableByName", doc, "vScript"))["qReturn"]
        assert oi["qType"] == "GenericVariable" and oi["qGenericId"] == "script-variable-vScript"
        lay = await layout(c, oi["qHandle"])
        assert (lay["qText"], lay["qNum"], lay["qIsScriptCreated"]) == ("12", 12, True)
        assert (await props_of(c, oi["qHandle"]))["qDefinition"] == "12"
        by_id = (await c.call("GetVariableById", doc, "script-variable-vScript"))["qReturn"]
        assert by_id["qGenericId"] == oi["qGenericId"]
        resp = await c.request("SetStringValue", oi["qHandle"], ["13"])
        assert resp["change"] == [oi["qHandle"]]
        assert (await c.call("GetRawContent", oi["qHandle"])) == {"qReturn": "13"}
        # script variables take part in expressions
        h, _ = await create(c, doc, {"qInfo": {"qType": "x"}, "v": {"qValueExpression": {"qExpr": "=vScript+1"}}})
        assert (await layout(c, h))["v"] == 14

    on_session_doc(engine, scenario)


def test_dimensions_and_measures(engine):
    async def scenario(c: Client, doc: int) -> None:
        install_data(engine)
        resp = await c.request("CreateDimension", doc, [{"qInfo": {"qId": "dim1"},
                                                         "qDim": {"qFieldDefs": ["Dim"]}, "qMetaDef": {"t": 1}}])
        d = resp["result"]["qReturn"]
        assert resp["result"]["qInfo"] == {"qId": "dim1", "qType": "dimension"}
        assert d["qType"] == "GenericDimension" and resp["change"] == [d["qHandle"]]
        lay = await layout(c, d["qHandle"])
        assert lay == {"qInfo": {"qId": "dim1", "qType": "dimension"},
                       "qMeta": {"t": 1, "privileges": PRIVILEGES},
                       "qDim": {"qFieldDefs": ["Dim"], "qGrouping": "N", "qFieldLabels": []},
                       "qDimInfos": [{"qApprMaxGlyphCount": 5, "qCardinal": 3, "qTags": DIM_TAGS}]}
        assert (await c.call("GetDimension", d["qHandle"])) == {"qDim": {"qFieldDefs": ["Dim"]}}
        await c.call("SetProperties", d["qHandle"], {"qInfo": {"qId": "dim1", "qType": "dimension"},
                                                     "qDim": {"qFieldDefs": ["Key"]}})
        assert (await layout(c, d["qHandle"]))["qDimInfos"][0]["qCardinal"] == 3
        assert (await c.call("GetInfo", d["qHandle"])) == {"qInfo": {"qId": "dim1", "qType": "dimension"}}
        again = (await c.call("GetDimension", doc, "dim1"))["qReturn"]
        assert again["qGenericId"] == "dim1" and again["qHandle"] != d["qHandle"]
        resp = await c.request("DestroyDimension", doc, ["dim1"])
        assert resp["result"] == {"qSuccess": True} and resp["close"] == sorted([d["qHandle"], again["qHandle"]])

        m = (await c.call("CreateMeasure", doc, {"qInfo": {"qId": "m1", "qType": "measure"},
                                                  "qMeasure": {"qDef": "Sum(Value)", "qLabel": "S"},
                                                  "custom": True}))["qReturn"]
        lay = await layout(c, m["qHandle"])
        assert lay["qMeasure"] == {"qDef": "Sum(Value)", "qLabel": "S", "qGrouping": "N", "qExpressions": [],
                                   "qActiveExpression": 0}
        assert lay["custom"] is True and lay["qInfo"] == {"qId": "m1", "qType": "measure"}
        assert (await c.call("GetMeasure", m["qHandle"])) == {"qMeasure": {"qDef": "Sum(Value)", "qLabel": "S"}}
        await c.call("ApplyPatches", m["qHandle"], [{"qOp": "replace", "qPath": "/qMeasure/qDef",
                                                    "qValue": '"Avg(Value)"'}])
        assert (await layout(c, m["qHandle"]))["qMeasure"]["qDef"] == "Avg(Value)"
        assert (await c.call("GetLinkedObjects", m["qHandle"])) == {"qItems": []}
        assert (await c.call("DestroyMeasure", doc, "m1")) == {"qSuccess": True}
        assert (await c.call("GetMeasure", doc, "m1"))["qReturn"]["qHandle"] is None

    on_session_doc(engine, scenario)


def test_bookmarks_store_and_restore_the_selection_snapshot(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/bm")) as c:
            doc = await session_doc(c)
            install_data(engine)
            field = (await c.call("GetField", doc, "Dim"))["qReturn"]["qHandle"]
            assert (await c.call("Select", field, "b"))["qReturn"] is True
            listener, _ = await create(c, doc, {"qInfo": {"qType": "x"}, "qSelectionObjectDef": {}})
            assert [s["qField"] for s in (await layout(c, listener))["qSelectionObject"]["qSelections"]] == ["Dim"]
            resp = await c.request("CreateBookmark", doc, [{"qInfo": {"qType": "bookmark"},
                                                            "qMetaDef": {"title": "B1"}, "note": "n"}])
            bm = resp["result"]["qReturn"]
            bid = resp["result"]["qInfo"]["qId"]
            assert bm["qType"] == "GenericBookmark"
            lay = await layout(c, bm["qHandle"])
            [state] = lay["qBookmark"]["qStateData"]
            [item] = state["qFieldItems"]
            assert state["qStateName"] == "$" and item["qDef"]["qName"] == "Dim"
            assert [v["qText"] for v in item["qValues"]] == ["b"]
            assert lay["qMeta"]["title"] == "B1" and lay["note"] == "n"
            assert isinstance(lay["qBookmark"]["qUtcModifyTime"], float)
            await c.call("ClearAll", doc)
            assert (await layout(c, listener))["qSelectionObject"]["qSelections"] == []
            resp = await c.request("ApplyBookmark", doc, [bid])
            assert resp["result"] == {"qSuccess": True}
            # an object that shows selections went stale with the restore
            assert listener in resp["change"]
            [sel] = (await layout(c, listener))["qSelectionObject"]["qSelections"]
            assert sel["qField"] == "Dim" and sel["qSelected"] == "b"
            await c.call("ClearAll", doc)
            assert (await c.call("Apply", bm["qHandle"])) == {"qSuccess": True}
            assert (await layout(c, listener))["qSelectionObject"]["qSelections"][0]["qSelectedCount"] == 1
            assert (await c.call("ApplyBookmark", doc, "nope")) == {"qSuccess": False}
            got = (await c.call("GetBookmark", doc, bid))["qReturn"]
            assert got["qGenericId"] == bid
            resp = await c.request("DestroyBookmark", doc, [bid])
            assert resp["result"] == {"qSuccess": True} and resp["close"] == sorted([bm["qHandle"], got["qHandle"]])

    asyncio.run(scenario())


def test_get_all_infos_and_alternate_states(engine):
    async def scenario(c: Client, doc: int) -> None:
        await create(c, doc, {"qInfo": {"qId": "o1", "qType": "sheet"}})
        await c.call("CreateSessionObject", doc, {"qInfo": {"qId": "s1", "qType": "tmp"}})
        await c.call("CreateDimension", doc, {"qInfo": {"qId": "d1"}})
        await c.call("CreateMeasure", doc, {"qInfo": {"qId": "m1"}})
        await c.call("CreateBookmark", doc, {"qInfo": {"qId": "b1"}})
        infos = (await c.call("GetAllInfos", doc))["qInfos"]
        assert {(i["qId"], i["qType"]) for i in infos} >= {("o1", "sheet"), ("s1", "tmp"), ("d1", "dimension"),
                                                          ("m1", "measure"), ("b1", "bookmark")}
        await c.call("GetAppLayout", doc)
        resp = await c.request("AddAlternateState", doc, ["A"])
        assert resp["result"] == {} and resp["change"] == [doc]
        await c.call("AddAlternateState", doc, "B")
        assert (await c.call("GetAppLayout", doc))["qLayout"]["qStateNames"] == ["A", "B"]
        await c.call("RemoveAlternateState", doc, "A")
        assert (await c.call("GetAppLayout", doc))["qLayout"]["qStateNames"] == ["B"]
        assert (await expect_error(c, "AddAlternateState", doc, "$")).code == 8

    on_session_doc(engine, scenario)


def test_persisted_entities_survive_save_and_restart(engine_factory, tmp_path):
    apps = tmp_path / "apps"

    async def build(eng: RunningEngine):
        async with Client.open(eng.url()) as c:
            await c.call("CreateApp", -1, "objects-app")
            doc = (await c.call("OpenDoc", -1, "objects-app"))["qReturn"]["qHandle"]
            h, _ = await create(c, doc, {"qInfo": {"qId": "sheet-1", "qType": "sheet"}, "qMetaDef": {"title": "S"},
                                         "cells": [{"name": "ch"}], "deep": {"a": [1, {"b": None}]}})
            await c.call("CreateChild", h, {"qInfo": {"qId": "ch", "qType": "barchart"}, "n": 1})
            await c.call("CreateChild", h, {"qInfo": {"qId": "ch2", "qType": "kpi"}})
            await c.call("CreateSessionObject", doc, {"qInfo": {"qId": "gone", "qType": "tmp"}})
            await c.call("CreateDimension", doc, {"qInfo": {"qId": "d1"}, "qDim": {"qFieldDefs": ["F"]}})
            await c.call("CreateMeasure", doc, {"qInfo": {"qId": "m1"}, "qMeasure": {"qDef": "Sum(F)"}})
            v = (await c.call("CreateVariableEx", doc, {"qInfo": {"qId": "v1"}, "qName": "vX", "qDefinition": "a"}))
            await c.call("SetDualValue", v["qReturn"]["qHandle"], "five", 5)
            await c.call("CreateSessionVariable", doc, {"qName": "vTmp"})
            await c.call("CreateBookmark", doc, {"qInfo": {"qId": "b1"}, "qMetaDef": {"title": "B"}})
            assert (await c.call("DoSave", doc)) == {}
            return await props_of(c, h)

    async def check(eng: RunningEngine, saved: dict):
        async with Client.open(eng.url()) as c:
            doc = (await c.call("OpenDoc", -1, "objects-app"))["qReturn"]["qHandle"]
            h = (await c.call("GetObject", doc, "sheet-1"))["qReturn"]["qHandle"]
            assert await props_of(c, h) == saved
            assert (await c.call("GetChildInfos", h))["qInfos"] == [{"qId": "ch", "qType": "barchart"},
                                                                   {"qId": "ch2", "qType": "kpi"}]
            ch = (await c.call("GetChild", h, "ch"))["qReturn"]["qHandle"]
            assert (await props_of(c, ch))["n"] == 1
            assert (await c.call("GetParent", ch))["qReturn"]["qGenericId"] == "sheet-1"
            assert (await c.call("GetObject", doc, "gone"))["qReturn"]["qHandle"] is None
            d = (await c.call("GetDimension", doc, "d1"))["qReturn"]["qHandle"]
            assert (await c.call("GetDimension", d))["qDim"] == {"qFieldDefs": ["F"]}
            m = (await c.call("GetMeasure", doc, "m1"))["qReturn"]["qHandle"]
            assert (await c.call("GetMeasure", m))["qMeasure"] == {"qDef": "Sum(F)"}
            v = (await c.call("GetVariableByName", doc, "vX"))["qReturn"]
            assert v["qGenericId"] == "v1"
            lay = await layout(c, v["qHandle"])
            assert (lay["qText"], lay["qNum"]) == ("five", 5)
            assert (await c.call("GetVariableByName", doc, "vTmp"))["qReturn"]["qHandle"] is None
            b = (await c.call("GetBookmark", doc, "b1"))["qReturn"]["qHandle"]
            assert (await layout(c, b))["qMeta"]["title"] == "B"

    first = RunningEngine(document_dir=apps)  # stopped here, not by the factory (no double stop)
    try:
        saved = asyncio.run(build(first))
    finally:
        first.stop()
    second = engine_factory(document_dir=apps)
    asyncio.run(check(second, saved))


def test_session_app_objects_cannot_be_saved(engine):
    async def scenario(c: Client, doc: int) -> None:
        await create(c, doc, {"qInfo": {"qType": "x"}})
        assert (await expect_error(c, "DoSave", doc)).code == 9009

    on_session_doc(engine, scenario)


def test_other_sessions_on_the_app_see_changes_and_closes(engine):
    async def scenario():
        async with Client.open(engine.url("/app/engineData/identity/u1")) as a, \
                Client.open(engine.url("/app/engineData/identity/u2")) as b:
            await a.call("CreateApp", -1, "shared-objects")
            doc_a = (await a.call("OpenDoc", -1, "shared-objects"))["qReturn"]["qHandle"]
            doc_b = (await b.call("OpenDoc", -1, "shared-objects"))["qReturn"]["qHandle"]
            ha, oid = await create(a, doc_a, {"qInfo": {"qId": "shared", "qType": "x"}, "n": 1})
            hb = (await b.call("GetObject", doc_b, "shared"))["qReturn"]["qHandle"]
            assert (await layout(b, hb))["n"] == 1
            # session objects stay private
            await a.call("CreateSessionObject", doc_a, {"qInfo": {"qId": "mine", "qType": "x"}})
            assert (await b.call("GetObject", doc_b, "mine"))["qReturn"]["qHandle"] is None
            await a.call("SetProperties", ha, {"qInfo": {"qType": "x"}, "n": 2})
            assert await b.wait_push() == {"jsonrpc": "2.0", "change": [hb]}
            assert (await layout(b, hb))["n"] == 2
            await a.call("DestroyObject", doc_a, "shared")
            assert await b.wait_push() == {"jsonrpc": "2.0", "close": [hb]}
            assert (await expect_error(b, "GetLayout", hb)).code == -32602

    asyncio.run(scenario())


def test_session_objects_die_with_the_session(engine):
    async def scenario():
        url = engine.url("/app/engineData/ttl/0/identity/short")
        async with Client.open(url) as c:
            await c.call("CreateApp", -1, "ttl-app")
            doc = (await c.call("OpenDoc", -1, "ttl-app"))["qReturn"]["qHandle"]
            await c.call("CreateSessionObject", doc, {"qInfo": {"qId": "temp", "qType": "x"}})
            await create(c, doc, {"qInfo": {"qId": "kept", "qType": "x"}})
            await c.call("DoSave", doc)  # an app dropped from memory keeps only what was saved
        await asyncio.sleep(0.2)
        async with Client.open(url) as c:
            doc = (await c.call("OpenDoc", -1, "ttl-app"))["qReturn"]["qHandle"]
            assert (await c.call("GetObject", doc, "temp"))["qReturn"]["qHandle"] is None
            assert (await c.call("GetObject", doc, "kept"))["qReturn"]["qGenericId"] == "kept"

    asyncio.run(scenario())


CTRL00 = "/work/shared/scripts-corpus/qlik-oss__enigma.js__test__integration__load-scripts__ctrl00.js.qvs"


def test_sugar_mixins_flows_on_ctrl00(engine):
    with open(CTRL00, encoding="utf-8") as fh:
        script = fh.read()

    async def scenario(c: Client, doc: int) -> None:
        await c.call("SetScript", doc, script)
        assert (await c.call("DoReload", doc, 0, False, False)) == {"qReturn": True}
        every = {"qShowSystem": True, "qShowHidden": True, "qShowSrcTables": True, "qShowSemantic": True,
                 "qShowDerivedFields": True, "qShowImplicit": True, "qShowDefinitionOnly": True}
        fl = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "FieldList"},
                                                         "qFieldListDef": every}))["qReturn"]["qHandle"]
        items = (await layout(c, fl))["qFieldList"]["qItems"]
        assert len([i for i in items if i["qIsHidden"] is not True]) == 12
        assert {i["qName"]: i["qCardinal"] for i in items}["Alpha"] == 26
        m = await c.call("CreateMeasure", doc, {"qInfo": {"qType": "measure"},
                                                 "qMeasure": {"qLabel": "sum(Num)", "qDef": "sum(Num)"}})
        ml = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "MeasureList"},
                                                         "qMeasureListDef": {"qType": "measure"}}))
        mitems = (await layout(c, ml["qReturn"]["qHandle"]))["qMeasureList"]["qItems"]
        assert mitems[0]["qInfo"]["qId"] == m["qInfo"]["qId"]
        d = await c.call("CreateDimension", doc, {"qInfo": {"qType": "dimension"},
                                                   "qDim": {"qFieldDefs": ["Alpha"], "qGrouping": "N"}})
        dl = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "DimensionList"},
                                                         "qDimensionListDef": {"qType": "dimension",
                                                                               "qData": {"info": "/qDimInfos"}}}))
        ditems = (await layout(c, dl["qReturn"]["qHandle"]))["qDimensionList"]["qItems"]
        assert ditems[0]["qInfo"]["qId"] == d["qInfo"]["qId"]
        assert ditems[0]["qData"]["info"][0]["qCardinal"] == 26
        v = await c.call("CreateVariableEx", doc, {"qInfo": {"qType": "variable"}, "qName": "vTest",
                                                    "qDefinition": "=Count(Alpha)"})
        vl = (await c.call("CreateSessionObject", doc, {"qInfo": {"qType": "VariableList"},
                                                         "qVariableListDef": {"qType": "variable",
                                                                              "qShowReserved": True,
                                                                              "qShowConfig": True}}))
        vitems = (await layout(c, vl["qReturn"]["qHandle"]))["qVariableList"]["qItems"]
        assert next(i for i in vitems if not i["qIsReserved"])["qInfo"]["qId"] == v["qInfo"]["qId"]

    on_session_doc(engine, scenario)


def test_library_references_in_cube_defs_are_resolved_for_the_calculation(engine):
    async def scenario(c: Client, doc: int) -> None:
        install_data(engine)
        await c.call("CreateDimension", doc, {"qInfo": {"qId": "libdim"},
                                              "qDim": {"qFieldDefs": ["Dim"], "qFieldLabels": ["Label"]}})
        await c.call("CreateMeasure", doc, {"qInfo": {"qId": "libmeas"},
                                            "qMeasure": {"qDef": "Sum(Value)", "qLabel": "Total"}})
        h, _ = await create(c, doc, {"qInfo": {"qType": "table"}, "qHyperCubeDef": {
            "qDimensions": [{"qLibraryId": "libdim"}, {"qDef": {"qFieldDefs": ["Key"]}}],
            "qMeasures": [{"qLibraryId": "libmeas", "qDef": {"qDef": "ignored"}}]}})
        cube = (await layout(c, h))["qHyperCube"]
        assert [d["qFallbackTitle"] for d in cube["qDimensionInfo"]] == ["Label", "Key"]
        assert cube["qDimensionInfo"][0]["qGroupFieldDefs"] == ["Dim"]
        assert cube["qMeasureInfo"][0]["qFallbackTitle"] == "Total"
        # the properties keep the reference; a library change makes the object's layout stale
        assert (await props_of(c, h))["qHyperCubeDef"]["qDimensions"][0] == {"qLibraryId": "libdim"}
        dim = (await c.call("GetDimension", doc, "libdim"))["qReturn"]["qHandle"]
        resp = await c.request("SetProperties", dim, [{"qInfo": {"qId": "libdim", "qType": "dimension"},
                                                      "qDim": {"qFieldDefs": ["Value"]}}])
        assert h in resp["change"]
        assert (await layout(c, h))["qHyperCube"]["qDimensionInfo"][0]["qFallbackTitle"] == "Value"

    on_session_doc(engine, scenario)
