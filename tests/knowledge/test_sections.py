"""Web pages and Markdown: a section is a passage under its heading path; chrome is dropped."""

from __future__ import annotations

from pathlib import Path

from knowledge.parsing import parse_file

DOCS_PAGE = """<!DOCTYPE html><html><head><title>FAQ — Harbour Fleet docs</title></head><body>
<div class="related" role="navigation"><a href="index.html">index</a> | <a>modules</a></div>
<header class="site-header"><a href="/">Harbour Fleet</a> Search the docs</header>
<div class="sphinxsidebar"><h3>Table of contents</h3><ul><li>Install</li><li>Billing</li></ul>
</div>
<div class="body" role="main">
<h1>Frequently asked questions<a class="headerlink" href="#faq">¶</a></h1>
<p>Answers to what drivers ask most.</p>
<h2>Accounts<a class="headerlink" href="#accounts">¶</a></h2>
<h3>How do I reset my password?</h3><p>Open Settings, then Security, and choose Reset.</p>
<h3>Can two drivers share a login?</h3><p>No: every driver needs an account of their own.</p>
<h2>Billing</h2>
<h3>When are invoices sent?</h3><p>On the first working day of each month.</p>
</div>
<footer class="footer">© 2024 Harbour Fleet. Created using Sphinx.</footer>
<div class="cookie-banner">We use cookies.</div>
</body></html>"""


def test_a_docs_page_splits_at_headings_with_their_path(tmp_path: Path) -> None:
    page = tmp_path / "faq.html"
    page.write_text(DOCS_PAGE, encoding="utf-8")
    document = parse_file(page)
    titles = [section.title for section in document.sections]
    assert titles == [
        "Frequently asked questions",
        "Frequently asked questions › Accounts › How do I reset my password?",
        "Frequently asked questions › Accounts › Can two drivers share a login?",
        "Frequently asked questions › Billing › When are invoices sent?",
    ]
    reset = document.sections[1].text
    assert reset == "How do I reset my password?\n\nOpen Settings, then Security, and choose Reset."


def test_navigation_footers_sidebars_and_cookie_notices_are_dropped(tmp_path: Path) -> None:
    page = tmp_path / "faq.html"
    page.write_text(DOCS_PAGE, encoding="utf-8")
    everything = " ".join(s.text for s in parse_file(page).sections)
    for chrome in ("modules", "Search the docs", "Table of contents", "Created using Sphinx",
                   "cookies", "¶"):  # fmt: skip
        assert chrome not in everything


def test_a_page_without_a_marked_main_still_drops_its_chrome(tmp_path: Path) -> None:
    page = tmp_path / "plain.html"
    page.write_text(
        "<html><body><nav><a>Home</a><a>Pricing</a></nav><h1>Returns</h1>"
        "<p>Return any item within 30 days.</p><footer>Imprint · Privacy</footer></body></html>"
    )
    [section] = parse_file(page).sections
    assert section.title == "Returns"
    assert section.text == "Returns\n\nReturn any item within 30 days."


def test_markdown_sections_carry_their_heading_path(tmp_path: Path) -> None:
    notes = tmp_path / "runbook.md"
    notes.write_text(
        "# Runbook\nIntro.\n\n## Deploys\n### Rollback\nRun `cadre rollback`.\n\n"
        "## Incidents\nPage the on-call.\n"
    )
    sections = parse_file(notes).sections
    assert [(s.title, s.text.splitlines()[-1]) for s in sections] == [
        ("Runbook", "Intro."),
        ("Runbook › Deploys › Rollback", "Run `cadre rollback`."),
        ("Runbook › Incidents", "Page the on-call."),
    ]
