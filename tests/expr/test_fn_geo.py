"""Geospatial functions over Qlik geometry strings, and Chi2Test, in scripts and charts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import scipy.stats as sst

from engine.calc.evaluation import evaluate_expression
from engine.expr import evaluate_constant
from engine.model.selection import EMPTY_STATE, infer
from engine.script.runner import ScriptEnv, run_script

SQUARE = "[[[0,0],[2,0],[2,2],[0,2],[0,0]]]"


def txt(text: str) -> str | None:
    return evaluate_constant(text).display_text()[0]


def test_point_vertices_box_and_centre() -> None:
    assert txt("GeoMakePoint(55.6, 12.5)") == "[12.5,55.6]"  # longitude first
    assert evaluate_constant(f"GeoCountVertex('{SQUARE}')").num[0] == 5
    assert txt(f"GeoGetBoundingBox('{SQUARE}')") == "[0,2,2,0]"  # left, right, top, bottom
    assert txt(f"GeoGetPolygonCenter('{SQUARE}')") == "[1,1]"
    assert txt("GeoCountVertex('not a geometry')") is None


def test_projections_round_trip() -> None:
    x, y = orjson.loads(txt("GeoProject('mercator', '[12.5,55.6]')") or "null")
    assert x == pytest.approx(1391493.63, abs=0.01) and y == pytest.approx(7479195.60, abs=0.01)
    back = orjson.loads(txt("GeoInvProjectGeometry('mercator', GeoProject('mercator', '[12.5,55.6]'))") or "null")
    assert back == pytest.approx([12.5, 55.6])
    assert txt("GeoProject('unit', '[12.5,55.6]')") == "[12.5,55.6]"
    assert txt("GeoProjectGeometry('nope', '[12.5,55.6]')") is None


def test_geo_aggregations_in_a_group_by(tmp_path: Path) -> None:
    r = run_script("""A: LOAD 'N' as Region, '[[[0,0],[1,0],[1,1],[0,1],[0,0]]]' as Area AUTOGENERATE 1;
Concatenate (A) LOAD 'N' as Region, '[[[1,0],[2,0],[2,1],[1,1],[1,0]]]' as Area AUTOGENERATE 1;
Concatenate (A) LOAD 'S' as Region, '[[[5,5],[6,5],[6,6],[5,5]]]' as Area AUTOGENERATE 1;
G: LOAD Region as R, GeoAggrGeometry(Area) as U, GeoBoundingBox(Area) as B, GeoReduceGeometry(Area) as M
RESIDENT A GROUP BY Region;""", ScriptEnv(document_dir=tmp_path))
    sym = {f: r.model.fields[f].symbols for f in ("U", "B", "M")}
    cols = {f: [sym[f].text[c] for c in r.model.tables["G"].columns[f]] for f in sym}
    union = orjson.loads(cols["U"][0])
    assert len(union) == 1 and len(union[0]) == 7  # one ring: the shared edge is gone
    assert cols["B"] == ["[0,2,1,0]", "[5,6,6,5]"]
    assert len(orjson.loads(cols["M"][0])) == 2  # reduce keeps the two areas apart


def test_chi2test_in_script_and_chart(tmp_path: Path) -> None:
    r = run_script("""T: LOAD * INLINE [
Grp, Sample, Obs
a, x, 10
a, y, 20
b, x, 30
b, y, 15
];
C: LOAD Chi2Test_chi2(Grp, Sample, Obs) as Chi, Chi2Test_df(Grp, Sample, Obs) as Df,
 Chi2Test_p(Grp, Sample, Obs) as P RESIDENT T;""", ScriptEnv(document_dir=tmp_path))
    stat, p, df, _ = sst.chi2_contingency([[10, 30], [20, 15]], correction=False)

    def one(field: str) -> float:
        return float(r.model.fields[field].symbols.num[r.model.tables["C"].columns[field][0]])

    assert one("Chi") == pytest.approx(stat) and one("Df") == df and one("P") == pytest.approx(p)
    inf = infer(r.model, EMPTY_STATE)
    assert evaluate_expression(r.model, inf, "Chi2Test_p(Grp, Sample, Obs)")[1] == pytest.approx(p)
