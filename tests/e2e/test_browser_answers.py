"""The answer walks in a real Chromium: attach with the paperclip, open a citation, see a plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_answers_socket import FLEET_PLAN, FLEET_REQUEST, WAREHOUSE_PAGES
from tests.knowledge.doc_files import make_pdf
from tests.support.browser import HAS_CHROMIUM, NO_CHROMIUM, log_in, shot
from tests.support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

if not HAS_CHROMIUM:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


def _ask_with_file(page: Page, text: str, path: Path, *, typed: bool = True) -> None:
    """Type the question, attach `path` with the paperclip, wait for the upload, send.

    With `typed=False` the browser gives the file no MIME type, as it does for `.md`, `.eml`
    and code on a machine without a MIME database.
    """
    page.locator("#chat-input").fill(text)
    submit = page.locator("#chat-submit")
    expect(submit).to_be_enabled(timeout=30_000)  # the socket is connected: uploads work now
    picker = page.locator("input[type=file]").first
    if typed:
        picker.set_input_files(str(path))
    else:
        picker.set_input_files(
            files=[{"name": path.name, "mimeType": "", "buffer": path.read_bytes()}]
        )
    expect(page.get_by_text(path.name).first).to_be_visible(timeout=30_000)
    expect(submit).to_be_enabled(timeout=30_000)
    submit.click()


def _open_step(page: Page, name: str) -> None:
    """Expand the step "Used `name`". A click that lands while the step above it is still
    unfolding can miss (seen on a loaded 2-core box), so it is clicked until it reads open."""
    button = page.get_by_role("button", name=f"Used {name}").last
    for _ in range(3):
        button.click()
        try:
            expect(button).to_have_attribute("aria-expanded", "true", timeout=5_000)
            return
        except AssertionError:
            continue
    expect(button).to_have_attribute("aria-expanded", "true")


def test_an_attached_pdf_answer_opens_its_page(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    log_in(page, server)
    report = make_pdf(tmp_path / "baltic-review.pdf", [(None, t) for t in WAREHOUSE_PAGES])

    _ask_with_file(page, "When does the new Tallinn warehouse open?", report)

    expect(page.get_by_text("14 March 2027").first).to_be_visible(timeout=180_000)
    expect(page.get_by_text("baltic-review.pdf, page 3")).to_be_visible(timeout=30_000)
    shot(page, "walk-1-pdf-answer")
    page.locator("a.element-link", has_text="[1]").last.click()
    side = page.locator("#side-view-content")
    expect(side).to_contain_text("Tallinn warehouse opens", timeout=30_000)
    expect(side).not_to_contain_text("Winter road closures")  # page 4 is not what opened
    shot(page, "walk-2-pdf-page-3")


def test_a_plan_shows_each_operator_as_a_step(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    log_in(page, server)
    plan = tmp_path / "fleet-plan.md"
    plan.write_text(FLEET_PLAN)

    _ask_with_file(page, FLEET_REQUEST, plan, typed=False)

    expect(page.locator("#stop-button")).to_be_visible(timeout=60_000)
    shot(page, "walk-3-plan-working")
    expect(page.locator("#stop-button")).to_be_hidden(timeout=600_000)  # the turn is over
    for operator in ("Researcher:", "Analyst:", "Writer:"):  # the answer's bold headings
        expect(page.get_by_text(operator, exact=True).last).to_be_visible()
    shot(page, "walk-4-plan-answer")
    _open_step(page, "Chief of Staff")
    for operator in ("Researcher", "Analyst", "Writer"):
        expect(page.get_by_role("button", name=f"Used {operator}").last).to_be_visible()
    _open_step(page, "Analyst")
    _open_step(page, "calculate")
    expect(page.get_by_text("48 + 12 = 60").first).to_be_visible()
    shot(page, "walk-5-plan-steps")
