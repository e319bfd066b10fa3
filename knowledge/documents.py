"""The nouns of the knowledge layer: parsed documents, chunks and retrieved passages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text from one page (when the format has pages) under one heading."""

    text: str
    page: int | None = None
    """1-based page number for paged formats (PDF); `None` otherwise."""
    title: str | None = None
    """The nearest heading above this text, if the format has headings."""


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A file turned into ordered sections of plain text."""

    name: str
    kind: str
    """Detected format: `pdf`, `docx`, `html`, `markdown`, `text`, `csv`, `code`, `xlsx`."""
    sections: tuple[Section, ...]
    page_count: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document, sized in embedder tokens."""

    text: str
    index: int
    """Position of the chunk within its document, from 0."""
    page: int | None = None
    section: str | None = None
    token_count: int = 0


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
