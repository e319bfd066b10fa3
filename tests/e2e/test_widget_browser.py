"""The chat widget in a real Chromium: a page on another origin embeds Cadre and chats.

The host page (`public/widget-demo.html`, the snippet `cadre sites add` prints) is served
from a second local origin; a third origin, never registered, serves the same page. The
Chief of Staff runs on a scripted remote model, so the streamed answer is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from tests.models.openai_server import FakeOpenAI, fake_openai, text
from tests.support.browser import CHROMIUM, HAS_CHROMIUM, NO_CHROMIUM, shot
from tests.support.cli import cadre
from tests.support.local_http import serving
from tests.support.server import REPO_ROOT, RunningServer, cadre_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM),
]

if HAS_CHROMIUM:
    from playwright.sync_api import Page, expect, sync_playwright

DEMO = REPO_ROOT / "public" / "widget-demo.html"


def _host() -> Starlette:
    async def page(_: Request) -> FileResponse:
        return FileResponse(DEMO)

    return Starlette(routes=[Route("/widget-demo.html", page)])


@dataclass
class Sites:
    server: RunningServer
    remote: FakeOpenAI
    registered: str
    stranger: str


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    data: Path = tmp_path_factory.mktemp("data")
    with (
        fake_openai() as remote,
        serving(_host(), "shop") as shop,
        serving(_host(), "stranger") as stranger,
    ):
        added = cadre(data, "sites", "add", shop, "--name", "Shop", "--operators", "Writer")
        assert added.returncode == 0, added.stderr
        assert "/copilot/index.js" in added.stdout
        with cadre_server(
            data, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
        ) as server:
            yield Sites(server, remote, shop, stranger)


@pytest.fixture
def browser_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        # Only loopback: the widget's web font request is refused, as offline.
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1:")
                else route.abort()
            ),
        )
        yield context.new_page()
        browser.close()


def test_a_registered_site_embeds_the_chat_and_sees_the_streamed_answer(
    sites: Sites, browser_page: Page
) -> None:
    page = browser_page
    sites.remote.replies.append(text("Hello ", "from ", "the ", "widget."))
    page.goto(f"{sites.registered}/widget-demo.html?cadre={sites.server.url}")
    expect(page.locator("#status")).to_have_text("Cadre is ready: open the chat bubble.")
    bubble = page.locator("#chainlit-copilot button").last
    expect(bubble).to_be_visible(timeout=30_000)
    shot(page, "widget-1-bubble")
    bubble.click()
    composer = page.locator("#chat-input")
    expect(composer).to_be_editable(timeout=30_000)
    composer.fill("Say hello")
    submit = page.locator("#chat-submit")
    expect(submit).to_be_enabled(timeout=30_000)  # enabled once the socket is connected
    shot(page, "widget-2-open")
    submit.click()
    expect(page.get_by_text("Hello from the widget.")).to_be_visible(timeout=60_000)
    shot(page, "widget-3-answer")
    tools = {t["function"]["name"] for t in sites.remote.requests[0].get("tools", [])}
    assert "delegate_to_writer" in tools
    assert "delegate_to_researcher" not in tools  # the site allows the Writer only


def test_an_unregistered_origin_gets_nothing(sites: Sites, browser_page: Page) -> None:
    page = browser_page
    requests_before = len(sites.remote.requests)
    page.goto(f"{sites.stranger}/widget-demo.html?cadre={sites.server.url}")
    expect(page.locator("#status")).to_have_text(
        "Cadre refused this page: its origin is not registered."
    )
    shot(page, "widget-4-refused")
    assert page.locator("#chat-input").count() == 0
    assert "refused a widget token to origin" in sites.server.log_text()
    assert len(sites.remote.requests) == requests_before


def test_the_socket_and_cors_follow_the_registry(sites: Sites) -> None:
    token = httpx.get(f"{sites.server.url}/widget/token", headers={"Origin": sites.registered})
    assert token.status_code == 200
    assert token.headers["access-control-allow-origin"] == sites.registered
    refused = httpx.get(f"{sites.server.url}/widget/token", headers={"Origin": sites.stranger})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    poll = f"{sites.server.url}/ws/socket.io/?EIO=4&transport=polling"
    for origin, allowed in ((sites.registered, True), (sites.stranger, False)):
        handshake = httpx.get(poll, headers={"Origin": origin})
        assert (handshake.status_code == 200) is allowed, handshake.text
        preflight = httpx.options(
            f"{sites.server.url}/auth/jwt",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        if allowed:
            assert preflight.headers.get_list("access-control-allow-origin") == [origin]
        else:
            assert "access-control-allow-origin" not in preflight.headers
