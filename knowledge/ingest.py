"""The ingestion pipeline: parse (in a sandbox) -> chunk -> embed in batches -> store.

`IngestPipeline.run()` takes several files at once and yields events as each advances:
`IngestProgress` (stage, pages done, chunks embedded of the total), then exactly one
`IngestDone` or `IngestFailed` per file. Files are independent: one that fails (or is a
duplicate) never stops the others. Parsing runs in a worker process with limits (up to
`parse_concurrency` at a time); embedding, the CPU-heavy part, runs one file at a time in a
worker thread so the event loop stays free. A document becomes searchable only when all of
its chunks are stored (see `knowledge.store`).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from knowledge.catalog import DocumentCatalog, DocumentRecord, DocumentStatus, InMemoryCatalog
from knowledge.chunking import visible_name
from knowledge.documents import HIDDEN_IN_NAME, Attachment, Chunk, ParsedDocument
from knowledge.embedder import Embedder
from knowledge.errors import DiskFull, EmptyDocument, FileTooLarge, KnowledgeError, is_disk_full
from knowledge.leases import LeaseLostError, Leases, new_ingestion_id
from knowledge.parsing.limits import ParseLimits
from knowledge.store import KnowledgeStore, StagedDocument, check_owner

_log = logging.getLogger(__name__)

_LINKED = ("from", "date", "subject", "thread")
"""Headers of a message that its attachments' passages carry too."""

PageProgress = Callable[[int, int], None]
"""Called with (pages done, pages in all) while a file is parsed."""

Parser = Callable[[Path, str, PageProgress], Awaitable[ParsedDocument]]
"""Turns a file (path, display name) into a document, reporting pages; raises
`KnowledgeError` subclasses for files it cannot read."""

Chunker = Callable[[ParsedDocument, Callable[[str], int]], list[Chunk]]
"""Splits a document into chunks, measuring text with the embedder's token counter."""

_T = TypeVar("_T")

Stage = Literal["queued", "parsing", "chunking", "embedding", "storing"]


@dataclass(frozen=True, slots=True)
class Upload:
    """A file given as bytes (an upload) rather than a path on disk."""

    name: str
    data: bytes


Source = Path | Upload
"""What can be ingested: a file on disk, or uploaded bytes with their file name."""


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """A file moved on: which stage, how many pages read, how many chunks embedded."""

    document: str
    """The file's display name."""
    stage: Stage
    pages_done: int = 0
    chunks_embedded: int = 0
    total: int = 0
    """Chunks in the document (0 until it is chunked)."""
    document_id: str = ""
    pages: int | None = None
    """Pages in the document, for paged formats, once parsed."""
    kind: Literal["progress"] = "progress"


@dataclass(frozen=True, slots=True)
class IngestDone:
    """The file is searchable (or was already: `duplicate`)."""

    document: str
    document_id: str
    chunks: int
    pages: int | None = None
    duplicate: bool = False
    attachments: tuple[IngestDone | IngestFailed, ...] = ()
    """An e-mail's attachments, each stored as a document of its own (named
    `message.eml › file.pdf`), or refused with its reason."""
    kind: Literal["done"] = "done"


@dataclass(frozen=True, slots=True)
class IngestFailed:
    """The file could not be ingested; `reason` is the sentence to show the user."""

    document: str
    reason: str
    code: str = "error"
    document_id: str = ""
    kind: Literal["failed"] = "failed"


IngestEvent = IngestProgress | IngestDone | IngestFailed


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Sizes and concurrency of the pipeline."""

    batch_size: int = 64
    """Chunks embedded (and staged) per step; also how often progress is reported."""
    parse_concurrency: int = 2
    """Files parsed at the same time (each in its own worker process)."""
    limits: ParseLimits = field(default_factory=ParseLimits)
    record_failure_s: float = 3600.0
    """How long to keep trying, in the background, to record that a file failed when the
    catalog refused the record (its disk full, its server gone). Until then the record stays
    this process's; after it, the lease sweep settles it as interrupted."""
    record_failure_max_wait_s: float = 10.0
    """The longest pause between two of those tries."""


def default_parser(limits: ParseLimits) -> Parser:
    """Parse in the sandboxed worker processes of `knowledge.sandbox`."""
    from knowledge.sandbox import parse_in_sandbox_async

    async def parse(path: Path, name: str, progress: PageProgress) -> ParsedDocument:
        return await parse_in_sandbox_async(path, name=name, limits=limits, progress=progress)

    return parse


def default_chunker() -> Chunker:
    """Structure-aware token chunking of `knowledge.chunking`."""
    from knowledge.chunking import chunk_document

    def chunk(document: ParsedDocument, count_tokens: Callable[[str], int]) -> list[Chunk]:
        return list(chunk_document(document, count_tokens))

    return chunk


def content_id(data: bytes) -> str:
    """A document id from its bytes: the same file always gets the same id."""
    return hashlib.sha256(data).hexdigest()[:32]


class IngestPipeline:
    """Turns files into searchable chunks of one owner, reporting progress as events."""

    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        catalog: DocumentCatalog | None = None,
        *,
        parser: Parser | None = None,
        chunker: Chunker | None = None,
        options: IngestOptions | None = None,
        leases: Leases | None = None,
    ) -> None:
        if embedder.id != store.embedder_id:
            raise ValueError(
                f"the pipeline's embedder {embedder.id!r} is not the store's {store.embedder_id!r}"
            )
        self.store = store
        self.embedder = embedder
        self.catalog: DocumentCatalog = catalog if catalog is not None else InMemoryCatalog()
        self.options = options or IngestOptions()
        self.leases = leases or Leases(self.catalog)
        """The claims on this pipeline's ingestions (see `knowledge.leases`)."""
        self._parser = parser
        self._chunker = chunker
        self._parse_slots = asyncio.Semaphore(self.options.parse_concurrency)
        # One file embeds at a time: the model already uses every core, and interleaving
        # two files would only delay both.
        self._embed_lock = asyncio.Lock()
        self._unremoved: list[StagedDocument] = []
        """Staged documents whose clean-up failed (a full disk), retried at each ingestion."""
        self._recording: set[asyncio.Task[None]] = set()
        """Failures the catalog refused to record, being retried (`_record_failure_later`)."""

    async def close(self) -> None:
        """Stop retrying the failures not yet recorded: their records, left waiting, are
        settled as interrupted by the next sweep or start (see `knowledge.leases`)."""
        tasks, self._recording = self._recording, set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, sources: Sequence[Source], owner: str) -> AsyncIterator[IngestEvent]:
        """Ingest `sources` for `owner`, yielding events; ends after each file's last event."""
        check_owner(owner)
        queue: asyncio.Queue[IngestEvent | None] = asyncio.Queue()
        jobs = [await self._enqueue(source, owner, queue) for source in sources]
        tasks = [asyncio.create_task(self._ingest(job, queue)) for job in jobs]
        remaining = len(tasks)
        try:
            while remaining:
                event = await queue.get()
                if event is None:
                    remaining -= 1
                    continue
                yield event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def ingest(
        self,
        sources: Sequence[Source],
        owner: str,
        on_event: Callable[[IngestEvent], None] | None = None,
    ) -> list[IngestDone | IngestFailed]:
        """Ingest and return each file's outcome, in the order of `sources`."""
        outcomes: dict[int, IngestDone | IngestFailed] = {}
        names: list[str] = [_name_of(s) for s in sources]
        async for event in self.run(sources, owner):
            if on_event is not None:
                on_event(event)
            if not isinstance(event, IngestProgress):
                # Names can repeat; give each outcome to the first file of that name without one.
                slot = next(
                    i for i, n in enumerate(names) if n == event.document and i not in outcomes
                )
                outcomes[slot] = event
        return [outcomes[i] for i in range(len(sources))]

    async def _enqueue(
        self, source: Source, owner: str, queue: asyncio.Queue[IngestEvent | None]
    ) -> _Job:
        name = _name_of(source)
        job = _Job(source=source, owner=owner, name=name, ingestion_id=new_ingestion_id())
        job.stored_name, job.hidden_in_name = visible_name(name)
        try:
            job.size = source.stat().st_size if isinstance(source, Path) else len(source.data)
        except OSError as error:
            job.error = KnowledgeError(
                f"{job.stored_name} could not be opened ({error.strerror}).", name=job.stored_name
            )
            job.document_id = f"rejected-{uuid.uuid4().hex[:20]}"
            return job
        limit = self.options.limits.max_file_bytes
        if job.size > limit:
            # Refused from its size alone: not a byte of it is read.
            job.error = FileTooLarge(job.stored_name, job.size, limit)
            job.document_id = f"rejected-{uuid.uuid4().hex[:20]}"
        else:
            data = (
                source.data
                if isinstance(source, Upload)
                else await asyncio.to_thread(source.read_bytes)
            )
            job.document_id = content_id(data)
        try:
            await self.catalog.put(
                DocumentRecord(
                    owner,
                    job.document_id,
                    job.stored_name,
                    DocumentStatus.QUEUED,
                    size_bytes=job.size,
                    **self.leases.claim(job.ingestion_id),  # type: ignore[arg-type]
                )
            )
        except Exception as error:
            self.leases.release(job.ingestion_id)
            if not is_disk_full(error):
                raise
            _log.error("recording %s failed: the disk is full", name, exc_info=error)
            job.error = DiskFull(job.stored_name)
        else:
            self.leases.hold(job.ingestion_id)
            job.recorded = True
        await queue.put(IngestProgress(name, "queued", document_id=job.document_id))
        return job

    async def _ingest(self, job: _Job, queue: asyncio.Queue[IngestEvent | None]) -> None:
        staged: StagedDocument | None = None
        try:
            if job.error is not None:
                raise job.error
            await self._remove_leftovers()
            if await asyncio.to_thread(self.store.has_document, job.owner, job.document_id):
                await self._finish_duplicate(job, queue)
                return
            await self._mark(job, DocumentStatus.PROCESSING)
            document = await self._parse(job, queue)
            await queue.put(self._progress(job, "chunking", document))
            chunks = _flag_name(await asyncio.to_thread(self._chunk, document), job.hidden_in_name)
            if not chunks:
                raise EmptyDocument(job.stored_name)
            staged = self.store.stage(job.owner, job.document_id, job.stored_name, job.ingestion_id)
            await self._embed(job, document, chunks, staged, queue)
            await queue.put(self._progress(job, "storing", document, len(chunks), len(chunks)))
            # Renewed just now, the claim holds well past the commit: no other process can
            # settle the record (and remove the staged rows) while the rows are copied.
            if not await self.leases.confirm(job.ingestion_id):
                raise LeaseLostError(job.stored_name)
            added = await _settled(staged.commit)
            staged = None
            if added == 0:
                await self._finish_duplicate(job, queue)
                return
            ready = self._mark(
                job,
                DocumentStatus.READY,
                kind=document.kind,
                pages=document.page_count,
                chunks=added,
            )
            await self._or_taken_back(ready, job.owner, job.document_id)
            attachments = tuple(
                [await self._attachment(job, document, item) for item in document.attachments]
            )
            await queue.put(
                IngestDone(
                    job.name, job.document_id, added, document.page_count, attachments=attachments
                )
            )
        except LeaseLostError as error:
            await self._given_up(job, str(error), queue)
        except KnowledgeError as error:
            await self._fail(job, str(error), error.code, queue)
        except asyncio.CancelledError:
            await self._fail(
                job,
                f"Ingesting {job.stored_name} was cancelled; upload it again.",
                "cancelled",
                None,
            )
            raise
        except Exception as error:
            # An unexpected fault in one file must not stop the others.
            await self._fail(job, *_failure(job, error), queue)
        finally:
            if staged is not None:
                await self._abort(staged, job.name)
            if not job.failure_pending:  # else released once the failure is recorded
                self.leases.release(job.ingestion_id)
            await queue.put(None)

    async def _parse(self, job: _Job, queue: asyncio.Queue[IngestEvent | None]) -> ParsedDocument:
        parser = self._parser or default_parser(self.options.limits)

        def pages_read(done: int, total: int) -> None:
            event = IngestProgress(
                job.name, "parsing", pages_done=done, document_id=job.document_id, pages=total
            )
            queue.put_nowait(event)

        async with self._parse_slots:
            await queue.put(IngestProgress(job.name, "parsing", document_id=job.document_id))
            if isinstance(job.source, Path):
                return await parser(job.source, job.stored_name, pages_read)
            with tempfile.TemporaryDirectory(prefix="cadre-upload-") as folder:
                # The sandbox reads a path; the display name never becomes part of it.
                path = Path(folder) / "upload"
                await asyncio.to_thread(path.write_bytes, job.source.data)
                return await parser(path, job.stored_name, pages_read)

    def _chunk(self, document: ParsedDocument) -> list[Chunk]:
        chunker = self._chunker or default_chunker()
        return chunker(document, self.embedder.count_tokens)

    async def _embed(
        self,
        job: _Job,
        document: ParsedDocument,
        chunks: list[Chunk],
        staged: StagedDocument,
        queue: asyncio.Queue[IngestEvent | None],
    ) -> None:
        size = self.options.batch_size
        # Batches of similar length waste little compute on padding (the model pads every
        # text of a batch to the longest); chunk_index keeps the reading order regardless.
        ordered = sorted(chunks, key=lambda chunk: len(chunk.text))
        async with self._embed_lock:
            await queue.put(self._progress(job, "embedding", document, 0, len(chunks)))
            for start in range(0, len(ordered), size):
                if self.leases.lost(job.ingestion_id):
                    raise LeaseLostError(job.stored_name)
                batch = ordered[start : start + size]
                await _settled(self._embed_and_stage, batch, staged)
                done = start + len(batch)
                await queue.put(self._progress(job, "embedding", document, done, len(chunks)))

    async def _attachment(
        self, job: _Job, message: ParsedDocument, item: Attachment
    ) -> IngestDone | IngestFailed:
        """Store one attachment as its own document, linked to its message. A failure fails
        the attachment alone (its message stays ready), recorded as any file's is."""
        item_name, _ = visible_name(item.name)
        attached = _Job(
            job.source,
            job.owner,
            f"{job.name} › {item.name}",
            document_id=item.document_id,
            ingestion_id=new_ingestion_id(),
            stored_name=f"{job.stored_name} › {item_name}",
        )
        record = DocumentRecord(
            attached.owner,
            attached.document_id,
            attached.stored_name,
            DocumentStatus.PROCESSING,
            **self.leases.claim(attached.ingestion_id),  # type: ignore[arg-type]
        )
        try:
            try:
                if item.document is None:  # the message's parser could not read it
                    reason = item.reason or f"{item.name} could not be read."
                    code = item.code or "error"
                else:
                    return await self._store_attachment(job, message, item, record, attached)
            except LeaseLostError as error:
                return IngestFailed(attached.name, str(error), error.code, attached.document_id)
            except KnowledgeError as error:
                reason, code = str(error), error.code
            except Exception as error:
                reason, code = _failure(attached, error)
            await self._fail(attached, reason, code, None)
            return IngestFailed(attached.name, reason, code, attached.document_id)
        finally:
            if not attached.failure_pending:  # else released once the failure is recorded
                self.leases.release(attached.ingestion_id)

    async def _store_attachment(
        self,
        job: _Job,
        message: ParsedDocument,
        item: Attachment,
        record: DocumentRecord,
        attached: _Job,
    ) -> IngestDone:
        name = attached.name
        _, hidden_in_item_name = visible_name(item.name)
        owner, document_id = record.owner, record.document_id
        if await asyncio.to_thread(self.store.has_document, owner, document_id):
            count = len(await asyncio.to_thread(self.store.read_document, owner, document_id))
            if await self.catalog.get(owner, document_id) is None:
                await self.catalog.put(record.moved_to(DocumentStatus.READY, chunks=count))
            return IngestDone(name, document_id, count, duplicate=True)
        document = item.document
        assert document is not None
        # Every passage of the attachment names its message: sender, date, thread.
        link = {key: value for key, value in message.metadata.items() if key in _LINKED}
        link["attached_to"] = job.document_id
        chunks = [
            replace(chunk, meta={**link, **chunk.meta})
            for chunk in _flag_name(
                await asyncio.to_thread(self._chunk, document),
                job.hidden_in_name + hidden_in_item_name,
            )
        ]
        if not chunks:
            raise EmptyDocument(item.name)
        record = replace(record, lease_until=self.leases.until())
        await self.catalog.put(record)
        attached.recorded = True
        assert record.ingestion_id is not None
        self.leases.hold(record.ingestion_id)
        staged: StagedDocument | None = self.store.stage(
            owner, document_id, record.name, record.ingestion_id
        )
        try:
            assert staged is not None
            size = self.options.batch_size
            async with self._embed_lock:
                for start in range(0, len(chunks), size):
                    await _settled(self._embed_and_stage, chunks[start : start + size], staged)
            if not await self.leases.confirm(record.ingestion_id):
                raise LeaseLostError(record.name)
            added = await _settled(staged.commit)
            staged = None
        finally:
            if staged is not None:
                await self._abort(staged, name)
        ready = record.moved_to(
            DocumentStatus.READY, kind=document.kind, pages=document.page_count, chunks=added
        )
        await self._or_taken_back(self.catalog.put(ready), owner, document_id)
        return IngestDone(name, document_id, added, document.page_count, duplicate=added == 0)

    async def _or_taken_back(self, ready: Awaitable[None], owner: str, document_id: str) -> None:
        """Record a committed document as ready; if the catalog cannot (its disk is full, its
        server gone), take the passages back out, so nothing is searchable that the list
        does not show."""
        try:
            await ready
        except Exception:
            await asyncio.shield(asyncio.to_thread(self.store.delete_document, owner, document_id))
            raise

    async def _abort(self, staged: StagedDocument, name: str) -> None:
        """Drop a document's staged rows. If even that fails (the disk is full), keep trying
        at each later ingestion; the rows are invisible to every search meanwhile, and the
        next start's `recover()` removes them in any case."""
        try:
            await asyncio.shield(asyncio.to_thread(staged.abort))
        except Exception:
            _log.exception("could not remove the staged rows of %s yet", name)
            self._unremoved.append(staged)

    async def _remove_leftovers(self) -> None:
        leftovers, self._unremoved = self._unremoved, []
        for staged in leftovers:
            await self._abort(staged, staged.name)

    def _embed_and_stage(self, batch: list[Chunk], staged: StagedDocument) -> None:
        staged.add(batch, self.embedder.embed([chunk.text for chunk in batch]))

    @staticmethod
    def _progress(
        job: _Job, stage: Stage, document: ParsedDocument, embedded: int = 0, total: int = 0
    ) -> IngestProgress:
        # Past parsing every page has been read; the embedding's own progress is in chunks.
        pages = document.page_count
        pages_done = pages or 0
        return IngestProgress(
            job.name, stage, pages_done, embedded, total, document_id=job.document_id, pages=pages
        )

    async def _finish_duplicate(self, job: _Job, queue: asyncio.Queue[IngestEvent | None]) -> None:
        existing = await self.catalog.get(job.owner, job.document_id)
        chunks = len(await asyncio.to_thread(self.store.read_document, job.owner, job.document_id))
        if existing is None or existing.status is not DocumentStatus.READY:
            record = existing or DocumentRecord(
                job.owner, job.document_id, job.stored_name, DocumentStatus.READY
            )
            await self.catalog.put(
                record.moved_to(DocumentStatus.READY, chunks=chunks, reason=None, code=None)
            )
        pages = existing.pages if existing else None
        await queue.put(IngestDone(job.name, job.document_id, chunks, pages, duplicate=True))

    async def _mark(self, job: _Job, status: DocumentStatus, **changes: object) -> None:
        record = await self.catalog.get(job.owner, job.document_id) or DocumentRecord(
            job.owner, job.document_id, job.stored_name, status, size_bytes=job.size
        )
        if status in (DocumentStatus.QUEUED, DocumentStatus.PROCESSING):
            changes = {**self.leases.claim(job.ingestion_id), **changes}
        await self.catalog.put(record.moved_to(status, **changes))

    async def _fail(
        self, job: _Job, reason: str, code: str, queue: asyncio.Queue[IngestEvent | None] | None
    ) -> None:
        # The same file may have been committed by a concurrent upload of it: a ready
        # document is never marked failed because a second copy of it stopped.
        if not job.document_id.startswith("rejected-") and await asyncio.to_thread(
            self.store.has_document, job.owner, job.document_id
        ):
            if queue is not None:
                await self._finish_duplicate(job, queue)
            return
        try:
            await asyncio.shield(self._settle_failed(job, reason, code))
        except Exception:
            # The catalog may be what failed (a full disk): the person still hears why now,
            # and the list says it too once the catalog takes writes again.
            _log.exception("could not record that %s failed; trying again", job.name)
            self._record_failure_later(job, reason, code)
        if queue is not None:
            await queue.put(IngestFailed(job.name, reason, code, job.document_id))

    def _record_failure_later(self, job: _Job, reason: str, code: str) -> None:
        """Keep trying to record the failure in the background. Meanwhile this process still
        holds the claim (renewed, and `is_live` for every sweep), so no sweep settles the
        record as interrupted over the real reason."""
        job.failure_pending = True
        # A fresh context: the task outlives the request that failed.
        task = asyncio.get_running_loop().create_task(
            self._keep_recording_failure(job, reason, code),
            name=f"cadre-record-failure-{job.ingestion_id}",
            context=contextvars.Context(),
        )
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _keep_recording_failure(self, job: _Job, reason: str, code: str) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),  # never a cancellation
            wait=wait_random_exponential(
                multiplier=0.5, max=self.options.record_failure_max_wait_s
            ),
            stop=stop_after_delay(self.options.record_failure_s),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    # A record of this ingestion that is gone now was deleted: not re-created.
                    await self._settle_failed(job, reason, code, create=not job.recorded)
            _log.info("recorded that %s failed (%s)", job.name, code)
        except Exception:
            _log.exception(
                "gave up recording that %s failed; it will be settled as interrupted", job.name
            )
        finally:
            self.leases.release(job.ingestion_id)

    async def _settle_failed(
        self, job: _Job, reason: str, code: str, *, create: bool = True
    ) -> None:
        """Record the failure over this ingestion's own record only: when another process
        holds the record now (a new upload of the same file), its state stands. A missing
        record is added (never over one written meanwhile) only when `create`."""
        record = await self.catalog.get(job.owner, job.document_id)
        if record is None:
            if not create:
                return
            record = DocumentRecord(
                job.owner,
                job.document_id,
                job.stored_name,
                DocumentStatus.FAILED,
                size_bytes=job.size,
                reason=reason,
                code=code,
            )
            await self.catalog.add(record)
            return
        failed = record.moved_to(
            DocumentStatus.FAILED, reason=reason, code=code, ingestion_id=job.ingestion_id
        )
        await self.catalog.settle(failed, None)

    async def _given_up(
        self, job: _Job, reason: str, queue: asyncio.Queue[IngestEvent | None]
    ) -> None:
        """The claim was lost: tell the caller, and leave the record to whoever holds it."""
        if await asyncio.to_thread(self.store.has_document, job.owner, job.document_id):
            await self._finish_duplicate(job, queue)
            return
        await queue.put(IngestFailed(job.name, reason, LeaseLostError.code, job.document_id))


@dataclass(slots=True)
class _Job:
    source: Source
    owner: str
    name: str
    """As the caller gave it: progress and outcomes carry this name back."""
    size: int = 0
    document_id: str = ""
    error: KnowledgeError | None = None
    ingestion_id: str = ""
    """Names this ingestion's claim on the record and its staged rows (`knowledge.leases`)."""
    stored_name: str = ""
    """The name stored and cited, without invisible characters (`visible_name`)."""
    hidden_in_name: int = 0
    recorded: bool = False
    """Its record was written, held by this ingestion."""
    failure_pending: bool = False
    """Its failure is being recorded in the background, which releases the claim."""


async def _settled(work: Callable[..., _T], *args: object) -> _T:
    """Run `work` in a thread; if cancelled meanwhile, let it finish before re-raising.

    A thread cannot be stopped: without this, a batch still being embedded when the user
    cancels would be staged after the clean-up had already run.
    """
    future = asyncio.ensure_future(asyncio.to_thread(work, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _failure(job: _Job, error: Exception) -> tuple[str, str]:
    """The sentence and code for an unexpected `error` while ingesting `job` (logged)."""
    if is_disk_full(error):
        # Not the file's fault and not a bug: say what the person (or an admin) can do.
        _log.error("ingesting %s failed: the disk is full", job.name, exc_info=error)
        return str(DiskFull(job.stored_name)), DiskFull.code
    _log.error("ingesting %s failed", job.name, exc_info=error)
    reason = (
        f"{job.stored_name} could not be ingested because of an internal error "
        f"({type(error).__name__}); try again, and report it if it persists."
    )
    return reason, "internal"


def _flag_name(chunks: list[Chunk], hidden: int) -> list[Chunk]:
    """`chunks`, each saying how many hidden characters its file's name lost (when any)."""
    if not hidden:
        return chunks
    return [replace(chunk, meta={**chunk.meta, HIDDEN_IN_NAME: str(hidden)}) for chunk in chunks]


def _name_of(source: Source) -> str:
    return source.name if isinstance(source, Upload) else Path(source).name
