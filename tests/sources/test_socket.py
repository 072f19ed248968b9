"""Every format, connection type and web failure over a real socket: CreateConnection, SetScript, DoReload,
then the data as a client sees it (GetTableData, GetTablesAndKeys, GetProgress errors).

Folder connections point inside the engine's default FolderConnectionRoots (``data`` beside the apps
folder); web connections point at a server on 127.0.0.1 started by the test.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.harness import Client, RunningEngine
from tests.script.test_corpus import CORPUS
from tests.sources import support

HAS_CORPUS = (CORPUS / support.CORPUS_AIRPORTS).is_file()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("sources-socket")
    support.make_data(base / "data")
    return base


def _engine(root: Path, name: str, *settings: str) -> RunningEngine:
    apps = root / name / "apps"
    apps.mkdir(parents=True)
    # this engine's default FolderConnectionRoots is <apps>/../data: the shared fixtures, linked in
    (root / name / "data").symlink_to(root / "data", target_is_directory=True)
    return RunningEngine(*settings, document_dir=apps)


@pytest.fixture(scope="module")
def engine(root):
    eng = _engine(root, "std", "WebFileTimeoutSeconds=1", "MaxWebFileSize=2000000")
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def web(root):
    files = {f"/data/{p.name}": (p.read_bytes(), "application/octet-stream") for p in (root / "data").iterdir()
             if p.is_file()}
    files["/data/page.html"] = ((root / "data" / "page.html").read_bytes(), "text/html; charset=utf-8")
    files["/feed"] = (b'[{"k": "a", "v": 1}, {"k": "b", "v": 2}]', "application/json")
    files["/page"] = ((root / "data" / "page.html").read_bytes(), "text/html")
    if HAS_CORPUS:
        files["/airports.csv"] = ((CORPUS / support.CORPUS_AIRPORTS).read_bytes(), "text/plain")
    with support.web_server(files) as (base, srv):
        yield base, srv


async def _app(c: Client, connections: dict[str, tuple[str, str]]) -> int:
    h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
    for name, (where, kind) in connections.items():
        await c.call("CreateConnection", h, {"qName": name, "qConnectionString": where, "qType": kind})
    return h


async def _reload(c: Client, h: int, script: str) -> tuple[bool, str]:
    """(DoReload's answer, the first error's text from GetProgress)."""
    await c.call("SetScript", h, script)
    resp = await c.request("DoReload", h, [], request_id=777)
    progress = (await c.call("GetProgress", -1, 777))["qProgressData"]
    errors = progress["qErrorData"]
    return resp["result"]["qReturn"], errors[0]["qErrorString"] if errors else ""


async def _rows(c: Client, h: int, table: str) -> list[list[Any]]:
    data = (await c.call("GetTableData", h, -1, 1000, False, table))["qData"]
    return [[v["qText"] if not v["qIsNumeric"] else (v["qText"], v["qNumber"]) for v in r["qValue"]]
            for r in data]


async def _nrows(c: Client, h: int, table: str) -> int:
    tables = (await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False))["qtr"]
    return next(t["qNoOfRows"] for t in tables if t["qName"] == table)


def _run(eng: RunningEngine, name: str, scenario) -> None:
    async def main() -> None:
        async with Client.open(eng.url(f"/app/engineData/identity/{name}")) as c:
            await scenario(c)

    asyncio.run(main())


# --- files of every format through a folder connection -------------------------------------------------

def test_every_file_format_over_the_socket(engine, root):
    script = """
    SET DateFormat='YYYY-MM-DD';
    SET TimestampFormat='YYYY-MM-DD hh:mm:ss';
    People: LOAD * FROM [lib://data/people.json] (json);
    Tags: LOAD * FROM [lib://data/people.json] (json, table is [/*/tags]);
    Sales: LOAD * FROM [lib://data/sales.xlsx] (ooxml, embedded labels, table is Sheet1);
    Legacy: LOAD Region AS LRegion, Units AS LUnits FROM [lib://data/legacy.xls] (biff, embedded labels, table is Sheet1);
    Pq: LOAD * FROM [lib://data/table.parquet] (parquet);
    Books: LOAD * FROM [lib://data/books.xml] (XmlSimple, table is [catalog/book]);
    Cities: LOAD * FROM [lib://data/page.html] (html, utf8, embedded labels, table is @2);
    Fixed: LOAD Code, Name, Amount FROM [lib://data/fixed.txt] (fix, embedded labels, header is 1 lines);
    Pos: LOAD @1:4 AS PCode, @6:15 AS PName FROM [lib://data/fixed.txt] (fix, no labels, header is 2 lines);
    """

    async def scenario(c: Client) -> None:
        h = await _app(c, {"data": (str(root / "std" / "data"), "folder")})
        ok, err = await _reload(c, h, script)
        assert ok, err
        people = await _rows(c, h, "People")
        assert people[0] == ["id", "name.first", "name.last", "%Key_tags", "score", "code", "active"]
        assert people[1][1:3] == ["Alice", "Stephenson"] and people[3][1] == "-"
        assert people[1][5] == ("007", 7)
        tags = await _rows(c, h, "Tags")
        assert [r[1] for r in tags[1:]] == ["a", "b", "b"]
        keys = (await c.call("GetTablesAndKeys", h, {}, {}, 0, False, False))["qtr"]
        key = {t["qName"]: [f["qName"] for f in t["qFields"] if f["qKeyType"] != "NOT_KEY"] for t in keys}
        assert "%Key_tags" in key["People"] and key["Tags"] == ["%Key_tags"]   # the two tables associate
        sales = await _rows(c, h, "Sales")
        assert sales[1][:4] == ["North", ("10", 10), ("2.5", 2.5), ("2021-03-01", 44256)]
        assert sales[1][4] == ("2021-03-01 08:30:00", pytest.approx(44256 + 8.5 / 24))
        assert sales[2][2] == "-"
        assert (await _rows(c, h, "Legacy"))[1:] == [["North", ("10", 10)], ["South", ("7", 7)]]
        pq_rows = await _rows(c, h, "Pq")
        assert pq_rows[0] == ["id", "amount", "label", "day", "stamp", "flag", "small"]
        assert pq_rows[2][:4] == [("2", 2), ("1.5", 1.5), "item1", ("2020-01-02", 43832)]
        books = await _rows(c, h, "Books")
        assert books[0] == ["id", "lang", "title", "price", "author/name"] and books[1][2] == "Dune"
        cities = await _rows(c, h, "Cities")
        assert cities == [["City", "Where", "Where1"], ["Lund", "SE", ("55.7", 55.7)], ["Oslo", "NO", ""]]
        fixed = await _rows(c, h, "Fixed")
        assert fixed[1:] == [[("0001", 1), "Alpha", ("12.50", 12.5)], [("0002", 2), "Beta", ("7", 7)],
                             [("0003", 3), "Gamma Ray", ("100.25", 100.25)]]
        assert (await _rows(c, h, "Pos"))[3] == [("0003", 3), "Gamma Ray"]

    _run(engine, "formats", scenario)


def test_bad_files_fail_the_reload_with_a_clear_error(engine, root):
    cases = {
        "LOAD * FROM [lib://data/broken.json] (json);": "Cannot read 'lib://data/broken.json' as JSON",
        "LOAD * FROM [lib://data/broken.xlsx] (ooxml);": "as an Excel workbook",
        "LOAD * FROM [lib://data/sales.xlsx] (ooxml, table is Nope);": "Table 'Nope' not found",
        "LOAD * FROM [lib://data/absent.parquet] (parquet);": "File not found",
        "LOAD * FROM [lib://data/people.json] (parquet);": "as Parquet",
        "LOAD * FROM [lib://data/books.xml] (xml, table is [catalog/none]);": "not found",
        "LOAD * FROM [lib://data/page.html] (html, table is @9);": "Table '@9' not found",
        "LOAD * FROM [lib://data/../std/apps] (json);": "outside connection",
    }

    async def scenario(c: Client) -> None:
        h = await _app(c, {"data": (str(root / "std" / "data"), "folder")})
        for script, words in cases.items():
            ok, err = await _reload(c, h, script)
            assert ok is False and words in err, (script, err)

    _run(engine, "bad-files", scenario)


def test_store_parquet_and_txt_with_a_delimiter(engine, root):
    out = root / "data" / "out"
    out.mkdir(exist_ok=True)
    script = """
    SET DateFormat='YYYY-MM-DD';
    T: LOAD * INLINE [
    id, name, amount, day, mixed
    1, Ann, 1.5, 2020-01-31, 7
    2, Bo b, 2.25, 2020-02-01, x
    ];
    STORE T INTO [lib://data/out/t.parquet] (parquet);
    STORE id, name FROM T INTO [lib://data/out/t.txt] (txt, delimiter is ' ');
    Back: NoConcatenate LOAD id AS bid, name AS bname, amount AS bamount, day AS bday, mixed AS bmixed
        FROM [lib://data/out/t.parquet] (parquet);
    """

    async def scenario(c: Client) -> None:
        h = await _app(c, {"data": (str(root / "std" / "data"), "folder")})
        ok, err = await _reload(c, h, script)
        assert ok, err
        back = await _rows(c, h, "Back")
        assert back[1:] == [[("1", 1), "Ann", ("1.5", 1.5), ("2020-01-31", 43861), "7"],
                            [("2", 2), "Bo b", ("2.25", 2.25), ("2020-02-01", 43862), "x"]]

    _run(engine, "store", scenario)
    table = pq.read_table(out / "t.parquet")
    # numbers mixed with text are written as text
    assert [str(f.type) for f in table.schema] == ["int64", "string", "double", "date32[day]", "string"]
    assert (out / "t.txt").read_bytes() == b'id name\r\n1 Ann\r\n2 "Bo b"\r\n'


# --- halyard.js-generated scripts -----------------------------------------------------------------------

def test_halyard_style_json_and_web_table_scripts(engine, root, web):
    """The scripts halyard.js writes for ``new Halyard.Table('/data/carmakers.json', 'Car Makers')`` and for
    a web page table (``headerRowNr: 1, characterSet: 'utf8'``), reloaded as halyard's tests read them."""
    base, _ = web
    file_conn, web_conn = "6a3f1c2e-0b1d-4a8e-9c7f-2d5e8b1a4c90", "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"
    script = (f'"Car Makers":\nLOAD\n*\nFROM [lib://{file_conn}/carmakers.json]\n(json);\n\n'
              f'"Allsvenskan":\nLOAD\n*\nFROM [lib://{web_conn}]\n(html, header is 1 lines, embedded labels, '
              'utf8);')

    async def scenario(c: Client) -> None:
        h = await _app(c, {file_conn: (str(root / "std" / "data"), "folder"),
                           web_conn: (f"{base}/page", "internet")})
        ok, err = await _reload(c, h, script)
        assert ok, err
        makers = await _rows(c, h, "Car Makers")
        assert makers[0] == ["make_id", "make_display", "make_is_common", "make_country"]
        assert makers[1][0] == "abarth" and len(makers) == 4
        teams = await _rows(c, h, "Allsvenskan")
        assert teams[0][:2] == ["Lag", "Hemmasnitt"] and teams[1][:2] == ["Hammarby", "11 885"]

    _run(engine, "halyard", scenario)


# --- web files --------------------------------------------------------------------------------------------

def test_internet_connection_loads_web_files(engine, web):
    base, srv = web

    async def scenario(c: Client) -> None:
        h = await _app(c, {"web": (f"{base}/data/", "internet"), "feed": (f"{base}/feed", "internet")})
        ok, err = await _reload(c, h, "J: LOAD * FROM [lib://web/people.json] (json);\n"
                                      "X: LOAD * FROM [lib://web/sales.xlsx] (ooxml, table is Sheet1);\n"
                                      "F: LOAD * FROM [lib://feed];\n"
                                      "P: LOAD * FROM [lib://web/table.parquet];")
        assert ok, err
        assert (await _rows(c, h, "J"))[1][1] == "Alice"
        assert (await _rows(c, h, "X"))[1][0] == "North"
        assert (await _rows(c, h, "F"))[1:] == [["a", ("1", 1)], ["b", ("2", 2)]]   # by Content-Type
        assert (await _rows(c, h, "P"))[1][0] == ("1", 1)                              # by extension

    _run(engine, "web", scenario)
    assert "/data/people.json" in srv.hits


@pytest.mark.parametrize(("script", "words"), [
    ("LOAD * FROM [lib://web/missing.csv] (txt);", "HTTP 404"),
    ("LOAD * FROM [lib://root/slow] (txt);", "timed out"),
    ("LOAD * FROM [lib://root/big] (txt);", "larger than the limit of 2000000 bytes"),
    ("LOAD * FROM [lib://root/loop] (txt);", "more than 5 redirects"),
    ("LOAD * FROM [lib://root/to-file] (txt);", "only http and https"),
    ("LOAD * FROM [lib://web/../secret.csv] (txt);", "outside connection"),
    ("LOAD * FROM [lib://files/passwd] (txt);", "only http and https"),
    ("LOAD * FROM [lib://refused/x.csv] (txt);", "connection refused"),
    ("LOAD * FROM [lib://nowhere/x.csv] (txt);", "host not found"),
    (None, "plain URL"),
])
def test_web_failures_are_reload_errors(engine, web, script, words, monkeypatch):
    base, _ = web
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    real = socket.getaddrinfo

    def no_dns(host, *args, **kwargs):   # the engine runs in this process: its lookups fail here
        if host == "no-such-host.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    connections = {"web": (f"{base}/data/", "internet"), "root": (base, "internet"),
                   "files": ("file:///etc/", "internet"), "refused": (f"http://127.0.0.1:{closed}/", "internet"),
                   "nowhere": ("http://no-such-host.test/", "internet")}
    if script is None:     # a plain URL in standard mode, under no internet connection: refused
        script, connections = f"LOAD * FROM [{base}/data/people.json] (json);", {}

    async def scenario(c: Client) -> None:
        h = await _app(c, connections)
        ok, err = await _reload(c, h, script)
        assert ok is False and words in err, err

    _run(engine, "web-fail", scenario)


def test_tls_failure_is_a_reload_error(engine, tmp_path):
    with support.web_server({"/x.json": (b"[]", "application/json")}, tls_dir=tmp_path) as (base, _):
        async def scenario(c: Client) -> None:
            h = await _app(c, {"tls": (base, "internet")})
            ok, err = await _reload(c, h, "LOAD * FROM [lib://tls/x.json] (json);")
            assert ok is False and "TLS error" in err

        _run(engine, "tls", scenario)


def test_plain_urls_in_legacy_mode_and_web_turned_off(root, web):
    base, _ = web
    legacy = _engine(root, "legacy", "StandardReload=0")
    off = _engine(root, "off", "AllowWebConnections=0")
    try:
        async def loads(c: Client) -> None:
            h = await _app(c, {})
            ok, err = await _reload(c, h, f"J: LOAD * FROM [{base}/data/people.json] (json);")
            assert ok, err
            ok, err = await _reload(c, h, "J: LOAD * FROM [file:///etc/passwd] (txt);")
            assert ok is False and "only http and https" in err

        _run(legacy, "legacy", loads)

        async def refused(c: Client) -> None:
            h = await _app(c, {"web": (f"{base}/data/", "internet")})
            ok, err = await _reload(c, h, "J: LOAD * FROM [lib://web/people.json] (json);")
            assert ok is False and "AllowWebConnections=0" in err

        _run(off, "off", refused)
    finally:
        legacy.stop()
        off.stop()


# --- the core-data-loading examples, against local copies of their data --------------------------------

@pytest.mark.skipif(not HAS_CORPUS, reason="script corpus not available")
def test_core_data_loading_excel_and_web_examples(engine, root, web):
    base, _ = web
    data = root / "std" / "data" / "corpus"
    data.mkdir(exist_ok=True)
    support.airports_xlsx(CORPUS, data / "airports.xlsx")
    airports = len((CORPUS / support.CORPUS_AIRPORTS).read_text(encoding="utf-8").strip().splitlines()) - 1
    scripts = {name: (CORPUS / f"qlik-oss__core-data-loading__scripts__{name}.qvs").read_text()
               for name in ("xlsx-file", "rename-fields", "webpage")}

    async def scenario(c: Client) -> None:
        h = await _app(c, {"data": (str(data), "folder"), "webdata": (f"{base}/airports.csv", "internet")})
        for name in ("xlsx-file", "webpage"):
            ok, err = await _reload(c, h, scripts[name])
            assert ok, (name, err)
            rows = await _rows(c, h, "Airports")
            assert rows[0][:4] == ["rowID", "Airport", "City", "Country"], name
            assert await _nrows(c, h, "Airports") == airports, name
            assert rows[1][:3] == [("5871", 5871), "Moala Airport", "Moala"], name
        ok, err = await _reload(c, h, scripts["rename-fields"])
        assert ok, err
        assert (await _rows(c, h, "Airports"))[0] == ["ID", "Name", "City"]

    _run(engine, "corpus", scenario)


def test_time_distribution_html_script(engine, web, tmp_path):
    """sublibra/core-time-distribution's script reads a Google-doc HTML table through an internet
    connection named ``data``; here the page is served locally."""
    base, srv = web
    page = (b"<html><body><table>"
            b"<tr><td>Date</td><td>feature</td><td>enhancement</td><td>maintenance</td><td>admin</td></tr>"
            b"<tr><td>2019-01-07</td><td>50,0%</td><td></td><td>30,0%</td><td>20,0%</td></tr>"
            b"<tr><td>2019-01-08</td><td></td><td>100,0%</td><td></td><td></td></tr>"
            b"<tr><td></td><td></td><td></td><td></td><td></td></tr>"
            b"</table></body></html>")
    srv.files["/timesheet"] = (page, "text/html")
    corpus_script = CORPUS / "sublibra__core-time-distribution__artifacts__loadscript.qvs"
    if not corpus_script.is_file():
        pytest.skip("script corpus not available")
    script = "SET DateFormat='YYYY-MM-DD';\n" + corpus_script.read_text()

    async def scenario(c: Client) -> None:
        h = await _app(c, {"data": (f"{base}/timesheet", "internet")})
        ok, err = await _reload(c, h, script)
        assert ok, err
        rows = await _rows(c, h, "measurements")
        assert rows[0] == ["Date", "Type", "Size"] and len(rows) == 1 + 8
        assert (await _rows(c, h, "week"))[0] == ["Date", "weekDay", "week"]

    _run(engine, "timedist", scenario)


def test_web_data_is_not_shipped(root):
    """The fixtures are generated: nothing binary is committed for these tests."""
    here = Path(__file__).parent
    assert not [p for p in here.iterdir() if p.suffix in (".xlsx", ".xls", ".parquet")]
    shutil.rmtree(root / "std" / "data" / "out", ignore_errors=True)
