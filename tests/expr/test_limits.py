"""Texts are sized before they are built: Repeat, &, Replace, formats, Concat and dollar expansion fail
with the memory-limit error (19) naming MaxStringLength instead of allocating; and the helpers that
replaced numpy's fixed-width text copies (text_ranks, the pointer test for None) agree with the slow
spellings they replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from engine.expr import Duals, evaluate_constant, limits
from engine.expr.duals import map_distinct, text_ranks
from engine.expr.expand import expand
from engine.expr.limits import LimitExceeded, Limits
from engine.expr.objects import not_none as _not_none
from tests.harness import Client

SMALL = Limits(max_string_length=1000, max_request_bytes=64 * limits.MIB)


@pytest.fixture(autouse=True)
def _default_limits() -> Iterator[None]:
    """Engines started here configure the process-wide limits: put the defaults back afterwards."""
    yield
    limits.configure(Limits())


def _text(expr: str) -> str | None:
    return evaluate_constant(expr).display_text()[0]


@pytest.mark.parametrize("expr", [
    "Repeat('ab', 501)",
    "Repeat('x', 600) & Repeat('y', 401)",
    "Replace(Repeat('a', 100), 'a', Repeat('b', 11))",
    "Num(1, Repeat('0', 300))",
    "Date(1, Repeat('MMMM', 100))",
    "Num(1e300, '#,##0', '.', Repeat(',', 20))",
])
def test_text_builders_refuse_results_over_the_limit(expr: str) -> None:
    with limits.override(SMALL), pytest.raises(LimitExceeded) as err:
        evaluate_constant(expr)
    assert err.value.code == 19 and "MaxStringLength" in err.value.message


@pytest.mark.parametrize("expr, want", [
    ("Repeat('ab', 500)", "ab" * 500),
    ("Repeat('x', 600) & Repeat('y', 400)", "x" * 600 + "y" * 400),
    ("Replace(Repeat('a', 100), 'a', Repeat('b', 10))", "b" * 1000),
    ("KeepChar('a1-b]2^c\\3', '12]^\\-')", "1-]2^\\"),
    ("PurgeChar('a1-b]2^c\\3', '12]^\\-')", "abc3"),
])
def test_text_builders_at_the_limit(expr: str, want: str) -> None:
    with limits.override(SMALL):
        assert _text(expr) == want


def test_huge_counts_fail_instead_of_overflowing() -> None:
    for expr in ("Repeat('x', 5e9)", "Repeat('x', 1e400)", "Len(Repeat('x', 5e9))"):
        with pytest.raises(LimitExceeded):
            evaluate_constant(expr)


def test_many_decimals_keep_their_digits() -> None:
    assert _text("Num(1.5, '0.' & Repeat('0', 40))") == "1." + "5" + "0" * 39
    assert _text("Len(Num(1.5, '0.' & Repeat('0', 400)))") == "402"


def test_dollar_expansion_is_linear_and_bounded() -> None:
    variables = {f"a{k}": f"$(a{k - 1})$(a{k - 1})" for k in range(1, 63)}
    variables["a0"] = ""
    assert expand("$(a62)", variables.get) == ""  # 2**62 plain expansions without the memo
    variables["a0"] = "x"
    with limits.override(SMALL), pytest.raises(LimitExceeded):
        expand("$(a62)", variables.get)
    with limits.override(SMALL):
        assert expand("$(a9)", variables.get) == "x" * 512
    with limits.override(SMALL), pytest.raises(LimitExceeded):
        expand("$(f(" + "y" * 300 + "))", {"f": "$1$1$1$1"}.get)


def test_a_long_text_shared_by_many_rows_is_not_copied_per_row() -> None:
    long = "x" * 1_000_000
    texts = np.empty(5000, dtype=object)
    texts[:] = long  # 5 G characters if copied once per row
    out = map_distinct(texts, str.upper)
    assert out[0] == long.upper() and out[4999] is out[0]
    joined = Duals.from_texts(texts)
    from engine.expr.evaluate import binary
    res = binary("&", joined, Duals.const("y", 5000))
    assert len(res.text[0]) == 1_000_001 and res.text[1] is res.text[0]


def test_text_ranks_match_code_point_order() -> None:
    rng = np.random.default_rng(7)
    values = ["b", "a", "é", "Z", "", "aa", "ä", "😀", "a b"]
    for n in (5, 40, 1000):
        texts = np.empty(n, dtype=object)
        texts[:] = [values[i] for i in rng.integers(0, len(values), n)]
        texts[::5] = None
        has = np.not_equal(texts, None)
        _, want = np.unique(texts[has].astype(str), return_inverse=True)
        ranks = text_ranks(texts)
        assert (ranks[has] == want).all() and (ranks[~has] == -1).all()


def test_not_none_agrees_with_the_comparison() -> None:
    arr = np.empty(5000, dtype=object)
    arr[::3] = "x"
    arr[1::7] = ""
    for a in (arr, arr[::2], arr[:100]):
        assert (_not_none(a) == np.not_equal(a, None)).all()


def test_evaluate_of_a_huge_repeat_answers_an_error(engine_factory) -> None:
    """The issue's request over a socket: an error text at once, no 5 GB string."""
    eng = engine_factory("MaxStringLength=1000")

    async def scenario() -> None:
        async with Client.open(eng.url("/app/engineData/identity/hostile")) as c:
            doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            big = (await c.call("Evaluate", doc, "Len(Repeat('x', 5e9))"))["qReturn"]
            assert big.startswith("Error: Repeat would build a text of 5,000,000,000 characters")
            assert "MaxStringLength" in big
            over = (await c.call("Evaluate", doc, "Len(Repeat('x', 1001))"))["qReturn"]
            assert over.startswith("Error:") and "1,001 characters" in over
            assert (await c.call("Evaluate", doc, "Len(Repeat('x', 1000))"))["qReturn"] == "1000"
            amp = (await c.call("Evaluate", doc, "Len(Repeat('x', 600) & Repeat('y', 600))"))["qReturn"]
            assert amp.startswith("Error: The & operator")

    asyncio.run(scenario())


def test_a_chart_concat_over_the_limit_is_the_measure_error(engine_factory) -> None:
    eng = engine_factory("MaxStringLength=1000")

    async def scenario() -> None:
        async with Client.open(eng.url("/app/engineData/identity/concat")) as c:
            doc = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call("SetScript", doc, "T: LOAD RecNo() AS N, Mod(RecNo(), 2) AS G AUTOGENERATE 800;")
            assert (await c.call("DoReload", doc))["qReturn"] is True
            cube = {"qInfo": {"qType": "t"}, "qHyperCubeDef": {
                "qDimensions": [{"qDef": {"qFieldDefs": ["G"]}}],
                "qMeasures": [{"qDef": {"qDef": "Concat(N, ',')"}}, {"qDef": {"qDef": "Count(N)"}}],
                "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 3, "qHeight": 5}]}}
            obj = (await c.call("CreateSessionObject", doc, cube))["qReturn"]["qHandle"]
            layout = (await c.call("GetLayout", obj))["qLayout"]["qHyperCube"]
            info = layout["qMeasureInfo"][0]
            assert info["qError"]["qErrorCode"] == 8 and "Concat" in info["qError"]["qContext"]
            assert "MaxStringLength" in info["qError"]["qContext"]
            assert layout["qDataPages"][0]["qMatrix"][0][2]["qNum"] == 400  # the other measure stands
            short = (await c.call("Evaluate", doc, "Len(Concat(N, ',', N))"))["qReturn"]
            assert short.startswith("Error: Concat")

    asyncio.run(scenario())
