"""enigma.js conformance: the Node suite in tests/clients/enigma run against real engines.

Each scenario file is one pytest case per configuration (one ``node --test`` run per configuration runs all
its files in parallel): JWT level 2 with ``protocol.delta`` true and
false (every socket sends ``Authorization: Bearer``), one run at level 0, and the Qlik Cloud URL file over
a TLS listener (wss://, self-signed certificate made here). A small reporter writes one JSON line per Node
test so known engine gaps (``KNOWN_GAPS``) are told apart from new failures: a case whose only failures
are known gaps is an xfail; a known gap that passes fails the case so it is removed from the list (the
strict-xfail rule); any other failure fails with the Node output.

Skipped only when ``node`` or the suite's node_modules are missing, and never under CI (``CI`` set).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import REPO, RunningEngine, self_signed_cert

SUITE = REPO / "tests" / "clients" / "enigma"
DATA_DIR = REPO / "tests" / "data"
SECRET = "enigma-conformance-secret-0123456789"
FILES = sorted(p.name for p in (SUITE / "test").glob("*.test.js"))
#: the files that also run over wss:// (the TLS listener is transport only: one URL-focused file suffices)
TLS_FILES = ("cloud-url.test.js", "global.test.js")

#: (file, Node test name) -> what the engine lacks. Each entry is a scenario that fails today because of
#: the engine; the reason names the failing call. Remove an entry when the engine is fixed.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Config:
    name: str
    level: int
    delta: bool
    tls: bool = False


CONFIGS = (
    Config("jwt2-delta", 2, True),
    Config("jwt2-nodelta", 2, False),
    Config("jwt0-delta", 0, True),
    Config("tls-jwt2-delta", 2, True, tls=True),
    Config("tls-jwt2-nodelta", 2, False, tls=True),
)
CASES = [pytest.param(c, f, id=f"{c.name}-{f.removesuffix('.test.js')}")
         for c in CONFIGS for f in FILES if not c.tls or f in TLS_FILES]


def _missing_node() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (SUITE / "node_modules" / "enigma.js").is_dir() or not (SUITE / "node_modules" / "ws").is_dir():
        return f"{SUITE}/node_modules is missing (run `npm ci` there, or scripts/test.sh)"
    return None


@pytest.fixture(scope="module")
def node_ready() -> None:
    reason = _missing_node()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the enigma.js suite: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engines(tmp_path_factory, node_ready):
    """One engine per (level, tls), started lazily and shared by the module's cases."""
    started: dict[tuple[int, bool], tuple[RunningEngine, Path | None]] = {}

    def get(config: Config) -> tuple[RunningEngine, Path | None]:
        key = (config.level, config.tls)
        if key not in started:
            base = tmp_path_factory.mktemp(f"enigma-l{config.level}{'-tls' if config.tls else ''}")
            settings = [f"ValidateJsonWebTokens={config.level}", f"FolderConnectionRoots={DATA_DIR}"]
            if config.level:
                settings.append(f"JsonWebTokenSecret={SECRET}")
            extra: tuple[str, ...] = ()
            ca = None
            if config.tls:
                ca, key_path = self_signed_cert(base)
                extra = ("--tls-cert", str(ca), "--tls-key", str(key_path))
            started[key] = (RunningEngine(*settings, document_dir=base / "apps", extra_args=extra), ca)
        return started[key]

    yield get
    for eng, _ in started.values():
        eng.stop()


@dataclass
class NodeRun:
    """One ``node --test`` run of every file of a configuration (files run in parallel)."""

    returncode: int
    output: str
    results: list[dict]


def run_node(files: list[str], env: dict[str, str], results: Path) -> NodeRun:
    cmd = ["node", "--test", "--test-reporter=spec", "--test-reporter-destination=stdout",
           "--test-reporter=./lib/jsonl-reporter.mjs", f"--test-reporter-destination={results}",
           *(f"test/{f}" for f in files)]
    proc = subprocess.run(cmd, cwd=SUITE, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=110)
    lines = results.read_text().splitlines() if results.exists() else []
    return NodeRun(proc.returncode,
                   f"--- node stdout ---\n{proc.stdout[-15000:]}\n--- node stderr ---\n{proc.stderr[-4000:]}",
                   [json.loads(line) for line in lines if line.strip()])


@pytest.fixture(scope="module")
def node_runs(engines, tmp_path_factory):
    """Run each configuration's files once, on first use; the cases then read their file's results."""
    done: dict[str, NodeRun] = {}

    def get(config: Config) -> NodeRun:
        if config.name not in done:
            eng, ca = engines(config)
            env = {
                "QIX_URL_BASE": eng.url("", scheme="wss" if config.tls else "ws"),
                "QIX_JWT_SECRET": SECRET if config.level else "",
                "QIX_LEVEL": str(config.level),
                "QIX_DELTA": "true" if config.delta else "false",
                "QIX_TLS_CA": str(ca) if ca else "",
                "QIX_DATA_DIR": str(DATA_DIR),
            }
            files = [f for f in FILES if not config.tls or f in TLS_FILES]
            done[config.name] = run_node(files, env, tmp_path_factory.mktemp(config.name) / "results.jsonl")
        return done[config.name]

    return get


@pytest.mark.parametrize(("config", "file"), CASES)
def test_enigma_scenarios(config: Config, file: str, node_runs) -> None:
    run = node_runs(config)
    results = [r for r in run.results if r["file"] == file]
    if not results:
        pytest.fail(f"node reported no tests for {file} (exit {run.returncode})\n{run.output}")
    failed = [r for r in results if r["status"] == "fail"]
    unexpected = [r for r in failed if (file, r["name"]) not in KNOWN_GAPS]
    fixed = [r["name"] for r in results if r["status"] == "pass" and (file, r["name"]) in KNOWN_GAPS]
    if unexpected:
        detail = "\n\n".join(f"  {r['name']}:\n{r['error']}" for r in unexpected)
        pytest.fail(f"{len(unexpected)} enigma.js scenario(s) failed in {file} [{config.name}]:\n{detail}\n"
                    f"{run.output}")
    if fixed:
        pytest.fail(f"known engine gap(s) now pass in {file} [{config.name}]: {fixed}; "
                    "remove them from KNOWN_GAPS")
    if failed:
        pytest.xfail("; ".join(KNOWN_GAPS[(file, r["name"])] for r in failed))
