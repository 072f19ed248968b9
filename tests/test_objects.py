"""Generic objects over real sockets: create/get/destroy, change and close lists, properties, patches,
children, the full property tree, layouts with expressions and defs."""

from __future__ import annotations

import asyncio

from tests.harness import Client
from tests.objects_support import create, expect_error, layout, on_session_doc, props_of, session_doc

PRIVILEGES = ["read", "update", "delete", "exportdata"]


def test_create_object_reports_new_handle_and_layout_copies_custom_keys(engine):
    async def scenario(c: Client, doc: int) -> None:
        resp = await c.request("CreateObject", doc, [{"qInfo": {"qType": "chart"}, "custom": {"a": [1, 2]},
                                                      "qMetaDef": {"title": "T"}}])
        result = resp["result"]
        oi = result["qReturn"]
        assert oi["qType"] == "GenericObject"
        assert oi["qGenericType"] == "chart"
        assert result["qInfo"] == {"qId": oi["qGenericId"], "qType": "chart"}
        assert len(oi["qGenericId"]) == 8
        assert resp["change"] == [oi["qHandle"]]
        lay = await layout(c, oi["qHandle"])
        assert lay == {"qInfo": result["qInfo"], "custom": {"a": [1, 2]},
                       "qMeta": {"title": "T", "privileges": PRIVILEGES}, "qSelectionInfo": {}}
        prop = await props_of(c, oi["qHandle"])
        assert prop == {"qInfo": result["qInfo"], "custom": {"a": [1, 2]}, "qMetaDef": {"title": "T"}}
        assert (await c.call("GetInfo", oi["qHandle"])) == {"qInfo": result["qInfo"]}

    on_session_doc(engine, scenario)


def test_given_id_is_kept_and_a_taken_id_is_replaced(engine):
    async def scenario(c: Client, doc: int) -> None:
        _, first = await create(c, doc, {"qInfo": {"qId": "OBJ01", "qType": "x"}})
        assert first == "OBJ01"
        _, second = await create(c, doc, {"qInfo": {"qId": "OBJ01", "qType": "x"}})
        assert second != "OBJ01" and second
        # a session object cannot take a persisted object's id either
        oi = (await c.call("CreateSessionObject", doc, {"qInfo": {"qId": "OBJ01", "qType": "x"}}))["qReturn"]
        assert oi["qGenericId"] not in ("OBJ01", second)

    on_session_doc(engine, scenario)


def test_get_object_hands_out_new_handles_and_null_form_when_missing(engine):
    async def scenario(c: Client, doc: int) -> None:
        h, oid = await create(c, doc, {"qInfo": {"qId": "a1", "qType": "x"}})
        h1 = (await c.call("GetObject", doc, "a1"))["qReturn"]
        h2 = (await c.call("GetObject", doc, {"qId": "a1"} and "a1"))["qReturn"]
        assert h1["qGenericId"] == h2["qGenericId"] == "a1"
        assert len({h, h1["qHandle"], h2["qHandle"]}) == 3
        resp = await c.request("GetObject", doc, ["nope"])
        assert resp["result"] == {"qReturn": {"qType": None, "qHandle": None}}
        assert "error" not in resp
        for method in ("GetDimension", "GetMeasure", "GetBookmark", "GetVariableById", "GetVariableByName"):
            assert (await c.call(method, doc, "nope"))["qReturn"] == {"qType": None, "qHandle": None}

    on_session_doc(engine, scenario)


def test_set_properties_reports_change_once_until_read_again(engine):
    async def scenario(c: Client, doc: int) -> None:
        h, _ = await create(c, doc, {"qInfo": {"qType": "x"}, "n": 1})
        other = (await c.call("GetObject", doc, (await c.call("GetInfo", h))["qInfo"]["qId"]))["qReturn"]["qHandle"]
        await layout(c, h)
        resp = await c.request("SetProperties", h, [{"qInfo": {"qType": "x"}, "n": 2}])
        assert resp["result"] == {}
        # only the handle that was read is reported (the other was never valid)
        assert resp["change"] == [h]
        resp = await c.request("SetProperties", h, [{"qInfo": {"qType": "x"}, "n": 3}])
        assert "change" not in resp
        await layout(c, h)
        await layout(c, other)
        resp = await c.request("SetProperties", other, [{"qInfo": {"qType": "x"}, "n": 4}])
        assert resp["change"] == sorted([h, other])
        assert (await layout(c, h))["n"] == 4
        # the id never changes through SetProperties
        await c.call("SetProperties", h, {"qInfo": {"qId": "other", "qType": "x"}})
        assert (await c.call("GetInfo", h))["qInfo"]["qId"] != "other"

    on_session_doc(engine, scenario)


def test_second_socket_gets_id_less_change_frame(engine):
    async def scenario():
        url = engine.url("/app/engineData/identity/objects-fan")
        async with Client.open(url) as a, Client.open(url) as b:
            doc = await session_doc(a)
            h, _ = await create(a, doc, {"qInfo": {"qType": "x"}})
            await layout(b, h)  # b's read makes the handle valid
            resp = await a.request("SetProperties", h, [{"qInfo": {"qType": "x"}, "v": 1}])
            assert resp["change"] == [h]
            assert await b.wait_push() == {"jsonrpc": "2.0", "change": [h]}
            await asyncio.sleep(0.1)
            assert a.pushes == []

    asyncio.run(scenario())


def test_destroy_closes_handles_of_object_and_children(engine):
    async def scenario():
        url = engine.url("/app/engineData/identity/objects-close")
        async with Client.open(url) as c, Client.open(url) as peer:
            doc = await session_doc(c)
            parent, pid = await create(c, doc, {"qInfo": {"qId": "P", "qType": "sheet"}})
            child = (await c.call("CreateChild", parent, {"qInfo": {"qId": "C", "qType": "chart"}}))["qReturn"]
            grand = (await c.call("CreateChild", child["qHandle"], {"qInfo": {"qId": "G", "qType": "x"}}))["qReturn"]
            again = (await c.call("GetObject", doc, "G"))["qReturn"]["qHandle"]
            resp = await c.request("DestroyObject", doc, ["P"])
            assert resp["result"] == {"qSuccess": True}
            assert resp["close"] == sorted([parent, child["qHandle"], grand["qHandle"], again])
            assert await peer.wait_push() == {"jsonrpc": "2.0", "close": resp["close"]}
            err = await expect_error(c, "GetLayout", parent)
            assert err.code == -32602
            assert (await c.call("GetObject", doc, "G"))["qReturn"]["qHandle"] is None
            assert (await c.call("DestroyObject", doc, "P")) == {"qSuccess": False}

    asyncio.run(scenario())


def test_session_objects_destroy_and_kinds(engine):
    async def scenario(c: Client, doc: int) -> None:
        oi = (await c.call("CreateSessionObject", doc, {"qInfo": {"qId": "S1", "qType": "list"}}))["qReturn"]
        assert oi["qGenericId"] == "S1"
        # a session object is not destroyed by DestroyObject, nor a persisted one by DestroySessionObject
        assert (await c.call("DestroyObject", doc, "S1")) == {"qSuccess": False}
        await create(c, doc, {"qInfo": {"qId": "A1", "qType": "x"}})
        assert (await c.call("DestroySessionObject", doc, "A1")) == {"qSuccess": False}
        resp = await c.request("DestroySessionObject", doc, ["S1"])
        assert resp["result"] == {"qSuccess": True} and resp["close"] == [oi["qHandle"]]

    on_session_doc(engine, scenario)


def test_get_objects_filters_types_session_objects_and_reads_qdata(engine):
    async def scenario(c: Client, doc: int) -> None:
        await create(c, doc, {"qInfo": {"qId": "s1", "qType": "sheet"}, "meta": {"title": "One"}})
        await create(c, doc, {"qInfo": {"qId": "c1", "qType": "chart"}})
        await c.call("CreateSessionObject", doc, {"qInfo": {"qId": "tmp", "qType": "sheet"}})
        lst = (await c.call("GetObjects", doc, {"qTypes": ["sheet"], "qData": {"t": "/meta/title"}}))["qList"]
        assert lst == [{"qInfo": {"qId": "s1", "qType": "sheet"},
                        "qMeta": {"privileges": PRIVILEGES}, "qData": {"t": "One"}}]
        lst = (await c.call("GetObjects", doc, {"qTypes": ["sheet"], "qIncludeSessionObjects": True}))["qList"]
        assert [i["qInfo"]["qId"] for i in lst] == ["s1", "tmp"]
        assert {i["qInfo"]["qId"] for i in (await c.call("GetObjects", doc, {}))["qList"]} == {"s1", "c1"}

    on_session_doc(engine, scenario)


def test_apply_patches_with_json_text_values(engine):
    async def scenario(c: Client, doc: int) -> None:
        h, _ = await create(c, doc, {"qInfo": {"qType": "x"}, "list": [1, 3], "drop": True, "keep": "k"})
        await layout(c, h)
        resp = await c.request("ApplyPatches", h, [[
            {"qOp": "add", "qPath": "/list/1", "qValue": "2"},
            {"qOp": "replace", "qPath": "/keep", "qValue": '"kept"'},
            {"qOp": "remove", "qPath": "/drop"},
            {"qOp": "add", "qPath": "/qMetaDef/title", "qValue": '"New title"'},
            {"qOp": "add", "qPath": "/obj", "qValue": '{"a": {"b": null}}'},
        ]])
        assert resp["result"] == {} and resp["change"] == [h]
        prop = await props_of(c, h)
        assert prop["list"] == [1, 2, 3] and prop["keep"] == "kept" and "drop" not in prop
        assert prop["qMetaDef"] == {"title": "New title"} and prop["obj"] == {"a": {"b": None}}
        assert (await layout(c, h))["qMeta"]["title"] == "New title"
        # soft patches change this session's layout and effective properties, not the properties
        await c.call("ApplyPatches", h, [{"qOp": "replace", "qPath": "/keep", "qValue": '"soft"'}], True)
        assert (await layout(c, h))["keep"] == "soft"
        assert (await c.call("GetEffectiveProperties", h))["qProp"]["keep"] == "soft"
        assert (await props_of(c, h))["keep"] == "kept"
        err = await expect_error(c, "ApplyPatches", h, [{"qOp": "add", "qPath": "/x", "qValue": "{not json"}])
        assert err.code == 8
        err = await expect_error(c, "ApplyPatches", h, [{"qOp": "move", "qPath": "/x", "qValue": "1"}])
        assert err.code == 8

    on_session_doc(engine, scenario)


def test_children_create_get_infos_parent_and_destroy(engine):
    async def scenario(c: Client, doc: int) -> None:
        parent, pid = await create(c, doc, {"qInfo": {"qId": "sheet1", "qType": "sheet"}, "cells": []})
        await layout(c, parent)
        resp = await c.request("CreateChild", parent, [{"qInfo": {"qId": "k1", "qType": "kpi"}},
                                                       {"qInfo": {"qType": "sheet"}, "cells": ["k1"]}])
        k1 = resp["result"]["qReturn"]["qHandle"]
        assert resp["result"]["qInfo"] == {"qId": "k1", "qType": "kpi"}
        assert resp["change"] == sorted([parent, k1])
        assert (await props_of(c, parent))["cells"] == ["k1"]
        k2 = (await c.call("CreateChild", parent, {"qInfo": {"qId": "k2", "qType": "kpi"}}))["qReturn"]["qHandle"]
        infos = (await c.call("GetChildInfos", parent))["qInfos"]
        assert infos == [{"qId": "k1", "qType": "kpi"}, {"qId": "k2", "qType": "kpi"}]
        got = (await c.call("GetChild", parent, "k2"))["qReturn"]
        assert got["qGenericId"] == "k2" and got["qGenericType"] == "kpi"
        assert (await c.call("GetChild", parent, "sheet1"))["qReturn"] == {"qType": None, "qHandle": None}
        up = (await c.call("GetParent", k1))["qReturn"]
        assert up["qGenericId"] == "sheet1" and up["qHandle"] not in (parent, k1)
        assert (await c.call("GetParent", parent))["qReturn"] == {"qType": None, "qHandle": None}
        resp = await c.request("DestroyChild", parent, ["k1", {"qInfo": {"qType": "sheet"}, "cells": []}])
        assert resp["result"] == {"qSuccess": True} and resp["close"] == [k1]
        assert (await props_of(c, parent))["cells"] == []
        assert (await c.call("DestroyChild", parent, "k1")) == {"qSuccess": False}
        resp = await c.request("DestroyAllChildren", parent, [])
        assert resp["result"] == {} and resp["close"] == sorted([k2, got["qHandle"]])
        assert (await c.call("GetChildInfos", parent))["qInfos"] == []

    on_session_doc(engine, scenario)


def test_full_property_tree_round_trip(engine):
    async def scenario(c: Client, doc: int) -> None:
        src, _ = await create(c, doc, {"qInfo": {"qId": "src", "qType": "sheet"}, "title": "S"})
        a = (await c.call("CreateChild", src, {"qInfo": {"qId": "a", "qType": "chart"}, "n": 1}))["qReturn"]
        a1 = (await c.call("CreateChild", a["qHandle"], {"qInfo": {"qId": "a-1", "qType": "part"}}))["qReturn"]
        await c.call("CreateChild", src, {"qInfo": {"qId": "b", "qType": "chart"}, "n": 2})
        tree = (await c.call("GetFullPropertyTree", src))["qPropEntry"]
        assert tree["qProperty"] == {"qInfo": {"qId": "src", "qType": "sheet"}, "title": "S"}
        assert tree["qEmbeddedSnapshotRef"] is None
        assert [e["qProperty"]["qInfo"]["qId"] for e in tree["qChildren"]] == ["a", "b"]
        assert tree["qChildren"][0]["qChildren"][0]["qProperty"]["qInfo"]["qId"] == "a-1"
        assert tree["qChildren"][1]["qChildren"] == []

        # onto an empty object: properties and the children come from the tree
        dst, _ = await create(c, doc, {"qInfo": {"qId": "dst", "qType": "sheet"}})
        copy = {**tree, "qProperty": {**tree["qProperty"], "qInfo": {"qId": "dst", "qType": "sheet"}},
                "qChildren": [{**e, "qProperty": {**e["qProperty"], "qInfo": {"qType": "chart"}}}
                              for e in tree["qChildren"]]}
        assert (await c.call("SetFullPropertyTree", dst, copy)) == {}
        got = (await c.call("GetFullPropertyTree", dst))["qPropEntry"]
        assert got["qProperty"] == {"qInfo": {"qId": "dst", "qType": "sheet"}, "title": "S"}
        assert [e["qProperty"]["n"] for e in got["qChildren"]] == [1, 2]
        assert [len(e["qChildren"]) for e in got["qChildren"]] == [1, 0]

        # on itself: a dropped child is destroyed (its handle closed), a kept one updated in place
        tree["qChildren"] = [{**tree["qChildren"][1], "qProperty": {**tree["qChildren"][1]["qProperty"], "n": 9}}]
        resp = await c.request("SetFullPropertyTree", src, [tree])
        assert resp["close"] == [a["qHandle"], a1["qHandle"]]
        infos = (await c.call("GetChildInfos", src))["qInfos"]
        assert infos == [{"qId": "b", "qType": "chart"}]
        assert (await c.call("GetObject", doc, "a-1"))["qReturn"]["qHandle"] is None
        b = (await c.call("GetChild", src, "b"))["qReturn"]["qHandle"]
        assert (await props_of(c, b))["n"] == 9
        assert (await c.call("GetLinkedObjects", src)) == {"qItems": []}

    on_session_doc(engine, scenario)


def test_layout_expressions_and_errors(engine):
    async def scenario(c: Client, doc: int) -> None:
        await c.call("CreateVariableEx", doc, {"qName": "vFactor", "qDefinition": "21"})
        h, _ = await create(c, doc, {
            "qInfo": {"qType": "text"},
            "s": {"qStringExpression": {"qExpr": "='abc' & 1"}},
            "bare": {"qStringExpression": "=1+1"},
            "n": {"qValueExpression": {"qExpr": "=1+1"}},
            "var": {"qValueExpression": {"qExpr": "=vFactor*2"}},
            "dollar": {"qStringExpression": {"qExpr": "='x$(vFactor)'"}},
            "nested": [{"deep": {"qStringExpression": {"qExpr": "=Upper('q')"}}}],
            "bad": {"qStringExpression": {"qExpr": "=1+"}},
            "agg": {"qStringExpression": {"qExpr": "=Sum(Missing)"}},
            "badnum": {"qValueExpression": {"qExpr": "=Nope("}},
        })
        lay = await layout(c, h)
        assert lay["s"] == "abc1" and lay["bare"] == "2" and lay["n"] == 2
        assert lay["var"] == 42 and lay["dollar"] == "x21"
        assert lay["nested"] == [{"deep": "Q"}]
        assert lay["bad"].startswith("Error: ") and "operand" in lay["bad"]
        assert lay["agg"].startswith("Error: ")
        assert lay["badnum"] == "NaN"
        # the layout depends on variables: changing one makes the handle stale
        var = (await c.call("GetVariableByName", doc, "vFactor"))["qReturn"]["qHandle"]
        resp = await c.request("SetNumValue", var, [5])
        assert h in resp["change"]
        assert (await layout(c, h))["var"] == 10

    on_session_doc(engine, scenario)


def test_calculation_defs_render_valid_empty_structures(engine):
    async def scenario(c: Client, doc: int) -> None:
        h, _ = await create(c, doc, {
            "qInfo": {"qType": "table"},
            "qHyperCubeDef": {"qDimensions": [{"qDef": {"qFieldDefs": ["Dim"], "qFieldLabels": ["D"]}}],
                              "qMeasures": [{"qDef": {"qDef": "Sum(Value)"}}], "customProperty": "kept",
                              "qInitialDataFetch": [{"qWidth": 2, "qHeight": 10}]},
            "box": {"qListObjectDef": {"qDef": {"qFieldDefs": ["Dim"]}}, "extra": 1},
            "qSelectionObjectDef": {},
            "qUndoInfoDef": {},
        })
        lay = await layout(c, h)
        cube = lay["qHyperCube"]
        assert "qHyperCubeDef" not in lay
        assert cube["customProperty"] == "kept"
        assert cube["qSize"] == {"qcx": 2, "qcy": 0} and cube["qDataPages"] == []
        assert cube["qDimensionInfo"][0]["qFallbackTitle"] == "D"
        assert cube["qMeasureInfo"][0]["qFallbackTitle"] == "Sum(Value)"
        assert cube["qDimensionInfo"][0]["qMin"] == "NaN"
        box = lay["box"]
        assert box["extra"] == 1
        assert box["qListObject"]["qSize"] == {"qcx": 1, "qcy": 0}
        assert box["qListObject"]["qDimensionInfo"]["qGroupFieldDefs"] == ["Dim"]
        assert lay["qSelectionObject"] == {"qBackCount": 0, "qForwardCount": 0, "qStateName": "$",
                                           "qSelections": []}
        assert lay["qUndoInfo"] == {"qUndoCount": 0, "qRedoCount": 0}

    on_session_doc(engine, scenario)


def test_extends_id_inherits_properties(engine):
    async def scenario(c: Client, doc: int) -> None:
        await create(c, doc, {"qInfo": {"qId": "base", "qType": "master"}, "color": "red", "o": {"a": 1, "b": 2}})
        h, _ = await create(c, doc, {"qInfo": {"qId": "leaf", "qType": "x"}, "qExtendsId": "base", "o": {"b": 3}})
        eff = (await c.call("GetEffectiveProperties", h))["qProp"]
        assert eff["color"] == "red" and eff["o"] == {"a": 1, "b": 3}
        assert eff["qInfo"] == {"qId": "leaf", "qType": "x"}
        assert "color" not in await props_of(c, h)
        assert (await layout(c, h))["color"] == "red"

    on_session_doc(engine, scenario)
