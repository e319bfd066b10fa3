"""HTML with lxml, offline: nothing is fetched, no entities or DTDs are loaded.

Headings split the page into sections titled by their heading path (`FAQ › Install`).
Site chrome is left out: when the page marks its content (`<main>`, `role="main"`, a single
`<article>`) only that is read, and navigation, banners, footers, sidebars and breadcrumbs
are dropped wherever they are. Text hidden by CSS (`display:none`, the `hidden` attribute,
white on white…, see `hidden_html`) is dropped too, and its section says so.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from knowledge.documents import HIDDEN_TEXT, ParsedDocument, Section
from knowledge.errors import EmptyDocument, ParseResourceLimit
from knowledge.parsing._shared import Progress, TextBudget, nonblank, render_table, tidy
from knowledge.parsing.hidden_html import HIDDEN_MARK, drop_hidden, hidden_inside
from knowledge.parsing.limits import ParseLimits
from knowledge.parsing.markdown import HeadingPath
from knowledge.sniff import decode_text

_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# An internal DTD subset means nothing to the HTML parser, which would show it as text.
_DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.I | re.S)
_HEAD = 64 * 1024
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Not text a reader sees: code, styling, embedded media and form widgets' internals.
_DROPPED = frozenset(
    {"head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
     "embed", "canvas", "select", "button", "audio", "video", "picture", "map"}
)  # fmt: skip
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
     "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr",
     "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tr", "ul"}
)  # fmt: skip


def _decode(data: bytes) -> str:
    declared = _META_CHARSET.search(data[:4096])
    if declared is not None:
        try:
            codec = codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            codec = None
        if codec is not None:
            return data.decode(codec, errors="replace")
    text = decode_text(data)
    return text if text is not None else data.decode("utf-8", errors="replace")


def _parser() -> lxml_html.HTMLParser:
    # no_network: never load an external DTD or entity; the HTML parser resolves no
    # custom entities and builds no DTD; huge_tree off keeps libxml2's depth/size guards.
    return lxml_html.HTMLParser(
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
        default_doctype=False,
    )


def _table_rows(table: etree._Element) -> list[list[str]]:
    rows = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
    return [
        [" ".join(cell.text_content().split()) for cell in row if cell.tag in ("td", "th")]
        for row in rows
    ]


# Site chrome: navigation, banners, footers, sidebars, breadcrumbs, cookie notices. Matched
# on ARIA roles and on whole class/id words, as site generators (Sphinx, MkDocs, Docusaurus,
# WordPress) name them.
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_CHROME_WORDS = frozenset(
    {"nav", "navbar", "navigation", "menu", "sidebar", "sphinxsidebar", "breadcrumb",
     "breadcrumbs", "footer", "related", "cookie", "cookies", "cookie-banner", "skip-link",
     "headerlink", "toc", "md-sidebar", "md-header", "md-footer", "wy-nav-side", "site-nav",
     "site-header", "site-footer", "pagination", "edit-this-page"}
)  # fmt: skip
_HEADING_MARKS = "¶#§🔗 \u00a0"


def _is_chrome(element: etree._Element, tag: str) -> bool:
    """Whether `element` is navigation or page furniture rather than the page's content."""
    if tag == "nav":
        return True
    if (element.get("role") or "").strip().lower() in _CHROME_ROLES:
        return True
    words = f"{element.get('class') or ''} {element.get('id') or ''}".lower().split()
    if any(word in _CHROME_WORDS for word in words):
        return True
    # A page's own header and footer, not an article's.
    return tag in ("header", "footer") and not any(
        ancestor.tag in ("article", "main", "section") for ancestor in element.iterancestors()
    )


def _main_content(root: etree._Element) -> etree._Element:
    """The element holding the page's content when the page marks it, else the whole page."""
    for query in ("//main", "//*[@role='main']", "//article"):
        found = root.xpath(query)
        if len(found) == 1 and " ".join(found[0].text_content().split()):
            return found[0]
    return root


def _heading_text(element: etree._Element) -> str:
    """A heading's words, without the permalink marks (¶, #) site generators add."""
    return " ".join(element.text_content().split()).strip(_HEADING_MARKS)


class _Collector:
    """Builds sections from a walk over the tree."""

    def __init__(self, title: str | None, budget: TextBudget) -> None:
        self.sections: list[Section] = []
        self.title = title
        self.paragraphs: list[str] = []
        self.line: list[str] = []
        self.budget = budget
        self.path = HeadingPath()
        self.heading_text: str | None = None
        self.hidden = 0
        """Characters of hidden text dropped since the last section was cut."""

    def text(self, text: str | None) -> None:
        if text:
            self.line.append(self.budget.spend(text))

    def newline(self) -> None:
        self.paragraphs.append(" ".join("".join(self.line).split()))
        self.line.clear()

    def block(self) -> None:
        self.newline()
        self.paragraphs.append("")

    def heading(self, level: int, heading: str) -> None:
        self.block()
        self.flush()
        self.title = self.path.enter(level, heading)
        self.heading_text = heading
        self.paragraphs.append(heading)
        self.paragraphs.append("")

    def flush(self) -> None:
        self.newline()
        text = tidy("\n".join(self.paragraphs))
        # A heading with nothing under it before the next one is part of the path, not a
        # passage of its own.
        if text != self.heading_text:
            meta = {HIDDEN_TEXT: str(self.hidden)} if self.hidden else {}
            self.sections.append(Section(text=text, title=self.title, meta=meta))
            self.hidden = 0
        self.paragraphs.clear()


def html_sections(text: str, *, name: str, limits: ParseLimits) -> tuple[list[Section], str | None]:
    """Sections of an HTML page's text, and the page's title (also for e-mail bodies)."""
    text = _XML_DECLARATION.sub("", text, count=1)
    # Only near the start, where a doctype can be: bounded work whatever the file holds.
    text = _DOCTYPE_SUBSET.sub("<!DOCTYPE html>", text[:_HEAD], count=1) + text[_HEAD:]
    if not text.strip():
        raise EmptyDocument(name)
    parser = _parser()
    root = lxml_html.document_fromstring(text, parser=parser)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        # libxml2 stopped building the tree (too deep, or a text node too long): what it
        # kept is a fragment, and answers from a fragment would silently miss things.
        raise ParseResourceLimit(name, "its HTML is nested too deeply or has oversized parts")
    page_title = " ".join((root.findtext(".//title") or "").split()) or None
    drop_hidden(root, skipped=_DROPPED)
    collector = _Collector(page_title, TextBudget(name, limits.max_text_chars))
    content = _main_content(root)
    walker = etree.iterwalk(content, events=("start", "end"))
    for event, element in walker:
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _DROPPED or not tag or _is_chrome(element, tag):
                walker.skip_subtree()
            elif tag == HIDDEN_MARK:
                collector.hidden += hidden_inside(element)
                walker.skip_subtree()
            elif tag in _HEADINGS:
                heading = _heading_text(element)
                if heading:
                    collector.heading(int(tag[1]), collector.budget.spend(heading))
                collector.hidden += hidden_inside(element)  # counted in the heading's section
                walker.skip_subtree()
            elif tag == "table":
                collector.block()
                collector.hidden += hidden_inside(element)
                for line in render_table(_table_rows(element)):
                    collector.text(line)
                    collector.newline()
                walker.skip_subtree()
            else:
                if tag in _BLOCKS:
                    collector.block()
                if tag == "br":
                    collector.newline()
                elif tag == "li":
                    collector.text("- ")
                elif tag in ("td", "th"):
                    collector.text(" ")
                collector.text(element.text)
        else:
            if tag in _BLOCKS or tag in _HEADINGS:
                collector.block()
            if element is not content:
                collector.text(element.tail)
    collector.flush()
    return collector.sections, page_title


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read an HTML page; headings become section titles, scripts and styles are dropped."""
    sections, page_title = html_sections(_decode(path.read_bytes()), name=name, limits=limits)
    if progress is not None:
        progress(1, 1)
    metadata = {"title": page_title} if page_title else {}
    return ParsedDocument(name=name, kind="html", sections=nonblank(sections), metadata=metadata)
