"""Pure tests of the object store, dependency scan and JSON patches (no sockets)."""

from __future__ import annotations

import pytest

from engine.app.objects import Entity, ObjectStore, scan_dependencies
from engine.app.patches import apply_patches, resolve, split_pointer
from engine.errors import QixError


def test_pointer_escapes_and_resolve():
    assert split_pointer("/a~1b/c~0d") == ["a/b", "c~d"]
    assert split_pointer("") == [] and split_pointer("/") == []
    doc = {"a": [{"b": 1}], "x/y": 2}
    assert resolve(doc, "/a/0/b") == 1
    assert resolve(doc, "/x~1y") == 2
    assert resolve(doc, "/a/5/b", "dflt") == "dflt"
    assert resolve(doc, "no-slash", "dflt") == "dflt"


def test_patches_add_insert_replace_remove_and_root():
    doc = {"l": [1, 3], "o": {"k": 1}}
    doc = apply_patches(doc, [
        {"qOp": "add", "qPath": "/l/1", "qValue": "2"},
        {"qOp": "add", "qPath": "/l/-", "qValue": "4"},
        {"qOp": "Replace", "qPath": "/o/k", "qValue": '{"n": [true]}'},
        {"qOp": "remove", "qPath": "/o/missing"},
        {"qOp": "add", "qPath": "/new/deep/key", "qValue": '"v"'},
    ])
    assert doc == {"l": [1, 2, 3, 4], "o": {"k": {"n": [True]}}, "new": {"deep": {"key": "v"}}}
    assert apply_patches(doc, [{"qOp": "replace", "qPath": "/", "qValue": '{"r": 1}'}]) == {"r": 1}
    with pytest.raises(QixError):
        apply_patches({"l": []}, [{"qOp": "replace", "qPath": "/l/3", "qValue": "1"}])
    with pytest.raises(QixError):
        apply_patches({}, [{"qOp": "remove", "qPath": "/"}])


def test_dependencies_follow_defs_expressions_states_and_library_refs():
    assert scan_dependencies({"qInfo": {}, "title": "x"}).computed is False
    assert scan_dependencies({"qInfo": {}, "title": "x"}).sources == frozenset()
    deps = scan_dependencies({"a": [{"qHyperCubeDef": {"qStateName": "S1"}}]})
    assert deps.computed and deps.sources == {"variables"} and deps.states == ("$", "S1")
    assert scan_dependencies({"t": {"qStringExpression": "=1"}}).sources == {"variables"}
    assert scan_dependencies({"qChildListDef": {}}).sources == {"children"}
    assert scan_dependencies({"qAppObjectListDef": {}, "qBookmarkListDef": {}}).sources == {"objects", "bookmarks"}
    assert scan_dependencies({"qHyperCubeDef": {"qDimensions": [{"qLibraryId": "d"}]}}).sources == {
        "dimensions", "measures", "variables"}
    assert scan_dependencies({"qExtendsId": "base"}).sources == {"extends"}
    assert scan_dependencies({"qDefinition": "1"}, "variable").sources == {"variables"}


def test_store_round_trip_keeps_tree_order_and_values():
    store = ObjectStore("object", True)
    root = store.add(Entity("object", {"qInfo": {"qId": "r", "qType": "sheet"}}))
    for cid in ("c2", "c1"):
        store.add(Entity("object", {"qInfo": {"qId": cid, "qType": "x"}}), root)
    store.add(Entity("object", {"qInfo": {"qId": "g", "qType": "y"}}), store.get("c1"))
    items = store.to_json()
    assert [i["qProperty"]["qInfo"]["qId"] for i in items] == ["r", "c2", "c1", "g"]
    copy = ObjectStore("object", True)
    copy.load_json(items)
    assert [c.id for c in copy.get("r").children] == ["c2", "c1"]
    assert copy.get("g").parent is copy.get("c1")
    before = copy.version
    gone = copy.remove(copy.get("c1"))
    assert [e.id for e in gone] == ["c1", "g"] and copy.version > before
    assert [c.id for c in copy.get("r").children] == ["c2"]


def test_set_properties_keeps_id_and_bumps_versions():
    store = ObjectStore("object", False)
    e = store.add(Entity("object", {"qInfo": {"qId": "a", "qType": "t"}}))
    version = store.version
    e.set_properties({"qInfo": {"qId": "b"}, "k": 1})
    assert e.properties == {"qInfo": {"qId": "a", "qType": "t"}, "k": 1}
    assert e.counter == 1 and store.version == version + 1
