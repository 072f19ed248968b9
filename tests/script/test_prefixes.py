"""LOAD prefixes from the Qlik script reference, each checked against the reference's documented result:
IntervalMatch, Hierarchy, HierarchyBelongsTo, Generic, Sample, First, Add/Replace with partial reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.script.errors import ScriptError
from engine.script.runner import ReloadResult, ScriptEnv, run_script
from engine.script.tables import tables_from_model


def run(script: str, **kw) -> ReloadResult:
    return run_script(script, ScriptEnv(document_dir=Path("/nonexistent-doc-dir"), **kw))


def rows(r: ReloadResult, table: str) -> list[tuple]:
    """The table's rows as display texts (None for NULL), synthetic keys expanded back."""
    t = tables_from_model(r.model)[table]
    out = []
    for i in range(t.nrows):
        row = []
        for c in t.columns.values():
            k = int(c.codes[i])
            row.append(None if k < 0 else str(c.symbols.text[k]))
        out.append(tuple(row))
    return out


def fields(r: ReloadResult, table: str) -> list[str]:
    return list(tables_from_model(r.model)[table].columns)


EVENTS = """SET TimeFormat='hh:mm';
EventLog:
LOAD * INLINE [
Time, Event, Line
00:00, 0, P1
01:00, 0, P2
01:18, 1, P1
02:23, 2, P1
04:15, 3, P1
08:00, 4, P1
09:00, 4, P2
11:43, 5, P1
11:43, 5, P2
];
OrderLog:
LOAD * INLINE [
Start, End, Order, Line
01:00, 03:35, A, P1
02:30, 07:58, B, P1
03:04, 10:27, C, P1
07:23, 11:43, D, P2
];
"""


def test_intervalmatch_links_values_to_closed_intervals():
    r = run(EVENTS + "Matched: IntervalMatch (Time) LOAD Start, End RESIDENT OrderLog;\n"
            "DROP TABLES EventLog, OrderLog;")
    got = sorted(rows(r, "Matched"))
    assert fields(r, "Matched") == ["Time", "Start", "End"]
    # every value inside [Start, End] (ends included; 11:43 ends D and 01:00 starts A)
    assert got == sorted([("01:00", "01:00", "03:35"), ("01:18", "01:00", "03:35"), ("02:23", "01:00", "03:35"),
                          ("04:15", "02:30", "07:58"), ("04:15", "03:04", "10:27"), ("08:00", "03:04", "10:27"),
                          ("08:00", "07:23", "11:43"), ("09:00", "03:04", "10:27"), ("09:00", "07:23", "11:43"),
                          ("11:43", "07:23", "11:43")])


def test_intervalmatch_with_a_key_field():
    r = run(EVENTS + "Matched: IntervalMatch (Time, Line) LOAD Start, End, Line RESIDENT OrderLog;\n"
            "DROP TABLES EventLog, OrderLog;")
    got = sorted(rows(r, "Matched"))
    assert fields(r, "Matched") == ["Time", "Start", "End", "Line"]
    assert got == sorted([("01:18", "01:00", "03:35", "P1"), ("02:23", "01:00", "03:35", "P1"),
                          ("04:15", "02:30", "07:58", "P1"), ("04:15", "03:04", "10:27", "P1"),
                          ("08:00", "03:04", "10:27", "P1"), ("09:00", "07:23", "11:43", "P2"),
                          ("11:43", "07:23", "11:43", "P2")])


def test_intervalmatch_needs_the_field_loaded_before():
    with pytest.raises(ScriptError) as e:
        run("IntervalMatch (Nope) LOAD * INLINE [s, e\n1, 2];")
    assert "Nope" in e.value.message and e.value.line == 1


NODES = """LOAD * INLINE [
NodeID, ParentID, NodeName
1, 4, London
2, 3, Munich
3, 5, Germany
4, 5, UK
5, , Europe
];"""


def test_hierarchy_expands_levels_path_and_depth():
    r = run("Tree: Hierarchy(NodeID, ParentID, NodeName, ParentName, NodeName, PathName, '/', Depth) " + NODES)
    assert r.model.tables["Tree"].field_names == ["NodeID", "ParentID", "NodeName", "NodeName1", "NodeName2",
                                                  "NodeName3", "ParentName", "PathName", "Depth"]
    got = {row[0]: row[3:] for row in rows(r, "Tree")}
    assert got["1"] == ("Europe", "UK", "London", "UK", "Europe/UK/London", "3")
    assert got["2"] == ("Europe", "Germany", "Munich", "Germany", "Europe/Germany/Munich", "3")
    assert got["3"] == ("Europe", "Germany", None, "Europe", "Europe/Germany", "2")
    assert got["5"] == ("Europe", None, None, None, "Europe", "1")


def test_hierarchy_drops_nodes_in_a_cycle():
    r = run("Tree: Hierarchy(Id, Parent, Name) LOAD * INLINE [Id, Parent, Name\n1, , root\n2, 3, a\n3, 2, b\n4, 1, c];")
    assert sorted(row[0] for row in rows(r, "Tree")) == ["1", "4"]


def test_hierarchy_belongs_to_lists_every_ancestor():
    r = run("Anc: HierarchyBelongsTo (NodeID, ParentID, NodeName, AncestorID, AncestorName, DepthDiff) " + NODES)
    assert r.model.tables["Anc"].field_names == ["NodeID", "NodeName", "AncestorID", "AncestorName", "DepthDiff"]
    got = sorted(rows(r, "Anc"))
    assert len(got) == 11
    assert [g for g in got if g[0] == "1"] == [("1", "London", "1", "London", "0"), ("1", "London", "4", "UK", "1"),
                                               ("1", "London", "5", "Europe", "2")]
    assert [g for g in got if g[0] == "5"] == [("5", "Europe", "5", "Europe", "0")]


def test_generic_unpacks_one_table_per_attribute():
    r = run("Obj: Generic LOAD * INLINE [Object, Attribute, Value\nball, color, red\nball, diameter, 25\n"
            "box, color, blue\nbox, weight, 3];")
    assert sorted(r.model.tables) == ["Obj.color", "Obj.diameter", "Obj.weight"]
    assert rows(r, "Obj.color") == [("ball", "red"), ("box", "blue")]
    assert rows(r, "Obj.weight") == [("box", "3")]


def test_first_and_sample():
    r = run("A: First 3 LOAD RecNo() AS n AUTOGENERATE 10;\n"
            "B: Sample 1 LOAD RecNo() AS m AUTOGENERATE 10;\nC: Sample 0 LOAD RecNo() AS k AUTOGENERATE 10;")
    assert rows(r, "A") == [("1",), ("2",), ("3",)]
    assert r.model.tables["B"].nrows == 10
    assert "C" not in r.model.tables or r.model.tables["C"].nrows == 0


def test_sample_needs_a_probability():
    with pytest.raises(ScriptError) as e:
        run("B: Sample 2 LOAD RecNo() AS m AUTOGENERATE 10;")
    assert "SAMPLE" in e.value.message


PARTIAL = """Tab1: LOAD * INLINE [Name, Number\nAnn, 1\nBo, 2];
Add LOAD * INLINE [Name, Number\nCy, 3];
Add Only LOAD * INLINE [Name, Number\nDi, 4] WHERE Not Exists(Name);
Tab2: Replace LOAD * INLINE [Code\nx];
LET p = IsPartialReload();
"""


def test_add_and_replace_in_a_normal_reload():
    r = run(PARTIAL)
    assert rows(r, "Tab1") == [("Ann", "1"), ("Bo", "2"), ("Cy", "3")]      # ADD ONLY skipped
    assert rows(r, "Tab2") == [("x",)]
    assert r.variables["p"] == "0"


def test_partial_reload_runs_only_add_and_replace():
    first = run(PARTIAL)
    again = run(PARTIAL.replace("[Code\nx]", "[Code\ny]"), partial=True,
                initial_tables=tables_from_model(first.model))
    # plain LOAD skipped; ADD and ADD ONLY appended (Not Exists keeps Di out of duplicates); REPLACE reloaded
    assert rows(again, "Tab1") == [("Ann", "1"), ("Bo", "2"), ("Cy", "3"), ("Cy", "3"), ("Di", "4")]
    assert rows(again, "Tab2") == [("y",)]
    assert again.variables["p"] == "-1"


def test_merge_needs_its_keys():
    with pytest.raises(ScriptError) as e:
        run("T: Merge LOAD * INLINE [a\n1];")
    assert "'ON'" in e.value.message
