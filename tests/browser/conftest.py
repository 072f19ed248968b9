"""Fixtures for the hub's browser tests: headless Chromium from the distribution driven by Playwright.

Chromium is launched from its system path (``/usr/bin/chromium``, installed by ``scripts/test.sh`` with apt when
missing); Playwright never downloads a browser here. Without Chromium or the playwright package these tests are
skipped with the reason, so a developer machine without them still runs the rest of the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.support import ARTIFACTS, CHROMIUM, HubPage


@pytest.fixture(scope="session", autouse=True)
def fresh_rpc_record() -> None:
    """Each run writes its own record of the pages' JSON-RPC calls (``HubPage.close`` appends to it)."""
    (ARTIFACTS / "rpc-calls.jsonl").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: while Playwright's sync API is open its event loop counts
    as running in this thread, so later tests' ``asyncio.run`` would fail."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (scripts/test.sh installs it: apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def hub_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., HubPage]]:
    """Open hub tabs on an engine's port; each is closed after the test. Named after the test for artifacts."""
    opened: list[HubPage] = []

    def make(port: int, token: str | None = None, label: str = "") -> HubPage:
        name = request.node.name.removeprefix("test_") + (f"-{label}" if label else "")
        page = HubPage(browser, port, name)
        if token:
            # signed in already: the token the sign-in box would have stored for this tab
            page.context.add_init_script(f"sessionStorage.setItem('qix-hub-token', {token!r});")
        opened.append(page)
        return page

    yield make
    for page in opened:
        page.close()
