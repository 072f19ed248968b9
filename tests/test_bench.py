"""The benchmark runner end to end on its cheapest benches: it prints the table and writes the markdown
with every figure's ratio, target and reproduce command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_quick_run_writes_table_with_positive_ratios(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, "scripts/bench/run.py", "--quick", "--only", "jwt,roundtrip",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| jwt |") or line.startswith("| roundtrip |")]
    names = {line.split(" | ")[1] for line in rows}
    assert names == {"HS256 token verifications/s", "GetLayout round trips/s, static object",
                     "GetLayout round trips/s, qStringExpression object",
                     "server CPU per GetLayout, static object", "server CPU per GetLayout, qStringExpression object"}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        ratio = float(cells[4])
        assert ratio > 0, line
        if "round trips" in cells[1]:
            assert cells[5] == "≥ 0.8" and cells[6] in ("yes", "NO")
    assert "- reproduce: `python scripts/bench/roundtrip.py --seconds=0.5 --rounds=1 --connections=20`" in text
    assert "- reproduce: `python scripts/bench/jwt.py --tokens=500 --rounds=1`" in text
    assert re.search(r"- cores: \d+", text) and re.search(r"- python: 3\.\d+", text)
    assert re.search(r"- websockets: \d+\.", text) and "limit:" in text
    # the printed table carries the same figures
    assert "GetLayout round trips/s, static object" in proc.stdout and "ratio" in proc.stdout
