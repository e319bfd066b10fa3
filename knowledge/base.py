"""`KnowledgeBase`: the one object the app and the Researcher use for documents.

Every method is async and does its blocking work (LanceDB, the embedder) in a worker
thread, so it can be awaited from the event loop. Every method takes the owner explicitly;
nothing returns another owner's data.
"""

from __future__ import annotations

import asyncio
import time
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
from knowledge.leases import LeaseOptions, Leases, expired_before, is_live
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
    running: int = 0
    """Records left alone: a live process (this one or another) is still reading them."""


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
        lease_options: LeaseOptions | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.catalog: DocumentCatalog = catalog if catalog is not None else InMemoryCatalog()
        self.searcher = Searcher(store, embedder, weights)
        self.leases = Leases(self.catalog, lease_options)
        self.pipeline = IngestPipeline(
            store,
            embedder,
            self.catalog,
            parser=parser,
            chunker=chunker,
            options=ingest_options,
            leases=self.leases,
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
        lease_options: LeaseOptions | None = None,
    ) -> KnowledgeBase:
        """Open the store at `uri` (a folder or `s3://...`), clean up interrupted work, and
        keep doing so in the background until `close()`.

        Other processes may share the store and the catalog, and may be ingesting: only
        ingestions whose process stopped are cleaned up (`recover`).
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
            lease_options=lease_options,
        )
        await base.recover()
        # A process that dies later, or whose lease is still running now, is settled by the
        # sweep at a later renewal (or by whichever process sweeps first).
        base.leases.keep_sweeping(base.recover)
        return base

    async def close(self) -> None:
        """Stop renewing leases and sweeping; ingestions still running here are settled by
        another process (or the next start) once their lease runs out."""
        await self.pipeline.close()
        await self.leases.close()

    async def recover(self) -> Recovery:
        """Settle the records of ingestions that no process runs any more and remove their
        staged rows; leave every live ingestion, of this process or another, alone.

        A record is settled when its lease ran out (see `knowledge.leases`): failed as
        interrupted, or ready when the store holds the whole document. Staged rows go when
        no waiting record names their ingestion, or its record was just settled.
        """
        # The staged ids are read BEFORE the records: rows staged after this read are not
        # touched, and an ingestion with rows here wrote its record before them, so the
        # records read next name it if it is live.
        staged = await asyncio.to_thread(self.store.staged_ingestions)
        now = time.time()
        kept: set[str] = set()
        settled = running = 0
        for record in await self.catalog.unfinished():
            if is_live(record, now):
                running += 1
            elif await self._settle(record, now):
                settled += 1
                continue
            if record.ingestion_id is not None:
                kept.add(record.ingestion_id)  # live, or settled meanwhile by another process
        dead = [ingestion_id for ingestion_id in staged if ingestion_id not in kept]
        removed = await asyncio.to_thread(self.store.remove_staged, dead) if dead else 0
        return Recovery(removed, settled, running)

    async def _settle(self, record: DocumentRecord, now: float) -> bool:
        owner, document_id = record.owner, record.document_id
        bound = expired_before(record, now)
        if await asyncio.to_thread(self.store.has_document, owner, document_id):
            # Killed between the store's commit and the catalog's "ready": the passages
            # are all there and searchable, so the record says so too.
            count = len(await asyncio.to_thread(self.store.read_document, owner, document_id))
            ready = record.moved_to(DocumentStatus.READY, chunks=count, reason=None, code=None)
            return await self.catalog.settle(ready, bound)
        failed = record.moved_to(DocumentStatus.FAILED, reason=INTERRUPTED, code="interrupted")
        return await self.catalog.settle(failed, bound)

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
            lease_options=self.leases.options,
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
