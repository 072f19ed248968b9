"""scripts/loadtest.py (Locust underneath) against a real engine on loopback, JWT on.

Every run is a real Locust run in its own processes; the counts it reports are checked against what the
users were asked to do and against the engine's own ``qix_requests_total``. The pure parts (server
figures, report) are checked without Locust, which would monkey-patch this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import REPO, Client, RunningEngine, free_port, self_signed_cert, spawn_engine
from tests.jwt_keys import bearer, ec_key, mint, rsa_key

sys.path.append(str(REPO / "scripts"))  # appended: scripts/token.py must not shadow the standard library

from qixload.report import format_table, percentiles, render_html, svg_chart  # noqa: E402
from qixload.server_figures import ServerSample, figures, sample_from, series  # noqa: E402

SECRET = "loadtest-secret-0123456789abcdef"
LOADTEST = REPO / "scripts" / "loadtest.py"


def run_loadtest(*args: str, timeout: float = 90) -> tuple[int, dict | None, str]:
    proc = subprocess.run([sys.executable, str(LOADTEST), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    summary = json.loads(proc.stdout) if "--json" in args and proc.stdout.strip().startswith("{") else None
    return proc.returncode, summary, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    metrics_port = free_port()
    eng = RunningEngine("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}",
                        f"PrometheusPort={metrics_port}", document_dir=tmp_path_factory.mktemp("apps"))
    eng.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    yield eng
    eng.stop()


def base_url(engine: RunningEngine) -> str:
    return f"ws://127.0.0.1:{engine.port}"


def engine_requests(engine: RunningEngine) -> dict[str, float]:
    """The engine's ``qix_requests_total`` by method."""
    with urllib.request.urlopen(engine.metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "qix_requests_total":
                counts[sample.labels["method"]] = sample.value
    return counts


def counted_since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {m: after[m] - before.get(m, 0.0) for m in after if after[m] - before.get(m, 0.0)}


def tool_counts_by_method(summary: dict) -> dict[str, int]:
    """The tool's QIX counts by JSON-RPC method (a request is named ``method [object type]``)."""
    out: dict[str, int] = {}
    for name, row in summary["methods"].items():
        if name != "(handshake)":
            method = name.split()[0]
            out[method] = out.get(method, 0) + row["count"]
    return out


def assert_close(ours: float, engine: float, what: str) -> None:
    """Within 3% (and a couple of calls: a user stopped mid-call is counted by the engine only)."""
    assert abs(ours - engine) <= max(2, 0.03 * engine), f"{what}: tool {ours}, engine {engine}"


def test_full_scenario_counts_match_the_engine(engine: RunningEngine) -> None:
    before = engine_requests(engine)
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "6", "--duration", "4", "--ramp-up", "1",
                                "--think", "0.05", "--secret", SECRET, "--metrics-url", engine.metrics_url,
                                "--json")
    engine_side = counted_since(before, engine_requests(engine))
    assert code == 0, out
    assert s["errors"] == {} and s["handshakes"] == {"ok": 6, "refused": {}}
    methods = s["methods"]
    # every user built its session app once (named by method), then its two objects (named by type)
    for once in ("CreateSessionApp", "SetScript", "DoReload", "CreateSessionObject listbox",
                 "CreateSessionObject table"):
        assert methods[once]["count"] == 6, once
    for looped in ("GetLayout listbox", "SelectListObjectValues listbox", "GetHyperCubeData table"):
        assert methods[looped]["count"] >= 6, looped
        assert 0 < methods[looped]["p50_ms"] <= methods[looped]["p99_ms"] <= methods[looped]["max_ms"] * 1.05
    assert s["requests"] == sum(m["count"] for name, m in methods.items() if name != "(handshake)")
    assert s["throughput_rps"] > 0
    # the engine's own request counters agree, method by method
    ours = tool_counts_by_method(s)
    assert set(ours) == set(engine_side)
    for method, count in ours.items():
        assert_close(count, engine_side[method], method)
    server = s["server"]
    assert server["requests"] >= s["requests"] * 0.97
    assert server["cpu_ms_per_request"] > 0 and server["rss_peak_mib"] > 10 and server["sessions_peak"] == 6
    assert 0 < server["cache_hit_rate"] < 1  # the shared calculation cache's counters in /healthcheck


def test_distributed_master_and_two_workers(engine: RunningEngine) -> None:
    """One master and two workers started separately (the several-machines form, here on loopback): users
    are numbered apart across workers (one session each) and the counts match the engine's."""
    port = free_port()
    common = ("--url", base_url(engine), "--secret", SECRET)
    before = engine_requests(engine)
    master = subprocess.Popen(
        [sys.executable, str(LOADTEST), *common, "--master", "--expect-workers", "2", "--master-bind-host",
         "127.0.0.1", "--master-bind-port", str(port), "--users", "10", "--duration", "5", "--ramp-up", "1",
         "--scenario", "light", "--think", "0.05", "--metrics-url", engine.metrics_url, "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen([sys.executable, str(LOADTEST), "--worker", "--master-host", "127.0.0.1",
                                 "--master-port", str(port)], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        out, err = master.communicate(timeout=90)
        for w in workers:
            w.communicate(timeout=30)
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
    engine_side = counted_since(before, engine_requests(engine))
    assert master.returncode == 0, out + err
    assert all(w.returncode == 0 for w in workers)
    s = json.loads(out)
    assert s["workers"] == 2 and s["errors"] == {} and s["handshakes"] == {"ok": 10, "refused": {}}
    assert s["server"]["sessions_peak"] == 10  # ten distinct subs: no two users share a session
    assert s["methods"]["CreateSessionApp"]["count"] == 10
    assert_close(s["requests"], sum(engine_side.values()), "all requests")
    assert_close(s["methods"]["GetLayout label"]["count"], engine_side["GetLayout"], "GetLayout")


def test_local_workers_respect_the_request_budget(engine: RunningEngine) -> None:
    """``--workers 2`` (a master and two local worker processes); ``--max-requests`` ends the run once the
    budget is spent, with every call sent also counted."""
    before = engine_requests(engine)
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "10", "--workers", "2", "--scenario", "light",
                                "--duration", "30", "--ramp-up", "0.5", "--think", "0.01", "--max-requests", "300",
                                "--secret", SECRET, "--metrics-url", "off", "--json")
    engine_side = counted_since(before, engine_requests(engine))
    assert code == 0, out
    assert s["workers"] == 2 and s["errors"] == {} and s["handshakes"]["ok"] == 10
    assert s["requests"] == 300
    assert sum(engine_side.values()) == 300
    assert s["duration_s"] < 20


def test_dashboard_scenario(engine: RunningEngine) -> None:
    """The generated star-schema app, opened by every user; each selection refreshes all eight objects (the
    engine reports them changed), the table is read in 50-row pages."""
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "4", "--duration", "5", "--ramp-up", "0.5",
                                "--scenario", "dashboard", "--dashboard-rows", "3000", "--think", "0.05",
                                "--secret", SECRET, "--metrics-url", engine.metrics_url, "--json", timeout=120)
    assert code == 0, out
    m = s["methods"]
    assert s["errors"] == {} and m["OpenDoc"]["count"] == 4
    assert m["CreateSessionObject kpi"]["count"] == 8 and m["CreateSessionObject filterpane"]["count"] == 12
    for kind in ("barchart", "linechart", "table"):
        assert m[f"CreateSessionObject {kind}"]["count"] == 4
    selections = m["SelectListObjectValues filterpane"]["count"] + m.get("ClearAll", {"count": 0})["count"]
    assert selections > 0
    # a refresh on open, then one per selection or clear that changed anything: the engine's change list
    # names all eight objects, so each refresh reads every layout and first page
    # (the run's end may cut each user's last refresh short: up to one per user)
    refreshes = m["GetLayout barchart"]["count"]
    assert 4 < refreshes <= 4 + selections
    for name, per_refresh in (("GetLayout kpi", 2), ("GetHyperCubeData kpi", 2), ("GetLayout linechart", 1),
                              ("GetLayout table", 1), ("GetLayout filterpane", 3), ("GetListObjectData filterpane", 3)):
        assert abs(m[name]["count"] - per_refresh * refreshes) <= per_refresh * 4, name
    assert m["GetHyperCubeData table"]["count"] > refreshes  # first pages plus scrolled pages

    async def app_exists() -> bool:
        headers = {"Authorization": bearer(mint({"sub": "checker"}, key=SECRET))}
        async with Client.open(engine.url("/app/engineData"), headers) as c:
            docs = (await c.call("GetDocList", -1))["qDocList"]
            return any(d["qDocId"] == "qixload-dashboard" or d["qDocName"] == "qixload-dashboard" for d in docs)

    assert asyncio.run(app_exists())


def test_wrong_secret_counts_refused_handshakes_and_fails(engine: RunningEngine) -> None:
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "3", "--duration", "2", "--ramp-up", "0",
                                "--secret", "not-the-engine-secret-at-all", "--metrics-url", "off", "--json")
    assert code == 1, out
    assert s["handshakes"] == {"ok": 0, "refused": {"http-401": 3}}
    assert s["requests"] == 0


def test_json_rpc_errors_carry_the_engines_code(engine: RunningEngine, tmp_path: Path) -> None:
    """A failed call is reported with the engine's JSON-RPC error code; the user then starts a new session."""
    scenario = tmp_path / "broken.py"
    scenario.write_text(
        "from locust import task\n"
        "from qixload.scenarios import QixTasks\n\n\n"
        "class Broken(QixTasks):\n"
        "    @task\n"
        "    def wrong(self) -> None:\n"
        "        self.qix.call('GetLayout', 4242)\n")
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "2", "--duration", "3", "--ramp-up", "0",
                                "--think", "0.2", "--scenario", str(scenario), "--secret", SECRET,
                                "--metrics-url", "off", "--json")
    assert code == 1, out
    failed = s["methods"]["GetLayout"]
    assert failed["errors"] == failed["count"] >= 4
    assert list(s["errors"]) == ["-32602"]  # the engine's own code for an unknown handle
    assert s["handshakes"]["ok"] >= 4  # each failure dropped the session; the next task reconnected


def test_script_and_fields_from_the_command_line(engine: RunningEngine, tmp_path: Path) -> None:
    script = tmp_path / "script.qvs"
    script.write_text("T: Load * Inline [\nDim, Val\na, 1\nb, 2\nc, 3\n];\n")
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "2", "--duration", "3", "--ramp-up", "0",
                                "--think", "0.05", "--script", str(script), "--fields", "Dim",
                                "--measure", "Sum(Val)", "--secret", SECRET, "--metrics-url", "off", "--json")
    assert code == 0, out
    assert s["methods"]["SelectListObjectValues listbox"]["count"] >= 2 and s["errors"] == {}


def test_a_script_that_does_not_load_ends_the_run(engine: RunningEngine, tmp_path: Path) -> None:
    """``--app`` with ``--script`` loads the script once before the run; when that reload fails, the run
    ends at once with exit 1 and says why, instead of every user failing on an empty app."""
    script = tmp_path / "broken.qvs"
    script.write_text("T: Load * From [no_such_file_for_loadtest.csv] (txt);\n")
    code, s, out = run_loadtest("--url", base_url(engine), "--app", "never-loaded", "--script", str(script),
                                "--users", "3", "--duration", "20", "--secret", SECRET, "--metrics-url", "off",
                                "--json")
    assert code == 1
    assert "preparing the app failed: reload-failed" in out
    assert s["requests"] == 0 and s["duration_s"] < 10


def test_fields_are_discovered_from_an_opened_app(engine: RunningEngine) -> None:
    """With ``--app`` and no ``--fields`` the users chart the app's first two fields."""
    async def make_app() -> None:
        headers = {"Authorization": bearer(mint({"sub": "owner"}, key=SECRET))}
        async with Client.open(engine.url("/app/engineData"), headers) as c:
            await c.call("CreateApp", -1, "loadtest-app")
            doc = (await c.call("OpenDoc", -1, "loadtest-app"))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, "T: Load * Inline [\nRegion, Amount\nN, 1\nS, 2\n];\n")
            assert (await c.call("DoReload", doc))["qReturn"] is True
            await c.call("DoSave", doc)

    asyncio.run(make_app())
    code, s, out = run_loadtest("--url", base_url(engine), "--app", "loadtest-app", "--users", "3",
                                "--duration", "3", "--ramp-up", "0", "--think", "0.05", "--secret", SECRET,
                                "--metrics-url", "off", "--json")
    assert code == 0, out
    assert s["methods"]["OpenDoc"]["count"] == 3
    assert s["methods"]["CreateSessionObject fieldlist"]["count"] == 3
    assert s["methods"]["GetHyperCubeData table"]["count"] >= 3 and s["errors"] == {}


def test_human_summary_table_and_html_report(engine: RunningEngine, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    code, _, out = run_loadtest("--url", base_url(engine), "--users", "2", "--scenario", "light", "--duration", "3",
                                "--ramp-up", "0", "--think", "0.1", "--secret", SECRET,
                                "--metrics-url", engine.metrics_url, "--sample-every", "0.5", "--html", str(report))
    assert code == 0, out
    assert "light scenario, 2 users" in out
    assert re.search(r"method\s+count\s+errors\s+p50 ms\s+p95 ms\s+p99 ms\s+max ms", out)
    assert "GetLayout label" in out and "(handshake)" in out
    assert "errors by code: none" in out and "handshakes: 2 ok, refused: none" in out
    assert "ms CPU per request" in out and "2 sessions at peak" in out and "cache hit rate" in out
    page = report.read_text()
    assert "<script" not in page  # readable anywhere: inline SVG, no code
    assert page.count("<svg") >= 8  # load over time and server figures
    for title in ("Requests per second", "Response time", "Errors per second", "Engine CPU per request",
                  "Engine RSS", "Active sessions", "CPU per request", "Cache hit rate"):
        assert title in page, title


def test_web_ui_shows_the_server_tab(engine: RunningEngine) -> None:
    """``--web``: Locust's UI runs the test; its stats poll carries the QIX server figures, the report page
    renders, and Ctrl-C ends the run with the usual summary."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(LOADTEST), "--url", base_url(engine), "--users", "2",
                             "--scenario", "light", "--duration", "30", "--ramp-up", "0", "--think", "0.1",
                             "--secret", SECRET, "--metrics-url", engine.metrics_url, "--sample-every", "0.5",
                             "--web", "--web-port", str(port), "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stats = wait_for(lambda: fetch_json(f"http://127.0.0.1:{port}/stats/requests"),
                         lambda body: any(row["data"] and row["data"][0]["figure"] != "no samples yet"
                                          for row in body.get("extended_stats", []) if row["key"] == "qix-server"))
        figures_shown = {row["figure"] for row in stats["extended_stats"][0]["data"]}
        assert {"active sessions now", "CPU per request", "cache hit rate"} <= figures_shown
        index = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert "QIX server" in index  # the tab
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/qix/report", timeout=5).read().decode()
        assert "Requests per second" in page
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    s = json.loads(out)
    assert s["handshakes"]["ok"] == 2 and s["methods"]["GetLayout label"]["count"] > 0, err


def fetch_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


def wait_for(get: Callable[[], dict | None], ok: Callable[[dict], bool], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = get()
        if last is not None and ok(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"not reached in {timeout} s; last answer {last}")


def readme_scenario() -> str:
    """The custom-scenario example of README's "Load testing" section."""
    section = (REPO / "README.md").read_text().split("## Load testing", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_custom_scenario_runs(engine: RunningEngine, tmp_path: Path) -> None:
    scenario = tmp_path / "kpi_watch.py"
    scenario.write_text(readme_scenario())
    script = tmp_path / "sales.qvs"
    script.write_text("Sales: Load * Inline [\nRegion, Amount\nNorth, 10\nSouth, 20\nEast, 5\n];\n")
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "3", "--duration", "3", "--ramp-up", "0",
                                "--think", "0.05", "--scenario", str(scenario), "--script", str(script),
                                "--secret", SECRET, "--metrics-url", "off", "--json")
    assert code == 0, out
    assert s["errors"] == {} and s["methods"]["GetLayout kpi"]["count"] > 0
    assert s["methods"]["SelectListObjectValues filterpane"]["count"] > 0


def killed_mid_run(tmp_path: Path, *options: str, restart: bool) -> tuple[int, dict]:
    """A run of 4 light users against an engine process that is killed (-9) 3 s in and, with ``restart``,
    started again on the same port: the users' sockets are lost as when an engine behind a proxy dies."""
    engine_args = ("-S", f"DocumentDirectory={tmp_path / 'apps'}", "-S", "PrometheusPort=0",
                   "-S", "ValidateJsonWebTokens=2", "-S", f"JsonWebTokenSecret={SECRET}")
    proc, port = spawn_engine(*engine_args)
    load = subprocess.Popen([sys.executable, str(LOADTEST), "--url", f"ws://127.0.0.1:{port}", "--users", "4",
                             "--scenario", "light", "--duration", "9", "--ramp-up", "0", "--think", "0.1",
                             "--secret", SECRET, "--metrics-url", "off", "--json", *options],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    again = None
    try:
        time.sleep(3)
        proc.kill()
        proc.wait(10)
        if restart:
            again, _ = spawn_engine(*engine_args, port=port)
        out, err = load.communicate(timeout=60)
    finally:
        for p in (load, proc, again):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
    assert out.startswith("{"), err[-2000:]
    return load.returncode, json.loads(out)


def test_lost_connections_stop_users_without_reconnect(tmp_path: Path) -> None:
    code, s = killed_mid_run(tmp_path, restart=False)
    assert code == 1
    assert s["users_failed"] == 4 and s["reconnects"]["count"] == 0
    assert set(s["errors"]) <= {"closed", "timeout"} and 1 <= sum(s["errors"].values()) <= 4
    assert s["handshakes"] == {"ok": 4, "refused": {}}  # nobody tried again


def test_with_reconnect_users_come_back_and_go_on(tmp_path: Path) -> None:
    code, s = killed_mid_run(tmp_path, "--reconnect", "--timeout", "20", restart=True)
    assert s["users_failed"] == 0
    assert s["reconnects"]["count"] == 4  # each user lost its socket once and came back once
    assert 0 < s["reconnects"]["p50_ms"] <= s["reconnects"]["max_ms"] < 20_000
    assert s["handshakes"]["ok"] == 8
    assert set(s["handshakes"]["refused"]) <= {"ConnectionRefusedError"}  # while no engine listened
    assert set(s["errors"]) <= {"closed", "timeout"}
    # they went on: the new sessions made their objects and worked after the restart
    assert s["methods"]["CreateSessionObject label"]["count"] == 8
    assert code == 1  # the calls lost with the engine are errors all the same


@pytest.mark.parametrize("args, message", [
    (["--users", "0"], "--users"),
    (["--secret", "a", "--key", "k.pem"], "not both"),
    (["--url", "http://127.0.0.1:1"], "ws://"),
    (["--key", "/nonexistent/key.pem"], "--key"),
    (["--secret", "s", "--alg", "RS256"], "HS256"),
    (["--scenario", "heavy"], "--scenario"),
    (["--claims", "[1]"], "JSON object"),
    (["--master", "--worker"], "not both"),
])
def test_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, _, out = run_loadtest(*args)
    assert code == 2
    assert message in out and out.count("\n") == 1


def test_unreachable_engine_is_counted_not_crashed() -> None:
    code, s, out = run_loadtest("--url", f"ws://127.0.0.1:{free_port()}", "--users", "2", "--duration", "2",
                                "--ramp-up", "0", "--timeout", "2", "--metrics-url", "off", "--json")
    assert code == 1, out
    assert s["handshakes"]["ok"] == 0 and s["handshakes"]["refused"] == {"ConnectionRefusedError": 2}


@pytest.mark.parametrize("make_key", [lambda: ec_key("P-256"), lambda: rsa_key()], ids=["ES256", "RS256"])
def test_tokens_signed_with_a_private_key(tmp_path: Path, make_key) -> None:
    """``--key`` signs RS256/ES256 tokens (the algorithm follows the key), with groups and extra claims,
    that an engine holding the public key accepts."""
    pair = make_key()
    (tmp_path / "public.pem").write_bytes(pair.public_pem())
    (tmp_path / "private.pem").write_bytes(pair.private_pem())
    eng = RunningEngine("ValidateJsonWebTokens=2", f"JsonWebTokenPath={tmp_path / 'public.pem'}",
                        document_dir=tmp_path / "apps")
    try:
        code, s, out = run_loadtest("--url", f"ws://127.0.0.1:{eng.port}", "--users", "3", "--scenario", "light",
                                    "--duration", "2", "--ramp-up", "0", "--think", "0.1", "--groups", "Sales,EU",
                                    "--claims", '{"custom": {"country": "SE"}}',
                                    "--key", str(tmp_path / "private.pem"), "--metrics-url", "off", "--json")
    finally:
        eng.stop()
    assert code == 0, out
    assert s["handshakes"] == {"ok": 3, "refused": {}} and s["methods"]["GetLayout label"]["count"] >= 3


def test_wss_with_insecure_against_a_self_signed_engine(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    eng = RunningEngine(document_dir=tmp_path / "apps", extra_args=("--tls-cert", str(cert), "--tls-key", str(key)))
    try:
        url = f"wss://127.0.0.1:{eng.port}"
        args = ("--users", "2", "--scenario", "light", "--duration", "2", "--ramp-up", "0", "--think", "0.1",
                "--timeout", "5", "--metrics-url", "off", "--json")
        code, s, out = run_loadtest("--url", url, "--insecure", *args)
        assert code == 0, out
        assert s["handshakes"]["ok"] == 2 and s["errors"] == {}
        # without --insecure the unknown certificate is refused at connect time, and counted as such
        code, s, out = run_loadtest("--url", url, *args)
        assert code == 1 and s["handshakes"]["ok"] == 0, out
        assert list(s["handshakes"]["refused"]) == ["SSLCertVerificationError"]
    finally:
        eng.stop()


# ---------------------------------------------------------------------------------------------- pure parts

def test_server_figures_from_an_engine_without_process_metrics() -> None:
    """A real qlikcore/engine exports qix_* series but not process_*: CPU is left out rather than reported
    as zero; memory, sessions and the cache hit rate come from /healthcheck."""
    def health(committed: float, active: int, hits: int, lookups: int) -> dict:
        return {"mem": {"committed": committed, "allocated": committed, "free": 1000.0}, "cpu": {"total": 0},
                "session": {"active": active, "total": active}, "cache": {"hits": hits, "lookups": lookups}}

    samples = [sample_from(0.0, {"qix_requests_total": 100.0}, health(100.0, 0, 0, 0)),
               sample_from(5.0, {"qix_requests_total": 300.0}, health(110.0, 100, 30, 100)),
               sample_from(10.0, {"qix_requests_total": 500.0}, health(120.0, 200, 90, 200)),
               sample_from(15.0, {"qix_requests_total": 1100.0}, health(121.0, 200, 190, 400))]
    out = figures(samples, ramp_end=10.0)
    assert "cpu_seconds" not in out and "cpu_ms_per_request" not in out
    assert out["requests"] == 1000.0 and out["sessions_peak"] == 200.0
    assert out["cache_hit_rate"] == pytest.approx(190 / 400)
    assert out["rss_kib_per_session"] == pytest.approx(20 * 1024 / 200)  # start to end of ramp
    assert out["rss_kib_per_session_marginal"] == pytest.approx(10 * 1024 / 100)  # mid-ramp to end of ramp
    rows = series(samples)
    assert [r["cpu_ms_per_request"] for r in rows] == [None, None, None]
    assert rows[-1]["cache_hit_rate"] == pytest.approx(100 / 200)


def test_cache_hits_and_lookups_come_from_one_source() -> None:
    """The hit rate needs hits and lookups counted alike: /healthcheck's cache block first, this engine's
    qix_calc_cache_* counters next; a qlikcore/engine's qix_cache_hits_total alone gives hits, no rate."""
    calc = {"qix_calc_cache_hits_total": 5.0, "qix_calc_cache_lookups_total": 10.0, "qix_cache_hits_total": 99.0}
    health = {"cache": {"hits": 1, "lookups": 4, "added": 3}}
    assert sample_from(0.0, calc, health).cache_hits == 1.0 and sample_from(0.0, calc, health).cache_lookups == 4.0
    from_metrics = sample_from(0.0, calc, {"session": {"active": 1}})
    assert (from_metrics.cache_hits, from_metrics.cache_lookups) == (5.0, 10.0)
    qlikcore = [sample_from(t, {"qix_requests_total": 10.0 * t, "qix_cache_hits_total": 3.0 * t},
                            {"session": {"active": 2}}) for t in (0.0, 1.0, 2.0)]
    assert qlikcore[-1].cache_hits == 6.0 and qlikcore[-1].cache_lookups is None
    assert "cache_hit_rate" not in figures(qlikcore)
    assert all(row["cache_hit_rate"] is None for row in series(qlikcore))


def test_server_figures_with_process_metrics_and_rss_growth() -> None:
    """CPU per request from process_cpu_seconds_total; after warm-up, a steady RSS gives a flat slope and a
    leak a positive one."""
    def sample(at: float, cpu: float, rss_mib: float, requests: float) -> ServerSample:
        return ServerSample(at, cpu, rss_mib * 2**20, requests, 300.0)

    flat = [sample(t, t / 10, 500.0 + (5.0 if t < 60 else 0.0), 100.0 * t) for t in range(0, 301, 10)]
    out = figures(flat, ramp_end=30.0, warmup=30.0)
    assert out["cpu_ms_per_request"] == pytest.approx(1.0)
    assert out["rss_growth_mib_per_min"] == pytest.approx(0.0, abs=1e-9)
    assert out["rss_growth_late_mib_per_min"] == pytest.approx(0.0, abs=1e-9)
    leaking = [sample(t, t / 10, 500.0 + t / 60, 100.0 * t) for t in range(0, 301, 10)]
    out = figures(leaking, ramp_end=30.0, warmup=30.0)
    assert out["rss_growth_mib_per_min"] == pytest.approx(1.0) and out["rss_growth_late_mib_per_min"] == pytest.approx(1.0)
    # a cache filling up after warm-up, then full: growth overall, none in the second half
    filling = [sample(t, t / 10, 500.0 + min(t, 150) / 30, 100.0 * t) for t in range(0, 301, 10)]
    out = figures(filling, ramp_end=30.0, warmup=30.0)
    assert out["rss_growth_mib_per_min"] > 0.5 and out["rss_growth_late_mib_per_min"] == pytest.approx(0.0, abs=0.05)


def test_percentiles_follow_locusts_rule() -> None:
    times = {0.5: 50, 1.0: 45, 20.0: 4, 300.0: 1}
    # what locust.stats.calculate_response_time_percentile answers for the same histogram (not imported
    # here: importing Locust would monkey-patch this process)
    assert percentiles(times) == [1.0, 20.0, 300.0]
    assert percentiles({2.0: 1}) == [2.0, 2.0, 2.0]
    assert percentiles({}) == [0.0, 0.0, 0.0]


def test_html_report_without_server_figures_says_so() -> None:
    summary = {"url": "ws://x", "scenario": "light", "users": 1, "workers": 0, "duration_s": 1.0, "requests": 0,
               "throughput_rps": 0.0, "latency": {"p50_ms": 0, "p95_ms": 0, "p99_ms": 0, "max_ms": 0},
               "methods": {}, "errors": {}, "handshakes": {"ok": 0, "refused": {}}, "server": {},
               "server_series": [], "history": []}
    page = render_html(summary)
    assert "No server figures" in page and "no data from this engine" in page


def test_table_and_report_show_reconnects_and_failed_users_only_when_there_were_any() -> None:
    summary = {"url": "ws://x", "scenario": "light", "users": 4, "workers": 0, "duration_s": 9.0, "requests": 10,
               "throughput_rps": 1.1, "latency": {"p50_ms": 1, "p95_ms": 1, "p99_ms": 1, "max_ms": 1},
               "methods": {}, "errors": {"closed": 4}, "handshakes": {"ok": 8, "refused": {}},
               "reconnects": {"count": 4, "p50_ms": 1600.0, "max_ms": 1700.2}, "users_failed": 0, "server": {},
               "server_series": [], "history": []}
    line = "reconnects: 4 (back at work after p50 1600.0 ms, max 1700.2 ms); users that could not continue: 0"
    assert line in format_table(summary) and line in render_html(summary)
    quiet = {**summary, "reconnects": {"count": 0, "p50_ms": 0.0, "max_ms": 0.0}}
    assert "reconnects" not in format_table(quiet) and "reconnects" not in render_html(quiet)
    assert "users that could not continue: 2" in format_table({**quiet, "users_failed": 2})


def test_a_percentage_chart_ends_at_100() -> None:
    chart = svg_chart("Cache hit rate", [0.0, 10.0], {"hit rate %": [50.0, 99.5]}, "%", ceiling=100.0)
    labels = re.findall(r'class="ylab">([^<]*)<', chart)
    assert labels == ["0", "25", "50", "75", "100"]
    assert 'y1="28.0"' in chart  # the 100 grid line sits at the top of the plot
    assert re.findall(r'class="ylab">([^<]*)<', svg_chart("t", [0.0, 1.0], {"x": [0.0, 0.0]}))[-1] == "1"
