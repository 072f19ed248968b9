"""App files in DocumentDirectory: round trip, qNoData, doc list, corruption, crash safety."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from engine.app import store
from engine.app.store import AppDocument, DocEntry
from engine.errors import QixError
from engine.model.datamodel import DataModel, Field, Table, TableData
from engine.model.symbols import SymbolTable, encode

ROOT = Path(__file__).resolve().parents[2]


def _texts(values: np.ndarray) -> np.ndarray:
    """Vectorised default texts for integers (arrow cast), so big fixtures build fast."""
    return pa.array(values).cast(pa.string()).to_numpy(zero_copy_only=False).astype(object)


def _col(num, text) -> tuple[SymbolTable, np.ndarray]:
    return encode(np.asarray(num, dtype=np.float64), np.asarray(text, dtype=object))


def make_model() -> DataModel:
    """Key fields, NULLs, duals, unicode, an empty table, a 1M-row column, several code widths."""
    n = 1_000_000
    rng = np.random.default_rng(7)
    ids = np.arange(n)
    cust_names = np.array(["Åsa", "Björn", "東京", "Zoë 🚀", "", "Ölstugan", "plain"], dtype=object)
    cust = cust_names[rng.integers(0, len(cust_names), n)]
    cust[rng.integers(0, n, 1000)] = None                                   # NULLs in a text column
    amount = np.round(rng.uniform(0, 1000, n), 2)
    amount_text = np.full(n, None, dtype=object)
    amount_text[:5] = ["1,00 €", "2,50 €", "3,75 €", "4,00 €", "5,00 €"]     # numeric + text duals
    amount_num = amount.copy()
    amount_num[10:20] = np.nan                                              # NULL numbers
    mixed_num = np.array([1.0, np.nan, 2.5, np.nan, np.nan, 1.0, 7.0])
    mixed_text = np.array(["one", "abc", None, None, "ünï", "uno", None], dtype=object)
    mid = rng.integers(0, 300, n).astype(np.float64)                         # 300 symbols: int16 storage
    orders = TableData("Orders", {
        "OrderID": _col(ids, _texts(ids)),
        "Customer": _col(np.full(n, np.nan), cust),
        "Amount": _col(amount_num, amount_text),
        "Bucket": _col(mid, _texts(mid.astype(np.int64))),
    }, n, comment="fact table")
    customers = TableData("Customers", {
        "Customer": _col(np.full(6, np.nan), np.array(["Åsa", "Björn", "東京", "Zoë 🚀", "new", "Ölstugan"],
                                                      dtype=object)),
        "Mixed": _col(mixed_num[:6], mixed_text[:6]),
    }, 6, is_synthetic=True)
    empty = TableData("Empty", {
        "Nothing": _col(np.empty(0), np.empty(0, dtype=object)),
    }, 0)
    model = DataModel.build([orders, customers, empty],
                            field_info={"Amount": {"comment": "in €", "tags": ["$currency"]}})
    model.fields["Bucket"].is_hidden = True
    return model


def make_doc(model: DataModel | None, app_id: str = "sales-app") -> AppDocument:
    return AppDocument(
        app_id=app_id, title="Sälj 📈", script="LOAD * INLINE [a\n1];\n// ünïcode",
        properties={"qTitle": "Sälj 📈", "custom": {"nested": [1, 2.5, None, True]}, "test": True},
        objects=[{"qProperty": {"qInfo": {"qId": "obj1", "qType": "sheet"}, "qMetaDef": {"title": "Ark"}},
                  "qChildren": [{"qProperty": {"qInfo": {"qId": "c1", "qType": "table"}}, "qChildren": []}]}],
        variables=[{"qInfo": {"qId": "v1", "qType": "variable"}, "qName": "vX", "qDefinition": "=1+1"}],
        connections=[{"qId": "c1", "qName": "data", "qConnectionString": "/data", "qType": "folder"}],
        bookmarks=[{"qInfo": {"qId": "b1"}}], dimensions=[{"qInfo": {"qId": "d1"}}],
        measures=[{"qInfo": {"qId": "m1"}, "qMeasure": {"qDef": "Sum(Amount)"}}],
        last_reload_time="2024-05-01T10:11:12.000Z", model=model,
        section_access={"columns": ["ACCESS", "USERID", "REDUCTION"],
                        "rows": [["ADMIN", "INTERNAL\\SA_SCHEDULER", None], ["USER", "bö", "東京"]]},
        script_variables={"ThousandSep": ",", "DecimalSep": "."})


@pytest.fixture(scope="module")
def model() -> DataModel:
    return make_model()


def assert_models_equal(a: DataModel, b: DataModel) -> None:
    assert list(a.fields) == list(b.fields)
    for name, fa in a.fields.items():
        fb = b.fields[name]
        assert (fa.tags, fa.comment, fa.is_system, fa.is_hidden) == (fb.tags, fb.comment, fb.is_system, fb.is_hidden)
        assert fa.symbols.num.dtype == fb.symbols.num.dtype == np.float64
        assert np.array_equal(fa.symbols.num, fb.symbols.num, equal_nan=True), name
        assert fa.symbols.text.dtype == fb.symbols.text.dtype == object
        assert fa.symbols.text.tolist() == fb.symbols.text.tolist(), name
    assert list(a.tables) == list(b.tables)
    for name, ta in a.tables.items():
        tb = b.tables[name]
        assert (ta.nrows, ta.comment, ta.is_synthetic) == (tb.nrows, tb.comment, tb.is_synthetic)
        assert list(ta.columns) == list(tb.columns)
        for fname, ca in ta.columns.items():
            cb = tb.columns[fname]
            assert ca.dtype == cb.dtype, (name, fname)
            assert np.array_equal(ca, cb), (name, fname)
    assert a.key_fields == b.key_fields
    assert a.field_tables == b.field_tables


def assert_docs_equal(a: AppDocument, b: AppDocument, with_model: bool = True) -> None:
    for key in ("app_id", "title", "script", "properties", "objects", "variables", "connections", "bookmarks",
                "dimensions", "measures", "last_reload_time", "section_access", "script_variables",
                "has_section_access"):
        assert getattr(a, key) == getattr(b, key), key
    if with_model:
        assert_models_equal(a.model, b.model)


# ------------------------------------------------------------------------------------------ round trip


def test_round_trip_is_identical(tmp_path: Path, model: DataModel) -> None:
    doc = make_doc(model)
    path = store.document_path(tmp_path, doc.app_id)
    store.save(path, doc)
    back = store.load(path)
    assert_docs_equal(doc, back)
    # the fixture really covers what it claims
    orders = back.model.tables["Orders"]
    assert orders.nrows == 1_000_000 and len(back.model.fields["OrderID"].symbols) == 1_000_000
    assert (orders.columns["Customer"] == -1).sum() > 0
    assert back.model.fields["Amount"].symbols.text[0] == "1,00 €"
    assert back.model.fields["Amount"].symbols.num[0] == pytest.approx(doc.model.fields["Amount"].symbols.num[0])
    assert back.model.tables["Empty"].nrows == 0 and back.model.tables["Empty"].columns["Nothing"].dtype == np.int32
    assert "東京" in back.model.fields["Customer"].symbols.text.tolist()
    assert back.model.key_fields == frozenset({"Customer"})
    assert back.section_access["rows"][0][2] is None
    assert sorted(os.listdir(tmp_path)) == ["sales-app.qvf"]  # no temp file left behind


def test_codes_are_stored_narrow_and_loaded_as_int32(tmp_path: Path, model: DataModel) -> None:
    path = tmp_path / "a.qvf"
    store.save(path, make_doc(model))
    with sqlite3.connect(path) as con:
        stored = dict(con.execute(
            "SELECT c.field, a.dtype FROM columns c JOIN arrays a ON a.id = c.codes JOIN tables t "
            "ON t.ord = c.table_ord WHERE t.name = 'Orders'"))
    assert stored == {"OrderID": "<i4", "Customer": "|i1", "Amount": "<i4", "Bucket": "<i2"}
    back = store.load(path).model.tables["Orders"]
    assert all(c.dtype == np.int32 for c in back.columns.values())


def test_loaded_arrays_are_read_only(tmp_path: Path, model: DataModel) -> None:
    store.save(tmp_path / "a.qvf", make_doc(model))
    back = store.load(tmp_path / "a.qvf").model
    with pytest.raises(ValueError):
        back.tables["Orders"].columns["OrderID"][0] = 5
    with pytest.raises(ValueError):
        back.fields["OrderID"].symbols.num[0] = 5.0


def test_document_without_model_or_section_access(tmp_path: Path) -> None:
    doc = AppDocument(app_id="empty")
    generation = store.save(tmp_path / "empty.qvf", doc)
    back = store.load(tmp_path / "empty.qvf")
    assert back == dataclasses.replace(doc, generation=generation)
    assert back.model is None and not back.has_section_access


def test_empty_model_round_trips(tmp_path: Path) -> None:
    store.save(tmp_path / "e.qvf", AppDocument(app_id="e", model=DataModel.empty()))
    back = store.load(tmp_path / "e.qvf").model
    assert back is not None and back.tables == {} and back.fields == {}


def test_model_built_directly_keeps_non_int32_codes(tmp_path: Path) -> None:
    syms = SymbolTable(np.array([1.0, 2.0]), np.array(["1", "2"], dtype=object))
    m = DataModel([Table("T", {"F": np.array([0, 1, -1], dtype=np.int64)}, 3)], {"F": Field("F", syms)})
    store.save(tmp_path / "d.qvf", AppDocument(app_id="d", model=m))
    back = store.load(tmp_path / "d.qvf").model
    assert back.tables["T"].columns["F"].dtype == np.int64
    assert back.tables["T"].columns["F"].tolist() == [0, 1, -1]


def test_resave_replaces_previous(tmp_path: Path) -> None:
    path = tmp_path / "r.qvf"
    store.save(path, AppDocument(app_id="r", title="first"))
    store.save(path, AppDocument(app_id="r", title="second", script="x"))
    assert store.load(path).title == "second"
    assert os.listdir(tmp_path) == ["r.qvf"]


def test_no_data_load_skips_the_model(tmp_path: Path, model: DataModel) -> None:
    doc = make_doc(model)
    store.save(tmp_path / "a.qvf", doc)
    back = store.load(tmp_path / "a.qvf", with_data=False)
    assert back.model is None
    assert_docs_equal(doc, back, with_model=False)


# -------------------------------------------------------------------------------------------- doc list


def test_doc_list_entries(tmp_path: Path, model: DataModel) -> None:
    store.save(tmp_path / "sales-app.qvf", make_doc(model))
    store.save(tmp_path / "b.qvf", AppDocument(app_id="b", title="B"))
    (tmp_path / "junk.qvf").write_bytes(b"not an app")
    (tmp_path / "b.qvf.tmp-1-abcd").write_bytes(b"half written")
    (tmp_path / "notes.txt").write_text("x")
    entries = store.list_documents(tmp_path)
    assert [e.doc_name for e in entries] == ["b.qvf", "sales-app.qvf"]
    b, sales = entries
    st = (tmp_path / "sales-app.qvf").stat()
    assert sales == DocEntry(doc_name="sales-app.qvf", app_id="sales-app", title="Sälj 📈",
                             file_size=st.st_size, file_time=st.st_mtime,
                             last_reload_time="2024-05-01T10:11:12.000Z", has_section_access=True,
                             path=tmp_path / "sales-app.qvf")
    assert sales.file_size > 8_000_000  # the model is in there
    assert (b.title, b.last_reload_time, b.has_section_access) == ("B", "", False)


def test_read_entry_does_not_touch_the_model(tmp_path: Path, model: DataModel) -> None:
    path = tmp_path / "a.qvf"
    store.save(path, make_doc(model))
    with sqlite3.connect(path) as con:   # damage only the data: listing still works, loading does not
        con.execute("DELETE FROM chunks")
    assert store.read_entry(path).title == "Sälj 📈"
    with pytest.raises(QixError) as err:
        store.load(path)
    assert err.value.code == 11


# ----------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("content", [b"garbage" * 1000, b"", b"SQLite format 3\x00" + b"\x00" * 200])
def test_corrupt_file_is_error_11(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.qvf"
    path.write_bytes(content)
    for call in (lambda: store.load(path), lambda: store.read_entry(path)):
        with pytest.raises(QixError) as err:
            call()
        assert (err.value.code, err.value.parameter) == (11, "bad.qvf")


def test_foreign_sqlite_database_is_error_11(tmp_path: Path) -> None:
    path = tmp_path / "other.qvf"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE meta(key TEXT, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('format_version', '1')")
    with pytest.raises(QixError) as err:
        store.load(path)
    assert err.value.code == 11


def test_truncated_file_is_error_11(tmp_path: Path, model: DataModel) -> None:
    path = tmp_path / "t.qvf"
    store.save(path, make_doc(model))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(QixError) as err:
        store.load(path)
    assert err.value.code == 11


def test_damaged_codes_are_detected(tmp_path: Path) -> None:
    syms = SymbolTable(np.array([1.0]), np.array(["1"], dtype=object))
    m = DataModel([Table("T", {"F": np.array([0, 0], dtype=np.int32)}, 2)], {"F": Field("F", syms)})
    path = tmp_path / "d.qvf"
    store.save(path, AppDocument(app_id="d", model=m))
    with sqlite3.connect(path) as con:
        con.execute("UPDATE chunks SET data = x'0005' WHERE array_id = (SELECT codes FROM columns)")
    with pytest.raises(QixError) as err:
        store.load(path)
    assert err.value.code == 11


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.qvf"
    store.save(path, AppDocument(app_id="new"))
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(QixError) as err:
        store.load(path)
    assert err.value.code == 17
    assert "version 99" in err.value.parameter and "newer" in err.value.parameter


def test_missing_file_is_app_not_found(tmp_path: Path) -> None:
    with pytest.raises(QixError) as err:
        store.load(tmp_path / "nope.qvf")
    assert err.value.code == 1003
    with pytest.raises(QixError) as err:
        store.delete(tmp_path / "nope.qvf")
    assert err.value.code == 1003


def test_delete(tmp_path: Path) -> None:
    store.save(tmp_path / "x.qvf", AppDocument(app_id="x"))
    store.delete(tmp_path / "x.qvf")
    assert store.list_documents(tmp_path) == []


def test_odd_file_names_and_missing_directory(tmp_path: Path) -> None:
    path = store.document_path(tmp_path / "new dir", "my app #1? 100% ü")
    store.save(path, AppDocument(app_id="my app #1? 100% ü", title="odd"))
    assert store.load(path).title == "odd"
    assert [e.app_id for e in store.list_documents(tmp_path / "new dir")] == ["my app #1? 100% ü"]


def test_document_path() -> None:
    assert store.document_path(Path("/apps"), "abc") == Path("/apps/abc.qvf")
    assert store.document_path(Path("/apps"), "data.qvf") == Path("/apps/data.qvf")
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(QixError) as err:
            store.document_path(Path("/apps"), bad)
        assert err.value.code == 1001


def test_failed_save_leaves_previous_file_and_no_temp(tmp_path: Path, model: DataModel,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.qvf"
    store.save(path, AppDocument(app_id="a", title="old"))

    def boom(stage: str) -> None:
        if stage == "table":
            raise OSError("disk full")

    monkeypatch.setattr(store, "_stage_hook", boom)
    with pytest.raises(QixError) as err:
        store.save(path, make_doc(model, "a"))
    assert err.value.code == 9001 and "disk full" in err.value.parameter
    assert os.listdir(tmp_path) == ["a.qvf"]
    assert store.load(path).title == "old"


# -------------------------------------------------------------------------------------- crash safety


def make_crash_model(n: int = 4_000_000, k: int = 200_000) -> DataModel:
    """A model big enough that a save takes a while, built fast (no encode)."""
    sym = SymbolTable(np.arange(k, dtype=np.float64), _texts(np.arange(k)))
    rows = np.arange(n, dtype=np.int64)
    cols = {f"F{i}": ((rows * (7919 + i)) % (k + 1) - 1).astype(np.int32) for i in range(2)}
    fields = {name: Field(name, sym) for name in cols}
    return DataModel([Table("Big", cols, n)], fields)


def crash_doc(title: str, model: DataModel) -> AppDocument:
    return AppDocument(app_id="crash", title=title, script=f"// {title}", model=model,
                       properties={"qTitle": title})


_CHILD = """
import sys, time
from pathlib import Path
from engine.app import store
from tests.app.test_store import crash_doc, make_crash_model

path, stop_at = Path(sys.argv[1]), sys.argv[2]
model = make_crash_model()

def hook(stage):
    if stage == stop_at:
        print("STOPPED", flush=True)
        time.sleep(600)

store._stage_hook = hook
print("READY", flush=True)
i = 0
while True:
    i += 1
    store.save(path, crash_doc(f"child-{i}", model))
"""


def _spawn(path: Path, stop_at: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(path), stop_at], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


@pytest.fixture(scope="module")
def crash_model() -> DataModel:
    return make_crash_model()


def _check_after_crash(path: Path, model: DataModel, allowed_titles: set[str] | None) -> AppDocument:
    back = store.load(path)
    assert back.script == f"// {back.title}" and back.properties == {"qTitle": back.title}  # no mixing
    if allowed_titles is not None:
        assert back.title in allowed_titles
    assert_models_equal(back.model, model)
    entries = store.list_documents(path.parent)
    assert [e.doc_name for e in entries] == [path.name] and entries[0].title == back.title
    return back


@pytest.mark.parametrize("stage", ["begin", "table", "committed", "before_replace"])
def test_kill_inside_save_keeps_previous_save(tmp_path: Path, crash_model: DataModel, stage: str) -> None:
    path = tmp_path / "crash.qvf"
    store.save(path, crash_doc("v0", crash_model))
    proc = _spawn(path, stage)
    try:
        assert proc.stdout.readline().strip() == "READY"
        assert proc.stdout.readline().strip() == "STOPPED"
    finally:
        _kill(proc)
    temps = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert len(temps) == 1 and temps[0].name.startswith("crash.qvf.tmp-")
    _check_after_crash(path, crash_model, {"v0"})
    assert store.clean_temp_files(tmp_path) == temps
    assert os.listdir(tmp_path) == ["crash.qvf"]


def test_kill_at_random_times(tmp_path: Path, crash_model: DataModel) -> None:
    path = tmp_path / "crash.qvf"
    store.save(path, crash_doc("v0", crash_model))
    rnd = random.Random(42)
    left_temp = 0
    titles = set()
    # kill at random moments until both kinds of moment were hit (mid-save and after a completed
    # save), however slow the machine is; bounded in attempts
    for attempt in range(80):
        if attempt >= 10 and left_temp >= 3 and len(titles) >= 2:
            break
        proc = _spawn(path, "never")
        try:
            assert proc.stdout.readline().strip() == "READY"
            time.sleep(rnd.uniform(0.0, 0.5 + attempt * 0.05))
        finally:
            _kill(proc)
        left_temp += bool(store.clean_temp_files(tmp_path))
        back = _check_after_crash(path, crash_model, None)
        titles.add(back.title)
        assert back.title == "v0" or back.title.startswith("child-")
        assert os.listdir(tmp_path) == ["crash.qvf"]
    # the kills really landed inside saves (a temp file was left) and after completed ones (a new title)
    assert left_temp >= 3
    assert len(titles) >= 2


def test_clean_temp_files_keeps_live_savers(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = store.Writer.me()
    other_host = dataclasses.replace(me, host="0badc0de")
    temps = {
        "mine": (me, False),
        "dead pid": (dataclasses.replace(me, pid=dead.pid), True),
        # a container restarted as the same PID: the pid is alive (it is us), its start time is not ours
        "same pid, earlier start": (dataclasses.replace(me, start=me.start - 1), True),
        "before the last boot": (dataclasses.replace(me, boot="0badc0de"), True),
        "another host, fresh": (other_host, False),
        "another host, stale": (other_host, True),
        "garbage, fresh": (None, False),
        "garbage, stale": (None, True),
    }
    paths = {}
    for i, (label, (writer, _)) in enumerate(temps.items()):
        tag = writer.tag() if writer else "garbage"
        p = paths[label] = tmp_path / f"a.qvf.tmp-{tag}-{i:04x}"
        p.write_bytes(b"x")
        if label.endswith("stale"):
            old = time.time() - store.STALE_TEMP_SECONDS - 60
            os.utime(p, (old, old))
    removed = store.clean_temp_files(tmp_path)
    assert sorted(removed) == sorted(paths[label] for label, (_, dead_) in temps.items() if dead_)
    assert all(paths[label].exists() for label, (_, dead_) in temps.items() if not dead_)


def test_temp_files_name_their_writer(tmp_path: Path) -> None:
    me = store.Writer.me()
    assert me.start > 0 and me.pid == os.getpid() and len(me.boot) == 8
    assert store.Writer.me() == me  # stable for the process
