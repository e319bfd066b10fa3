"""An admin in a real Chromium asks a question the Writer helps with, gives the answer a thumbs
up, and opens `/stats`: the table and the Plotly chart draw, with no request to any other
host (the page fixture fails the test on one: plotly.js comes from Chainlit's bundle).

Screenshots (with `CADRE_SCREENSHOTS=docs/screenshots`): stats-1-table-and-chart.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models.openai_server import FakeOpenAI, text, tool_call
from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, ask, log_in, shot
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


def test_an_admin_opens_stats_and_sees_the_table_and_the_chart(
    page: Page, server: RunningServer, remote: FakeOpenAI
) -> None:
    log_in(page, server)
    remote.replies += [
        tool_call("delegate_to_writer", '{"instructions": "Thank the team"}', "w1"),
        text("Dear team, thank you for a great quarter.", usage=(20, 6)),  # the Writer
        text("Here is the note for the team.", usage=(50, 4)),  # the Chief of Staff
    ]
    ask(page, "Write a thank-you note to the team.")
    expect(page.get_by_text("Here is the note for the team.").last).to_be_visible(timeout=60_000)

    thumbs_up = page.locator(".positive-feedback-off").last
    expect(thumbs_up).to_be_visible(timeout=30_000)
    thumbs_up.click()
    submit = page.get_by_role("button", name="Submit feedback")
    if submit.count():  # the comment dialog of some Chainlit versions
        submit.click()
    expect(page.locator(".positive-feedback-on").last).to_be_visible(timeout=30_000)

    page.set_viewport_size({"width": 1600, "height": 1000})  # the whole table in the shot
    ask(page, "/stats today")
    expect(page.get_by_text("Operator performance — today").last).to_be_visible(timeout=30_000)
    table = page.locator("table").last
    expect(table).to_contain_text("Chief of Staff")
    writer = table.locator("tr", has_text="Writer")
    expect(writer).to_contain_text("100%")
    expect(writer.locator("td").nth(7)).to_have_text("1 / 0")  # its thumbs up
    expect(table.locator("tr", has_text="All").locator("td").nth(7)).to_have_text("1 / 0")
    chart = page.locator(".js-plotly-plot").last
    expect(chart).to_be_visible(timeout=30_000)
    expect(chart.locator("g.trace.bars")).to_have_count(5, timeout=30_000)
    expect(chart).to_contain_text("Tokens")
    page.get_by_text("Operator performance — today").last.scroll_into_view_if_needed()
    page.wait_for_timeout(1_000)  # let the chart finish its first paint for the screenshot
    shot(page, "stats-1-table-and-chart")
