"""An admin in a real Chromium walks the operator wizard: starter, buttons, review, Try it, Save.

Screenshots (with `CADRE_SCREENSHOTS=docs/screenshots`) show each stage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models.openai_server import FakeOpenAI, text
from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, log_in, shot
from tests.support.browser import ask as _type
from tests.support.server import RunningServer, cadre_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

if not HAS_CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def server(remote: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("data")
    with cadre_server(
        data, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
    ) as running:
        yield running


def _press(page: Page, label: str) -> None:
    button = page.get_by_role("button", name=label, exact=True).last
    expect(button).to_be_visible(timeout=30_000)
    button.click()


def test_an_admin_walks_the_wizard_in_the_browser(
    page: Page, server: RunningServer, remote: FakeOpenAI
) -> None:
    log_in(page, server)
    starter = page.get_by_text("New operator", exact=True)
    expect(starter).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1_000)  # let the welcome screen finish painting for the screenshot
    shot(page, "wizard-1-starter")
    starter.click()

    expect(page.get_by_text("What is the new operator called?").last).to_be_visible(timeout=30_000)
    # The first message opens a thread: the page moves to it before the composer settles.
    expect(page).to_have_url(re.compile(r"/thread/"), timeout=30_000)
    expect(page.locator("#chat-input")).to_be_editable(timeout=30_000)
    _type(page, "9 lives")
    expect(page.get_by_text("A name starts with a letter").last).to_be_visible(timeout=30_000)
    shot(page, "wizard-2-invalid-name")
    _type(page, "Travel Planner")
    expect(page.get_by_text("What is Travel Planner for?").last).to_be_visible(timeout=30_000)
    _type(page, "Plans business trips: itineraries, trains and flights, hotels and packing.")

    _press(page, "Template: Specialist")
    expect(page.get_by_text("requests leave the machine").last).to_be_visible(timeout=30_000)
    shot(page, "wizard-3-models")
    _press(page, "The chat's model")
    _press(page, "calculate")
    expect(page.get_by_text("Selected: calculate").last).to_be_visible(timeout=30_000)
    shot(page, "wizard-4-tools")
    _press(page, "Done")
    _press(page, "No documents")
    _press(page, "Quick")
    expect(page.get_by_text("Give 2 to 10 sample requests").last).to_be_visible(timeout=30_000)
    _type(page, "Plan a two-day business trip to Berlin\nWhat should I pack for Oslo in winter?")

    expect(page.get_by_text("nothing is saved yet").last).to_be_visible(timeout=30_000)
    shot(page, "wizard-5-review")

    remote.replies.append(text("Day 1: ", "train to Berlin at 8:00. Day 2: client meetings."))
    _press(page, "Try it")
    _press(page, "Plan a two-day business trip to Berlin")
    answer = page.get_by_text("Day 2: client meetings").last
    expect(answer).to_be_visible(timeout=60_000)
    answer.scroll_into_view_if_needed()
    shot(page, "wizard-6-try-it")

    _press(page, "Save")
    expect(page.get_by_text("Saved Travel Planner").last).to_be_visible(timeout=30_000)
    shot(page, "wizard-7-saved")
