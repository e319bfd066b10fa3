"""A real Chromium driven by Playwright, for the browser tests: launch, log in, ask, screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, RunningServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = (
    Path(os.environ.get("CADRE_SCREENSHOTS", "")) if os.environ.get("CADRE_SCREENSHOTS") else None
)
"""Where screenshots go (`CADRE_SCREENSHOTS=dir`); none are taken without it."""

HAS_CHROMIUM = Path(CHROMIUM).exists()
NO_CHROMIUM = "Debian's chromium is not installed (apt-get install chromium)"

if HAS_CHROMIUM:
    from playwright.sync_api import Page, expect, sync_playwright


@contextmanager
def browser_page(server: RunningServer) -> Iterator[Page]:
    """A page in a fresh headless Chromium that may reach only `server`."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        outside: list[str] = []
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(server.url)
                else (outside.append(route.request.url), route.abort())[1]
            ),
        )
        page = context.new_page()
        yield page
        assert outside == [], f"the page tried to reach other hosts: {outside}"
        browser.close()


def shot(page: Page, name: str) -> None:
    """Save a screenshot as `<name>.png` when `CADRE_SCREENSHOTS` is set."""
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def log_in(page: Page, server: RunningServer, screenshot: str | None = None) -> None:
    """Open Cadre, get sent to the login form, and log in as the test admin."""
    page.goto(server.url)
    expect(page).to_have_url(f"{server.url}/login", timeout=30_000)
    username = page.locator("#email")
    expect(username).to_be_visible(timeout=30_000)
    if screenshot:
        shot(page, screenshot)
    username.fill(ADMIN_USER)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("button[type=submit]").click()
    expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)


def ask(page: Page, text: str) -> None:
    """Type `text` into the composer and send it."""
    composer = page.locator("#chat-input")
    composer.fill(text)
    submit = page.locator("#chat-submit")
    expect(submit).to_be_enabled(timeout=30_000)  # enabled once the socket is connected
    submit.click()
    expect(composer).to_have_value("", timeout=10_000)
