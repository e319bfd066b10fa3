"""PDF: text per page with pypdf, section titles from the document outline (bookmarks).

A page without a text layer (a scan) is rendered with PDFium (`pypdfium2`) and read with
OCR; its sections are marked `scanned`. Pages with text are never OCR'd.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import (
    DependencyError,
    FileNotDecryptedError,
    LimitReachedError,
    PyPdfError,
)

from knowledge.documents import ParsedDocument, Section
from knowledge.errors import EncryptedDocument, NoExtractableText, ParseResourceLimit
from knowledge.parsing import ocr
from knowledge.parsing._shared import Progress, TextBudget, nonblank, tidy
from knowledge.parsing.limits import ParseLimits

logger = logging.getLogger(__name__)

# The outline is optional decoration: if a hostile or broken one fails to resolve, the
# pages are still worth reading, so these failures drop the titles and nothing else.
_OUTLINE_ERRORS = (PyPdfError, KeyError, ValueError, TypeError, AttributeError, IndexError)
_MAX_OUTLINE_ENTRIES = 10_000
_MIN_TEXT_LAYER = 16
"""Characters (not spaces) below which a page counts as having no text layer: a scanner's
stamp ("Page 2") is not the page."""
_RENDER_DPI = 200


def _key(line: str) -> str:
    return " ".join(line.split()).casefold()


def _outline_starts(reader: PdfReader, name: str) -> dict[int, list[str]]:
    """Outline titles keyed by the 0-based page where they start, in outline order."""
    starts: dict[int, list[str]] = {}
    stack: list[Any] = [iter(reader.outline)]
    seen = 0
    try:
        while stack and seen < _MAX_OUTLINE_ENTRIES:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
            elif isinstance(entry, list):
                stack.append(iter(entry))  # children of the previous entry
            else:
                seen += 1
                page = reader.get_destination_page_number(entry)
                title = " ".join(str(entry.title or "").split())
                if title and page is not None and page >= 0:
                    starts.setdefault(page, []).append(title)
    except _OUTLINE_ERRORS:
        logger.warning("Ignoring the unreadable outline of %s", name, exc_info=True)
        return {}
    return starts


def _page_sections(
    text: str, page: int, titles: list[str], current: str | None
) -> tuple[list[Section], str | None]:
    """Split one page's text where its outline headings appear; return the title carried on."""
    if not titles:
        return [Section(text=text, page=page, title=current)], current
    keys = [_key(t) for t in titles]
    lines = text.split("\n")
    matched = {i for i, line in enumerate(lines) if _key(line) in keys}
    if not matched:
        # Headings drawn as images or split oddly: attribute the page to its first heading.
        return [Section(text=text, page=page, title=titles[0])], titles[-1]
    sections: list[Section] = []
    buffer: list[str] = []
    pending = list(keys)
    for index, line in enumerate(lines):
        key = _key(line)
        if index in matched and key in pending:
            if buffer:
                sections.append(Section(text="\n".join(buffer), page=page, title=current))
            position = pending.index(key)
            current = titles[len(titles) - len(pending) + position]
            del pending[: position + 1]
            buffer = []
        buffer.append(line)
    sections.append(Section(text="\n".join(buffer), page=page, title=current))
    return sections, current


def _open(reader: PdfReader, name: str) -> None:
    if not reader.is_encrypted:
        return
    # Many PDFs are "encrypted" with an empty user password (only printing or copying is
    # restricted); those open without asking the user anything.
    try:
        opened = reader.decrypt("")
    except (DependencyError, NotImplementedError, FileNotDecryptedError) as exc:
        raise EncryptedDocument(name) from exc
    if opened == PasswordType.NOT_DECRYPTED:
        raise EncryptedDocument(name)


def parse(
    path: Path, *, name: str, limits: ParseLimits, progress: Progress | None = None
) -> ParsedDocument:
    """Read a PDF page by page; page numbers are 1-based."""
    budget = TextBudget(name, limits.max_text_chars)
    with path.open("rb") as file:
        reader = PdfReader(file, strict=False)
        _open(reader, name)
        count = len(reader.pages)
        if count > limits.max_pages:
            raise ParseResourceLimit(
                name, f"it has {count:,} pages, over the limit of {limits.max_pages:,}"
            )
        starts = _outline_starts(reader, name)
        sections: list[Section] = []
        blank_pages: list[int] = []
        scanned_pages: list[int] = []
        current: str | None = None
        with _Renderer(path, name, limits) as renderer:
            for index, page in enumerate(reader.pages):
                text = tidy(budget.spend(page.extract_text() or ""))
                meta: dict[str, str] = {}
                if len("".join(text.split())) < _MIN_TEXT_LAYER:
                    _check_drawing_size(page, index, name)
                    scan = renderer.read(index)
                    if scan is not None and len(scan.text) > len(text):
                        text, meta = tidy(budget.spend(scan.text)), scan.meta
                        scanned_pages.append(index + 1)
                if not text:
                    blank_pages.append(index + 1)
                titles = starts.get(index, [])
                page_sections, current = _page_sections(text, index + 1, titles, current)
                sections.extend(replace(section, meta=meta) for section in page_sections)
                if progress is not None:
                    progress(index + 1, count)
        metadata = _metadata(reader, name)
    if count and len(blank_pages) == count:
        raise NoExtractableText(name)
    if blank_pages:
        metadata["pages_without_text"] = ", ".join(str(p) for p in blank_pages)
    if scanned_pages:
        metadata["scanned_pages"] = ", ".join(str(p) for p in scanned_pages)
    return ParsedDocument(
        name=name, kind="pdf", sections=nonblank(sections), page_count=count, metadata=metadata
    )


def _check_drawing_size(page: PageObject, index: int, name: str) -> None:
    """Refuse a page whose drawing instructions inflate past pypdf's decompression limit
    before PDFium renders it: pypdf's text extraction swallows that limit and returns no
    text, and PDFium, which has none, aborts the worker at the memory cap (a flate bomb)."""
    try:
        page.get_contents()
    except LimitReachedError as exc:
        raise ParseResourceLimit(
            name, f"page {index + 1} unpacks to too much data (it may be a decompression bomb)"
        ) from exc
    except _OUTLINE_ERRORS:
        return  # a damaged stream: PDFium renders what it can, as before


def _metadata(reader: PdfReader, name: str) -> dict[str, str]:
    try:
        info = reader.metadata
        title = info.title if info is not None else None
    except _OUTLINE_ERRORS:
        logger.warning("Ignoring the unreadable metadata of %s", name, exc_info=True)
        return {}
    return {"title": " ".join(str(title).split())} if title else {}


class _Renderer:
    """Renders pages to pictures for OCR, opening the file with PDFium only when needed."""

    def __init__(self, path: Path, name: str, limits: ParseLimits) -> None:
        self._path = path
        self._name = name
        self._limit = limits.max_ocr_pages
        self._document: Any = None
        self._done = 0

    def __enter__(self) -> _Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._document is not None:
            self._document.close()

    def read(self, index: int) -> ocr.OcrPage | None:
        """The OCR'd text of the 0-based page `index`; `None` if it cannot be rendered."""
        if self._done >= self._limit:
            raise ParseResourceLimit(
                self._name, f"it has more than {self._limit:,} scanned pages to recognise"
            )
        self._done += 1
        import pypdfium2

        try:
            if self._document is None:
                self._document = pypdfium2.PdfDocument(str(self._path))
            page = self._document[index]
            try:
                width, height = page.get_size()
                scale = min(_RENDER_DPI / 72, ocr.MAX_SIDE / max(width, height, 1))
                bitmap = page.render(scale=scale, grayscale=True)
                picture = bitmap.to_pil()
            finally:
                page.close()
        except pypdfium2.PdfiumError:
            logger.warning("Could not render page %d of %s for OCR", index + 1, self._name)
            return None
        return ocr.recognize(picture)
