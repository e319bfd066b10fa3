"""The nouns of the knowledge layer: parsed documents, chunks and retrieved passages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SCANNED = "scanned"
"""`meta` key set to "1" on text read from a picture of a page (OCR)."""
OCR_CONFIDENCE = "ocr_confidence"
"""`meta` key: the OCR's mean confidence on that page, 0 to 1, as a string."""
LOW_CONFIDENCE = "low_confidence"
"""`meta` key set to "1" when that confidence is below what reads reliably."""
HIDDEN_CHARACTERS = "hidden_characters"
"""`meta` key: how many invisible characters (bidi controls, zero-width and tag characters)
chunking removed from the text, as a string. A reader never sees them; a model reads them,
so they can carry instructions or reorder what a person checks (OWASP LLM01)."""
HIDDEN_IN_NAME = "hidden_in_name"
"""`meta` key: how many invisible or control characters were removed from the file's name
(and so from every citation of it), as a string."""
TABLE_ROWS = "table_rows"
"""`meta` key set to "1" on a section whose lines are table rows (`column: value; …`):
its chunks hold whole rows, with no part of the row before repeated at their start (a
row's tail read as the next chunk's first line is attributed to the wrong row)."""


def table_rows(text: str) -> tuple[str, ...]:
    """The rows of a `TABLE_ROWS` chunk's text, one per line."""
    return tuple(line for line in text.splitlines() if line.strip())


HIDDEN_TEXT = "hidden_text"
"""`meta` key: how many characters of text the page hid with CSS (`display:none`, white on
white…) the parser dropped from this section, as a string. Like hidden characters, such text
can carry instructions for the model that no reader sees."""


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text from one page (when the format has pages) under one heading."""

    text: str
    page: int | None = None
    """1-based page number for paged formats (PDF); `None` otherwise."""
    title: str | None = None
    """The nearest heading above this text (its path, `A › B`, where headings nest)."""
    meta: Mapping[str, str] = field(default_factory=dict)
    """Facts a citation shows about this text: `scanned`, e-mail headers, the sheet…"""


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A file turned into ordered sections of plain text."""

    name: str
    kind: str
    """Detected format: `pdf`, `docx`, `xlsx`, `ods`, `image`, `email`, `html`, `markdown`,
    `csv`, `code`, `text`."""
    sections: tuple[Section, ...]
    page_count: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    """Files inside this one (an e-mail's attachments), each stored as its own document."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried inside another (an e-mail attachment), parsed or refused with a reason."""

    name: str
    """Its file name in the message."""
    document_id: str
    """From its bytes, like every document's id."""
    document: ParsedDocument | None = None
    reason: str | None = None
    """Why it could not be read (`document` is then `None`)."""
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document, sized in embedder tokens."""

    text: str
    index: int
    """Position of the chunk within its document, from 0."""
    page: int | None = None
    section: str | None = None
    token_count: int = 0
    meta: Mapping[str, str] = field(default_factory=dict)
    """The section's `meta`, kept with the chunk (and in the store's row)."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk returned by a search, with where it came from and how well it matched."""

    text: str
    document_id: str
    document_name: str
    chunk_index: int
    score: float
    page: int | None = None
    section: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    """What the citation shows besides page and section (see `Section.meta`)."""

    @property
    def scanned(self) -> bool:
        """Whether this text was read from a picture of the page (OCR)."""
        return self.meta.get(SCANNED) == "1"

    @property
    def rows(self) -> tuple[str, ...]:
        """For a passage of table rows (a CSV, a sheet), each row; otherwise none."""
        return table_rows(self.text) if self.meta.get(TABLE_ROWS) == "1" else ()

    def location(self) -> str:
        """Where in the document: `page 2, scanned`, `page 3`, `scanned, low OCR confidence`,
        `page 4, hidden characters removed`, `hidden text removed`."""
        parts = [f"page {self.page}"] if self.page is not None else []
        if self.scanned:
            parts.append("scanned")
            if self.meta.get(LOW_CONFIDENCE) == "1":
                parts.append("low OCR confidence")
        if self.meta.get(HIDDEN_CHARACTERS):
            parts.append("hidden characters removed")  # someone may have hidden text here
        if self.meta.get(HIDDEN_IN_NAME):
            parts.append("hidden characters removed from its name")
        if self.meta.get(HIDDEN_TEXT):
            parts.append("hidden text removed")  # text the page's CSS hid from its readers
        return ", ".join(parts)

    def label(self) -> str:
        """The citation line: name, location, section, and an e-mail's sender and date."""
        where = self.location()
        text = self.document_name + (f", {where}" if where else "")
        if self.section:
            text += f" — {self.section}"
        sender, date = self.meta.get("from"), self.meta.get("date")
        about = [f"from {sender}"] if sender else []
        if date:
            about.append(date)
        if about:
            text += " (" + ", ".join(about) + ")"
        return text
