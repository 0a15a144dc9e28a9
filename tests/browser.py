"""Headless Chromium through Playwright, against a real server process (see conftest.daphne_server)."""

import os
import re
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls stay synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


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
