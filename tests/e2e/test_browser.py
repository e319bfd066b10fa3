"""A person in a real Chromium: logs in, asks, watches the answer stream, stops it."""

from __future__ import annotations

import pytest

from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, log_in, shot
from tests.support.browser import ask as _ask
from tests.support.server import ADMIN_USER, RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

if not HAS_CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


def test_a_wrong_password_keeps_the_login_form(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/login")
    page.locator("#email").fill(ADMIN_USER)
    page.locator("#password").fill("not-the-password")
    page.locator("button[type=submit]").click()
    expect(page.get_by_role("alert")).to_be_visible(timeout=10_000)
    expect(page).to_have_url(f"{server.url}/login")
    expect(page.locator("#chat-input")).to_have_count(0)


def test_a_person_asks_and_reads_the_streamed_answer(page: Page, server: RunningServer) -> None:
    log_in(page, server, screenshot="0-login")
    expect(page).to_have_title("Cadre")
    composer = page.locator("#chat-input")
    expect(composer).to_be_visible(timeout=30_000)
    shot(page, "1-welcome")

    _ask(page, "What is the capital of France?")
    expect(page.get_by_text("Paris")).to_be_visible(timeout=60_000)
    shot(page, "2-answer")


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
    shot(page, "3-stopped")


def test_a_developer_reads_the_api_reference_offline(page: Page, server: RunningServer) -> None:
    # The page may reach only the test server (browser_page fails the test otherwise).
    page.goto(f"{server.url}/api/docs")
    expect(page.get_by_role("heading", name="Cadre").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("/v1/chat/completions").first).to_be_visible(timeout=30_000)
    shot(page, "api-docs")
