"""The issue-15 benchmarks in their ``--quick`` form through ``run.py``, so they cannot rot: each must run
to the end and report its figures with positive ratios against its same-run baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _figures(tmp_path: Path, bench: str) -> list[list[str]]:
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, "scripts/bench/run.py", "--quick", "--only", bench, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith(f"| {bench} |")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in rows]
    for row in cells:
        assert float(row[4]) > 0, row
    return cells


@pytest.mark.timeout(300)
def test_dashboard_quick(tmp_path: Path) -> None:
    names = [row[1] for row in _figures(tmp_path, "dashboard")]
    assert any("second user, same state" in n or "qix cached" in n for n in names), names


@pytest.mark.timeout(300)
def test_dashusers_quick(tmp_path: Path) -> None:
    names = " / ".join(row[1] for row in _figures(tmp_path, "dashusers"))
    for part in (
        "users replaying 10 shared states vs distinct",
        "distinct users, think 1 s: dashboard p95",
        "bystander GetLayout (view's last layout)",
        "bystander GetLayout (shared-cache hit after a selection)",
        "cold dashboard, 8 layouts at once",
    ):
        assert part in names, names


@pytest.mark.timeout(300)
def test_fullcpu_quick(tmp_path: Path) -> None:
    have = subprocess.run(["git", "rev-parse", "--verify", "-q", "898bcdb^1"], cwd=REPO, capture_output=True)
    if have.returncode:
        pytest.skip("the base commit is not in this clone's history")
    (row,) = _figures(tmp_path, "fullcpu")
    assert row[1].startswith("engine CPU per request, full scenario")
