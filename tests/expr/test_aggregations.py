"""One definition per aggregation: a chart and a script GROUP BY give the same answer on the same
rows, aggregations are a property of the registry entry, and a missing function fails the same way
in a chart and in a script. Values from the reference's TeamData examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.calc.evaluation import evaluate_expression
from engine.calc.hypercube import HyperCube
from engine.expr import FUNCTIONS
from engine.expr.evaluate import AGGREGATIONS
from engine.model.selection import EMPTY_STATE, infer
from engine.script.errors import ScriptError
from engine.script.runner import ReloadResult, ScriptEnv, run_script

TEAMS = """TeamData:
LOAD * inline [
SalesGroup|Team|Date|Amount
East|Gamma|01/05/2013|20000
East|Gamma|02/05/2013|20000
West|Zeta|01/06/2013|19000
East|Alpha|01/07/2013|25000
East|Delta|01/08/2013|14000
West|Epsilon|01/09/2013|17000
West|Eta|01/10/2013|14000
East|Beta|01/11/2013|20000
West|Theta|01/12/2013|23000
] (delimiter is '|');
"""

MEASURES = [
    "Concat(Team, '-')", "Concat(DISTINCT Team, '-')", "Concat(DISTINCT Team, '-', Amount)", "Median(Amount)",
    "Stdev(Amount)", "Mode(Amount)", "Fractile(Amount, 0.25)", "Sum(Amount)", "Avg(Amount)", "Count(Team)",
    "MinString(Team)", "MaxString(Team)", "Skew(Amount)", "Kurtosis(Amount)", "AveDev(Amount)",
    "Correl(Amount, Date)", "LINEST_M(Amount, Date)", "STEYX(Amount, Date)", "Sterr(Amount)",
]


def run(script: str, tmp_path: Path) -> ReloadResult:
    return run_script(script, ScriptEnv(document_dir=tmp_path))


def values(r: ReloadResult, table: str, field: str) -> list[str | None]:
    sym = r.model.fields[field].symbols
    return [None if c < 0 else str(sym.text[c]) if sym.text[c] is not None else f"{sym.num[c]:.10g}"
            for c in r.model.tables[table].columns[field]]


def test_script_group_by_matches_the_documented_concat_results(tmp_path: Path) -> None:
    r = run(TEAMS + """C1: LOAD SalesGroup as G1, Concat(Team) as T1 RESIDENT TeamData GROUP BY SalesGroup;
C2: LOAD SalesGroup as G2, Concat(DISTINCT Team, '-') as T2 RESIDENT TeamData GROUP BY SalesGroup;
C3: LOAD SalesGroup as G3, Concat(DISTINCT Team, '-', Amount) as T3 RESIDENT TeamData GROUP BY SalesGroup;
F: LOAD SalesGroup as G4, FirstValue(Team) as FV, LastValue(Team) as LV RESIDENT TeamData GROUP BY SalesGroup;
""", tmp_path)
    assert values(r, "C1", "T1") == ["AlphaBetaDeltaGammaGamma", "EpsilonEtaThetaZeta"]
    assert values(r, "C2", "T2") == ["Alpha-Beta-Delta-Gamma", "Epsilon-Eta-Theta-Zeta"]
    assert values(r, "C3", "T3") == ["Delta-Beta-Gamma-Alpha", "Eta-Epsilon-Zeta-Theta"]
    assert values(r, "F", "FV") == ["Gamma", "Zeta"] and values(r, "F", "LV") == ["Beta", "Theta"]


@pytest.mark.parametrize("measure", MEASURES)
def test_chart_and_script_agree(measure: str, tmp_path: Path) -> None:
    r = run(TEAMS + f"S: LOAD SalesGroup as G, {measure} as X RESIDENT TeamData GROUP BY SalesGroup ORDER BY SalesGroup;\n",
            tmp_path)
    script = dict(zip(values(r, "S", "G"), values(r, "S", "X"), strict=True))
    cube = HyperCube(r.model, infer(r.model, EMPTY_STATE), {
        "qDimensions": [{"qDef": {"qFieldDefs": ["SalesGroup"]}}], "qMeasures": [{"qDef": {"qDef": measure}}],
        "qInitialDataFetch": [{"qWidth": 2, "qHeight": 10}]})
    chart = {}
    for row in cube.layout()["qDataPages"][0]["qMatrix"]:
        cell = row[1]
        num = cell.get("qNum")
        chart[row[0]["qText"]] = f"{num:.10g}" if isinstance(num, float) and num == num else (
            None if cell.get("qIsNull") else cell["qText"])
    assert set(chart) == {"East", "West"}
    for group, got in chart.items():
        want = script[group]
        if got is not None and want is not None and got.replace(".", "").lstrip("-").isdigit():
            assert float(got) == pytest.approx(float(want), rel=1e-9), (measure, group)
        else:
            assert got == want, (measure, group)


def test_median_stdev_mode_fractile_run_in_a_script(tmp_path: Path) -> None:
    r = run(TEAMS + """S: LOAD SalesGroup as G, Median(Amount) as Me, Stdev(Amount) as Sd, Mode(Team) as Mo,
    Fractile(Amount, 0.5) as Fr RESIDENT TeamData GROUP BY SalesGroup;""", tmp_path)
    assert values(r, "S", "Me") == ["20000", "18000"]
    assert values(r, "S", "Mo") == ["Gamma", None]  # West has no single most frequent team
    assert values(r, "S", "Fr") == values(r, "S", "Me")
    assert float(values(r, "S", "Sd")[1] or "nan") == pytest.approx(3774.917218, rel=1e-9)


def test_financial_aggregations_in_chart_and_script(tmp_path: Path) -> None:
    r = run("""C: LOAD * INLINE [
Flow, Day
-2500, 39448
2750, 39692
];
S: LOAD IRR(Flow) as I, NPV(0.1, Flow) as N, XIRR(Flow, Day) as XI, XNPV(0.1, Flow, Day) as XN RESIDENT C;
""", tmp_path)
    assert float(values(r, "S", "I")[0] or "nan") == pytest.approx(0.1, abs=1e-9)
    assert float(values(r, "S", "N")[0] or "nan") == pytest.approx(-2500 / 1.1 + 2750 / 1.21, abs=1e-6)
    assert float(values(r, "S", "XI")[0] or "nan") == pytest.approx(0.1532, abs=5e-5)
    assert float(values(r, "S", "XN")[0] or "nan") == pytest.approx(80.25, abs=0.005)
    inf = infer(r.model, EMPTY_STATE)
    assert evaluate_expression(r.model, inf, "XNPV(0.1, Flow, Day)")[1] == pytest.approx(80.25, abs=0.005)
    assert evaluate_expression(r.model, inf, "IRR(Flow)")[1] == pytest.approx(0.1, abs=1e-9)


def test_aggregation_is_a_property_of_the_registry_entry() -> None:
    assert AGGREGATIONS == {k for k, spec in FUNCTIONS.items() if spec.aggregation}
    assert {"SUM", "CONCAT", "MEDIAN", "IRR", "LINEST_M", "FIRSTVALUE"} <= AGGREGATIONS
    assert "LEN" not in AGGREGATIONS and FUNCTIONS["LEN"].func is not None
    assert FUNCTIONS["FIRSTVALUE"].script and not FUNCTIONS["FIRSTVALUE"].chart
    assert FUNCTIONS["AGGR"].chart and not FUNCTIONS["AGGR"].script


def test_unknown_function_and_bad_arity_fail_alike_in_chart_and_script(tmp_path: Path) -> None:
    r = run(TEAMS, tmp_path)
    inf = infer(r.model, EMPTY_STATE)
    chart_text, _ = evaluate_expression(r.model, inf, "NoSuchFn(Amount)")
    assert "Unknown function" in chart_text and "NOSUCHFN" in chart_text.upper()
    with pytest.raises(ScriptError, match="(?i)unknown function: nosuchfn"):
        run(TEAMS + "X: LOAD NoSuchFn(Amount) as Y RESIDENT TeamData;", tmp_path)
    chart_text, _ = evaluate_expression(r.model, inf, "Median(Amount, 2)")
    assert "MEDIAN takes 1 arguments, got 2" in chart_text
    with pytest.raises(ScriptError, match="MEDIAN takes 1 arguments, got 2"):
        run(TEAMS + "X: LOAD Median(Amount, 2) as Y RESIDENT TeamData;", tmp_path)


def test_where_a_function_is_allowed_comes_from_its_entry(tmp_path: Path) -> None:
    r = run(TEAMS, tmp_path)
    chart_text, _ = evaluate_expression(r.model, infer(r.model, EMPTY_STATE), "FirstValue(Team)")
    assert "not allowed in a chart" in chart_text
    with pytest.raises(ScriptError, match="RANK is a chart function, not allowed in a script"):
        run(TEAMS + "X: LOAD SalesGroup, Rank(Amount) as Y RESIDENT TeamData GROUP BY SalesGroup;", tmp_path)
