"""Script-only functions that read the reload's state: AutoNumber counters, MapSubString, LookUp,
Evaluate, IsPartialReload, EngineVersion and the file/QVD functions (through the path policy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.script.errors import ScriptError
from engine.script.runner import ReloadResult, ScriptEnv, run_script

DATA = """M: MAPPING LOAD * INLINE [
k, v
ab, X
a, Y
];
T: LOAD * INLINE [
a, b, s
1, 2, abac
2, 5, cab
3, 7, abab
4, 5, cab
];
"""


def run(script: str, tmp_path: Path, **kw) -> ReloadResult:
    return run_script(script, ScriptEnv(document_dir=tmp_path, **kw))


def col(r: ReloadResult, table: str, field: str) -> list:
    sym = r.model.fields[field].symbols
    out = []
    for c in r.model.tables[table].columns[field]:
        if c < 0:
            out.append(None)
        elif sym.num[c] == sym.num[c]:
            out.append(float(sym.num[c]))
        else:
            out.append(str(sym.text[c]))
    return out


def test_autonumber_counts_distinct_values_per_counter(tmp_path: Path) -> None:
    r = run(DATA + """R: NoConcatenate LOAD AutoNumber(s) as A, AutoNumber(b, 'other') as B,
    AutoNumberHash128(s, b) as H, AutoNumberHash256(s) as H2 RESIDENT T;""", tmp_path)
    assert col(r, "R", "A") == [1, 2, 3, 2]
    assert col(r, "R", "B") == [1, 2, 3, 2]
    assert col(r, "R", "H") == [1, 2, 3, 2]
    assert col(r, "R", "H2") == [1, 2, 3, 2]


def test_mapsubstring_lookup_and_evaluate(tmp_path: Path) -> None:
    r = run(DATA + """R: NoConcatenate LOAD MapSubString('M', s) as MS, LookUp('b', 'a', a + 1, 'T') as L,
    Evaluate(a & '*10') as E RESIDENT T;""", tmp_path)
    assert col(r, "R", "MS") == ["XYc", "cX", "XX", "cX"]  # longest key first: 'ab' before 'a'
    assert col(r, "R", "L") == [5, 7, 5, None]
    assert col(r, "R", "E") == [10, 20, 30, 40]


def test_system_functions(tmp_path: Path) -> None:
    r = run("R: LOAD IsPartialReload() as P, EngineVersion() as V AUTOGENERATE 1;", tmp_path)
    assert col(r, "R", "P") == [0]
    assert col(r, "R", "V")[0].count(".") == 2


def test_qvd_and_file_functions(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("hello")
    r = run(DATA + """STORE T INTO t.qvd (qvd);
R: LOAD FileSize('f.txt') as FS, FileTime('f.txt') as FT, QvdNoOfRecords('t.qvd') as QR,
 QvdNoOfFields('t.qvd') as QF, QvdFieldName('t.qvd', 3) as QN, QvdCreateTime('t.qvd') as QC,
 FileSize('missing.txt') as Missing AUTOGENERATE 1;""", tmp_path)
    assert col(r, "R", "FS") == [5]
    assert col(r, "R", "QR") == [4] and col(r, "R", "QF") == [3] and col(r, "R", "QN") == ["s"]
    assert col(r, "R", "FT")[0] > 45000 and col(r, "R", "QC")[0] > 45000
    assert col(r, "R", "Missing") == [None]


def test_file_functions_obey_the_standard_mode(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("hello")
    with pytest.raises(ScriptError):
        run("R: LOAD FileSize('f.txt') as FS AUTOGENERATE 1;", tmp_path, legacy_paths=False)
