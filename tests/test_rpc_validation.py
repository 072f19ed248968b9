"""Hardening of the RPC layer over real sockets: every frame is answered in the protocol's form, params of
the wrong type are -32602 naming the parameter (never -128), and delta answers carry what plain ones do."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import numpy as np
import orjson
import pytest

from engine.rpc import dispatch
from engine.rpc.protocol import dumps
from engine.rpc.validate import Mismatch, compile_hint
from tests.harness import Client
from tests.objects_support import session_doc

SCRIPT = """T:
LOAD * INLINE [
Dim, Frac
a, 0.5
b, 1.25
c, 2.75
];
"""
LIST = {"qInfo": {"qType": "lb"},
        "qListObjectDef": {"qDef": {"qFieldDefs": ["Frac"]},
                           "qInitialDataFetch": [{"qTop": 0, "qWidth": 1, "qHeight": 10}]}}
CUBE = {"qInfo": {"qType": "cube"},
        "qHyperCubeDef": {"qDimensions": [{"qDef": {"qFieldDefs": ["Frac"]}}],
                          "qMeasures": [{"qDef": {"qDef": "Sum(Frac)"}}],
                          "qInitialDataFetch": [{"qTop": 0, "qWidth": 2, "qHeight": 10}]}}


async def loaded_doc(c: Client) -> int:
    doc = await session_doc(c)
    await c.call("SetScript", doc, SCRIPT)
    assert (await c.call("DoReload", doc))["qReturn"] is True
    return doc


def error_of(resp: dict) -> dict:
    assert "error" in resp, resp
    return resp["error"]


# -- 1. every frame is answered --------------------------------------------------------------------------
@pytest.mark.parametrize("handle", ["²", "9" * 5_000, "1" * 30, "١", "0x1", " 1", "", "--5", "-", 1.5, True,
                                    False, {}, [], 0, 99_999, -7, 2**64 - 1])
def test_a_handle_that_is_no_handle_answers_invalid_handle(engine, handle: Any) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            resp = await c.send_raw({"jsonrpc": "2.0", "id": 7, "method": "GetLayout", "handle": handle}, 7)
            assert resp["id"] == 7
            assert error_of(resp) == {"code": -32602, "parameter": "Invalid handle",
                                      "message": "Invalid Params"}
            assert "qVersion" in (await c.call("EngineVersion"))  # the socket goes on

    asyncio.run(scenario())


def test_handles_given_as_numeric_strings_still_work(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            doc = await session_doc(c)
            frame = {"jsonrpc": "2.0", "id": 3, "method": "GetAppLayout", "handle": str(doc)}
            resp = await c.send_raw(frame, 3)
            assert "qLayout" in resp["result"]
            resp = await c.send_raw({"jsonrpc": "2.0", "id": 4, "method": "EngineVersion", "handle": "-1"}, 4)
            assert "qVersion" in resp["result"]

    asyncio.run(scenario())


@pytest.mark.parametrize(("frame", "request_id", "code"), [
    (b"{", None, -32700),
    (b"[1, 2", None, -32700),
    (b"[]", None, -32600),
    (b"3", None, -32600),
    (b'{"jsonrpc": "2.0", "id": 5, "handle": -1}', 5, -32600),
    (b'{"jsonrpc": "2.0", "id": 5, "method": 17, "handle": -1}', 5, -32600),
    (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "EngineVersion", "handle": -1}', None, -32600),
    (b'{"jsonrpc": "2.0", "id": [1], "method": "EngineVersion", "handle": -1}', None, -32600),
    (b'{"jsonrpc": "2.0", "id": true, "method": "EngineVersion", "handle": -1}', None, -32600),
    (b'{"jsonrpc": "2.0", "id": 6, "method": "GetField", "handle": -1, "params": "x"}', 6, -32602),
    (b'{"jsonrpc": "2.0", "id": 8, "method": "NoSuchMethod", "handle": -1}', 8, -32601),
])
def test_envelope_errors_answer_json_rpc_errors(engine, frame: bytes, request_id: Any, code: int) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            resp = await c.send_raw(frame, request_id)
            assert resp["id"] == request_id and resp["jsonrpc"] == "2.0"
            error = error_of(resp)
            assert error["code"] == code and isinstance(error["message"], str) and error["message"]

    asyncio.run(scenario())


# -- 2. params are checked against the method's declared types ---------------------------------------------
#: (handle kind, method, params, the parameter the error names)
CONFUSED: list[tuple[str, str, Any, str]] = [
    ("doc", "GetField", [True], "qFieldName: expected a string, got boolean"),
    ("doc", "GetObject", [{"a": 1}], "qId: expected a string, got an object"),
    ("doc", "GetObject", {"qId": []}, "qId: expected a string, got an array"),
    ("doc", "GetTableData", [0, "ten", False, "T"], "qRows: expected an integer, got a string"),
    ("doc", "GetTableData", {"qOffset": 2**40}, "qOffset: expected an integer, got an out-of-range integer"),
    ("doc", "CreateSessionObject", [[1, 2]], "qProp: expected an object, got an array"),
    ("doc", "CreateSessionObject", [{"qInfo": "x"}], "qProp.qInfo: expected an object, got a string"),
    ("doc", "SearchResults", [{}, ["a"], {"qOffset": {}}],
     "qPage.qOffset: expected an integer, got an object"),
    ("doc", "SearchResults", [{"qSearchFields": "Dim"}, ["a"]],
     "qOptions.qSearchFields: expected an array, got a string"),
    ("doc", "DoReload", ["0.5"], "qMode: expected an integer, got a string"),
    ("Global", "AbortRequest", [{}], "qRequestId: expected an integer, got an object"),
    ("Global", "GetProgress", [[1]], "qRequestId: expected an integer, got an array"),
    ("Global", "OpenDoc", [False], "qDocName: expected a string, got boolean"),
    ("list", "GetListObjectData", ["/qListObjectDef", [{"qTop": "x"}]],
     "qPages[0].qTop: expected an integer, got a string"),
    ("list", "GetListObjectData", ["/qListObjectDef", {"qTop": 0}],
     "qPages: expected an array, got an object"),
    ("list", "SelectListObjectValues", ["/qListObjectDef", [0, 1.5]],
     "qValues[1]: expected an integer, got a fractional number"),
    ("list", "SelectListObjectValues", {"qPath": "/qListObjectDef", "qValues": [0], "qToggleMode": "maybe"},
     "qToggleMode: expected a boolean, got a string"),
    ("cube", "GetHyperCubeData", ["/qHyperCubeDef", [{"qTop": 0, "qHeight": 2**64 - 1}]],
     "qPages[0].qHeight: expected an integer, got an out-of-range integer"),
    ("cube", "SelectPivotCells", ["/qHyperCubeDef", [{"qType": "D", "qRow": []}]],
     "qSelections[0].qRow: expected an integer, got an array"),
    ("cube", "RangeSelectHyperCubeValues", ["/qHyperCubeDef", [{"qRange": {"qMin": {}}}]],
     "qRanges[0].qRange.qMin: expected a number, got an object"),
    ("cube", "ApplyPatches", [[{"qOp": "add", "qPath": 5, "qValue": True}]],
     "qPatches[0].qValue: expected a string, got boolean"),
    ("cube", "SetProperties", [[]], "qProp: expected an object, got an array"),
    ("cube", "SetProperties", [{"k": [[[[[[1]]]]]] * 1, "deep": orjson.Fragment(b"[" * 200 + b"]" * 200)}],
     "qProp: nested deeper than 128 levels"),
    ("field", "SelectValues", [[{"qText": "a", "qNumber": []}]],
     "qFieldValues[0].qNumber: expected a number, got an array"),
    ("field", "LowLevelSelect", [["x"]], "qValues[0]: expected an integer, got a string"),
    ("field", "SetNxProperties", [{"qOneAndOnlyOne": "perhaps"}],
     "qProperties.qOneAndOnlyOne: expected a boolean, got a string"),
]


@pytest.mark.parametrize(("kind", "method", "params", "parameter"), CONFUSED,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(CONFUSED)])
def test_type_confused_params_answer_invalid_params_naming_the_parameter(
        engine, kind: str, method: str, params: Any, parameter: str) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            doc = await loaded_doc(c)
            handles = {"Global": -1, "doc": doc,
                       "list": (await c.call("CreateSessionObject", doc, LIST))["qReturn"]["qHandle"],
                       "cube": (await c.call("CreateSessionObject", doc, CUBE))["qReturn"]["qHandle"],
                       "field": (await c.call("GetField", doc, "Dim"))["qReturn"]["qHandle"]}
            resp = await c.request(method, handles[kind], params)
            assert error_of(resp) == {"code": -32602, "parameter": parameter,
                                      "message": "Invalid method parameter(s)"}

    asyncio.run(scenario())


#: (properties or patches, the parameter the error names): definitions are checked wherever they are
DEFINITIONS: list[tuple[str, Any, str]] = [
    ("SetProperties", [{"qHyperCubeDef": {"qDimensions": 5}}],
     "qProp.qHyperCubeDef.qDimensions: expected an array, got an integer"),
    ("SetProperties", [{"chart": [{"inner": {"qListObjectDef": {"qDef": {"qFieldDefs": [["Frac"]]}}}}]}],
     "qProp.chart[0].inner.qListObjectDef.qDef.qFieldDefs[0]: expected a string, got an array"),
    ("SetProperties", [{"qHyperCubeDef": {"qMeasures": [{"qDef": {"qNumFormat": {"qDec": []}}}]}}],
     "qProp.qHyperCubeDef.qMeasures[0].qDef.qNumFormat.qDec: expected a string, got an array"),
    ("SetProperties", [{"x": {"qSelectionObjectDef": {"qStateName": ["$"]}}}],
     "qProp.x.qSelectionObjectDef.qStateName: expected a string, got an array"),
    ("CreateChild", [{"qInfo": {"qType": "c"}, "qHyperCubeDef": {"qInterColumnSortOrder": "0"}}],
     "qProp.qHyperCubeDef.qInterColumnSortOrder: expected an array, got a string"),
    ("SetFullPropertyTree", [{"qProperty": {"qInfo": {"qId": "x", "qType": "t"}},
                              "qChildren": [{"qProperty": {"qListObjectDef": {"qDef": 1}}}]}],
     "qPropEntry.qChildren[0].qProperty.qListObjectDef.qDef: expected an object, got an integer"),
    ("ApplyPatches", [[{"qOp": "replace", "qPath": "/qHyperCubeDef/qDimensions", "qValue": "{}"}]],
     "qPatches make qProp.qHyperCubeDef.qDimensions: expected an array, got an object"),
    ("ApplyPatches", [[{"qOp": "add", "qPath": "/qHyperCubeDef/qMode", "qValue": "[]"}], True],
     "qPatches make qProp.qHyperCubeDef.qMode: expected a string or an integer, got an array"),
]


@pytest.mark.parametrize(("method", "params", "parameter"), DEFINITIONS,
                         ids=[f"{d[0]}-{i}" for i, d in enumerate(DEFINITIONS)])
def test_definitions_in_properties_are_checked_wherever_they_are(engine, method: str, params: Any,
                                                                 parameter: str) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            doc = await loaded_doc(c)
            cube = (await c.call("CreateSessionObject", doc, CUBE))["qReturn"]["qHandle"]
            before = await c.call("GetLayout", cube)
            resp = await c.request(method, cube, params)
            assert error_of(resp) == {"code": -32602, "parameter": parameter,
                                      "message": "Invalid method parameter(s)"}
            assert await c.call("GetLayout", cube) == before  # nothing was stored

    asyncio.run(scenario())


def test_pivot_and_stacked_pages_at_the_edges_are_answered(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            doc = await loaded_doc(c)
            props = {"qInfo": {"qType": "p"}, "qHyperCubeDef": {
                "qMode": "P", "qDimensions": [{"qDef": {"qFieldDefs": ["Dim"]}}], "qMeasures": []}}
            cube = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
            pages = (await c.call("GetHyperCubePivotData", cube, "/qHyperCubeDef",
                                  [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 3}]))["qDataPages"]
            assert [[cell["qType"] for cell in row] for row in pages[0]["qData"]] == [["E"], ["E"], ["E"]]
            ranges = [{"qRange": {"qMin": 0, "qMax": 1}, "qMeasureIx": 0}]
            error = error_of(await c.request("RangeSelectHyperCubeValues", cube, ["/qHyperCubeDef", ranges]))
            assert (error["code"], error["parameter"]) == (8, "qMeasureIx")
            stacked = (await c.call("CreateSessionObject", doc, CUBE))["qReturn"]["qHandle"]
            past_the_end = [{"qTop": 2**31 - 1, "qLeft": 0, "qWidth": 1, "qHeight": 5}]
            pages = (await c.call("GetHyperCubeStackData", stacked, "/qHyperCubeDef", past_the_end))["qDataPages"]
            assert pages == [{"qData": [], "qArea": {"qLeft": 0, "qTop": 2**31 - 1, "qWidth": 1, "qHeight": 0}}]

    asyncio.run(scenario())


def test_the_lenient_forms_clients_send_are_still_accepted(engine) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            doc = await loaded_doc(c)
            lst = (await c.call("CreateSessionObject", doc, LIST))["qReturn"]["qHandle"]
            # an integral float and a numeric string for integers, "true" for a boolean, named params
            pages = await c.call("GetListObjectData", lst, "/qListObjectDef",
                                 [{"qTop": 1.0, "qLeft": "0", "qWidth": 1, "qHeight": 2}])
            assert [r[0]["qText"] for r in pages["qDataPages"][0]["qMatrix"]] == ["1.25", "2.75"]
            assert (await c.call("SelectListObjectValues", lst, qPath="/qListObjectDef", qValues=[0],
                                 qToggleMode="true"))["qSuccess"] is True
            # a number where a string goes is its text; null is the default
            var = (await c.call("CreateSessionVariable", doc, {"qName": "v", "qDefinition": 12}))["qReturn"]
            assert (await c.call("GetProperties", var["qHandle"]))["qProp"]["qDefinition"] == "12"
            await c.call("SetNumValue", var["qHandle"], "NaN")  # enigma-go writes NaN as a string

    asyncio.run(scenario())


def test_every_registered_parameter_has_a_compiled_check() -> None:
    for methods in dispatch.REGISTRY.values():
        for spec in methods.values():
            for param in spec.params:
                if param.default is not None:
                    assert param.check(param.default) == param.default, (spec.name, param.name)


class Inner(TypedDict, total=False):
    qA: int
    qB: list[str]


class Outer(TypedDict, total=False):
    qInner: Inner
    qSelf: list[Outer]


def test_checks_copy_only_what_they_correct_and_name_the_path() -> None:
    check = compile_hint(list[Outer])
    value = [{"qInner": {"qA": 1, "qB": ["x"]}, "other": object()}]
    assert check(value) is value  # nothing to correct: the very same object
    corrected = check([{"qInner": {"qA": 2.0, "qB": [3], "qC": True}, "qSelf": [{"qInner": None}]}])
    assert corrected == [{"qInner": {"qA": 2, "qB": ["3"], "qC": True}, "qSelf": [{}]}]
    with pytest.raises(Mismatch) as bad:
        check([{"qSelf": [{"qInner": {"qB": ["a", None]}}]}])
    assert bad.value.describe("p") == "p[0].qSelf[0].qInner.qB[1]: expected a string, got null"


# -- 3. one encoder: the delta path answers what the plain path does ---------------------------------------
def test_the_encoder_writes_numpy_values_and_non_finite_numbers_as_the_engine_does() -> None:
    # orjson writes float16/32/64 itself; the others (longdouble) go through the default, which writes
    # non-finite numbers as strings
    value = {"f64": np.float64(0.5), "f16": np.float16(1.5), "i8": np.int8(-3), "b": np.bool_(True),
             "nan": np.longdouble("nan"), "inf": np.longdouble("-inf"), "arr": np.array([1.25, 2.0])}
    assert orjson.loads(dumps(value)) == {"f64": 0.5, "f16": 1.5, "i8": -3, "b": True, "nan": "NaN",
                                          "inf": "-Infinity", "arr": [1.25, 2.0]}


@pytest.mark.parametrize("props", [LIST, CUBE], ids=["list-object", "hypercube"])
def test_delta_layouts_on_a_fractional_field_match_the_plain_ones(engine, props: dict) -> None:
    async def scenario() -> None:
        async with Client.open(engine.url()) as c:
            doc = await loaded_doc(c)
            handle = (await c.call("CreateSessionObject", doc, props))["qReturn"]["qHandle"]
            plain = (await c.request("GetLayout", handle, [], delta=False))["result"]["qLayout"]
            Client.delta_calls = True
            try:
                assert (await c.call("GetLayout", handle))["qLayout"] == plain
                field = (await c.call("GetField", doc, "Frac"))["qReturn"]["qHandle"]
                await c.call("SelectValues", field, [{"qText": "1.25", "qIsNumeric": True, "qNumber": 1.25}])
                patched = (await c.call("GetLayout", handle))["qLayout"]  # patches over the cached layout
            finally:
                Client.delta_calls = False
            assert patched == (await c.request("GetLayout", handle, [], delta=False))["result"]["qLayout"]
            assert patched != plain

    asyncio.run(scenario())
