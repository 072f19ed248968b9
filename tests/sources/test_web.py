"""Web fetching on its own (engine.sources.web) and the path policy for URLs, against a local server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from engine.script.errors import StatementError
from engine.script.paths import Connection, PathPolicy
from engine.sources.base import FILE_NOT_FOUND, GENERAL, SourceError
from engine.sources.web import WebOptions, fetch
from tests.sources import support

FILES = {"/data/people.json": (b'[{"a": 1}]', "application/json")}


@pytest.fixture(scope="module")
def server():
    with support.web_server(FILES) as (base, srv):
        yield base, srv


def test_fetch_a_file_and_follow_a_redirect(server):
    base, _ = server
    got = fetch(f"{base}/data/people.json", WebOptions())
    assert got.data == b'[{"a": 1}]' and got.content_type == "application/json"
    moved = fetch(f"{base}/moved", WebOptions())
    assert moved.data == got.data and moved.url.endswith("/data/people.json")


@pytest.mark.parametrize(("path", "options", "words", "code"), [
    ("/missing", WebOptions(), "HTTP 404", FILE_NOT_FOUND),
    ("/loop", WebOptions(max_redirects=3), "more than 3 redirects", FILE_NOT_FOUND),
    ("/to-file", WebOptions(), "only http and https", GENERAL),
    ("/big", WebOptions(max_bytes=100_000), "larger than the limit of 100000 bytes", GENERAL),
    ("/big-declared", WebOptions(max_bytes=100_000), "larger than the limit", GENERAL),
    ("/slow", WebOptions(timeout=0.5), "timed out", FILE_NOT_FOUND),
])
def test_fetch_failures_are_clear(server, path, options, words, code):
    base, _ = server
    started = time.monotonic()
    with pytest.raises(SourceError) as e:
        fetch(base + path, options)
    assert words in e.value.message and e.value.code == code
    assert time.monotonic() - started < 3.5


def test_fetch_refuses_other_schemes_and_disabled_web():
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"):
        with pytest.raises(SourceError, match="only http and https"):
            fetch(url, WebOptions())
    with pytest.raises(SourceError, match="AllowWebConnections=0"):
        fetch("http://127.0.0.1:1/x", WebOptions(enabled=False))


def test_fetch_connection_refused_and_unknown_host(monkeypatch):
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match="connection refused"):
        fetch(f"http://127.0.0.1:{port}/x", WebOptions(timeout=2))
    real = socket.getaddrinfo

    def no_dns(host, *args, **kwargs):   # no resolver traffic: the lookup fails here
        if host == "no-such-host.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(SourceError, match="host not found"):
        fetch("http://no-such-host.test/x.csv", WebOptions(timeout=2))


def test_fetch_tls_failure_with_an_untrusted_certificate(tmp_path):
    with support.web_server(FILES, tls_dir=tmp_path) as (base, _):
        assert base.startswith("https://")
        with pytest.raises(SourceError) as e:
            fetch(f"{base}/data/people.json", WebOptions(timeout=5))
    assert "TLS error" in e.value.message and e.value.code == FILE_NOT_FOUND


def test_fetch_hides_passwords_in_messages(server):
    base, _ = server
    with pytest.raises(SourceError) as e:
        fetch(base.replace("http://", "http://user:secret@") + "/missing", WebOptions())
    assert "secret" not in e.value.message and "HTTP 404" in e.value.message


# --- where URLs may come from: engine.script.paths ------------------------------------------------------

def _policy(legacy: bool, enabled: bool = True) -> PathPolicy:
    return PathPolicy(Path("/nonexistent"), {
        "web": Connection("web", "http://127.0.0.1:9/data/", "internet"),
        "file": Connection("file", "file:///etc/", "internet"),
        "folder": Connection("folder", "/tmp", "folder"),
    }, legacy=legacy, web_enabled=enabled)


def test_internet_connections_join_below_their_base():
    p = _policy(legacy=False)
    assert p.web_url("lib://web/a/b.csv") == "http://127.0.0.1:9/data/a/b.csv"
    assert p.web_url("lib://WEB") == "http://127.0.0.1:9/data/"
    assert p.web_url("lib://folder/x.csv") is None and p.web_url("x.csv") is None
    for bad in ("lib://web/../admin", "lib://web/a/../../admin"):
        with pytest.raises(StatementError, match="outside connection"):
            p.web_url(bad)
    with pytest.raises(StatementError, match="only http and https"):
        p.web_url("lib://file/passwd")


def test_plain_urls_need_legacy_mode_or_a_connection_and_web_enabled():
    std = _policy(legacy=False)
    assert std.web_url("http://127.0.0.1:9/data/x.json") == "http://127.0.0.1:9/data/x.json"
    with pytest.raises(StatementError, match="plain URL"):
        std.web_url("http://127.0.0.1:9/admin")
    with pytest.raises(StatementError, match="plain URL"):
        std.web_url("http://127.0.0.1:10/data/x.json")
    assert _policy(legacy=True).web_url("http://127.0.0.1:10/any") == "http://127.0.0.1:10/any"
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x"):
        with pytest.raises(StatementError, match="only http and https"):
            _policy(legacy=True).web_url(url)
    off = _policy(legacy=True, enabled=False)
    for path in ("http://127.0.0.1:9/data/x.json", "lib://web/x.json"):
        with pytest.raises(StatementError, match="AllowWebConnections=0"):
            off.web_url(path)
