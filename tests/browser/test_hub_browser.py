"""The hub in headless Chromium against a real engine (JWT level 2, as Qlik Core is deployed): every page end to
end on the seed section-access app and on a generated 1M-row app, each nebula.js chart type rendering engine
data, selections through the charts checked against the engine's own state, and section access per user.

Each test opens its own tab; the engine and its apps live for the module. The engine's state is read by a probe
that joins the browser's QIX session (same user, same route), never from the page's own variables.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import (
    SEED_SCRIPT,
    SELECTIONS_PROPS,
    HubPage,
    Probe,
    list_object_props,
    seed_app,
    wait_until,
)
from tests.harness import RunningEngine
from tests.jwt_keys import SECRET, mint

log = logging.getLogger(__name__)

BIG_ROWS = 1_000_000
BIG_SCRIPT = f"""Orders:
LOAD
    RecNo() AS OrderId,
    Mod(RecNo() * 7, 1000) + 1 AS CustomerId,
    Pick(Mod(RecNo(), 5) + 1, 'North', 'South', 'East', 'West', 'Central') AS Region,
    Date(43831 + Mod(RecNo(), 366)) AS OrderDate,
    Mod(RecNo() * 7919, 10000) / 100 AS Amount
AUTOGENERATE {BIG_ROWS};

Customers:
LOAD
    RecNo() AS CustomerId,
    'Customer ' & RecNo() AS CustomerName,
    Pick(Mod(RecNo(), 4) + 1, 'Retail', 'Online', 'Wholesale', 'Partner') AS Segment
AUTOGENERATE 1000;
"""
SYNTHETIC_SCRIPT = """Orders:
LOAD * INLINE [
Year, Region, OrderId, Amount
2024, North, 1, 10
2024, South, 2, 20
2025, North, 3, 30
];
Targets:
LOAD * INLINE [
Year, Region, Target
2024, North, 15
2025, South, 35
];
Regions:
LOAD * INLINE [
Region, Manager
North, Ann
South, Bo
];
"""
SALES_BY_COUNTRY = {"DE": 906, "UK": 606, "US": 306}


def token(sub: str) -> str:
    return mint({"sub": sub, "exp": int(time.time()) + 3600})


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    eng = RunningEngine("ValidateJsonWebTokens=2", f"JsonWebTokenSecret={SECRET}",
                        document_dir=tmp_path_factory.mktemp("hub") / "apps")
    seed_app(eng.port, "sales", SEED_SCRIPT.read_text(), token("admin"))
    seed_app(eng.port, "synthetic", SYNTHETIC_SCRIPT, token("admin"))
    yield eng
    eng.stop()


# -- helpers over the nebula.js DOM -------------------------------------------------------------------------
def kpi_text(page: HubPage) -> str:
    return page.page.inner_text("[data-chart=kpi] .njs-viz")


def table_column(page: HubPage, column: int) -> list[str]:
    cells = page.page.query_selector_all(f"[data-chart=table] .sn-table-cell[columnindex='{column}']")
    return [c.get_attribute("title") or "" for c in cells]


def table_totals(page: HubPage) -> list[str]:
    """The totals row of the table (its cells carry no row index)."""
    cells = page.page.query_selector_all("[data-chart=table] .sn-table-cell:not([rowindex])")
    return [c.get_attribute("title") or "" for c in cells]


def filter_states(page: HubPage) -> dict[str, str]:
    """Each filter-pane row's value and the state it shows (its RowColumn-<state> class; none = possible)."""
    out = {}
    for row in page.page.query_selector_all("[data-chart=filterpane] [role=row]"):
        match = re.search(r"RowColumn-([SAXOL])\b", row.get_attribute("class") or "")
        out[row.inner_text().strip()] = match.group(1) if match else "O"
    return out


def canvas_painted(page: HubPage, selector: str) -> bool:
    """Whether a chart's canvas has any non-transparent pixel (picasso.js draws bars, lines and slices there)."""
    return bool(page.page.eval_on_selector(selector, """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
        return false; }"""))


def click_bar(page: HubPage, label: str) -> None:
    """Click the bar above the axis label ``label`` (bars are canvas drawings; the labels are SVG text)."""
    text = page.page.locator("[data-chart=barchart] svg[data-key=bar-axis] text", has_text=label).first
    box = text.bounding_box()
    bars = page.page.locator("[data-chart=barchart] canvas[data-key=bar]").bounding_box()
    assert box and bars
    page.page.mouse.click(box["x"] + box["width"] / 2, bars["y"] + bars["height"] - 6)


def modal_button(page: HubPage, action: str) -> Any:
    return page.page.locator(f"[data-chart=barchart] [data-testid=actions-toolbar-{action}]")


@pytest.fixture
def probe(engine: RunningEngine) -> Any:
    """A probe on the seed app's route as admin (joins an admin tab's session on that route)."""

    def make(app: str = "sales", user: str = "admin") -> Any:
        return Probe.open(engine.port, f"/app/{app}", token(user))

    return make


# -- sign-in -------------------------------------------------------------------------------------------------
def test_sign_in_required_then_user_signs_in(engine, hub_page):
    page = hub_page(engine.port)
    page.open("#/apps")
    alert = page.page.wait_for_selector("form.signin [role=alert]")
    assert "401" in alert.inner_text() and "missing Authorization header" in alert.inner_text()
    page.shot("no-token")
    # the only error is the engine's 401 to the sign-in check itself
    assert all("401" in e for e in page.console_errors) and page.page_errors == [] and page.rpc_errors == []

    page.console_errors.clear()
    page.page.fill("#token", token("us-user"))
    page.page.click("form.signin button[type=submit]")
    page.ready("page-apps")
    assert page.page.inner_text("#who .user") == "us-user"
    assert page.page.evaluate("sessionStorage.getItem('qix-hub-token')").startswith("eyJ")
    page.assert_clean()


def test_refused_token_shows_the_engines_reason(engine, hub_page):
    page = hub_page(engine.port, mint({"sub": "admin"}, "HS256", "not-the-engine-secret-0123456789"))
    page.open("#/apps/sales/sheet")
    alert = page.page.wait_for_selector("form.signin [role=alert]")
    assert "401" in alert.inner_text() and "bad signature" in alert.inner_text()
    assert page.page.evaluate("sessionStorage.getItem('qix-hub-token')") is None  # a refused token is dropped


# -- apps ----------------------------------------------------------------------------------------------------
def test_apps_page_lists_creates_and_deletes(engine, hub_page):
    page = hub_page(engine.port, token("admin"))
    page.open("#/apps")
    page.ready("page-apps")
    assert page.page.locator("tr[data-app=sales]").count() == 1
    config = page.page.evaluate("fetch('api/config').then(r => r.json())")
    # import/export appear only when the engine has the REST routes
    assert page.page.locator("#import").count() == (1 if config["rest"]["import"] else 0)
    page.shot("list")

    page.page.fill("#new-app", "scratch")
    page.page.click("form.create button")
    page.page.wait_for_url(re.compile(r"#/apps/scratch/script$"))
    page.ready("page-script")
    page.go("#/apps")
    page.ready("page-apps")
    row = page.page.locator("tr[data-app=scratch]")
    assert row.count() == 1
    with Probe.open(engine.port, "/app/engineData", token("admin")) as probe:
        assert "scratch" in {d["qDocId"] for d in probe.call("GetDocList")["qDocList"]}
    delete = row.locator("button.danger")
    delete.click()
    assert delete.inner_text() == "Delete?"  # a second click confirms
    delete.click()
    page.page.wait_for_selector("tr[data-app=scratch]", state="detached")
    with Probe.open(engine.port, "/app/engineData", token("admin")) as probe:
        assert "scratch" not in {d["qDocId"] for d in probe.call("GetDocList")["qDocList"]}
    page.assert_clean()


# -- script, then the same app through every page: a generated 1M-row app built in the browser ---------------
def test_script_page_builds_a_million_row_app_then_model_and_sheet(engine, hub_page):
    page = hub_page(engine.port, token("admin"))
    reload_events: list[tuple[str, Any]] = []

    def watch(ws: Any) -> None:
        ws.on("framesent", lambda p: reload_events.append((">", p)) if "DoReload" in p or "GetProgress" in p else None)
        ws.on("framereceived", lambda p: reload_events.append(("<", p)))

    page.page.on("websocket", watch)
    page.open("#/apps")
    page.ready("page-apps")
    page.page.fill("#new-app", "million")
    page.page.click("form.create button")
    page.ready("page-script")
    editor = page.page.locator("#script-text")

    # a syntax error is marked on its line (CheckScriptSyntax runs as the user types)
    editor.fill("Orders:\nLOAD 1 AS a AUTOGENERATE 1;\nLOAD FROM WHERE;\n")
    page.page.wait_for_selector(".gutter .ln.error[data-line='3']")
    assert page.page.locator(".gutter .ln.error").count() == 1
    assert "Line 3" in page.page.inner_text(".syntax-errors")
    page.shot("syntax-error")

    editor.fill(BIG_SCRIPT)
    page.page.wait_for_selector(".gutter .ln.error", state="detached")
    assert page.page.locator(".gutter .ln").count() == BIG_SCRIPT.count("\n") + 1
    started = time.monotonic()
    page.page.click("#reload")
    page.page.wait_for_selector("section.page-script[data-reloaded=ok]", timeout=120_000)
    log.info("1M-row reload through the hub: %.1f s", time.monotonic() - started)
    log_text = page.page.inner_text("#script-log")
    assert re.search(r"Orders << +1,?000,?000 Lines fetched", log_text), log_text
    assert "Customers" in log_text
    # live progress: GetProgress was answered while DoReload was still running
    reload_id = next(re.search(r'"id":(\d+)', p).group(1) for d, p in reload_events if d == ">" and "DoReload" in p)
    answered = [i for i, (d, p) in enumerate(reload_events) if d == "<" and f'"id":{reload_id},' in p]
    progress_before = [p for d, p in reload_events[:answered[0]] if d == ">" and "GetProgress" in p]
    assert progress_before, "no GetProgress before the reload finished"
    page.page.click("#save")
    page.page.wait_for_selector("section.page-script[data-saved=true]")
    page.shot("reloaded")

    # the data model page: two tables, one key, row counts; first paint logged (not asserted)
    page.go("#/apps/million/model")
    page.ready("page-model")
    paint = page.page.get_attribute("section.page-model", "data-paint-ms")
    log.info("data-model page first paint on the 1M-row app: %s ms", paint)
    print(f"\ndata-model page first paint, {BIG_ROWS:,}-row app: {paint} ms")
    assert page.page.locator("g.table-box").count() == 2
    assert "1,000,000 rows" in page.page.text_content("g.table-box[data-table=Orders]")
    assert page.page.locator("path.link[data-key=CustomerId]").count() == 1
    page.page.click("g.table-box[data-table=Orders] text.name")
    page.page.wait_for_selector("#table-preview tbody tr")
    assert page.page.locator("#table-preview tbody tr").count() == 40
    page.shot("model")

    # the sheet on 1M rows: the bar chart and the KPI show engine numbers
    page.go("#/apps/million/sheet?dim=Region&dim2=Segment&measure=Count(OrderId)&filters=Region,Segment")
    page.ready("page-sheet")
    page.page.wait_for_selector("[data-chart=barchart] canvas[data-key=bar]")
    wait_until(lambda: table_totals(page)[-1:] == [f"{BIG_ROWS}"], what="table total = row count")
    wait_until(lambda: re.search(r"\d", kpi_text(page)), what="KPI value")
    assert sorted(filter_states(page)) == sorted(
        ["Central", "East", "North", "South", "West", "Online", "Partner", "Retail", "Wholesale"])
    wait_until(lambda: canvas_painted(page, "[data-chart=barchart] canvas[data-key=bar]"), what="bars drawn")
    page.shot("sheet")
    page.assert_clean()


def test_script_page_on_the_seed_app_admin_reloads_a_user_may_not_read(engine, hub_page):
    page = hub_page(engine.port, token("admin"))
    page.open("#/apps/sales/script")
    page.ready("page-script")
    assert page.page.input_value("#script-text") == SEED_SCRIPT.read_text()
    assert page.page.locator(".gutter .ln.error").count() == 0
    assert page.page.locator(".gutter .ln").count() == SEED_SCRIPT.read_text().count("\n") + 1
    page.page.click("#reload")
    page.page.wait_for_selector("section.page-script[data-reloaded=ok]")
    assert re.search(r"Sales << +9 Lines fetched", page.page.inner_text("#script-log"))
    page.shot("admin")
    page.assert_clean()

    user = hub_page(engine.port, token("us-user"), label="us-user")
    user.open("#/apps/sales/script")
    user.ready("page-script")
    assert "us-user" in user.page.inner_text("#script-denied")
    assert user.page.locator("#script-text").count() == 0
    assert [(e["method"], e["code"]) for e in user.rpc_errors] == [("GetScript", 5)]  # the engine's refusal
    user.shot("denied")


# -- data model ----------------------------------------------------------------------------------------------
def test_model_page_draws_tables_keys_and_previews(engine, hub_page):
    page = hub_page(engine.port, token("admin"))
    page.open("#/apps/sales/model")
    page.ready("page-model")
    box = page.page.locator("g.table-box[data-table=Sales]")
    assert "9 rows" in box.text_content()
    assert box.locator("g.field").count() == 3
    box.locator("text.name").click()
    page.page.wait_for_selector("#table-preview tbody tr")
    rows = page.page.locator("#table-preview tbody tr")
    assert rows.count() == 9
    assert page.page.locator("#table-preview thead th").all_inner_texts() == ["COUNTRY", "PRODUCT", "SALES_AMOUNT"]
    box.locator("g.field[data-field=COUNTRY]").click()
    facts = page.page.inner_text("#field-facts")
    assert re.search(r"Distinct values\s+3", facts), facts
    assert "$text" in page.page.inner_text("#model-side .tags")
    page.shot("seed")

    page.go("#/apps/synthetic/model")
    page.ready("page-model")
    assert page.page.locator("g.table-box").count() == 4  # three tables and the synthetic key's table
    assert page.page.locator("g.table-box.synthetic[data-table='$Syn 1 Table']").count() == 1
    assert page.page.locator("path.link.synthetic").count() == 2  # Orders and Targets to $Syn 1 Table
    assert page.page.locator("path.link:not(.synthetic)[data-key=Region]").count() == 1
    page.shot("synthetic-key")
    page.assert_clean()


# -- the sheet: every chart type, selections through the charts ----------------------------------------------
def test_sheet_charts_render_and_selections_follow_the_engine(engine, hub_page, probe):
    page = hub_page(engine.port, token("admin"))
    page.open("#/apps/sales/sheet")
    page.ready("page-sheet")
    page.page.wait_for_selector("[data-chart=barchart] canvas[data-key=bar]")
    wait_until(lambda: kpi_text(page).strip().endswith("1.82k"), what="KPI 1.82k")
    wait_until(lambda: len(table_column(page, 0)) == 9, what="9 table rows")
    assert sorted(table_column(page, 2)) == sorted(["101", "102", "103", "201", "202", "203", "301", "302", "303"])
    assert set(filter_states(page).values()) == {"O"}
    assert canvas_painted(page, "[data-chart=barchart] canvas[data-key=bar]")
    line = "[data-chart=linechart] canvas[data-key=line-component]"  # drawn from GetHyperCubeReducedData
    page.page.wait_for_selector(line)
    wait_until(lambda: canvas_painted(page, line), what="line drawn")
    page.shot("all")

    with probe() as p:
        doc = p.active_doc()
        assert p.connected["params"]["qSessionState"] == "SESSION_ATTACHED"  # the browser's own session
        current = p.session_object(doc, SELECTIONS_PROPS)
        countries = p.session_object(doc, list_object_props("COUNTRY"))
        products = p.session_object(doc, list_object_props("PRODUCT"))
        assert p.selections(current) == {}

        # clicking a bar starts a modal selection (BeginSelections) and selects it in the engine
        click_bar(page, "DE")
        modal_button(page, "confirm").wait_for()
        wait_until(lambda: p.selections(current) == {"COUNTRY": "DE"}, what="COUNTRY=DE in the engine")
        wait_until(lambda: kpi_text(page).strip().endswith(str(SALES_BY_COUNTRY["DE"])), what="KPI follows")
        wait_until(lambda: table_column(page, 0) == ["DE", "DE", "DE"], what="table follows")
        # the filter pane shows each value's state as the engine reports it
        engine_states = {**p.states(countries), **p.states(products)}
        wait_until(lambda: filter_states(page) == engine_states, what=f"filter pane = engine {engine_states}")
        assert engine_states["DE"] == "S" and engine_states["UK"] == "A"
        page.shot("modal")
        modal_button(page, "confirm").click()  # EndSelections(true)
        modal_button(page, "confirm").wait_for(state="detached")
        assert p.selections(current) == {"COUNTRY": "DE"}
        wait_until(lambda: "DE" in page.page.inner_text("#selections-bar"), what="selections bar shows DE")
        page.shot("selected")

        # the current-selections bar: clear all, back, forward
        page.page.click("#selections-bar button[title='Clear all selections']")
        wait_until(lambda: p.selections(current) == {}, what="cleared")
        wait_until(lambda: kpi_text(page).strip().endswith("1.82k"), what="KPI back to the total")
        page.page.click("#selections-bar button[title='Step back']")
        wait_until(lambda: p.selections(current) == {"COUNTRY": "DE"}, what="back to DE")
        page.page.click("#selections-bar button[title='Step forward']")
        wait_until(lambda: p.selections(current) == {}, what="forward to cleared")

        # a modal selection that is cancelled (EndSelections(false)) leaves the engine as it was
        wait_until(lambda: set(filter_states(page).values()) == {"O"}, what="all possible again")
        click_bar(page, "US")
        modal_button(page, "cancel").wait_for()
        wait_until(lambda: p.selections(current) == {"COUNTRY": "US"}, what="US selected while modal")
        modal_button(page, "cancel").click()
        wait_until(lambda: p.selections(current) == {}, what="cancel reverts")
        wait_until(lambda: kpi_text(page).strip().endswith("1.82k"), what="KPI back after cancel")
        assert table_column(page, 0).count("US") == 3 and len(table_column(page, 0)) == 9

        # a selection in the filter pane reaches the charts the same way
        page.page.click("[data-chart=filterpane] [role=row]:has-text('Furniture')")
        page.page.locator("[data-chart=filterpane] [data-testid=actions-toolbar-confirm]").first.click()
        wait_until(lambda: p.selections(current) == {"PRODUCT": "Furniture"}, what="PRODUCT=Furniture")
        wait_until(lambda: kpi_text(page).strip().endswith("606"), what="KPI 102+202+302")
    page.assert_clean()


def bar_alpha(page: HubPage, label: str) -> int:
    """The opacity (0-255) the bar above axis label ``label`` is drawn with (picasso dims the bars a selection
    leaves out; the canvas is transparent elsewhere)."""
    text = page.page.locator("[data-chart=barchart] svg[data-key=bar-axis] text", has_text=label).first
    box = text.bounding_box()
    canvas = page.page.locator("[data-chart=barchart] canvas[data-key=bar]")
    area = canvas.bounding_box()
    assert box and area
    return int(canvas.evaluate("""(c, [x, y]) => {
        const r = c.getBoundingClientRect(), k = c.width / r.width;
        return c.getContext('2d').getImageData(Math.round(x * k), Math.round(y * k), 1, 1).data[3]; }""",
        [box["x"] + box["width"] / 2 - area["x"], area["height"] - 8]))


def test_a_chart_in_selection_mode_keeps_its_size_and_highlights_the_clicked_bar(engine, hub_page, probe):
    """nebula.js puts the selection toolbar in the chart's title row; were the row to grow, the chart would be
    redrawn smaller and picasso would drop the highlight of the bar just clicked."""
    page = hub_page(engine.port, token("admin"))
    page.open("#/apps/sales/sheet")
    page.ready("page-sheet")
    wait_until(lambda: canvas_painted(page, "[data-chart=barchart] canvas[data-key=bar]"), what="bars drawn")
    viz = page.page.locator("[data-chart=barchart] .njs-viz")
    height = viz.bounding_box()["height"]
    assert bar_alpha(page, "DE") == bar_alpha(page, "UK") == 255
    with probe() as p:
        current = p.session_object(p.active_doc(), SELECTIONS_PROPS)
        click_bar(page, "UK")
        modal_button(page, "confirm").wait_for()
        wait_until(lambda: p.selections(current) == {"COUNTRY": "UK"}, what="COUNTRY=UK in the engine")
    time.sleep(0.5)  # a redraw would come right after the layout that says the chart is in selections
    assert viz.bounding_box()["height"] == height
    assert bar_alpha(page, "UK") == 255 and bar_alpha(page, "DE") < 128, "the clicked bar is highlighted"
    page.shot("highlight")
    modal_button(page, "cancel").click()
    page.assert_clean()


def test_pivot_and_pie_render_engine_data(engine, hub_page):
    page = hub_page(engine.port, token("admin"))
    page.open("#/apps/sales/charts")
    page.ready("page-charts")
    pie = "[data-chart=piechart] canvas[data-key=slices]"
    page.page.wait_for_selector(pie)
    wait_until(lambda: canvas_painted(page, pie), what="pie slices drawn")
    pivot = page.page.locator("[data-chart=pivot-table] .njs-viz")
    wait_until(lambda: all(v in pivot.inner_text() for v in ("301", "202", "103", "Furniture")), what="pivot cells")
    page.shot("pivot-pie")
    page.assert_clean()


# -- section access: each user sees only their rows ----------------------------------------------------------
def test_section_access_user_sees_only_their_rows(engine, hub_page):
    page = hub_page(engine.port, token("us-user"))
    page.open("#/apps/sales/sheet?dim=COUNTRY&dim2=PRODUCT&measure=Sum(SALES_AMOUNT)&filters=COUNTRY,PRODUCT")
    page.ready("page-sheet")
    wait_until(lambda: kpi_text(page).strip().endswith(str(SALES_BY_COUNTRY["US"])), what="KPI 306")
    wait_until(lambda: len(table_column(page, 0)) == 3, what="3 table rows")
    assert table_column(page, 0) == ["US", "US", "US"]
    assert "DE" not in filter_states(page) and "UK" not in filter_states(page)
    axis = "[data-chart=barchart] svg[data-key=bar-axis] text"
    wait_until(lambda: page.page.locator(axis).all_text_contents(), what="bar axis labels")
    assert page.page.locator(axis).all_text_contents() == ["US"], page.page.locator(axis).all_text_contents()
    page.shot("us-user-sheet")
    page.go("#/apps/sales/charts")  # the pivot table and the pie chart: the user's rows only
    page.ready("page-charts")
    pivot = page.page.locator("[data-chart=pivot-table] .njs-viz")
    wait_until(lambda: all(v in pivot.inner_text() for v in ("101", "102", "103")), what="US pivot cells")
    assert not any(v in pivot.inner_text() for v in ("201", "301", "DE", "UK"))
    page.go("#/apps/sales/model")
    page.ready("page-model")
    assert "3 rows" in page.page.text_content("g.table-box[data-table=Sales]")
    page.assert_clean()


def test_committed_screenshot_is_referenced_from_the_readme():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    match = re.search(r"!\[[^\]]*\]\((hub/[^)]+\.png)\)", readme)
    assert match, "README has no hub screenshot"
    assert (Path(__file__).resolve().parents[2] / match.group(1)).is_file()


def test_without_jwt_the_hub_opens_without_signing_in(engine_factory, hub_page):
    eng = engine_factory()
    page = hub_page(eng.port)
    page.open("#/apps")
    page.ready("page-apps")
    assert page.page.inner_text("#who .user") == "Personal\\Me"
    assert page.page.locator("form.signin").count() == 0 and page.page.locator("#who button").count() == 0
    page.assert_clean()
