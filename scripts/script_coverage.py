"""What the Qlik script reference lists against what this engine implements.

Reads the function checklist (``script-functions.tsv``: name, family, kind, sample call) and looks
every name up in the engine's own tables: the function registry (``engine.expr.FUNCTIONS``, whose
entries say whether a name is an aggregation and where it is allowed) and the script-only functions
answered by the script's evaluation contexts (``engine.script.context.SCRIPT_FUNCTIONS``). Nothing
is listed by hand here, so a row can only claim what the engine has. Statements and prefixes come from
the script parser's keyword table (``STATEMENT_KEYWORDS``: each form of the reference, the parser method
that reads it, and whether a reload runs it or fails naming it).

    python scripts/script_coverage.py [--tsv PATH] [--missing] [--summary]
"""

from __future__ import annotations

import os
import sys

# Run as ``python scripts/script_coverage.py``, this directory heads sys.path and its token.py would
# shadow the standard library's ``token`` module (see scripts/token.py); drop that entry first.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.expr import FUNCTIONS  # noqa: E402
from engine.expr.evaluate import AGGREGATIONS  # noqa: E402
from engine.script import context as script_context  # noqa: E402

DEFAULT_TSV = Path("/work/shared/reference/script-functions.tsv")


@dataclass(frozen=True)
class Row:
    name: str
    family: str
    kind: str
    where: str  # "" when the engine lacks it

    @property
    def implemented(self) -> bool:
        return bool(self.where)


def where_implemented(name: str, kind: str) -> str:
    """Where the engine can run ``name`` ("script+chart", "script", "chart"), or "" when it cannot.

    A reference aggregation counts only when the registry marks it as one, so a scalar of the same
    name is not taken for it."""
    key = name.upper()
    spec = FUNCTIONS.get(key)
    if kind == "aggr" and key not in AGGREGATIONS:
        spec = None
    places = []
    if spec is not None:
        if spec.script:
            places.append("script")
        if spec.chart:
            places.append("chart")
    if key in script_context.SCRIPT_FUNCTIONS and "script" not in places:
        places.insert(0, "script")
    return "+".join(places)


def read_rows(tsv: Path) -> list[Row]:
    rows = []
    for line in tsv.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("name\t"):
            continue
        name, family, kind = line.split("\t")[:3]
        rows.append(Row(name, family, kind, where_implemented(name, kind)))
    return rows


@dataclass(frozen=True)
class StatementRow:
    form: str  # as the reference names it
    kind: str  # regular | prefix | control
    handled: str  # the parser method that reads it
    runs: bool
    note: str


def statement_rows() -> list[StatementRow]:
    """One row per statement or prefix form of the script reference, from the parser's keyword table
    (``engine.script.parser.STATEMENT_KEYWORDS``): what reads it and whether a reload runs it."""
    from engine.script.parser import STATEMENT_KEYWORDS

    out: dict[str, StatementRow] = {}
    for kw in STATEMENT_KEYWORDS.values():
        for form in kw.forms:
            if form not in out:
                handled = f"Parser.{kw.parser}" if kw.parser else "split_statements"
                out[form] = StatementRow(form, kw.kind, handled, kw.runs, kw.note)
    return sorted(out.values(), key=lambda r: (r.kind, r.form.upper()))


def statement_summary(rows: list[StatementRow]) -> str:
    done = sum(r.runs for r in rows)
    return f"Script statements and prefixes: {done} of {len(rows)} run"


def summary(rows: list[Row]) -> str:
    done = sum(r.implemented for r in rows)
    return f"Script functions: {done} of {len(rows)} in the Qlik script reference are implemented"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tsv", type=Path, default=DEFAULT_TSV)
    ap.add_argument("--missing", action="store_true", help="list only what is missing")
    ap.add_argument("--summary", action="store_true", help="print only the summary line")
    args = ap.parse_args(argv)
    rows = read_rows(args.tsv)
    if args.summary:
        print(statement_summary(statement_rows()))
        print(summary(rows))
        return 0
    per_family: Counter[str] = Counter()
    done_family: Counter[str] = Counter()
    for r in rows:
        per_family[r.family] += 1
        done_family[r.family] += r.implemented
    print(f"{'function':<28}{'family':<32}{'kind':<8}engine")
    for r in sorted(rows, key=lambda r: (r.family, r.name.upper())):
        if args.missing and r.implemented:
            continue
        print(f"{r.name:<28}{r.family:<32}{r.kind:<8}{r.where or 'MISSING'}")
    print()
    for fam in sorted(per_family):
        print(f"{fam:<32}{done_family[fam]:>4} / {per_family[fam]}")
    statements = statement_rows()
    print()
    print(f"{'statement / prefix':<40}{'kind':<10}{'handled by':<32}runs")
    for st in statements:
        if args.missing and st.runs:
            continue
        note = f"  ({st.note})" if st.note else ""
        print(f"{st.form:<40}{st.kind:<10}{st.handled:<32}{'yes' if st.runs else 'REFUSED'}{note}")
    print()
    print(statement_summary(statements))
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
