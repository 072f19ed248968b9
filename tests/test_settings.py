"""Command line and -S settings: parsing, defaults, validation, --help, and the CLI's exit-2 contract."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import engine
from engine import cli
from engine.settings import SPECS, Settings, SettingsError, parse_args
from tests.jwt_keys import SECRET, KeyFiles

WORKTREE = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative DocumentDirectory defaults land in a tmp dir, never in the worktree."""
    monkeypatch.chdir(tmp_path)


def error_of(*argv: str) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        parse_args(list(argv))
    return info.value


# -- defaults and parsing ------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    s = parse_args([])
    assert (s.host, s.port, s.tls_cert, s.tls_key) == ("0.0.0.0", 9076, None, None)
    assert s.validate_json_web_tokens == 0 and not s.jwt_enforced
    assert s.json_web_token_secret is None and s.json_web_token_path is None
    assert s.json_web_token_jwks_path is None and s.json_web_token_leeway == 0.0
    assert s.json_web_token_audience is None and s.json_web_token_issuer is None
    assert s.document_directory == tmp_path / "apps" and s.document_directory.is_dir()
    assert (s.session_ttl, s.max_session_ttl, s.prometheus_port) == (0, 1800, 9090)
    assert s.accept_eula is False and s.enable_compression is False
    assert s.engine_version == engine.DEFAULT_ENGINE_VERSION
    assert s.script_max_rows == 100_000_000
    assert (s.system_log_verbosity, s.performance_log_verbosity, s.audit_log_verbosity) == (4, 4, 0)
    assert (s.session_log_verbosity, s.traffic_log_verbosity, s.qix_performance_log_verbosity) == (4, 0, 0)
    assert (s.smart_search_query_log_verbosity, s.smart_search_index_log_verbosity) == (3, 3)
    assert (s.sse_log_verbosity, s.script_log_verbosity) == (4, 0)
    assert s.unknown_settings == ()
    assert s == Settings(document_directory=tmp_path / "apps")


def test_every_spec_maps_to_a_field_with_the_same_default() -> None:
    by_name = {f.name: f for f in dataclasses.fields(Settings)}
    for spec in SPECS:
        assert spec.attr in by_name, spec.name
        if spec.name != "DocumentDirectory":
            assert by_name[spec.attr].default == spec.default, spec.name


def test_all_settings_parsed(tmp_path: Path) -> None:
    s = parse_args([
        "--host", "127.0.0.1", "--port", "19076",
        "-S", "AcceptEULA=yes",
        "-S", "ValidateJsonWebTokens=2",
        "-S", "JsonWebTokenSecret=s3cret=with=equals",
        "-S", "JsonWebTokenPath=keys/pub.pem",
        "-S", "JsonWebTokenJwksPath=/etc/jwks.json",
        "-S", "JsonWebTokenLeeway=2.5",
        "-S", "JsonWebTokenAudience=qix",
        "-S", "JsonWebTokenIssuer=https://idp",
        "-S", "DocumentDirectory=docs/apps",
        "-S", "SessionTTL=-1",
        "-S", "MaxSessionTTL=-1",
        "-S", "PrometheusPort=0",
        "-S", "EngineVersion=12.2027.0",
        "-S", "EnableCompression=1",
        "-S", "ScriptMaxRows=5000",
        "-S", "TrafficLogVerbosity=5",
        "-S", "SystemLogVerbosity=0",
        "-SScriptLogVerbosity=3",
    ])
    assert (s.host, s.port) == ("127.0.0.1", 19076)
    assert s.accept_eula is True
    assert s.validate_json_web_tokens == 2
    assert s.json_web_token_secret == "s3cret=with=equals"
    assert s.json_web_token_path == tmp_path / "keys" / "pub.pem"
    assert s.json_web_token_jwks_path == Path("/etc/jwks.json")
    assert s.json_web_token_leeway == 2.5
    assert (s.json_web_token_audience, s.json_web_token_issuer) == ("qix", "https://idp")
    assert s.document_directory == tmp_path / "docs" / "apps" and s.document_directory.is_dir()
    assert (s.session_ttl, s.max_session_ttl, s.prometheus_port) == (-1, -1, 0)
    assert s.engine_version == "12.2027.0"
    assert s.enable_compression is True and s.script_max_rows == 5000
    assert (s.traffic_log_verbosity, s.system_log_verbosity, s.script_log_verbosity) == (5, 0, 3)
    assert s.log_verbosity("trafficlogverbosity") == 5
    with pytest.raises(KeyError):
        s.log_verbosity("SessionTTL")


def test_secret_not_in_repr() -> None:
    s = parse_args(["-S", "ValidateJsonWebTokens=2", "-S", "JsonWebTokenSecret=topsecret"])
    assert "topsecret" not in repr(s)


def test_keys_case_insensitive_and_last_wins() -> None:
    s = parse_args(["-S", "sessionttl=5", "-S", "SESSIONTTL=7", "-S", "acceptEula=YES"])
    assert s.session_ttl == 7 and s.accept_eula is True


def test_unknown_settings_kept() -> None:
    s = parse_args(["-S", "BuildAppCacheAtStartup=1", "-S", "EnableHostMetrics=0", "-S", "EnableHostMetrics=1",
                    "-S", "LicenseServiceUrl=http://x:9200"])
    assert s.unknown_settings == ("BuildAppCacheAtStartup", "EnableHostMetrics", "LicenseServiceUrl")


def test_empty_key_settings_mean_unset() -> None:
    s = parse_args(["-S", "JsonWebTokenSecret=", "-S", "JsonWebTokenPath="])
    assert s.json_web_token_secret is None and s.json_web_token_path is None
    assert not s.jwt_keys_configured


def test_document_directory_absolute_and_existing(tmp_path: Path) -> None:
    existing = tmp_path / "there"
    existing.mkdir()
    assert parse_args(["-S", f"DocumentDirectory={existing}"]).document_directory == existing
    a_file = tmp_path / "file"
    a_file.write_text("x")
    err = error_of("-S", f"DocumentDirectory={a_file}")
    assert err.setting == "DocumentDirectory"
    assert error_of("-S", "DocumentDirectory=").setting == "DocumentDirectory"


def test_tls_options(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    s = parse_args(["--tls-cert", str(cert), "--tls-key", str(key)])
    assert (s.tls_cert, s.tls_key) == (cert, key)
    assert parse_args(["--tls-cert", str(cert)]).tls_key is None
    assert error_of("--tls-key", str(key)).setting == "--tls-key"
    assert error_of("--tls-cert", str(tmp_path / "missing.pem")).setting == "--tls-cert"


# -- validation errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv,setting,needle", [
    (["-S", "ValidateJsonWebTokens=3"], "ValidateJsonWebTokens", "one of 0, 1, 2"),
    (["-S", "ValidateJsonWebTokens=yes"], "ValidateJsonWebTokens", "one of 0, 1, 2"),
    (["-S", "ValidateJsonWebTokens=1"], "ValidateJsonWebTokens", "needs JsonWebTokenSecret"),
    (["-S", "ValidateJsonWebTokens=2"], "ValidateJsonWebTokens", "needs JsonWebTokenSecret"),
    (["-S", "SessionTTL=abc"], "SessionTTL", "whole number"),
    (["-S", "SessionTTL=1.5"], "SessionTTL", "whole number"),
    (["-S", "SessionTTL=-2"], "SessionTTL", "at least -1"),
    (["-S", "MaxSessionTTL=forever"], "MaxSessionTTL", "whole number"),
    (["-S", "PrometheusPort=70000"], "PrometheusPort", "from 0 to 65535"),
    (["-S", "PrometheusPort=9076"], "PrometheusPort", "must differ from --port"),
    (["-S", "JsonWebTokenLeeway=abc"], "JsonWebTokenLeeway", "number of seconds"),
    (["-S", "JsonWebTokenLeeway=-1"], "JsonWebTokenLeeway", ">= 0"),
    (["-S", "JsonWebTokenLeeway=nan"], "JsonWebTokenLeeway", ">= 0"),
    (["-S", "AcceptEULA=maybe"], "AcceptEULA", "yes or no"),
    (["-S", "EnableCompression=2"], "EnableCompression", "one of 0, 1"),
    (["-S", "ScriptMaxRows=0"], "ScriptMaxRows", "at least 1"),
    (["-S", "EngineVersion="], "EngineVersion", "must not be empty"),
    (["-S", "SystemLogVerbosity=6"], "SystemLogVerbosity", "from 0 to 5"),
    (["-S", "traffiClogverbosity=-1"], "TrafficLogVerbosity", "from 0 to 5"),
    (["-S", "SSELogVerbosity=debug"], "SSELogVerbosity", "whole number"),
    (["-S", "SessionTTL"], "SessionTTL", "expected -S Key=Value"),
    (["-S", "=5"], "=5", "expected -S Key=Value"),
    (["--port", "http"], "--port", "whole number"),
    (["--port", "65536"], "--port", "from 0 to 65535"),
    (["--bogus"], "command line", "unrecognized arguments: --bogus"),
    (["-S"], "command line", "expected one argument"),
])
def test_setting_errors(argv: list[str], setting: str, needle: str) -> None:
    err = error_of(*argv)
    assert err.setting == setting
    assert needle in err.problem
    assert str(err) == f"{setting}: {err.problem}"
    assert "\n" not in str(err)


@pytest.mark.parametrize("level", ["1", "2"])
@pytest.mark.parametrize("key_setting", ["JsonWebTokenSecret=x", "JsonWebTokenPath=/k.pem", "JsonWebTokenJwksPath=/j"])
def test_enforcement_with_any_key_setting_parses(level: str, key_setting: str) -> None:
    s = parse_args(["-S", f"ValidateJsonWebTokens={level}", "-S", key_setting])
    assert s.validate_json_web_tokens == int(level) and s.jwt_keys_configured


def test_settings_module_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    source = (WORKTREE / "engine" / "settings.py").read_text()
    assert "os.environ" not in source and "getenv(" not in source and "expanduser(" not in source
    monkeypatch.setenv("SessionTTL", "99")
    monkeypatch.setenv("QIX_PORT", "1")
    s = parse_args([])
    assert (s.session_ttl, s.port) == (0, 9076)


# -- effective TTL --------------------------------------------------------------------------------


@pytest.mark.parametrize("session_ttl,max_ttl,requested,expected", [
    (0, 1800, None, 0.0),
    (30, 1800, None, 30.0),
    (30, 1800, 60, 60.0),
    (30, 1800, 0, 0.0),
    (0, 1800, 5000, 1800.0),
    (5000, 1800, None, 1800.0),
    (0, 10, 60, 10.0),
    (-1, 1800, None, 1800.0),
    (0, 1800, -1, 1800.0),
    (-1, -1, None, math.inf),
    (0, -1, -1, math.inf),
    (0, -1, 999999, 999999.0),
    (-1, -1, 60, 60.0),
])
def test_effective_ttl(session_ttl: int, max_ttl: int, requested: int | None, expected: float) -> None:
    s = Settings(session_ttl=session_ttl, max_session_ttl=max_ttl)
    assert s.effective_ttl(requested) == expected
    assert isinstance(s.effective_ttl(requested), float)


# -- the CLI in-process --------------------------------------------------------------------------


def test_main_settings_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-S", "ValidateJsonWebTokens=9"]) == 2
    err = capsys.readouterr().err
    assert err == "qix-engine: ValidateJsonWebTokens: must be one of 0, 1, 2, got '9'\n"


def test_main_runs_server_after_authenticator(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                              tmp_path: Path) -> None:
    calls: list[tuple[Settings, object]] = []
    fake = types.ModuleType("engine.server")
    fake.run = lambda settings, authenticator: calls.append((settings, authenticator)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.server", fake)
    monkeypatch.setattr(engine, "server", fake, raising=False)
    with caplog.at_level(logging.INFO, logger="qix.engine"):
        code = cli.main(["--port", "0", "-S", "AcceptEULA=yes", "-S", "Frobnicate=1",
                         "-S", "ValidateJsonWebTokens=2", "-S", f"JsonWebTokenSecret={SECRET}"])
    assert code == 0
    (settings, authenticator), = calls
    assert settings.port == 0 and settings.unknown_settings == ("Frobnicate",)
    assert authenticator.level == 2
    messages = [r.getMessage() for r in caplog.records]
    assert "unknown setting -S Frobnicate ignored" in messages
    assert "EULA accepted (AcceptEULA=yes)" in messages


def test_main_returns_server_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("engine.server")
    fake.run = lambda settings, authenticator: 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.server", fake)
    monkeypatch.setattr(engine, "server", fake, raising=False)
    assert cli.main(["--port", "0"]) == 3


# -- the CLI as a process: exit code 2 and exactly one line ------------------------------------------


def run_engine(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    return subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    return KeyFiles.create(tmp_path_factory.mktemp("cli-keys"))


@pytest.mark.parametrize("argv,setting", [
    (["-S", "ValidateJsonWebTokens=7"], "ValidateJsonWebTokens"),
    (["-S", "SessionTTL=ten"], "SessionTTL"),
    (["-S", "ValidateJsonWebTokens=2"], "ValidateJsonWebTokens"),
    (["-S", "ValidateJsonWebTokens=1"], "ValidateJsonWebTokens"),
    (["-S", "ValidateJsonWebTokens=2", "-S", "JsonWebTokenPath=/nonexistent/key.pem"], "JsonWebTokenPath"),
    (["-S", "ValidateJsonWebTokens=2", "-S", "JsonWebTokenPath={not_a_key}"], "JsonWebTokenPath"),
    (["-S", "ValidateJsonWebTokens=2", "-S", "JsonWebTokenJwksPath={not_a_key}"], "JsonWebTokenJwksPath"),
    (["-S", "SystemLogVerbosity=9", "-S", "UnknownThing=1"], "SystemLogVerbosity"),
    (["--port", "x"], "--port"),
])
def test_process_exits_2_with_one_line(tmp_path: Path, keys: KeyFiles, argv: list[str], setting: str) -> None:
    argv = [a.format(not_a_key=keys.not_a_key_pem) for a in argv]
    proc = run_engine(*argv, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"qix-engine: {setting}: ")


def test_process_help_lists_switches_and_settings(tmp_path: Path) -> None:
    proc = run_engine("--help", cwd=tmp_path)
    assert proc.returncode == 0
    out = proc.stdout
    for switch in ("--host", "--port", "--tls-cert", "--tls-key", "-S Key=Value"):
        assert switch in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()
            if line.startswith("  ") and len(line.split()) >= 2}
    for spec in SPECS:
        assert spec.name in rows, spec.name
    assert rows["ValidateJsonWebTokens"] == "0"
    assert rows["MaxSessionTTL"] == "1800"
    assert rows["PrometheusPort"] == "9090"
    assert rows["DocumentDirectory"] == "./apps"
    assert rows["EngineVersion"] == engine.DEFAULT_ENGINE_VERSION
    assert rows["ScriptMaxRows"] == "100000000"
    assert rows["SmartSearchQueryLogVerbosity"] == "3"
    assert rows["SystemLogVerbosity"] == "4"
    assert rows["AcceptEULA"] == "no"
    assert not (tmp_path / "apps").exists()  # --help has no side effects
