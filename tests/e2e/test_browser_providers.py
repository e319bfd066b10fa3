"""A person in a real Chromium with a remote provider configured: picks a model in the chat
settings, and sees the step say so when a dead provider hands the answer to the local model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models.openai_server import FakeOpenAI, error
from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, log_in, shot
from tests.support.browser import ask as _ask
from tests.support.server import RunningServer, cadre_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

if not HAS_CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

REMOTE_LABEL = "openai:test-model — plans with tools, JSON output, requests leave the machine"


@pytest.fixture(scope="module")
def server(remote: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """OpenAI-compatible first, the bundled model behind it."""
    data: Path = tmp_path_factory.mktemp("providers")
    with cadre_server(
        data,
        CADRE_OPENAI_BASE_URL=remote.url,
        CADRE_CHAT_MODEL="openai:test-model",
        CADRE_FALLBACK_MODELS="local:auto",
        CADRE_PROVIDER_RETRIES="1",
        CADRE_TEMPERATURE="0",
    ) as running:
        yield running


def test_a_dead_provider_s_answer_comes_from_the_local_model_and_the_step_says_so(
    page: Page, server: RunningServer, remote: FakeOpenAI
) -> None:
    remote.replies.append(error(503, "overloaded"))
    log_in(page, server)

    _ask(page, "What is the capital of France?")

    expect(page.locator("#stop-button")).to_be_visible(timeout=60_000)
    expect(page.locator("#stop-button")).to_be_hidden(timeout=300_000)  # the turn is over
    expect(page.get_by_text("Paris").last).to_be_visible()
    page.get_by_role("button", name="Used Chief of Staff").last.click()  # open the turn's step
    notice = page.get_by_text("switched to local:", exact=False)
    expect(notice.first).to_be_visible(timeout=10_000)
    page.wait_for_timeout(500)  # the step finishes opening before the screenshot
    shot(page, "providers-1-switched")


def test_the_model_picked_in_the_settings_answers(
    page: Page, server: RunningServer, remote: FakeOpenAI
) -> None:
    log_in(page, server)
    page.locator("#chat-settings-open-modal").click()
    picker = page.locator("#model")
    expect(picker).to_be_visible(timeout=10_000)
    expect(picker).to_contain_text(REMOTE_LABEL)  # the deployment's model is preselected
    picker.click()
    options = page.get_by_role("option")
    expect(options.filter(has_text=REMOTE_LABEL)).to_have_count(1)
    local = options.filter(has_text="local:qwen2.5-1.5b — Cadre plans for it")
    expect(local).to_have_count(1)
    shot(page, "providers-2-picker")
    local.click()
    page.locator("#confirm").click()
    asked = len(remote.requests)

    _ask(page, "What is the capital of France?")

    expect(page.locator("#stop-button")).to_be_visible(timeout=60_000)
    expect(page.locator("#stop-button")).to_be_hidden(timeout=300_000)
    expect(page.get_by_text("Paris").last).to_be_visible()
    assert len(remote.requests) == asked  # the remote model was not asked
    shot(page, "providers-3-local-answer")
