"""Leases on ingestions, within one process and one catalog: the sweep that runs while a base
is open settles another process's record only once its lease has run out, and an ingestion
whose claim was taken from it stops before its commit, writing nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from knowledge.base import INTERRUPTED, KnowledgeBase, Recovery
from knowledge.catalog import DocumentRecord, DocumentStatus, InMemoryCatalog
from knowledge.chunking import chunk_document
from knowledge.documents import Chunk
from knowledge.embedder import HashEmbedder, Vectors
from knowledge.ingest import IngestFailed, IngestOptions, IngestProgress
from knowledge.leases import LeaseOptions, new_ingestion_id
from tests.knowledge.retrieval_helpers import paged_text, upload

PAGES = [
    "Orchard log. The quince trees were pruned in February by the head gardener.",
    "Cellar log. The cider batch rests in oak barrels until the first of June.",
    "Market log. The stall sells pressed apple juice on Saturday mornings.",
]
ELSEWHERE = "another-host:4242:0badcafe"
"""A process that is not this one."""


async def open_base(folder: Path, catalog: InMemoryCatalog, lease: LeaseOptions) -> KnowledgeBase:
    return await KnowledgeBase.open(
        folder,
        HashEmbedder(64),
        catalog,
        parser=paged_text,
        chunker=lambda document, count: chunk_document(document, count),
        ingest_options=IngestOptions(batch_size=1),
        lease_options=lease,
    )


async def test_the_sweep_settles_another_process_s_file_once_its_lease_runs_out(
    tmp_path: Path,
) -> None:
    embedder = HashEmbedder(64)
    catalog = InMemoryCatalog()
    base = await open_base(tmp_path, catalog, LeaseOptions(lease_s=1.0, renew_s=0.1))
    try:
        # Another process has staged two chunks of a file under a claim that runs out soon.
        ingestion = new_ingestion_id()
        await catalog.put(
            DocumentRecord(
                "alice",
                "d1",
                "half.pdf",
                DocumentStatus.PROCESSING,
                ingestion_id=ingestion,
                lease_holder=ELSEWHERE,
                lease_until=time.time() + 5.0,
            )
        )
        texts = ["quince trees pruned", "cider batch barrels"]
        chunks = [Chunk(text=t, index=i, page=i + 1) for i, t in enumerate(texts)]
        base.store.stage("alice", "d1", "half.pdf", ingestion).add(chunks, embedder.embed(texts))
        # Within the lease: its record and its rows are left alone.
        assert await base.recover() == Recovery(0, 0, running=1)
        assert base.store.staged_count() == 2

        # Past it, the sweep of the open base (no restart) settles it.
        record = None
        for _ in range(1200):
            record = await catalog.get("alice", "d1")
            assert record is not None
            if record.status is not DocumentStatus.PROCESSING and not base.store.staged_count():
                break
            await asyncio.sleep(0.05)
        assert record is not None
        assert (record.status, record.code, record.reason) == (
            DocumentStatus.FAILED,
            "interrupted",
            INTERRUPTED,
        )
        assert record.ingestion_id is None
        assert record.lease_until is None
        assert base.store.staged_count() == 0
    finally:
        await base.close()


class HeldEmbedder(HashEmbedder):
    """Holds its second batch until `go` is set (the first is staged by then)."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls = 0
        self.holding = threading.Event()
        self.go = threading.Event()

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        if self.calls == 2:
            self.holding.set()
            self.go.wait(timeout=120)
        return super().embed(texts)


async def test_an_ingestion_whose_claim_was_taken_stops_before_its_commit(
    tmp_path: Path,
) -> None:
    catalog = InMemoryCatalog()
    embedder = HeldEmbedder()
    base = await KnowledgeBase.open(
        tmp_path,
        embedder,
        catalog,
        parser=paged_text,
        ingest_options=IngestOptions(batch_size=1),
        lease_options=LeaseOptions(lease_s=5.0, renew_s=0.1),
    )
    try:
        outcome = asyncio.create_task(base.ingest_all([upload("log.pdf", *PAGES)], "alice"))
        await asyncio.to_thread(embedder.holding.wait, 120)
        [record] = await catalog.list_documents("alice")
        assert record.status is DocumentStatus.PROCESSING
        # Another process decided this one was gone, and settled the file.
        given_up = record.moved_to(DocumentStatus.FAILED, reason=INTERRUPTED, code="interrupted")
        assert await catalog.settle(given_up, None)
        embedder.go.set()

        [failed] = await outcome
        assert isinstance(failed, IngestFailed)
        assert failed.code == "taken_over"
        # Nothing of it committed or left staged, and the other process's verdict stands.
        assert base.store.count() == 0
        assert base.store.staged_count() == 0
        [record] = await catalog.list_documents("alice")
        assert (record.status, record.code) == (DocumentStatus.FAILED, "interrupted")
    finally:
        embedder.go.set()
        await base.close()


async def test_a_finished_record_holds_no_claim(tmp_path: Path) -> None:
    base = await open_base(tmp_path, InMemoryCatalog(), LeaseOptions())
    try:
        events = [e async for e in base.ingest([upload("log.pdf", *PAGES)], "alice")]
        queued = [e for e in events if isinstance(e, IngestProgress) and e.stage == "queued"]
        assert len(queued) == 1
        [record] = await base.catalog.list_documents("alice")
        assert record.status is DocumentStatus.READY
        assert record.ingestion_id is None
        assert record.lease_holder is None
    finally:
        await base.close()
