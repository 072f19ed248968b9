"""Fuzzing the QIX surface over a real socket: cases drawn from the method registry, a bystander session.

Shared by ``tests/test_fuzz.py`` (a modest run in the suite) and ``scripts/fuzz.py`` (thousands of cases
with figures). A case is one request on one handle of a prepared session (Global, Doc, generic objects
with a hypercube, a list object on a fractional field and a pivot cube, a dimension, a measure, a
bookmark, a created and a script variable, two fields), or one malformed frame (bad JSON, a non-object,
no method, ids and handles of every wrong kind). Parameters are well typed, type-confused (any JSON value
in any place) or oversized (long strings and lists, huge numbers, deep nesting), positional or named,
in plain or delta form. :func:`check_answer` states what any answer must be: a result, or a JSON-RPC
error whose code is not -128 (our own bug).

The prepared session is kept usable between cases: handles the fuzzer closed are fetched again, and
fixtures it rewrote (properties, script, data) are put back, so every case meets a live handle.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import types
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import orjson
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from engine.rpc import handler as _handler  # noqa: F401  (registers every method)
from engine.rpc.dispatch import REGISTRY, MethodSpec
from engine.rpc.validate import INT_MAX, INT_MIN, Shape

SCRIPT = """T:
LOAD * INLINE [
Dim, Num, Frac
a, 1, 0.5
b, 2, 1.25
c, 3, 2.75
a, 4, 0.125
];
SET vScript = 'Sum(Num)';
"""

CUBE = {"qInfo": {"qId": "fz-cube", "qType": "fz"},
        "qHyperCubeDef": {"qDimensions": [{"qDef": {"qFieldDefs": ["Dim"]}}],
                          "qMeasures": [{"qDef": {"qDef": "Sum(Num)"}}],
                          "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 10}]}}
LIST = {"qInfo": {"qId": "fz-list", "qType": "fz"},
        "qListObjectDef": {"qDef": {"qFieldDefs": ["Frac"]},
                           "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 10}]}}
PIVOT = {"qInfo": {"qId": "fz-pivot", "qType": "fz"},
         "qHyperCubeDef": {"qMode": "P", "qAlwaysFullyExpanded": True,
                           "qDimensions": [{"qDef": {"qFieldDefs": ["Dim"]}},
                                           {"qDef": {"qFieldDefs": ["Frac"]}}],
                           "qMeasures": [{"qDef": {"qDef": "Sum(Num)"}}],
                           "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 10}]}}
DIMENSION = {"qInfo": {"qId": "fz-dim", "qType": "dimension"}, "qDim": {"qFieldDefs": ["Dim"]}}
MEASURE = {"qInfo": {"qId": "fz-meas", "qType": "measure"}, "qMeasure": {"qDef": "Sum(Num)", "qLabel": "m"}}
BOOKMARK = {"qInfo": {"qId": "fz-bm", "qType": "bookmark"}}
VARIABLE = {"qInfo": {"qId": "fz-var", "qType": "variable"}, "qName": "vFuzz", "qDefinition": "1+1"}

#: handle kinds: the interface each is, and how to (re)acquire one (method on the doc, params, props to
#: restore after a case rewrote them, with the method that restores them)
QTYPE = {"Global": "Global", "Doc": "Doc", "cube": "GenericObject", "list": "GenericObject",
         "pivot": "GenericObject", "dimension": "GenericDimension", "measure": "GenericMeasure",
         "bookmark": "GenericBookmark", "variable": "GenericVariable", "script-variable": "GenericVariable",
         "field": "Field", "frac-field": "Field"}
KINDS = tuple(QTYPE)
_ENTITIES: dict[str, tuple[str, str, str, dict | None]] = {
    # kind: (create method, get method, id, properties)
    "cube": ("CreateObject", "GetObject", "fz-cube", CUBE),
    "list": ("CreateSessionObject", "GetObject", "fz-list", LIST),
    "pivot": ("CreateObject", "GetObject", "fz-pivot", PIVOT),
    "dimension": ("CreateDimension", "GetDimension", "fz-dim", DIMENSION),
    "measure": ("CreateMeasure", "GetMeasure", "fz-meas", MEASURE),
    "bookmark": ("CreateBookmark", "GetBookmark", "fz-bm", BOOKMARK),
    "variable": ("CreateVariableEx", "GetVariableById", "fz-var", VARIABLE),
}
#: methods after which the fixture they ran on is put back as it was
_REWRITES = {"SetProperties", "ApplyPatches", "SetFullPropertyTree", "CreateChild", "DestroyChild",
             "DestroyAllChildren", "SetStringValue", "SetNumValue", "SetDualValue"}
_RELOADS = {"SetScript", "DoReload", "DoReloadEx"}

WAIT = 20.0  # seconds any one answer may take before the case fails as unanswered

# -- values -----------------------------------------------------------------------------------------------
STRINGS = ["", "Dim", "Frac", "Num", "/qHyperCubeDef", "/qListObjectDef", "/qHyperCubeDef/qDimensions",
           "fz-cube", "fz-list", "fz-pivot", "fz-dim", "fz-meas", "fz-bm", "fz-var", "vFuzz", "vScript",
           "Sum(Num)", "=Count(Dim)", "a", "*", "$", "NaN", "S", "P", "K", "D", "L", "T", "1.25", "-1", "²",
           "~", "/", "EQ_DATA_MODE_PIVOT", "add", "replace", "remove", "/qInfo/qId", "/title", '"x"']
_DEEP = 300


def _nested(depth: int) -> orjson.Fragment:
    """``depth`` nested arrays and objects, as JSON text (orjson writes at most 254 levels itself)."""
    opening = "".join('[' if i % 2 else '{"k":' for i in range(depth))
    closing = "".join(']' if i % 2 else '}' for i in reversed(range(depth)))
    return orjson.Fragment((opening + "1" + closing).encode())


OVERSIZED: list[Any] = ["x" * 200_000, "(" * 5_000, list(range(20_000)), [{"qTop": 0}] * 5_000,
                        {f"k{i}": i for i in range(5_000)}, _nested(_DEEP), _nested(1_000),
                        2**64 - 1, -(2**63), 1.7976931348623157e308, -5e-324, 10**18, "9" * 5_000]

_KEYS = ["qTop", "qDef", "qInfo", "qId", "qType", "qFieldDefs", "qDimensions", "qMeasures", "qListObjectDef",
         "qHyperCubeDef", "qStateName"]
json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.integers(-3, 20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=24), st.sampled_from(STRINGS))
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)), inner,
                                            max_size=5)),
    max_leaves=20)
confused = st.one_of(json_values, json_values, json_values, st.sampled_from(OVERSIZED))


def valid(hint: Any) -> st.SearchStrategy[Any]:
    """Values of the type a parameter declares (its edge values included)."""
    if hint is str:
        return st.one_of(st.sampled_from(STRINGS), st.text(max_size=16))
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.one_of(st.integers(-3, 20), st.sampled_from([INT_MIN, INT_MAX, 10_000, -2]))
    if hint is float:
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                         st.sampled_from(["NaN", "Infinity"]))
    if hint is dict or hint is list or hint is Any or hint is object:
        return json_values
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return valid(next((m.hint for m in hint.__metadata__ if isinstance(m, Shape)), args[0]))
    if origin is list:
        return st.lists(valid(args[0]) if args else json_values, max_size=6)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), valid(args[1]) if args else json_values, max_size=4)
    if origin is Literal:
        return st.sampled_from(args)
    if origin is Union or origin is types.UnionType:
        return st.one_of(*[valid(a) for a in args if a is not type(None)])
    if is_typeddict(hint):
        members = get_type_hints(hint)
        optional = {k: st.deferred(lambda t=t: valid(t)) for k, t in members.items()}
        return st.fixed_dictionaries({}, optional=optional)
    return json_values


def param_value(hint: Any) -> st.SearchStrategy[Any]:
    return st.one_of(valid(hint), valid(hint), confused, st.none())


# -- cases ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One request on the ``index``-th handle of ``kind`` (or a raw frame, kind ``"raw"``)."""

    kind: str
    method: str
    params: Any = None
    delta: bool = False
    raw: bytes | None = None
    #: whether the answer may carry no id (the request's id could not be read)
    id_unknown: bool = False
    #: leave what the case rewrote (a fixture's properties) for the next cases to meet
    keep: bool = False
    #: properties set on the fixture first (its own with one member anywhere replaced): the method then
    #: meets definitions of the right shape but with a wrong value deep inside
    props: dict | None = None

    def describe(self) -> str:
        if self.raw is not None:
            return f"raw frame {self.raw[:160]!r}"
        text = "" if self.params is None else orjson.dumps(self.params).decode()
        setup = "" if self.props is None else f" after SetProperties({orjson.dumps(self.props).decode()[:300]})"
        return f"{self.kind}.{self.method}({text[:300]}) delta={self.delta}{setup}"


def _spec_params(spec: MethodSpec, form: str) -> st.SearchStrategy[Any]:
    names = [p.name for p in spec.params]
    values = [param_value(p.hint) for p in spec.params]
    if form == "none":
        return st.sampled_from([None, {}, []])
    if form == "named":
        extra = st.dictionaries(st.text(max_size=6), json_values, max_size=2)
        given = st.fixed_dictionaries({}, optional=dict(zip(names, values, strict=True)))
        return st.tuples(given, extra).map(lambda pair: {**pair[1], **pair[0]})
    return st.tuples(st.tuples(*values), st.integers(0, len(values)), st.lists(json_values, max_size=2)).map(
        lambda t: list(t[0][:t[1]]) + (t[2] if t[1] == len(values) else []))


def _members(value: Any, path: tuple = ()) -> list[tuple]:
    """The path of every member of a JSON value (and one past the end of each array)."""
    out = [path] if path else []
    if isinstance(value, dict):
        for key, member in value.items():
            out.extend(_members(member, (*path, key)))
    elif isinstance(value, list):
        for i, member in enumerate(value):
            out.extend(_members(member, (*path, i)))
        out.append((*path, len(value)))
    return out


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value.get(head), rest, new)}
    items = list(value)
    if head == len(items):
        items.append(new if not rest else None)
    items[head] = _replaced(items[head], rest, new)
    return items


def mutated(props: dict) -> st.SearchStrategy[dict]:
    """``props`` with one member anywhere (not the id) replaced by a type-confused or edge value."""
    paths = [p for p in _members(props) if p[:1] != ("qInfo",)]
    small = st.one_of(json_values, st.sampled_from([-1, 2**31, 10**6, 1.5, "", "=", "NaN", [], {}, None]))
    return st.tuples(st.sampled_from(paths), small).map(lambda t: _replaced(props, t[0], t[1]))


#: the methods that compute from an object's definitions, with well-typed params
COMPUTE = {
    "GenericObject": ["GetLayout", "GetHyperCubeData", "GetHyperCubePivotData", "GetHyperCubeStackData",
                      "GetListObjectData", "SelectHyperCubeCells", "SelectListObjectValues", "SelectPivotCells",
                      "ClearSelections", "Lock", "Unlock", "RangeSelectHyperCubeValues", "SelectHyperCubeValues",
                      "SearchListObjectFor", "SelectListObjectAll", "GetEffectiveProperties", "GetFullPropertyTree"],
    "GenericDimension": ["GetLayout", "GetDimension", "GetProperties"],
    "GenericMeasure": ["GetLayout", "GetMeasure", "GetProperties"],
}
_DEFINED = ("cube", "list", "pivot", "dimension", "measure")
_PATHS = {"/qHyperCubeDef": ("cube", "pivot"), "/qListObjectDef": ("list",)}


def _well_typed(kind: str, name: str) -> st.SearchStrategy[list]:
    spec = REGISTRY[QTYPE[kind]][name]
    values = []
    for p in spec.params:
        if p.name == "qPath":
            values.append(st.sampled_from(["", *[path for path, kinds in _PATHS.items() if kind in kinds]]))
        else:
            values.append(valid(p.hint))
    return st.tuples(*values).map(list)


def definition_case() -> st.SearchStrategy[Case]:
    """A fixture's properties with one member replaced, then a method that computes from them."""

    def for_kind(kind: str) -> st.SearchStrategy[Case]:
        props = _ENTITIES[kind][3]
        assert props is not None
        return st.sampled_from(COMPUTE[QTYPE[kind]]).flatmap(lambda name: st.builds(
            Case, st.just(kind), st.just(name), _well_typed(kind, name), st.booleans(), props=mutated(props)))

    return st.sampled_from(_DEFINED).flatmap(for_kind)


def definition_sweep(values: tuple[Any, ...] = (5, "x", [5], {}, True, -1)) -> list[Case]:
    """Each member of each fixture's properties given each of ``values``, then GetLayout and its data
    method: every place a definition is read meets every kind of wrong value."""
    out = []
    data = {"cube": ("GetHyperCubeData", "/qHyperCubeDef"), "pivot": ("GetHyperCubePivotData", "/qHyperCubeDef"),
            "list": ("GetListObjectData", "/qListObjectDef"), "dimension": ("GetDimension", None),
            "measure": ("GetMeasure", None)}
    page = [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 5}]
    for kind in _DEFINED:
        props = _ENTITIES[kind][3]
        assert props is not None
        method, path = data[kind]
        for member in _members(props):
            if member[:1] == ("qInfo",):
                continue
            for value in values:
                changed = _replaced(props, member, value)
                out.append(Case(kind, "GetLayout", [], bool(len(out) % 2), props=changed))
                out.append(Case(kind, method, [path, page] if path else [], props=changed))
    return out


def method_case(kind: str) -> st.SearchStrategy[Case]:
    methods = REGISTRY[QTYPE[kind]]
    names = sorted(methods)
    foreign = ["GetLayout", "Select", "OpenDoc", "GetHyperCubeData", "NoSuchMethod", "getLayout", ""]

    def for_method(name: str) -> st.SearchStrategy[Case]:
        spec = methods.get(name)
        forms = ["positional", "named", "none"] if spec and spec.params else ["positional", "none"]
        if spec is None:
            params: st.SearchStrategy[Any] = st.one_of(st.none(), st.lists(json_values, max_size=3))
        else:
            params = st.sampled_from(forms).flatmap(lambda form: _spec_params(spec, form))
        entity = _ENTITIES.get(kind)
        props: st.SearchStrategy[Any] = st.none()
        if entity is not None and entity[3] is not None and kind != "bookmark":
            props = st.one_of(st.none(), mutated(entity[3]))
        return st.builds(Case, st.just(kind), st.just(name), params, st.booleans(), keep=st.booleans(),
                         props=props)

    own = st.sampled_from(names)
    return st.one_of(own, own, st.sampled_from(foreign)).flatmap(for_method)


def _raw(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else orjson.dumps(payload)


BAD_HANDLES = ["²", "9" * 5_000, "1" * 30, "-", "--5", "", " 1", "1.5", 1.5, True, False, {}, [], 0, 99_999,
               2**64 - 1, -(2**63), -7, "0x1", "١"]
BAD_IDS = [{}, [], [1], {"a": 1}, True, False]
BAD_FRAMES = [b"{", b"", b"nul", b"[1,2", b"\xff\xfe", b'{"id": 1,}', b"[]", b"3", b'"x"', b"null",
              b'{"id": 1e400, "method": "x"}', b"[" * 2_000 + b"]" * 2_000,
              b'{"id": NaN, "method": "EngineVersion"}']


def raw_case() -> st.SearchStrategy[Case]:
    envelope = st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "method": st.sampled_from(
        ["GetLayout", "EngineVersion", "GetField", "OpenDoc"])})
    frames = st.one_of(
        st.sampled_from(BAD_FRAMES).map(lambda f: (f, True)),
        st.tuples(envelope, st.sampled_from(BAD_HANDLES)).map(
            lambda t: (_raw({**t[0], "id": 1, "handle": t[1]}), False)),
        st.tuples(envelope, st.sampled_from(BAD_IDS)).map(
            lambda t: (_raw({**t[0], "id": t[1], "handle": -1}), True)),
        st.tuples(st.sampled_from([None, "", 5, True, [], {}, "NoSuchMethod"]), json_values).map(
            lambda t: (_raw({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": t[0], "params": t[1]}),
                       False)),
        json_values.filter(lambda v: not (isinstance(v, dict) and "id" in v)).map(lambda v: (_raw(v), True)),
    )
    return frames.map(lambda f: Case("raw", "", raw=f[0], id_unknown=f[1]))


def cases() -> st.SearchStrategy[Case]:
    """Requests on every kind of handle (most cases), and malformed frames."""
    handled = st.sampled_from(KINDS).flatmap(method_case)
    return st.one_of(handled, handled, handled, handled, handled, definition_case(), definition_case(),
                     raw_case())


# -- answers ----------------------------------------------------------------------------------------------
def check_answer(case: Case, answer: dict) -> str:
    """The answer's outcome ("ok" or the error code as text); AssertionError if it is not a valid one."""
    if "error" in answer:
        error = answer["error"]
        assert isinstance(error, dict), answer
        code = error.get("code")
        assert isinstance(code, int) and not isinstance(code, bool), answer
        assert code != -128, f"-128 for {case.describe()}: {error}"
        assert isinstance(error.get("message"), str) and isinstance(error.get("parameter"), str), answer
        assert "result" not in answer, answer
        return str(code)
    assert "result" in answer and isinstance(answer["result"], dict), answer
    if answer.get("delta"):
        for key, patches in answer["result"].items():
            assert isinstance(patches, list), (key, answer)
            for patch in patches:
                assert patch.get("op") in ("add", "replace", "remove"), patch
                if patch.get("path") == "/":
                    assert patch.get("value") is not None, f"root patch of null for {case.describe()}"
    return "ok"


# -- the session under test -------------------------------------------------------------------------------
class Target:
    """One socket with the prepared session; sends a case and waits (bounded) for its answer."""

    def __init__(self, url: str) -> None:
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(connect(url, max_size=None, open_timeout=WAIT))
        self.ids = itertools.count(1)
        self.closed: set[int] = set()
        self.handles: dict[str, int] = {}
        orjson.loads(self.ws.recv(timeout=WAIT))  # OnConnected
        self.doc = self.call("CreateSessionApp", -1)["qReturn"]["qHandle"]

    def prepare(self) -> Target:
        """Load the data and acquire one handle of every kind."""
        self.handles["Global"], self.handles["Doc"] = -1, self.doc
        self.reload()
        for kind in _ENTITIES:
            self._create(kind)
        self._script_variable()
        self._fields()
        return self

    def _script_variable(self) -> None:
        oi = self.call("GetVariableByName", self.doc, "vScript")["qReturn"]
        self.handles["script-variable"] = oi["qHandle"]

    def close(self) -> None:
        self._stack.close()

    # plumbing
    def exchange(self, frame: bytes, request_id: Any, id_unknown: bool = False) -> dict:
        """Send ``frame`` and return the answer to it: the frame echoing ``request_id`` (or one without
        a usable id, when the request's id could not be read). Raises TimeoutError after :data:`WAIT`."""
        self.ws.send(frame)
        deadline = time.monotonic() + WAIT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer within {WAIT} s")
            msg = orjson.loads(self.ws.recv(timeout=remaining))
            self.closed.update(msg.get("close") or ())
            if "id" not in msg:
                continue  # a push or a notification
            if msg["id"] == request_id or (id_unknown and msg["id"] is None):
                return msg

    def request(self, method: str, handle: Any, params: Any, delta: bool = False) -> dict:
        rid = next(self.ids)
        msg = {"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle, "params": params,
               "delta": delta}
        return self.exchange(orjson.dumps(msg), rid)

    def call(self, method: str, handle: int, *params: Any) -> dict:
        answer = self.request(method, handle, list(params))
        if "error" in answer:
            raise AssertionError(f"{method} on {handle} failed: {answer['error']}")
        return answer["result"]

    # fixtures
    def reload(self) -> None:
        self.call("SetScript", self.doc, SCRIPT)
        assert self.call("DoReload", self.doc)["qReturn"] is True

    def _fields(self) -> None:
        for kind, name in (("field", "Dim"), ("frac-field", "Frac")):
            self.handles[kind] = self.call("GetField", self.doc, name)["qReturn"]["qHandle"]

    def _create(self, kind: str) -> None:
        create, get, entity_id, props = _ENTITIES[kind]
        oi = self.call(get, self.doc, entity_id)["qReturn"]
        if oi.get("qHandle") is None:
            oi = self.call(create, self.doc, props)["qReturn"]
        handle = oi["qHandle"]
        if kind != "bookmark":
            self.call("SetProperties", handle, props)
        self.handles[kind] = handle

    def restore(self, case: Case) -> None:
        """Put back what ``case`` may have changed, and fetch handles it closed."""
        if case.kind == "Doc" and case.method in _RELOADS:
            self.reload()
        if case.kind in _ENTITIES and (case.props is not None or case.method in _REWRITES and not case.keep):
            self._create(case.kind)
        if self.doc in self.closed:
            raise AssertionError(f"the doc handle was closed by {case.describe()}")
        for kind, handle in list(self.handles.items()):
            if handle in self.closed:
                if kind in _ENTITIES:
                    self._create(kind)
                elif kind == "script-variable":
                    self._script_variable()
                else:
                    self._fields()
        self.closed.clear()

    def run(self, case: Case) -> dict:
        """Send ``case`` and return its answer frame."""
        if case.raw is not None:
            return self.exchange(case.raw, 1 if not case.id_unknown else object(), case.id_unknown)
        if case.props is not None:
            answer = self.request("SetProperties", self.handles[case.kind], [case.props])
            if "error" in answer:
                return answer  # refused: the method would meet the old properties
        return self.request(case.method, self.handles[case.kind], case.params, case.delta)


# -- a bystander ------------------------------------------------------------------------------------------
@dataclass
class Bystander:
    """Another session on its own socket, looping GetLayout on a small object; keeps its worst latency."""

    url: str
    interval: float = 0.02
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(WAIT):
            raise RuntimeError("bystander did not start")

    def _loop(self, ready: threading.Event) -> None:
        target = None
        try:
            target = Target(self.url)
            doc = target.doc
            props = {"qInfo": {"qType": "by"}, "text": "bystander", "n": 1.5}
            handle = target.call("CreateSessionObject", doc, props)["qReturn"]["qHandle"]
            expected = target.call("GetLayout", handle)["qLayout"]
            ready.set()
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    layout = target.call("GetLayout", handle)["qLayout"]
                except Exception as exc:  # noqa: BLE001  (a timeout or an error answer: both are failures)
                    self.failures.append(repr(exc))
                    return
                self.latencies.append(time.perf_counter() - started)
                if layout != expected:
                    self.failures.append(f"layout changed: {layout}")
                self._stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001
            self.failures.append(repr(exc))
        finally:
            ready.set()
            if target is not None:
                target.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(WAIT + 5)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)


# -- figures ----------------------------------------------------------------------------------------------
@dataclass
class Tally:
    cases: int = 0
    methods: set[str] = field(default_factory=set)
    codes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, case: Case, outcome: str) -> None:
        self.cases += 1
        if case.raw is None and case.method in REGISTRY.get(QTYPE[case.kind], {}):
            self.methods.add(f"{QTYPE[case.kind]}.{case.method}")
        self.codes[outcome] += 1


SWEEP_VALUES: list[Any] = [True, {}, [], "x", 2**64 - 1, -1.5, [{"qTop": "x"}], "NaN", _nested(_DEEP),
                           {"qInfo": 5, "qHyperCubeDef": [], "qListObjectDef": "x"}]


def sweep(values: list[Any] = SWEEP_VALUES) -> list[Case]:
    """Every method on every kind of handle, each parameter given each of ``values`` (positional and
    named): the cases that make sure no method is left out, whatever the random draw."""
    out = []
    for kind in KINDS:
        for name, spec in sorted(REGISTRY[QTYPE[kind]].items()):
            if not spec.params:
                out.append(Case(kind, name, []))
                out.append(Case(kind, name, None, delta=True))
                continue
            for i, value in enumerate(values):
                out.append(Case(kind, name, [value] * len(spec.params), delta=bool(i % 2)))
                out.append(Case(kind, name, {p.name: value for p in spec.params}))
    return out


def registered_methods() -> set[str]:
    return {f"{qtype}.{name}" for qtype, methods in REGISTRY.items() for name in methods}
