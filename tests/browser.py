"""Headless Chromium through Playwright, against a real server process (see conftest.daphne_server)."""

import os
import re
from pathlib import Path

import pytest

# scripts/test.sh runs the embedded and the PostgreSQL stage at the same time: each keeps its screenshots apart.
ARTIFACTS = Path(
    os.environ.get("TEST_ARTIFACTS_DIR") or Path(__file__).resolve().parent.parent / "test-artifacts"
)
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop running in this thread while it is open, so Django's
    # async-safety check would refuse the test's own (synchronous) ORM calls. Module scope: the loop and the
    # override end with the browser tests' module and never leak into other tests (asyncio.run needs no loop).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield b
            b.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(20_000)
    pg = context.new_page()
    pg.artifacts_dir = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.nodeid)
    yield pg
    context.close()


def shot(page, name: str) -> Path:
    """Keep a screenshot of a step as a test artifact (test-artifacts/<test>/<name>.png)."""
    page.artifacts_dir.mkdir(parents=True, exist_ok=True)
    path = page.artifacts_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, server, username: str, password: str) -> None:
    page.goto(f"{server.http_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
