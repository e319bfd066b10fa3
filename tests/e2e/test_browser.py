"""A person in a real Chromium: logs in, asks, watches the answer stream, stops it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = (
    Path(os.environ.get("CADRE_SCREENSHOTS", "")) if os.environ.get("CADRE_SCREENSHOTS") else None
)

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture
def page(server: RunningServer) -> Iterator[Page]:
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


def log_in(page: Page, server: RunningServer, shot: str | None = None) -> None:
    """Open Cadre, get sent to the login form, and log in as the test admin."""
    page.goto(server.url)
    expect(page).to_have_url(f"{server.url}/login", timeout=30_000)
    username = page.locator("#email")
    expect(username).to_be_visible(timeout=30_000)
    if shot:
        _shot(page, shot)
    username.fill(ADMIN_USER)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("button[type=submit]").click()
    expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)


def _ask(page: Page, text: str) -> None:
    composer = page.locator("#chat-input")
    composer.fill(text)
    submit = page.locator("#chat-submit")
    expect(submit).to_be_enabled(timeout=30_000)  # enabled once the socket is connected
    submit.click()
    expect(composer).to_have_value("", timeout=10_000)


def _shot(page: Page, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_a_wrong_password_keeps_the_login_form(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/login")
    page.locator("#email").fill(ADMIN_USER)
    page.locator("#password").fill("not-the-password")
    page.locator("button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible(timeout=10_000)
    expect(page).to_have_url(f"{server.url}/login")
    expect(page.locator("#chat-input")).to_have_count(0)


def test_a_person_asks_and_reads_the_streamed_answer(page: Page, server: RunningServer) -> None:
    log_in(page, server, shot="0-login")
    expect(page).to_have_title("Cadre")
    composer = page.locator("#chat-input")
    expect(composer).to_be_visible(timeout=30_000)
    _shot(page, "1-welcome")

    _ask(page, "Name three primary colors.")
    expect(page.get_by_text("Yellow")).to_be_visible(timeout=60_000)
    _shot(page, "2-answer")


def test_a_person_stops_a_long_answer(page: Page, server: RunningServer) -> None:
    log_in(page, server)
    composer = page.locator("#chat-input")
    expect(composer).to_be_visible(timeout=30_000)
    _ask(page, "Write a very long, detailed essay about the history of the Roman Empire.")
    stop = page.locator("#stop-button")
    expect(stop).to_be_visible(timeout=60_000)
    stop.click()
    expect(page.get_by_text("Task manually stopped.")).to_be_visible(timeout=5_000)
    expect(stop).to_be_hidden(timeout=5_000)
    expect(page.locator("#chat-submit")).to_be_visible()
    _shot(page, "3-stopped")
