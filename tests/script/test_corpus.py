"""Reload every script of the shared corpus and check the outcomes its sources recorded.

Each expectation of ``index.json`` is encoded by hand in ``EXPECT`` (keyed by file name). Scripts
whose sources we cannot have (xlsx, web, SQL connectors, QVDs on a Windows drive) must fail with a
clear ``ScriptError`` — never crash or hang.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.script.errors import (
    CONNECTOR,
    FILE_NOT_FOUND,
    GENERAL,
    TABLE_NOT_FOUND,
    WRONG_FORMAT,
    ScriptError,
)
from engine.script.paths import Connection
from engine.script.runner import ReloadResult, ScriptEnv, run_script


def corpus_dir() -> Path:
    """The one place the corpus path is decided: ``$QIX_CORPUS_DIR`` or ``<repo>/../shared/scripts-corpus``
    (walking further up for worktrees that live one level deeper)."""
    env = os.environ.get("QIX_CORPUS_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    for base in [repo.parent, *repo.parent.parents]:
        cand = base / "shared" / "scripts-corpus"
        if cand.is_dir():
            return cand
    return repo.parent / "shared" / "scripts-corpus"


CORPUS = corpus_dir()
pytestmark = pytest.mark.skipif(not (CORPUS / "index.json").is_file(), reason="script corpus not available")


def _index() -> list[dict]:
    if not (CORPUS / "index.json").is_file():
        return []
    return json.loads((CORPUS / "index.json").read_text())["scripts"]


def _env(entry: dict, tmp: Path) -> ScriptEnv:
    """Connections from the entry: 'data/...' values are corpus folders/files; anything else (gRPC,
    web, S3) is not declared, so the script fails on it."""
    conns: dict[str, Connection] = {}
    aliases: dict[str, Path] = {}
    for name, where in entry["connections"].items():
        if not where.startswith("data/"):
            continue
        rel = where.split(" (")[0].strip()
        if name.startswith("/"):
            aliases[name] = CORPUS / rel
        else:
            conns[name] = Connection(name, str(CORPUS / rel), "folder")
    return ScriptEnv(document_dir=tmp, connections=conns, max_rows=5_000_000, path_aliases=aliases)


def _script_bytes(entry: dict) -> bytes:
    data = (CORPUS / entry["file"]).read_bytes()
    if "${csv}" in entry["connections"]:
        csv = (CORPUS / "data/qlik-oss__enigma.js/examples/complete/car-models/data.csv").read_bytes()
        data = data.replace(b"${csv}", csv)
    return data


# --- helpers over a ReloadResult -----------------------------------------------------------------

def values(r: ReloadResult, table: str, field: str) -> list[str | None]:
    t = r.model.tables[table]
    sym = r.model.fields[field].symbols
    return [None if c < 0 else str(sym.text[c]) for c in t.columns[field]]


def numbers(r: ReloadResult, table: str, field: str) -> list[float]:
    t = r.model.tables[table]
    sym = r.model.fields[field].symbols
    return [float("nan") if c < 0 else float(sym.num[c]) for c in t.columns[field]]


def shape(r: ReloadResult) -> dict[str, tuple[int, list[str]]]:
    return {name: (t.nrows, list(t.columns)) for name, t in r.model.tables.items()}


@dataclass
class Fails:
    """The reload must fail with this ScriptError code and a message containing ``text``."""

    code: int
    text: str


Check = Callable[[ReloadResult], None]

AIRPORT_COLS = ["rowID", "Airport", "City", "Country", "IATA Code", "ICAO Code", "Latitude", "Longitude",
                "Altitude (ft)", "TimeZone", "DST", "TZ Database time zone"]


def _compound(r):
    assert shape(r) == {"Timeseries": (11, ["CompoundTimestamp", "Value"])}
    assert values(r, "Timeseries", "CompoundTimestamp")[0] == "2018-08-21T14:10:02.10"
    assert numbers(r, "Timeseries", "Value")[0] == 0.33


def _concat_auto(r):
    assert list(r.model.tables) == ["cars1"]
    t = r.model.tables["cars1"]
    assert t.nrows == 6 and set(t.columns) == {"Brand", "RegNo", "Year"}


def _concat_forced(r):
    assert list(r.model.tables) == ["cars1"]
    assert r.model.tables["cars1"].nrows == 6
    assert values(r, "cars1", "RegNo")[3:] == [None, None, None]
    assert None not in values(r, "cars1", "RegNo")[:3]


def _crosstable(r):
    assert len(r.model.tables) == 1
    (name, t), = r.model.tables.items()
    assert t.nrows == 9 and list(t.columns) == ["Country", "Month", "Number"]
    assert values(r, name, "Month")[:3] == ["Jan", "Feb", "Mar"]
    assert numbers(r, name, "Number") == [100, 200, 300, 150, 100, 400, 200, 300, 100]


def _csv_file(r):
    assert list(r.model.tables) == ["Airports"]
    assert list(r.model.tables["Airports"].columns) == AIRPORT_COLS
    assert r.model.tables["Airports"].nrows == 8097


def _field_functions(r):
    assert shape(r)["Airports"][1] == ["id", "Name", "City", "Country"]
    countries = values(r, "Airports", "Country")
    assert all(c == c.upper() for c in countries if c)
    names = values(r, "Airports", "Name")
    assert names[0] == "Moala " and not any("Airport" in n for n in names if n)


def _formatting(r):
    assert shape(r)["Sales"][1] == ["DateUsingDefaultSetting", "DateUsingCustomDisplayFormat"]
    assert values(r, "Sales", "DateUsingDefaultSetting")[0] == "12/01/2012"
    assert values(r, "Sales", "DateUsingCustomDisplayFormat")[0] == "2012-01"
    assert numbers(r, "Sales", "DateUsingDefaultSetting")[0] == 40920  # 2012-01-12


def _inline(r):
    assert shape(r) == {"Cities": (9, ["City", "Country"])}
    assert values(r, "Cities", "Country")[6] == "Spain"
    assert values(r, "Cities", "City")[-1] == "Bangalore"


def _preceding_calc(r):
    assert shape(r) == {"Taxes": (5, ["EmployeeId", "Salary", "Tax"])}
    sal, tax = numbers(r, "Taxes", "Salary"), numbers(r, "Taxes", "Tax")
    assert all(abs(t - s * 0.10) < 1e-6 for s, t in zip(sal, tax, strict=True))
    assert values(r, "Taxes", "EmployeeId")[0] == "001"


def _preceding_reuse(r):
    assert shape(r) == {"EvenOrOddness": (100, ["KeyId", "EvenOrOdd"])}
    assert "GenKey" not in r.model.fields
    assert numbers(r, "EvenOrOddness", "KeyId")[:2] == [1002, 2003]
    assert values(r, "EvenOrOddness", "EvenOrOdd")[:2] == ["Even", "Odd"]


def _resident(r):
    assert shape(r) == {"TotalNumber": (4, ["Country", "Number"])}
    got = dict(zip(values(r, "TotalNumber", "Country"), numbers(r, "TotalNumber", "Number"), strict=True))
    assert got == {"Sweden": 300, "Norway": 350, "Denmark": 330, "Germany": 150}


def _split(r):
    assert shape(r) == {"Locations": (3, ["LetterCode", "NumericCode", "HexCode", "Location"])}
    assert [values(r, "Locations", f)[0] for f in ("LetterCode", "NumericCode", "HexCode", "Location")] == \
        ["Alpha", "011", "AAFF", "Idaho"]


def _subset(r):
    assert shape(r)["Airports"][1] == ["Airport", "City", "Country", "TimeZone"]


def _movies_auth(r):
    (name, t), = r.model.tables.items()
    assert values(r, name, "Movie")[1] == "Armageddon"
    assert numbers(r, name, "Year")[1] == 1998
    assert "Adjusted Costs" in t.columns and "Adjusted Cost" not in t.columns


def _corectl_example(r):
    assert list(r.model.tables) == ["datacsv"]
    assert list(r.model.tables["datacsv"].columns) == ["Movie", "Year", "Adjusted Costs", "Nominal Costs", "Image",
                                                        "Movie Wikipedia Profile", "Description"]


def _abac(r):
    assert shape(r) == {"datacsv": (1, ["a", "b", "c"])}
    assert numbers(r, "datacsv", "c") == [3]


def _presedence(r):
    assert shape(r) == {"Numbers": (9, ["Number", "English", "Swedish"])}
    sw = values(r, "Numbers", "Swedish")
    assert sw[1] == "Två" and sw[7] == "Åtta"


def _script3(r):
    assert r.variables["a"] == "10"
    assert r.variables["b"] == "100"      # Sqr() is the square in Qlik (Sqrt is the root)


def _empty(r):
    assert r.model.tables == {}


def _ctrl00(r):
    assert set(r.model.tables) == {"Characters", "ASCII", "Transactions"}
    assert r.model.tables["Characters"].nrows == 26
    assert len(r.model.fields["Alpha"].symbols) == 26
    assert values(r, "Characters", "Alpha")[:3] == ["A", "B", "C"]
    assert r.model.tables["ASCII"].nrows == 191
    assert r.model.tables["Transactions"].nrows >= 1000
    assert "Num" in r.model.key_fields
    assert r.model.fields["Dim1"].comment == "This is a field comment"


def _parameters(r):
    assert shape(r) == {"exampletable": (4, ["dim", "val"])}
    assert values(r, "exampletable", "dim") == ["foo", "bar", "c", "d"]
    assert numbers(r, "exampletable", "val") == [23, 42, 54, 21]


def _straight(r):
    assert shape(r) == {"TempTable": (100, ["ID", "Value"])}
    assert numbers(r, "TempTable", "ID") == list(range(1, 101))


def _car_models(r):
    (name, t), = r.model.tables.items()
    assert name == "INLINE01" and t.nrows == 132
    assert list(t.columns)[:4] == ["Name", "Miles Per Gallon", "Accceleration, 0-60", "Horsepower"]
    assert numbers(r, name, "Horsepower")[0] == 48


def _monitor(r):
    assert sorted(str(x) for x in r.model.fields["Dim1"].symbols.text)[1] == "B"
    assert r.model.tables["Characters"].nrows == 26


def _string_expr(r):
    assert shape(r) == {"TempTable": (100, ["ID"])}


def _hello(r):
    movies = sorted(str(x) for x in r.model.fields["Movie"].symbols.text)
    assert movies[:10] == ["2012", "Armageddon", "Avatar", "Battleship", "Cars 2", "Cleopatra", "Evan Almighty",
                           "Green Lantern", "Harry Potter and the Half-Blood Prince",
                           "Indiana Jones and the Kingdom of the Crystal Skull"]


def _sa_tutorial(r):
    assert shape(r) == {"Sales": (9, ["COUNTRY", "PRODUCT", "SALES_AMOUNT"])}
    sa = r.section_access
    assert sa is not None and list(sa.columns) == ["ACCESS", "USERID", "COUNTRY", "OMIT"]
    assert sa.columns["USERID"] == ["ADMIN", "US-USER", "UK-USER", "DE-USER"]
    assert sa.columns["COUNTRY"] == ["", "US", "UK", "DE"]
    assert "ACCESS" not in r.model.fields


def _sa_star(r):
    sa = r.section_access
    assert sa is not None and sa.star == "*"
    assert sa.columns["OMIT"] == ["", "SALES", "WAREHOUSE", "EMPLOYEES", "SALES", "WAREHOUSE", "*"]
    (name, t), = r.model.tables.items()
    assert list(t.columns) == ["SALES", "WAREHOUSE", "EMPLOYEES", "ORDERS"] and t.nrows == 1


def _halyard(r):
    assert list(r.model.tables) == ["HyperCube"]
    assert r.model.tables["HyperCube"].nrows == 4
    assert values(r, "HyperCube", "sorted_country") == ["Sweden", "Denmark", "Norway", "Finland"]
    assert numbers(r, "HyperCube", "sorted_country") == [1, 2, 3, 4]
    assert values(r, "HyperCube", "date")[0] == "1987-05-11"


def _masterclass01(r):
    assert r.model.tables == {}
    sa = r.section_access
    assert sa is not None and sa.nrows == 21
    assert sa.columns["OMIT"][1:3] == ["PHONE", "E-MAIL"]


def _qvc_test(r):
    assert r.model.tables == {}
    assert r.variables["Qvc.Test.v.Failed"] == "FAILED"
    assert r.variables["Qvc.Test.MsgPrefix"] == "#Qvc.Test#"
    assert r.variables["ErrorMode"] == "1"


EXPECT: dict[str, Check | Fails] = {
    "qlik-oss__core-data-loading__scripts__compound-field.qvs": _compound,
    "qlik-oss__core-data-loading__scripts__concat-tables-auto.qvs": _concat_auto,
    "qlik-oss__core-data-loading__scripts__concat-tables-forced.qvs": _concat_forced,
    "qlik-oss__core-data-loading__scripts__crosstable.qvs": _crosstable,
    "qlik-oss__core-data-loading__scripts__csv-file.qvs": _csv_file,
    "qlik-oss__core-data-loading__scripts__field-functions.qvs": _field_functions,
    "qlik-oss__core-data-loading__scripts__formating-functions.qvs": _formatting,
    "qlik-oss__core-data-loading__scripts__inline-table.qvs": _inline,
    "qlik-oss__core-data-loading__scripts__preceding-load-calc-field.qvs": _preceding_calc,
    "qlik-oss__core-data-loading__scripts__preceding-load-reuse-calc.qvs": _preceding_reuse,
    "qlik-oss__core-data-loading__scripts__rename-fields.qvs": Fails(FILE_NOT_FOUND, "airports.xlsx"),
    "qlik-oss__core-data-loading__scripts__resident-load.qvs": _resident,
    "qlik-oss__core-data-loading__scripts__split-field.qvs": _split,
    "qlik-oss__core-data-loading__scripts__subset-of-fields.qvs": _subset,
    "qlik-oss__core-data-loading__scripts__webpage.qvs": Fails(FILE_NOT_FOUND, "Connection 'webdata' not found"),
    "qlik-oss__core-data-loading__scripts__xlsx-file.qvs": Fails(FILE_NOT_FOUND, "airports.xlsx"),
    "qlik-oss__core-authorization__access__access.go__reloadMoviesData.qvs": _movies_auth,
    "qlik-oss__corectl__examples__script.qvs": _corectl_example,
    "qlik-oss__corectl__test__projects__abac__script.qvs": _abac,
    "qlik-oss__corectl__test__projects__presedence__script.qvs": _presedence,
    "qlik-oss__corectl__test__projects__using-entities__script.qvs":
        Fails(CONNECTOR, "Connection 'myconnection' not found"),  # with one: tests/connectors/test_grpc.py
    "qlik-oss__corectl__test__projects__using-script__script3.qvs": _script3,
    "qlik-oss__corectl__test__projects__using-script__script1.qvs": _empty,
    "qlik-oss__enigma.js__test__integration__load-scripts__ctrl00.js.qvs": _ctrl00,
    "qlik-oss__enigma.js__examples__basics__parameters__parameter-passing.js.qvs": _parameters,
    "qlik-oss__enigma.js__examples__data__hypercubes__hypercube-straight.js.qvs": _straight,
    "qlik-oss__enigma.js__examples__complete__car-models__src__app.js.qvs": _car_models,
    "qlik-oss__enigma-go__examples__reload__monitor-progress__monitor-progress.go.qvs": _monitor,
    "qlik-oss__enigma-go__examples__data__string-expression__string-expression.go.qvs": _string_expr,
    "qlik-oss__core-get-started__src__hello-data__hello-data.js.qvs": _hello,
    "qlik-oss__core-chopper__src__session.js.qvs": Fails(FILE_NOT_FOUND, "Connection 'games' not found"),
    "qlik-oss__core-grpc-s3-file-connector__example__script.qvs": Fails(FILE_NOT_FOUND, "Connection 's3bucket'"),
    "qlik-oss__core-grpc-postgres-connector__example__reload-runner__index.js.qvs":
        Fails(CONNECTOR, "Connection 'postgresgrpc' not found"),
    "qlik-oss__core-file-connectivity-service__examples__dropbox.js.qvs": Fails(FILE_NOT_FOUND, "Connection 'data'"),
    "qlik-oss__core-website__docs__tutorials__authorization.md__section-access.qvs": _sa_tutorial,
    "qlik-oss__core-website__docs__services__qix-engine__script_reference__Script_regular_statements.md"
    "__star-section-access.qvs": _sa_star,
    "qlik-oss__halyard.js__test__unit__mocks__scripts.js__StraightMode.qvs": _halyard,
    "iamdv__QlikView-Security-Masterclass__Challenges_and_Solutions__01__Solution__Hide_multiple_fields_from_the_data_"
    "model.qvs": _masterclass01,
    "iamdv__QlikView-Security-Masterclass__Challenges_and_Solutions__02__Solution__02._Single_Field_Reduction_-_"
    "Solution.qvs": Fails(GENERAL, "outside the allowed folders"),
    "iamdv__QlikView-Security-Masterclass__Challenges_and_Solutions__03__Multi_Field_Reduction_Solution.qvs":
        Fails(GENERAL, "outside the allowed folders"),
    "iamdv__QlikView-Security-Masterclass__Lecture-Notes__Multi_Field_Reduction_-_Lecture.qvs":
        Fails(GENERAL, "outside the allowed folders"),
    "countnazgul__qlik-script-parser__test__script_files__script1.qvs": Fails(TABLE_NOT_FOUND, "Table 'MyTable' not found"),
    "sublibra__core-time-distribution__artifacts__loadscript.qvs": Fails(FILE_NOT_FOUND, "Connection 'data'"),
    "RobWunderlich__Qlikview-Components__Tests__Qvc_Test.qvs": _qvc_test,
    "RobWunderlich__Qlikview-Components__QVC_Source__Qvc_WildMap.qvs": _empty,
}

_ = WRONG_FORMAT  # xlsx would be a wrong-format error if the file were present


def test_every_corpus_script_has_an_expectation():
    assert {e["file"] for e in _index()} == set(EXPECT)
    assert len(EXPECT) == 45


@pytest.mark.timeout(60)
@pytest.mark.parametrize("entry", _index(), ids=lambda e: e["file"][:80])
def test_corpus_script(entry, tmp_path):
    expect = EXPECT[entry["file"]]
    env = _env(entry, tmp_path)
    done = threading.Event()
    if isinstance(expect, Fails):
        with pytest.raises(ScriptError) as info:
            run_script(_script_bytes(entry), env, cancel=done)
        assert info.value.code == expect.code, info.value.message
        assert expect.text in info.value.message
        assert info.value.line > 0
        return
    result = run_script(_script_bytes(entry), env, cancel=done)
    assert result.log[-1] == "Execution finished." or "EXIT SCRIPT" in result.log[-1]
    expect(result)


def test_script_error_positions():
    entry = next(e for e in _index() if e["file"].startswith("countnazgul"))
    with pytest.raises(ScriptError) as info:
        run_script(_script_bytes(entry), ScriptEnv(document_dir=Path("/nonexistent")))
    assert (info.value.line, info.value.column) == (26, 1)
    assert info.value.statement_text.startswith("[My table]:")


def test_corpus_numbers_are_duals():
    entry = next(e for e in _index() if e["file"].endswith("preceding-load-calc-field.qvs"))
    r = run_script(_script_bytes(entry), _env(entry, Path("/tmp")))
    sym = r.model.fields["EmployeeId"].symbols
    assert list(sym.text) == ["001", "002", "003", "004", "005"]
    assert np.array_equal(sym.num, [1, 2, 3, 4, 5])


@pytest.mark.parametrize("entry", _index(), ids=lambda e: e["file"][:80])
def test_corpus_scripts_pass_check_syntax(entry):
    from engine.script.lexer import decode_script
    from engine.script.syntax import check_syntax

    assert check_syntax(decode_script(_script_bytes(entry))) == []
