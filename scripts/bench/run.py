"""Run every benchmark, print one table of ratios against same-run baselines, write ``bench/results.md``.

Each bench runs in a fresh process (so one bench's memory, CPU pinning and threads do not colour the
next) through its ``measure(quick)`` function, and is timed as a whole, model building included.

    python scripts/bench/run.py [--quick] [--only handshake,roundtrip,...] [--out bench/results.md]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import REPO, Figure

BENCHES = ("handshake", "roundtrip", "jwt", "reload", "calc", "section_access", "bystander", "abac", "sqlload",
           "dashboard", "dashusers", "fullcpu")
LIBRARIES = ("websockets", "orjson", "uvloop", "numpy", "joserfc", "duckdb", "polars", "pyarrow")
_MARK = "FIGURES "


@dataclass
class BenchRun:
    name: str
    seconds: float
    figures: list[Figure] = field(default_factory=list)
    error: str = ""


def _child(name: str, quick: bool) -> None:
    """Run one bench's ``measure`` here and print its figures as one JSON line."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look their module up here
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    figures = module.measure(quick=quick)
    print(_MARK + json.dumps([f.to_json() for f in figures]), flush=True)


def run_bench(name: str, quick: bool) -> BenchRun:
    cmd = [sys.executable, __file__, "--child", name] + (["--quick"] if quick else [])
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith(_MARK)]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return BenchRun(name, seconds, error=tail[0])
    return BenchRun(name, seconds, [Figure.from_json(d) for d in json.loads(lines[-1][len(_MARK):])])


# --- presentation -----------------------------------------------------------------------------------------

def num(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def rows(runs: list[BenchRun]) -> list[list[str]]:
    out = []
    for run in runs:
        if run.error:
            out.append([run.name, "FAILED", run.error, "", "", "", ""])
        for f in run.figures:
            met = "" if f.met is None else ("yes" if f.met else "NO")
            out.append([f.bench, f.name, f"{num(f.ours)} {f.unit}", f"{f.baseline}: {num(f.baseline_value)} {f.unit}",
                        f"{f.ratio:.3f}", f.target or "", met])
    return out


HEADER = ["bench", "figure", "ours", "baseline", "ratio", "target", "met"]


def text_table(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *table]) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [HEADER, *table]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in table]
    return "\n".join(lines)


def machine_facts() -> dict[str, str]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    facts = {"cores": str(os.cpu_count()), "cpu": model or platform.processor() or "unknown",
             "python": platform.python_version(), "platform": platform.platform(),
             "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    for lib in LIBRARIES:
        try:
            facts[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            facts[lib] = "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    facts["commit"] = commit.stdout.strip() or "unknown"
    return facts


def markdown(runs: list[BenchRun], facts: dict[str, str], invocation: str, started: datetime.datetime) -> str:
    parts = ["# Benchmark results", "",
             f"Run {started:%Y-%m-%d %H:%M} UTC with `{invocation}`. Every ratio is ours / baseline, both "
             "measured in this run on this machine; the target says which way is good.", "",
             md_table(rows(runs)), "", "## Machine", ""]
    parts += [f"- {k}: {v}" for k, v in facts.items()]
    parts += ["", "## Benches", ""]
    for run in runs:
        status = f"FAILED: {run.error}" if run.error else f"{run.seconds:.1f} s"
        parts.append(f"### {run.name} ({status})")
        parts.append("")
        seen: set[str] = set()
        for f in run.figures:
            if f.command not in seen:
                seen.add(f.command)
                parts.append(f"- reproduce: `{f.command}`")
        notes = dict.fromkeys(f.note for f in run.figures if f.note)  # once each, in order
        parts += [f"- {note}" for note in notes]
        parts.append("")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (smaller sizes, one round)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.quick)
        return
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(unknown)}")
    started = datetime.datetime.now(datetime.UTC)
    facts = machine_facts()
    runs = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        runs.append(run_bench(name, args.quick))
        print(f"  {name}: {runs[-1].seconds:.1f} s{' FAILED: ' + runs[-1].error if runs[-1].error else ''}",
              file=sys.stderr, flush=True)
    print(text_table(rows(runs)))
    invocation = " ".join(["python scripts/bench/run.py", *sys.argv[1:]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(runs, facts, invocation, started))
    print(f"\nwrote {args.out}")
    sys.exit(1 if any(r.error for r in runs) else 0)


if __name__ == "__main__":
    main()
