"""Test data for the readers, generated in the tests (nothing binary is shipped), and a local web server.

The web server listens on 127.0.0.1 only and serves generated files plus the failure cases a web load
must report: a 404, a slow body, an oversized body (with and without Content-Length), a redirect loop, a
redirect to a ``file:`` URL. Every handler ends by itself within a few seconds.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import http.server
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from tests.harness import self_signed_cert

CORPUS_AIRPORTS = "data/qlik-oss__core-data-loading/data/airports.csv"

PEOPLE_JSON = [
    {"id": 1, "name": {"first": "Alice", "last": "Stephenson"}, "tags": ["a", "b"], "score": 9.5, "code": "007"},
    {"id": 2, "name": {"first": "Bob"}, "tags": ["b"], "score": None, "code": "008"},
    {"id": 3, "name": {"last": "Roberts"}, "tags": [], "active": True},
]

CARMAKERS = [
    {"make_id": "abarth", "make_display": "Abarth", "make_is_common": "0", "make_country": "Italy"},
    {"make_id": "ac", "make_display": "AC", "make_is_common": "0", "make_country": "UK"},
    {"make_id": "acura", "make_display": "Acura", "make_is_common": "1", "make_country": "USA"},
]

XML_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<catalog>
  <book id="b1" lang="en"><title>Dune</title><price>9.99</price><author><name>Herbert</name></author></book>
  <book id="b2"><title>Solaris</title><price>7.50</price></book>
  <book id="b3" lang="pl"><title>Lalka</title></book>
</catalog>
"""

HTML_DOC = """<html><head><title>t</title></head><body>
<table id="first"><tr><th>Lag</th><th>Hemmasnitt</th></tr>
<tr><td>Hammarby</td><td>11 885</td></tr><tr><td>AIK</td><td>11 000</td></tr></table>
<p>between</p>
<table id="second"><caption>Cities</caption>
<tr><th>City</th><th colspan="2">Where</th></tr>
<tr><td>Lund</td><td>SE</td><td>55.7</td></tr><tr><td>Oslo</td><td>NO</td><td></td></tr></table>
</body></html>
"""

FIXED_DOC = """Fixed-width export
Code Name       Amount
0001 Alpha       12.50
0002 Beta         7
0003 Gamma Ray  100.25
"""


def write_xlsx(path: Path, rows: list[list[object]], sheet: str = "Sheet1",
               extra_sheets: dict[str, list[list[object]]] | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    for name, more in (extra_sheets or {}).items():
        other = wb.create_sheet(name)
        for row in more:
            other.append(row)
    wb.save(path)
    return path


def write_xls(path: Path, rows: list[list[object]], sheet: str = "Sheet1") -> Path:
    import xlwt

    wb = xlwt.Workbook()
    ws = wb.add_sheet(sheet)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, dt.date):
                ws.write(r, c, v, date_style)
            elif v is not None:
                ws.write(r, c, v)
    wb.save(str(path))
    return path


SALES_ROWS: list[list[object]] = [
    ["Region", "Units", "Price", "Day", "Stamp"],
    ["North", 10, 2.5, dt.date(2021, 3, 1), dt.datetime(2021, 3, 1, 8, 30)],
    ["South", 7, None, dt.date(2021, 3, 2), dt.datetime(2021, 3, 2, 17, 45, 30)],
    ["East", 12, 3.25, None, None],
]


def parquet_table(rows: int = 5) -> pa.Table:
    return pa.table({
        "id": pa.array(range(1, rows + 1), type=pa.int64()),
        "amount": pa.array([i * 1.5 if i % 4 else None for i in range(rows)], type=pa.float64()),
        "label": pa.array([f"item{i % 3}" if i % 5 else None for i in range(rows)], type=pa.string()),
        "day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(rows)], type=pa.date32()),
        "stamp": pa.array([dt.datetime(2020, 1, 1, 12, 0) + dt.timedelta(hours=i) for i in range(rows)],
                          type=pa.timestamp("us")),
        "flag": pa.array([i % 2 == 0 for i in range(rows)], type=pa.bool_()),
        "small": pa.array([i % 100 for i in range(rows)], type=pa.int8()),
    })


def make_data(folder: Path) -> Path:
    """Every fixture file of the reader tests, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "people.json").write_text(json.dumps(PEOPLE_JSON))
    (folder / "carmakers.json").write_text(json.dumps(CARMAKERS, indent=2))
    write_xlsx(folder / "sales.xlsx", SALES_ROWS, extra_sheets={"Notes": [["Note"], ["first"], ["second"]]})
    write_xlsx(folder / "offset.xlsx", [["Report of sales"], [None], *SALES_ROWS[:3]])
    write_xls(folder / "legacy.xls", SALES_ROWS[:3])
    pq.write_table(parquet_table(), folder / "table.parquet", row_group_size=2)
    (folder / "books.xml").write_text(XML_DOC)
    (folder / "page.html").write_text(HTML_DOC)
    (folder / "fixed.txt").write_text(FIXED_DOC)
    (folder / "broken.json").write_text("[{\"a\": 1,")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    return folder


def airports_xlsx(corpus: Path, target: Path) -> Path:
    """The core-data-loading examples' airports.xlsx (sheet Airports), made from the corpus's airports.csv."""
    with open(corpus / CORPUS_AIRPORTS, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))

    def cell(v: str) -> object:
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v

    return write_xlsx(target, [rows[0]] + [[cell(v) for v in r] for r in rows[1:]], sheet="Airports")


# ---------------------------------------------------------------------------------------------
# a local web server


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:   # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        path = self.path.split("?", 1)[0]
        self.server.hits.append(path)
        files = self.server.files
        if path in files:
            body, ctype = files[path]
            self._send(200, body, ctype)
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b"a,b\n")
                for i in range(40):            # 4 s at most: a trickle, never a whole file in time
                    time.sleep(0.1)
                    self.wfile.write(f"{i},{i}\n".encode())
                    self.wfile.flush()
        elif path == "/big":                   # no Content-Length: the limit must stop the stream
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b"a\n")
                for _ in range(64):             # 4 MiB at most
                    self.wfile.write(b"1\n" * 32768)
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b"a\n1\n")
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/moved":
            self._redirect("/data/people.json")
        elif path == "/to-file":
            self._redirect("file:///etc/passwd")
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def _redirect(self, where: str) -> None:
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.hits: list[str] = []


@contextlib.contextmanager
def web_server(files: dict[str, tuple[bytes, str]], tls_dir: Path | None = None) -> Iterator[tuple[str, _Server]]:
    """A server on 127.0.0.1 serving ``files`` (path → (body, content type)); yields its base URL.
    With ``tls_dir`` it speaks HTTPS with a throwaway self-signed certificate."""
    server = _Server()
    server.files.update(files)
    scheme = "http"
    if tls_dir is not None:
        cert, key = self_signed_cert(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
