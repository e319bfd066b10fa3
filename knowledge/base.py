"""`KnowledgeBase`: the one object the app and the Researcher use for documents.

Every method is async and does its blocking work (LanceDB, the embedder) in a worker
thread, so it can be awaited from the event loop. Every method takes the owner explicitly;
nothing returns another owner's data.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.catalog import DocumentCatalog, DocumentRecord, DocumentStatus, InMemoryCatalog
from knowledge.documents import Passage
from knowledge.embedder import Embedder
from knowledge.ingest import (
    Chunker,
    IngestDone,
    IngestEvent,
    IngestFailed,
    IngestOptions,
    IngestPipeline,
    Parser,
    Source,
)
from knowledge.search import DEFAULT_WEIGHTS, FusionWeights, Searcher, SearchMode
from knowledge.store import KnowledgeStore, StoreOptions, check_owner

INTERRUPTED = (
    "Ingestion was interrupted (the server stopped while this file was being processed); "
    "upload it again."
)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `KnowledgeBase.recover()` cleaned up."""

    staged_rows: int
    """Chunks of interrupted ingestions removed from staging."""
    documents: int
    """Catalog records moved from queued/processing: to failed, or to ready when the store
    had committed the whole document before the stop."""


class KnowledgeBase:
    """Ingest, search, list, read and delete one owner's documents."""

    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        catalog: DocumentCatalog | None = None,
        *,
        parser: Parser | None = None,
        chunker: Chunker | None = None,
        ingest_options: IngestOptions | None = None,
        weights: FusionWeights = DEFAULT_WEIGHTS,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.catalog: DocumentCatalog = catalog if catalog is not None else InMemoryCatalog()
        self.searcher = Searcher(store, embedder, weights)
        self.pipeline = IngestPipeline(
            store,
            embedder,
            self.catalog,
            parser=parser,
            chunker=chunker,
            options=ingest_options,
        )

    @classmethod
    async def open(
        cls,
        uri: str | Path,
        embedder: Embedder,
        catalog: DocumentCatalog | None = None,
        *,
        store_options: StoreOptions | None = None,
        parser: Parser | None = None,
        chunker: Chunker | None = None,
        ingest_options: IngestOptions | None = None,
        weights: FusionWeights = DEFAULT_WEIGHTS,
    ) -> KnowledgeBase:
        """Open the store at `uri` (a folder or `s3://...`) and clean up interrupted work.

        Call it once at start-up, before any ingestion runs: `recover()` treats every
        unfinished ingestion as dead.
        """
        store = await asyncio.to_thread(KnowledgeStore.for_embedder, uri, embedder, store_options)
        base = cls(
            store,
            embedder,
            catalog,
            parser=parser,
            chunker=chunker,
            ingest_options=ingest_options,
            weights=weights,
        )
        await base.recover()
        return base

    async def recover(self) -> Recovery:
        """Remove staged rows of interrupted ingestions and fail their catalog records."""
        staged = await asyncio.to_thread(self.store.recover)
        stuck = await self.catalog.unfinished()
        for record in stuck:
            owner, document_id = record.owner, record.document_id
            if await asyncio.to_thread(self.store.has_document, owner, document_id):
                # Killed between the store's commit and the catalog's "ready": the passages
                # are all there and searchable, so the record says so too.
                count = len(await asyncio.to_thread(self.store.read_document, owner, document_id))
                await self.catalog.put(
                    record.moved_to(DocumentStatus.READY, chunks=count, reason=None, code=None)
                )
                continue
            await self.catalog.put(
                record.moved_to(DocumentStatus.FAILED, reason=INTERRUPTED, code="interrupted")
            )
        return Recovery(staged, len(stuck))

    def ingest(self, sources: Sequence[Source], owner: str) -> AsyncIterator[IngestEvent]:
        """Ingest files for `owner`, yielding progress and one outcome event per file."""
        return self.pipeline.run(sources, owner)

    async def ingest_all(
        self,
        sources: Sequence[Source],
        owner: str,
        on_event: Callable[[IngestEvent], None] | None = None,
    ) -> list[IngestDone | IngestFailed]:
        """Ingest and return each file's outcome in order (`on_event` sees every event)."""
        return await self.pipeline.ingest(sources, owner, on_event)

    async def search(
        self,
        query: str,
        owner: str,
        k: int = 8,
        mode: SearchMode = "hybrid",
        documents: Sequence[str] | None = None,
    ) -> list[Passage]:
        """The owner's `k` best passages for `query`, best first; only `documents` if given."""
        return await asyncio.to_thread(self.searcher.search, query, owner, k, mode, documents)

    async def list_documents(self, owner: str) -> list[DocumentRecord]:
        """The owner's documents with their status (ready, failed with why, ...), newest first.

        Documents the store holds but the catalog does not know (an in-memory catalog after a
        restart, a store filled by another process) are listed as ready, after the others.
        """
        check_owner(owner)
        records = await self.catalog.list_documents(owner)
        known = {record.document_id for record in records}
        stored = await asyncio.to_thread(self.store.documents, owner)
        return records + [
            DocumentRecord(
                owner,
                document.document_id,
                document.name,
                DocumentStatus.READY,
                pages=document.pages,
                chunks=document.chunks,
            )
            for document in stored
            if document.document_id not in known
        ]

    async def read_document(self, owner: str, document_id: str) -> list[Passage]:
        """All chunks of one document in order (for summaries and lists across all of it)."""
        return await asyncio.to_thread(self.store.read_document, owner, document_id)

    async def reindex(self, embedder: Embedder) -> KnowledgeBase:
        """Re-embed every stored chunk with `embedder`; returns the base to use from now on.

        Run it with no ingestion in progress (staged work is discarded first).
        """
        store = await asyncio.to_thread(self.store.reindex, embedder)
        return KnowledgeBase(
            store,
            embedder,
            self.catalog,
            parser=self.pipeline._parser,
            chunker=self.pipeline._chunker,
            ingest_options=self.pipeline.options,
            weights=self.searcher.weights,
        )

    async def delete_document(self, owner: str, document_id: str) -> bool:
        """Delete a document and its passages (an e-mail's attachments too); whether the
        owner had it."""
        attached = await asyncio.to_thread(self.store.attachments_of, owner, document_id)
        for attachment in attached:
            await self.delete_document(owner, attachment)
        removed = await asyncio.to_thread(self.store.delete_document, owner, document_id)
        recorded = await self.catalog.remove(owner, document_id)
        return bool(removed) or recorded
