"""Shared pieces of the retrieval tests: a paged-text parser and a ready knowledge base."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from knowledge.base import KnowledgeBase
from knowledge.chunking import chunk_document
from knowledge.documents import ParsedDocument, Section
from knowledge.embedder import Embedder, HashEmbedder
from knowledge.ingest import IngestDone, IngestFailed, IngestOptions, Upload
from knowledge.store import KnowledgeStore, StoreOptions


async def paged_text(path: Path, name: str, progress: Callable[[int, int], None]) -> ParsedDocument:
    """Parse a test file: pages split by form feeds, an optional `# title` first line each."""
    pages = path.read_text(encoding="utf-8").split("\f")  # noqa: ASYNC240 - tiny test files
    sections = []
    for number, page in enumerate(pages, start=1):
        title = None
        if page.startswith("# "):
            title, _, page = page[2:].partition("\n")
        sections.append(Section(text=page.strip(), page=number, title=title))
        progress(number, len(pages))
    return ParsedDocument(name=name, kind="pdf", sections=tuple(sections), page_count=len(pages))


def upload(name: str, *pages: str) -> Upload:
    """A paged test file as uploaded bytes."""
    return Upload(name, "\f".join(pages).encode())


async def open_base(
    folder: Path,
    embedder: Embedder | None = None,
    *,
    store_options: StoreOptions | None = None,
    batch_size: int = 4,
) -> KnowledgeBase:
    """A knowledge base on a real LanceDB folder, parsing with `paged_text`."""
    return await KnowledgeBase.open(
        folder,
        embedder or HashEmbedder(64),
        store_options=store_options,
        parser=paged_text,
        chunker=lambda document, count: chunk_document(document, count),
        ingest_options=IngestOptions(batch_size=batch_size),
    )


async def ingest_ok(base: KnowledgeBase, owner: str, *files: Upload) -> list[IngestDone]:
    """Ingest files that must all succeed."""
    outcomes = await base.ingest_all(files, owner)
    failed = [o for o in outcomes if isinstance(o, IngestFailed)]
    assert not failed, failed
    return [o for o in outcomes if isinstance(o, IngestDone)]


def store_of(folder: Path, embedder: Embedder | None = None) -> KnowledgeStore:
    """Reopen the store as a fresh process would."""
    return KnowledgeStore.for_embedder(folder, embedder or HashEmbedder(64))
