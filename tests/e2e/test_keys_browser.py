"""The API keys page in a real Chromium: from the chat to a new key, copied, used and revoked.

Screenshots (with `CADRE_SCREENSHOTS=docs/screenshots`): keys-1-chat-link, keys-2-page,
keys-3-created, keys-4-confirm, keys-5-revoked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, ask, browser_page, log_in, shot
from tests.support.server import RunningServer, cadre_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM),
]

if HAS_CHROMIUM:
    from playwright.sync_api import expect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("data")
    with cadre_server(data, wait_ready=False) as running:
        yield running


def _client(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


def test_a_person_creates_copies_uses_and_revokes_a_key(server: RunningServer) -> None:
    with browser_page(server) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        log_in(page, server)

        ask(page, "/keys")
        answer = page.get_by_role("link", name="Open your API keys")
        expect(answer).to_be_visible(timeout=30_000)
        expect(answer).to_have_attribute("href", "/settings/keys")
        header_link = page.locator('#header a[href="/settings/keys"]')
        expect(header_link).to_be_visible()
        shot(page, "keys-1-chat-link")

        header_link.click()
        expect(page).to_have_url(f"{server.url}/settings/keys")
        expect(page.get_by_role("heading", name="API keys")).to_be_visible()
        expect(page.locator("#no-keys")).to_be_visible()
        page.get_by_label("Name").fill("notebook")
        page.get_by_label("Expires").select_option(label="90 days")
        shot(page, "keys-2-page")
        page.get_by_role("button", name="Create key").click()

        shown = page.locator("#new-key-value")
        expect(shown).to_be_visible()
        expect(page.get_by_text("it will not be shown again")).to_be_visible()
        secret = shown.input_value()
        assert secret.startswith("cadre-")
        page.get_by_role("button", name="Copy").click()
        expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == secret
        shot(page, "keys-3-created")

        assert "cadre" in [model.id for model in _client(server, copied).models.list().data]

        done = page.get_by_role("link", name="I have copied it")
        expect(done).to_have_attribute("href", "/settings/keys")
        page.reload()  # a plain GET: the form is not sent again, the key not shown again
        expect(page.locator("tr", has_text="notebook")).to_have_count(1)
        expect(page.locator("#new-key-value")).to_have_count(0)
        assert secret not in page.content()
        row = page.locator("tr", has_text="notebook")
        expect(row.locator(".state")).to_have_text("active")
        expect(row.locator("time")).to_have_count(3)  # created, last used, expires

        row.get_by_role("link", name="Revoke notebook").click()
        expect(page.get_by_text("This cannot be undone")).to_be_visible()
        shot(page, "keys-4-confirm")
        page.get_by_role("button", name="Revoke key").click()

        expect(page.locator("#notice")).to_contain_text("Revoked “notebook”")
        expect(page.locator("tr", has_text="notebook").locator(".state")).to_have_text("revoked")
        shot(page, "keys-5-revoked")

    with pytest.raises(openai.AuthenticationError):
        _client(server, secret).models.list()
