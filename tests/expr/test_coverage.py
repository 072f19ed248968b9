"""Every function the coverage report says the engine implements runs its sample call in a reload.

The rows come from ``scripts/script_coverage.py`` (registry and script contexts); each sample call
is loaded over a small table ``T(a, b, s, d, v)`` with a mapping ``M``, as the checklist defines
them. A claimed function that is unknown, has the wrong arity or crashes fails here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from engine.script.runner import ScriptEnv, run_script

ROOT = Path(__file__).resolve().parents[2]
TSV = Path("/work/shared/reference/script-functions.tsv")
SETUP = """M: MAPPING LOAD * INLINE [
from, to
x1, one
x2, two
];
T: LOAD * INLINE [
a, b, s, d, v
1, 2, x1, 45001, -100
2, 5, x2, 45100, 60
3, 7, x1, 45200, 70
];
"""


def _coverage():
    spec = importlib.util.spec_from_file_location("script_coverage", ROOT / "scripts" / "script_coverage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("script_coverage", module)
    spec.loader.exec_module(module)
    return module


def _calls() -> list[tuple[str, str, str]]:
    if not TSV.exists():
        return []
    calls = {}
    for line in TSV.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("name\t") or not line.strip():
            continue
        name, _family, kind, call = line.split("\t")[:4]
        calls[name] = (name, kind, call)
    cov = _coverage()
    return [calls[r.name] for r in cov.read_rows(TSV) if r.implemented and "script" in r.where]


@pytest.mark.skipif(not TSV.exists(), reason="the shared function checklist is not present")
@pytest.mark.parametrize(("name", "kind", "call"), _calls(), ids=lambda v: v if isinstance(v, str) else "")
def test_claimed_function_runs_in_a_reload(name: str, kind: str, call: str, tmp_path: Path) -> None:
    script = SETUP + f"R: NoConcatenate LOAD {call} as x RESIDENT T;\n"
    result = run_script(script, ScriptEnv(document_dir=tmp_path))
    assert "R" in result.model.tables, f"{name}: no result table"


@pytest.mark.skipif(not TSV.exists(), reason="the shared function checklist is not present")
def test_summary_counts_only_what_the_registry_has() -> None:
    cov = _coverage()
    rows = cov.read_rows(TSV)
    line = cov.summary(rows)
    done = sum(r.implemented for r in rows)
    assert f"{done} of {len(rows)}" in line
    assert cov.where_implemented("NoSuchFunctionAnywhere", "scalar") == ""
    # a reference aggregation is only counted when the registry flags the entry as one
    assert cov.where_implemented("Len", "aggr") == ""
    assert cov.where_implemented("Median", "aggr") == "script+chart"
    assert cov.where_implemented("FirstValue", "aggr") == "script"
