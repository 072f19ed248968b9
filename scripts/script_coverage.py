"""What the Qlik script reference lists against what this engine implements.

Reads the function checklist (``script-functions.tsv``: name, family, kind, sample call) and looks
every name up in the engine's own tables: the function registry (``engine.expr.FUNCTIONS``, whose
entries say whether a name is an aggregation and where it is allowed) and the script-only functions
answered by the script's evaluation contexts (``engine.script.context.SCRIPT_FUNCTIONS``). Nothing
is listed by hand here, so a row can only claim what the engine has. Statements come from the script
parser's keyword table when it exposes one (``STATEMENT_KEYWORDS``).

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


def statement_rows() -> tuple[list[str], str]:
    """The parser's statement keywords, if it publishes them."""
    from engine.script import parser

    table = getattr(parser, "STATEMENT_KEYWORDS", None)
    if table is None:
        return [], "the script parser exposes no STATEMENT_KEYWORDS table"
    return sorted(str(k) for k in table), ""


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
    keywords, why = statement_rows()
    print()
    print(f"Statements known to the parser: {', '.join(keywords)}" if keywords else f"Statements: {why}")
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
