"""scripts/loadtest.py against a real engine on loopback: short runs that must end with zero errors and
counts that match what the users were asked to do."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO, Client, RunningEngine, free_port, self_signed_cert
from tests.jwt_keys import bearer, ec_key, mint, rsa_key

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


def test_full_scenario_zero_errors_and_server_figures(engine: RunningEngine) -> None:
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "6", "--duration", "4", "--ramp-up", "1",
                                "--think", "0.05", "--secret", SECRET, "--metrics-url", engine.metrics_url,
                                "--json")
    assert code == 0, out
    assert s["errors"] == {} and s["handshakes"] == {"ok": 6, "refused": {}}
    methods = s["methods"]
    # every user built its session app once, then looped over select / read / clear
    for once in ("CreateSessionApp", "SetScript", "DoReload"):
        assert methods[once]["count"] == 6
    assert methods["CreateSessionObject"]["count"] == 12  # a list object and a hypercube each
    for looped in ("GetLayout", "SelectListObjectValues", "GetHyperCubeData"):
        assert methods[looped]["count"] >= 6, looped
        assert 0 < methods[looped]["p50_ms"] <= methods[looped]["p99_ms"] <= methods[looped]["max_ms"]
    assert s["requests"] == sum(m["count"] for name, m in methods.items() if name != "(handshake)")
    assert s["throughput_rps"] > 0
    server = s["server"]
    assert server["requests"] >= s["requests"]  # the engine counted at least what the users sent
    assert server["cpu_ms_per_request"] > 0 and server["rss_after_mib"] > 10


def test_light_scenario_in_two_workers_respects_the_request_budget(engine: RunningEngine) -> None:
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "10", "--workers", "2", "--scenario", "light",
                                "--duration", "20", "--ramp-up", "0.5", "--think", "0.01", "--max-requests", "300",
                                "--secret", SECRET, "--json")
    assert code == 0, out
    assert s["workers"] == 2 and s["errors"] == {}
    assert s["handshakes"]["ok"] == 10
    # the budget stops the run long before the 20 s; users finish the call they are in, no more
    assert 300 <= s["requests"] <= 300 + 10
    assert s["duration_s"] < 15
    assert s["methods"]["GetLayout"]["count"] == s["requests"] - 20  # 10 session apps + 10 objects first


def test_wrong_secret_counts_refused_handshakes_and_fails(engine: RunningEngine) -> None:
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "3", "--duration", "2", "--ramp-up", "0",
                                "--secret", "not-the-engine-secret-at-all", "--json")
    assert code == 1, out
    assert s["handshakes"] == {"ok": 0, "refused": {"http-401": 3}}
    assert s["requests"] == 0


def test_script_and_fields_from_the_command_line(engine: RunningEngine, tmp_path: Path) -> None:
    script = tmp_path / "script.qvs"
    script.write_text("T: Load * Inline [\nDim, Val\na, 1\nb, 2\nc, 3\n];\n")
    code, s, out = run_loadtest("--url", base_url(engine), "--users", "2", "--duration", "3", "--ramp-up", "0",
                                "--think", "0.05", "--script", str(script), "--fields", "Dim",
                                "--measure", "Sum(Val)", "--secret", SECRET, "--json")
    assert code == 0, out
    assert s["methods"]["SelectListObjectValues"]["count"] >= 2 and s["errors"] == {}


def test_fields_are_discovered_from_an_opened_app(engine: RunningEngine, tmp_path: Path) -> None:
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
                                "--duration", "3", "--ramp-up", "0", "--think", "0.05", "--secret", SECRET, "--json")
    assert code == 0, out
    assert s["methods"]["OpenDoc"]["count"] == 3
    assert s["methods"]["GetHyperCubeData"]["count"] >= 3 and s["errors"] == {}


def test_human_summary_table(engine: RunningEngine) -> None:
    code, _, out = run_loadtest("--url", base_url(engine), "--users", "2", "--scenario", "light", "--duration", "2",
                                "--ramp-up", "0", "--think", "0.1", "--secret", SECRET,
                                "--metrics-url", engine.metrics_url)
    assert code == 0, out
    assert "light scenario, 2 users" in out
    assert "method" in out and "p99 ms" in out and "GetLayout" in out
    assert "errors by code: none" in out and "handshakes: 2 ok, refused: none" in out
    assert "ms CPU per request" in out


@pytest.mark.parametrize("args, message", [
    (["--users", "0"], "--users"),
    (["--secret", "a", "--key", "k.pem"], "not both"),
    (["--url", "http://127.0.0.1:1"], "ws://"),
    (["--key", "/nonexistent/key.pem"], "--key"),
    (["--secret", "s", "--alg", "RS256"], "HS256"),
])
def test_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, _, out = run_loadtest(*args)
    assert code == 2
    assert message in out and out.count("\n") == 1


def test_unreachable_engine_is_counted_not_crashed() -> None:
    code, s, out = run_loadtest("--url", f"ws://127.0.0.1:{free_port()}", "--users", "2", "--duration", "2",
                                "--ramp-up", "0", "--timeout", "2", "--json")
    assert code == 1, out
    assert s["handshakes"]["ok"] == 0 and sum(s["handshakes"]["refused"].values()) == 2


@pytest.mark.parametrize("make_key", [lambda: ec_key("P-256"), lambda: rsa_key()], ids=["ES256", "RS256"])
def test_tokens_signed_with_a_private_key(tmp_path: Path, make_key) -> None:
    """``--key`` signs RS256/ES256 tokens (the algorithm follows the key) that an engine holding the public
    key accepts."""
    pair = make_key()
    (tmp_path / "public.pem").write_bytes(pair.public_pem())
    (tmp_path / "private.pem").write_bytes(pair.private_pem())
    eng = RunningEngine("ValidateJsonWebTokens=2", f"JsonWebTokenPath={tmp_path / 'public.pem'}",
                        document_dir=tmp_path / "apps")
    try:
        code, s, out = run_loadtest("--url", f"ws://127.0.0.1:{eng.port}", "--users", "3", "--scenario", "light",
                                    "--duration", "2", "--ramp-up", "0", "--think", "0.1",
                                    "--key", str(tmp_path / "private.pem"), "--json")
    finally:
        eng.stop()
    assert code == 0, out
    assert s["handshakes"] == {"ok": 3, "refused": {}} and s["methods"]["GetLayout"]["count"] >= 3


def test_wss_with_insecure_against_a_self_signed_engine(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    eng = RunningEngine(document_dir=tmp_path / "apps", extra_args=("--tls-cert", str(cert), "--tls-key", str(key)))
    try:
        url = f"wss://127.0.0.1:{eng.port}"
        args = ("--users", "2", "--scenario", "light", "--duration", "2", "--ramp-up", "0", "--think", "0.1",
                "--timeout", "5", "--json")
        code, s, out = run_loadtest("--url", url, "--insecure", *args)
        assert code == 0, out
        assert s["handshakes"]["ok"] == 2 and s["errors"] == {}
        # without --insecure the unknown certificate is refused at connect time, and counted as such
        code, s, out = run_loadtest("--url", url, *args)
        assert code == 1 and s["handshakes"]["ok"] == 0, out
    finally:
        eng.stop()


def _loadtest_module():
    spec = importlib.util.spec_from_file_location("loadtest_under_test", LOADTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_server_figures_from_an_engine_without_process_metrics() -> None:
    """A real qlikcore/engine exports qix_* series but not process_*: CPU and RSS figures are left out
    rather than reported as zero."""
    lt = _loadtest_module()
    before = lt.ServerSample(cpu_seconds=None, rss_bytes=None, requests=100.0, sessions=0.0)
    after = lt.ServerSample(cpu_seconds=None, rss_bytes=None, requests=600.0, sessions=0.0)
    assert lt.server_figures(before, [], after) == {"requests": 500.0}
    full = [lt.ServerSample(10.0, 100 * 2**20, 100.0, 0.0), lt.ServerSample(11.0, 110 * 2**20, 300.0, 100.0),
            lt.ServerSample(12.0, 120 * 2**20, 500.0, 200.0), lt.ServerSample(14.0, 121 * 2**20, 1100.0, 0.0)]
    figures = lt.server_figures(full[0], full[1:3], full[3])
    assert figures["cpu_ms_per_request"] == pytest.approx(4.0)  # 4 s over 1,000 requests
    assert figures["rss_kib_per_session"] == pytest.approx(10 * 1024 / 100)  # mid-ramp to end of ramp
    assert figures["rss_kib_per_session_since_start"] == pytest.approx(20 * 1024 / 200)
