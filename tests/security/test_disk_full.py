"""The server's disk fills up while a document is being ingested: the person is told so in a
sentence ("The server's disk is full ... nothing of it was saved"), no passage of the file is
kept or half-visible, the documents read before stay searchable, and once space is freed the
same file is read normally.

The disk is a real one: a small tmpfs mounted for the test (root can; CI runs as root), filled
with a plain file. Three cases: the document index (LanceDB) is on the full disk; the
SQLite database is (the catalog cannot record "ready" after the passages were committed, nor
"failed"; that record is written once space is freed, or settled at the next start); and a
PostgreSQL cluster's data directory is.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from email.message import EmailMessage
from pathlib import Path

import chainlit as cl
import pytest

from app.db import make_engine, migrate
from app.db.chainlit_data.layer import CadreDataLayer
from app.db.chainlit_data.storage import LocalStorageClient
from app.db.stores import SqlDocumentCatalog
from knowledge.base import KnowledgeBase
from knowledge.catalog import DocumentCatalog, DocumentRecord, DocumentStatus
from knowledge.embedder import HashEmbedder
from knowledge.ingest import IngestDone, IngestFailed, Upload
from tests.conftest import STRICT
from tests.db.pg import cluster_on, create_database
from tests.knowledge.retrieval_helpers import ingest_ok, open_base, paged_text, upload
from tests.support.disks import fill, small_disk

EARLIER = upload("orchard.pdf", "# Orchard\nThe quince trees are pruned in February.")


def _report(name: str, pages: int) -> Upload:
    """A document of many distinct passages: its vectors need far more than the room left."""
    return upload(
        name,
        *(
            f"# Ledger page {n}\n"
            + " ".join(
                f"Row {n}-{r}: barrel {r * n % 97} holds cider batch {n + r}." for r in range(60)
            )
            for n in range(pages)
        ),
    )


def _assert_disk_full(outcome: IngestDone | IngestFailed, name: str) -> None:
    assert isinstance(outcome, IngestFailed), outcome
    assert outcome.code == "disk_full"
    assert outcome.reason.startswith("The server's disk is full"), outcome.reason
    assert name in outcome.reason
    assert "nothing of it was saved" in outcome.reason
    assert "upload it again" in outcome.reason


async def test_a_full_index_disk_fails_the_file_clearly_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", "16m") as disk:
        base = await open_base(disk / "knowledge", batch_size=16)
        await ingest_ok(base, "alice", EARLIER)
        filler = fill(disk, leave=64 * 1024)

        report = _report("ledger.pdf", 200)
        [outcome] = await base.ingest_all([report], "alice")
        _assert_disk_full(outcome, "ledger.pdf")

        # Nothing of it visible: not searchable, listed as failed with why. (Its staged
        # rows could not even be deleted on the full disk; they are removed once it can.)
        assert not base.store.has_document("alice", outcome.document_id)
        assert not await base.search("cider batch barrel", "alice", k=5, mode="text")
        listed = {r.name: r for r in await base.list_documents("alice")}
        assert listed["ledger.pdf"].status is DocumentStatus.FAILED
        assert listed["ledger.pdf"].code == "disk_full"
        # What was read before is intact and searchable.
        assert listed["orchard.pdf"].status is DocumentStatus.READY
        [hit] = await base.search("quince pruned", "alice", k=1, mode="text")
        assert hit.document_name == "orchard.pdf"

        # Space is freed; the same file goes in and is found.
        filler.unlink()
        [done] = await ingest_ok(base, "alice", report)
        assert done.document_id == outcome.document_id
        assert base.store.staged_count() == 0
        hits = await base.search("cider batch barrel", "alice", k=5, mode="text")
        assert {h.document_name for h in hits} == {"ledger.pdf"}
        # A restart finds nothing to clean up.
        reopened = await open_base(disk / "knowledge")
        assert (await reopened.recover()).staged_rows == 0


class _DiskFillsAtReady:
    """The real SQL catalog; the moment the pipeline records "ready" (for a record whose
    name contains `name`), the disk under the database fills up (the worst moment: the
    passages are already committed)."""

    def __init__(self, catalog: SqlDocumentCatalog, disk: Path, name: str = "") -> None:
        self.catalog = catalog
        self.disk = disk
        self.name = name
        self.filler: Path | None = None

    async def put(self, record: DocumentRecord) -> None:
        ready = record.status is DocumentStatus.READY and self.name in record.name
        if ready and self.filler is None:
            self.filler = fill(self.disk, leave=0)
        await self.catalog.put(record)

    async def add(self, record: DocumentRecord) -> bool:
        return await self.catalog.add(record)

    async def get(self, owner: str, document_id: str) -> DocumentRecord | None:
        return await self.catalog.get(owner, document_id)

    async def list_documents(self, owner: str) -> list[DocumentRecord]:
        return await self.catalog.list_documents(owner)

    async def remove(self, owner: str, document_id: str) -> bool:
        return await self.catalog.remove(owner, document_id)

    async def unfinished(self) -> list[DocumentRecord]:
        return await self.catalog.unfinished()

    async def renew(self, ingestion_ids: Sequence[str], until: float) -> set[str]:
        return await self.catalog.renew(ingestion_ids, until)

    async def settle(self, record: DocumentRecord, expired_before: float | None) -> bool:
        return await self.catalog.settle(record, expired_before)


async def test_a_full_database_disk_leaves_no_ready_record_without_passages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "test-secret-for-the-disk-full-test-0123456789")
    with small_disk(tmp_path / "db-disk", "4m") as disk:
        async with _full_at_ready(disk, tmp_path) as (base, catalog, alice, filling, outcome):
            # The passages committed just before were taken back out: nothing searchable
            # that is not listed ready, and no "ready" record without its passages.
            assert not base.store.has_document(alice, outcome.document_id)
            assert not await base.search("cider batch barrel", alice, k=5, mode="text")
            record = await catalog.get(alice, outcome.document_id)
            assert record is not None
            assert record.status is not DocumentStatus.READY
            [hit] = await base.search("quince pruned", alice, k=1, mode="text")
            assert hit.document_name == "orchard.pdf"

            # Space is freed: without a restart the record says failed, and why.
            filling.unlink()
            record = await _settled(catalog, alice, outcome.document_id)
            assert record.status is DocumentStatus.FAILED
            assert record.code == "disk_full"
            assert record.reason == outcome.reason
            [listed] = [r for r in await base.list_documents(alice) if r.name == "ledger.pdf"]
            assert (listed.status, listed.code) == (DocumentStatus.FAILED, "disk_full")

            # The same file goes in again.
            [done] = await ingest_ok(base, alice, _report("ledger.pdf", 20))
            record = await catalog.get(alice, done.document_id)
            assert record is not None
            assert record.status is DocumentStatus.READY
            assert record.chunks == done.chunks
            assert base.store.has_document(alice, done.document_id)


async def test_an_attachment_the_full_disk_stops_fails_alone_and_its_reason_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The message is read and ready; the disk fills as its attachment is recorded ready.
    # Before: the failure escaped to the message, the attachment's passages stayed searchable
    # under a record left "processing", and a sweep later called it "interrupted".
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "test-secret-for-the-disk-full-test-0123456789")
    message = EmailMessage()
    message["From"], message["To"] = "Ana <ana@harbour.example>", "priya@harbour.example"
    message["Subject"] = "Cider ledger"
    message.set_content("The cider ledger for March is attached.")
    ledger = "batch,barrel,litres\n" + "".join(f"{n},{n % 97},{n * 3}\n" for n in range(400))
    message.add_attachment(ledger.encode(), maintype="text", subtype="csv", filename="ledger.csv")
    mail = tmp_path / "march.eml"
    mail.write_bytes(message.as_bytes())
    with small_disk(tmp_path / "db-disk", "4m") as disk:
        url = f"sqlite+aiosqlite:///{disk / 'cadre.db'}"
        await migrate(url)
        layer = CadreDataLayer(make_engine(url), LocalStorageClient(tmp_path / "files"))
        alice = str((await layer.create_user(cl.User(identifier="alice"))).id)  # type: ignore[union-attr]
        catalog = SqlDocumentCatalog(layer)
        filling = _DiskFillsAtReady(catalog, disk, name="ledger.csv")
        base = await KnowledgeBase.open(tmp_path / "knowledge", HashEmbedder(64), filling)
        try:
            [outcome] = await base.ingest_all([mail], alice)

            assert isinstance(outcome, IngestDone), outcome
            [attachment] = outcome.attachments
            assert isinstance(attachment, IngestFailed), attachment
            _assert_disk_full(attachment, "march.eml › ledger.csv")
            # Nothing of the attachment is searchable; the message is.
            assert not base.store.has_document(alice, attachment.document_id)
            [hit] = await base.search("cider ledger March", alice, k=1, mode="text")
            assert hit.document_name == "march.eml"

            assert filling.filler is not None
            filling.filler.unlink()
            record = await _settled(catalog, alice, attachment.document_id)
            assert (record.status, record.code) == (DocumentStatus.FAILED, "disk_full")
            assert record.reason == attachment.reason
            message_record = await catalog.get(alice, outcome.document_id)
            assert message_record is not None
            assert message_record.status is DocumentStatus.READY
        finally:
            await base.close()
            await layer.close()


async def test_a_failure_still_unrecorded_at_shutdown_is_settled_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "test-secret-for-the-disk-full-test-0123456789")
    with small_disk(tmp_path / "db-disk", "4m") as disk:
        async with _full_at_ready(disk, tmp_path) as (base, catalog, alice, filling, outcome):
            # The server stops while the disk is still full: it stops trying to record the
            # failure, and nothing of it keeps running.
            await base.close()
            assert not [t for t in asyncio.all_tasks() if "record-failure" in t.get_name()]
            record = await catalog.get(alice, outcome.document_id)
            assert record is not None
            assert record.status is DocumentStatus.PROCESSING

            # Space is freed; the next start settles the record (as interrupted, the reason
            # being lost with the process) and the same file goes in again.
            filling.unlink()
            restarted = await _base(tmp_path / "knowledge", catalog)
            record = await catalog.get(alice, outcome.document_id)
            assert record is not None
            assert (record.status, record.code) == (DocumentStatus.FAILED, "interrupted")
            [done] = await ingest_ok(restarted, alice, _report("ledger.pdf", 20))
            record = await catalog.get(alice, done.document_id)
            assert record is not None
            assert record.status is DocumentStatus.READY
            await restarted.close()


@contextlib.asynccontextmanager
async def _full_at_ready(
    disk: Path, tmp_path: Path
) -> AsyncIterator[tuple[KnowledgeBase, SqlDocumentCatalog, str, Path, IngestFailed]]:
    """`orchard.pdf` read; then `ledger.pdf` failed by the disk under the SQLite database
    filling at its "ready" record (the failed record is refused too). Yields the base that
    read it, the catalog, the owner, the filler and the ledger's outcome."""
    url = f"sqlite+aiosqlite:///{disk / 'cadre.db'}"
    await migrate(url)
    layer = CadreDataLayer(make_engine(url), LocalStorageClient(tmp_path / "files"))
    try:
        alice = str((await layer.create_user(cl.User(identifier="alice"))).id)  # type: ignore[union-attr]
        catalog = SqlDocumentCatalog(layer)
        filling = _DiskFillsAtReady(catalog, disk)
        index = tmp_path / "knowledge"
        earlier = await _base(index, catalog)
        await ingest_ok(earlier, alice, EARLIER)
        await earlier.close()
        base = await _base(index, filling)
        [outcome] = await base.ingest_all([_report("ledger.pdf", 20)], alice)
        assert filling.filler is not None, "the pipeline never recorded ready"
        _assert_disk_full(outcome, "ledger.pdf")
        assert isinstance(outcome, IngestFailed)
        try:
            yield base, catalog, alice, filling.filler, outcome
        finally:
            await base.close()
    finally:
        await layer.close()


async def _settled(catalog: DocumentCatalog, owner: str, document_id: str) -> DocumentRecord:
    """The record once it is written and no ingestion waits on it any more (polled)."""
    record = None
    for _ in range(600):
        record = await catalog.get(owner, document_id)
        if record is not None and record.finished:
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"the record of {document_id} still waits: {record}")


async def _base(index: Path, catalog: DocumentCatalog) -> KnowledgeBase:
    return await KnowledgeBase.open(index, HashEmbedder(64), catalog, parser=paged_text)


async def test_a_full_postgresql_disk_fails_the_files_clearly_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL with its data directory (WAL included) on a 64 MB tmpfs, the index
    elsewhere: the disk fills before a batch of uploads."""
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "test-secret-for-the-disk-full-test-0123456789")
    # Not under tmp_path: PostgreSQL runs as its own user, who cannot enter pytest's folders.
    with (
        tempfile.TemporaryDirectory(prefix="cadre-pg-disk-") as mount,
        small_disk(Path(mount), "64m") as disk,
        cluster_on(disk) as server,
    ):
        if isinstance(server, str):
            pytest.fail(server) if STRICT else pytest.skip(server)
        url = await create_database(server.user, server.port, server.host)
        await migrate(url)
        layer = CadreDataLayer(make_engine(url), LocalStorageClient(tmp_path / "files"))
        try:
            alice = str((await layer.create_user(cl.User(identifier="alice"))).id)  # type: ignore[union-attr]
            catalog = SqlDocumentCatalog(layer)
            base = await _base(tmp_path / "knowledge", catalog)
            [orchard] = await ingest_ok(base, alice, EARLIER)
            filler = fill(disk, leave=0)

            ledgers = [
                upload(f"ledger{n}.pdf", f"# Ledger {n}\nRow {n}: barrel {n} holds cider.")
                for n in range(40)
            ]
            outcomes = await base.ingest_all(ledgers, alice)
            failed = [o for o in outcomes if isinstance(o, IngestFailed)]
            assert failed, "the full disk refused nothing"
            for outcome in failed:  # every refusal says why in a sentence
                _assert_disk_full(outcome, outcome.document)
            await _consistent(base, catalog, alice)

            # Space is freed: without a restart every refused file is listed failed with
            # the reason it was given (also those whose first record was refused); nothing
            # of it is searchable; what was read before is intact.
            filler.unlink()
            await _none_waiting(catalog)
            for outcome in failed:
                record = await _settled(catalog, alice, outcome.document_id)
                assert (record.status, record.code, record.reason) == (
                    DocumentStatus.FAILED,
                    "disk_full",
                    outcome.reason,
                ), record
            records = {r.document_id: r for r in await catalog.list_documents(alice)}
            await _consistent(base, catalog, alice)
            assert records[orchard.document_id].status is DocumentStatus.READY
            [hit] = await base.search("quince pruned", alice, k=1, mode="text")
            assert hit.document_name == "orchard.pdf"

            # The same files go in now.
            again = await ingest_ok(base, alice, *ledgers[:3])
            assert [d.document_id for d in again] == [o.document_id for o in outcomes[:3]]
            await _consistent(base, catalog, alice)
            await base.close()
        finally:
            await layer.close()


async def _consistent(base: KnowledgeBase, catalog: DocumentCatalog, owner: str) -> None:
    """Every document with passages is listed ready with their count, and every ready record
    has its passages: nothing half-saved."""
    records = {r.document_id: r for r in await catalog.list_documents(owner)}
    stored = {d.document_id: d.chunks for d in base.store.documents(owner)}
    ready = {i: r.chunks for i, r in records.items() if r.status is DocumentStatus.READY}
    assert ready == stored, (ready, stored)


async def _none_waiting(catalog: DocumentCatalog) -> None:
    """Polls until no record is queued or processing any more."""
    for _ in range(600):
        if not await catalog.unfinished():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still waiting: {await catalog.unfinished()}")
