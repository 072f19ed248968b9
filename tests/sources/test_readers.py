"""Each reader on its own: ReadRequest in, columns of duals out (no runner, no socket)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.expr.formatting import DEFAULT_LOCALE, Locale, interpret_texts
from engine.sources import READERS, format_of, read, reader
from engine.sources.base import FILE_NOT_FOUND, WRONG_FORMAT, ReadRequest, SourceError, SourceTable
from engine.sources.columns import TableBuilder, arrow_column, python_column
from engine.sources.json import array_key
from engine.sources.spec import FormatSpec
from tests.sources import support


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return support.make_data(tmp_path_factory.mktemp("readers"))


def _req(path: Path, locale: Locale = DEFAULT_LOCALE, **spec: object) -> ReadRequest:
    return ReadRequest(FormatSpec(**spec), path=path, name=path.name, locale=locale,  # type: ignore[arg-type]
                       interpret=lambda t: interpret_texts(t, locale))


def cells(t: SourceTable, name: str) -> list[tuple[str, float] | None]:
    sym, codes = t.columns[t.names.index(name)]
    out: list[tuple[str, float] | None] = []
    for c in codes:
        out.append(None if c < 0 else (str(sym.text[c]), float(sym.num[c])))
    return out


def texts(t: SourceTable, name: str) -> list[str | None]:
    return [None if v is None else v[0] for v in cells(t, name)]


def nums(t: SourceTable, name: str) -> list[float]:
    return [math.nan if v is None else v[1] for v in cells(t, name)]


# --- registry ---------------------------------------------------------------------------------------

def test_registry_maps_every_format_and_extension():
    for fmt in ("json", "ooxml", "biff", "parquet", "xml", "html", "fix"):
        assert fmt in READERS and callable(reader(fmt))
    assert reader("txt") is None and reader("qvd") is None
    assert format_of("xlsx") == "ooxml" and format_of("XLS") == "biff" and format_of(".parquet") == "parquet"
    assert format_of("", "application/json; charset=utf-8") == "json"
    assert format_of("", "", default="html") == "html"
    with pytest.raises(SourceError) as e:
        read("dif", ReadRequest(FormatSpec(), data=b"x", name="a.dif"))
    assert e.value.code == WRONG_FORMAT


# --- JSON -------------------------------------------------------------------------------------------

def test_json_rows_nested_objects_and_array_keys(data):
    t = read("json", _req(data / "people.json"))
    assert t.names == ["id", "name.first", "name.last", "%Key_tags", "score", "code", "active"]
    assert texts(t, "name.first") == ["Alice", "Bob", None]
    assert texts(t, "name.last") == ["Stephenson", None, "Roberts"]
    assert cells(t, "code") == [("007", 7.0), ("008", 8.0)] + [None]     # strings are interpreted
    assert cells(t, "score")[0] == ("9.5", 9.5) and cells(t, "score")[1] is None
    assert cells(t, "active") == [None, None, ("True", -1.0)]
    assert texts(t, "%Key_tags") == [array_key(["a", "b"]), array_key(["b"]), array_key([])]


def test_json_table_is_iterates_the_arrays_with_the_same_key(data):
    t = read("json", _req(data / "people.json", table="/*/tags"))
    assert t.names == ["%Key_tags", "tags..@1"]
    assert texts(t, "tags..@1") == ["a", "b", "b"]
    assert texts(t, "%Key_tags") == [array_key(["a", "b"])] * 2 + [array_key(["b"])]


def test_json_root_object_json_lines_and_wanted_fields():
    one = read("json", ReadRequest(FormatSpec(), data=b'{"a": 1, "b": {"c": "x"}}', name="o.json"))
    assert one.nrows == 1 and one.names == ["a", "b.c"]
    lines = read("json", ReadRequest(FormatSpec(), data=b'{"a": 1}\n{"a": 2}\n', name="l.json"))
    assert nums(lines, "a") == [1.0, 2.0]
    pos = read("json", ReadRequest(FormatSpec(), data=b'[{"pos": [1, 2, 3]}, {"pos": [4]}]', name="p.json",
                                   wanted=("pos.@1", "pos.@3", "nothing")))
    assert nums(pos, "pos.@1") == [1.0, 4.0]
    assert cells(pos, "pos.@3") == [("3", 3.0), None]
    assert cells(pos, "nothing") == [None, None]


def test_json_errors():
    with pytest.raises(SourceError) as e:
        read("json", ReadRequest(FormatSpec(), data=b"[{\"a\": 1,", name="b.json"))
    assert e.value.code == WRONG_FORMAT and "b.json" in e.value.message
    with pytest.raises(SourceError) as e:
        read("json", ReadRequest(FormatSpec(), data=b"[1, 2, 3]", name="m.json", max_rows=2))
    assert "Row limit" in e.value.message


# --- Excel ------------------------------------------------------------------------------------------

def test_xlsx_types_dates_and_nulls(data):
    t = read("ooxml", _req(data / "sales.xlsx", table="Sheet1"))
    assert t.names == ["Region", "Units", "Price", "Day", "Stamp"]
    assert cells(t, "Units") == [("10", 10.0), ("7", 7.0), ("12", 12.0)]
    assert cells(t, "Price") == [("2.5", 2.5), None, ("3.25", 3.25)]
    assert cells(t, "Day")[0] == ("3/1/2021", 44256.0)         # days since 1899-12-30, DateFormat text
    assert cells(t, "Day")[2] is None
    stamp = cells(t, "Stamp")[1]
    assert stamp is not None and stamp[0] == "3/2/2021 5:45:30 PM"
    assert stamp[1] == pytest.approx(44257 + (17 * 3600 + 45 * 60 + 30) / 86400)


def test_xlsx_dates_follow_the_scripts_formats(data):
    loc = Locale.from_variables({"DateFormat": "YYYY-MM-DD", "TimestampFormat": "YYYY-MM-DD hh:mm:ss"})
    t = read("ooxml", _req(data / "sales.xlsx", locale=loc))
    assert texts(t, "Day")[:2] == ["2021-03-01", "2021-03-02"]
    assert texts(t, "Stamp")[0] == "2021-03-01 08:30:00"


def test_xlsx_sheets_header_lines_and_no_labels(data):
    notes = read("ooxml", _req(data / "sales.xlsx", table="Notes$"))
    assert notes.names == ["Note"] and texts(notes, "Note") == ["first", "second"]
    off = read("ooxml", _req(data / "offset.xlsx", header_lines=1))
    assert off.names[:2] == ["Region", "Units"] and texts(off, "Region") == ["North", "South"]
    raw = read("ooxml", _req(data / "sales.xlsx", labels="none"))
    assert raw.names == ["@1", "@2", "@3", "@4", "@5"] and texts(raw, "@1")[0] == "Region"
    with pytest.raises(SourceError) as e:
        read("ooxml", _req(data / "sales.xlsx", table="Nope"))
    assert "Nope" in e.value.message and "Sheet1" in e.value.message


def test_xls_biff(data):
    t = read("biff", _req(data / "legacy.xls"))
    assert t.names == ["Region", "Units", "Price", "Day", "Stamp"]
    assert texts(t, "Region") == ["North", "South"]
    assert cells(t, "Day")[0] == ("3/1/2021", 44256.0)


def test_excel_damaged_or_missing(data):
    with pytest.raises(SourceError) as e:
        read("ooxml", _req(data / "broken.xlsx"))
    assert e.value.code == WRONG_FORMAT
    with pytest.raises(SourceError) as e:
        read("ooxml", _req(data / "absent.xlsx"))
    assert e.value.code == FILE_NOT_FOUND


def test_excel_streams_in_batches(tmp_path, monkeypatch):
    from engine.sources import excel

    monkeypatch.setattr(excel, "BATCH_ROWS", 100)
    path = support.write_xlsx(tmp_path / "many.xlsx", [["n", "t"]] + [[i, f"t{i % 7}"] for i in range(1050)])
    seen: list[int] = []
    req = _req(path)
    req.on_rows = seen.append
    t = read("ooxml", req)
    assert t.nrows == 1050 and nums(t, "n")[-1] == 1049.0 and len(t.columns[1][0]) == 7
    assert seen[:3] == [100, 200, 300] and seen[-1] == 1050


# --- Parquet ----------------------------------------------------------------------------------------

def test_parquet_types_as_duals(data):
    t = read("parquet", _req(data / "table.parquet"))
    assert t.names == ["id", "amount", "label", "day", "stamp", "flag", "small"] and t.nrows == 5
    assert nums(t, "id") == [1, 2, 3, 4, 5]
    assert cells(t, "amount")[0] is None and cells(t, "amount")[1] == ("1.5", 1.5)
    assert texts(t, "label") == [None, "item1", "item2", "item0", "item1"]
    assert cells(t, "day")[0] == ("1/1/2020", 43831.0)
    assert cells(t, "stamp")[1] == ("1/1/2020 1:00:00 PM", pytest.approx(43831 + 13 / 24))
    assert cells(t, "flag")[:2] == [("True", -1.0), ("False", 0.0)]


def test_parquet_streams_row_groups_and_checks_the_row_limit(tmp_path, monkeypatch):
    from engine.sources import parquet

    monkeypatch.setattr(parquet, "BATCH_ROWS", 1000)
    pq.write_table(support.parquet_table(5000), tmp_path / "t.parquet", row_group_size=1000)
    seen: list[int] = []
    req = _req(tmp_path / "t.parquet")
    req.on_rows = seen.append
    t = read("parquet", req)
    assert seen == [1000, 2000, 3000, 4000, 5000]
    assert t.nrows == 5000 and len(t.columns[t.names.index("label")][0]) == 3   # symbols merged across batches
    assert texts(t, "label")[4999] == "item1"
    req = _req(tmp_path / "t.parquet")
    req.max_rows = 10
    with pytest.raises(SourceError, match="Row limit"):
        read("parquet", req)


def test_parquet_write_keeps_types(tmp_path, data):
    from engine.sources import parquet

    t = read("parquet", _req(data / "table.parquet"))
    parquet.write(tmp_path / "out.parquet", t.names, t.columns, DEFAULT_LOCALE)
    back = pq.read_table(tmp_path / "out.parquet")
    assert [str(f.type) for f in back.schema] == ["int64", "double", "string", "date32[day]", "timestamp[ms]",
                                                  "double", "int64"]
    assert back.column("day").to_pylist()[0] == dt.date(2020, 1, 1)
    assert back.column("amount").to_pylist()[:2] == [None, 1.5]
    assert back.column("label").to_pylist()[0] is None
    assert list(tmp_path.iterdir()) == [tmp_path / "out.parquet"]     # no temp file left behind


def test_parquet_damaged(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(SourceError) as e:
        read("parquet", _req(tmp_path / "bad.parquet"))
    assert e.value.code == WRONG_FORMAT


# --- XML / HTML / fixed -------------------------------------------------------------------------------

def test_xml_rows_attributes_and_nested_fields(data):
    t = read("xml", _req(data / "books.xml", table="catalog/book"))
    assert t.names == ["id", "lang", "title", "price", "author/name"]
    assert texts(t, "title") == ["Dune", "Solaris", "Lalka"]
    assert cells(t, "price") == [("9.99", 9.99), ("7.50", 7.5), None]
    assert texts(t, "author/name") == ["Herbert", None, None]
    guessed = read("xml", _req(data / "books.xml"))
    assert guessed.names == t.names


def test_xml_refuses_entities_and_reports_bad_files(tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            "<r><row><v>&b;</v></row><row><v>x</v></row></r>")
    (tmp_path / "e.xml").write_text(bomb)
    t = read("xml", _req(tmp_path / "e.xml", table="r/row"))
    assert "aaaaaaaaaa" not in "".join(v for v in texts(t, "v") if v)       # entities are not expanded
    (tmp_path / "bad.xml").write_text("<r><row>")
    with pytest.raises(SourceError) as e:
        read("xml", _req(tmp_path / "bad.xml", table="r/row"))
    assert e.value.code == WRONG_FORMAT
    with pytest.raises(SourceError, match="not found"):
        read("xml", _req(tmp_path / "e.xml", table="r/nothing"))


def test_html_tables_by_number_and_name(data):
    first = read("html", _req(data / "page.html"))
    assert first.names == ["Lag", "Hemmasnitt"] and texts(first, "Lag") == ["Hammarby", "AIK"]
    assert texts(first, "Hemmasnitt") == ["11 885", "11 000"]
    second = read("html", _req(data / "page.html", table="@2"))
    assert second.names == ["City", "Where", "Where1"]
    assert texts(second, "Where1") == ["55.7", ""]                     # empty cells are empty text
    assert read("html", _req(data / "page.html", table="Cities")).names == second.names
    with pytest.raises(SourceError, match="@3"):
        read("html", _req(data / "page.html", table="@3"))


def test_html_without_a_table_reads_delimited_text():
    req = ReadRequest(FormatSpec(fmt="html", delimiter=","), data=b"a,b\n1,x\n2,y\n", name="airports.csv",
                      interpret=lambda t: interpret_texts(t))
    t = read("html", req)
    assert t.names == ["a", "b"] and nums(t, "a") == [1.0, 2.0]


def test_fixed_width_by_labels_and_by_positions(data):
    t = read("fix", _req(data / "fixed.txt", header_lines=1))
    assert t.names == ["Code", "Name", "Amount"]
    assert cells(t, "Code")[0] == ("0001", 1.0)
    assert texts(t, "Name") == ["Alpha", "Beta", "Gamma Ray"]
    assert nums(t, "Amount") == [12.5, 7.0, 100.25]
    pos = read("fix", ReadRequest(FormatSpec(labels="none", header_lines=2), path=data / "fixed.txt",
                                  name="fixed.txt", wanted=("@1:4", "@6:15T")))
    assert pos.names == ["@1:4", "@6:15T"] and texts(pos, "@6:15T") == ["Alpha", "Beta", "Gamma Ray"]
    auto = read("fix", ReadRequest(FormatSpec(labels="none", header_lines=2), path=data / "fixed.txt",
                                   name="fixed.txt"))
    assert auto.names[0] == "@1" and texts(auto, "@1") == ["0001", "0002", "0003"]


def test_fixed_width_records_of_n_characters_and_lines():
    chars = read("fix", ReadRequest(FormatSpec(labels="none", record_chars=3), data=b"ab1cd2ef3",
                                    name="r.txt", wanted=("@1:2", "@3:3")))
    assert texts(chars, "@1:2") == ["ab", "cd", "ef"]
    lines = read("fix", ReadRequest(FormatSpec(labels="none", record_lines=2), data=b"ab\n12\ncd\n34\n",
                                    name="r.txt", wanted=("@1:2", "@3:4")))
    assert texts(lines, "@3:4") == ["12", "34"]


# --- shared encoding ----------------------------------------------------------------------------------

def test_python_values_become_duals():
    sym, codes = python_column(["1", "1.0", "x", None, 3, dt.date(2000, 1, 1), dt.time(6, 0)], DEFAULT_LOCALE,
                               lambda t: interpret_texts(t))
    got = [None if c < 0 else (str(sym.text[c]), float(sym.num[c])) for c in codes]
    assert got[:2] == [("1", 1.0), ("1", 1.0)] and got[3] is None    # same number: one value, first text
    assert got[2] is not None and got[2][0] == "x" and math.isnan(got[2][1])
    assert got[4] == ("3", 3.0) and got[5] == ("1/1/2000", 36526.0) and got[6] == ("6:00:00 AM", 0.25)


def test_builder_merges_batches_and_pads_late_columns():
    b = TableBuilder()
    b.add({"a": arrow_column(pa.array(["x", "y"]), DEFAULT_LOCALE)}, 2)
    b.add({"a": arrow_column(pa.array(["y", "z"]), DEFAULT_LOCALE),
           "b": arrow_column(pa.array([1, 2]), DEFAULT_LOCALE)}, 2)
    t = b.finish()
    assert texts(t, "a") == ["x", "y", "y", "z"] and len(t.columns[0][0]) == 3
    assert cells(t, "b") == [None, None, ("1", 1.0), ("2", 2.0)]
    assert np.array_equal(t.columns[0][1], [0, 1, 1, 2])
