"""Status records of uploaded documents: queued, processing, ready, or failed with a reason."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol


class DocumentStatus(StrEnum):
    """Where a document is in its life."""

    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """One user's document as the catalog tracks it."""

    owner: str
    document_id: str
    """Derived from the content (sha-256), so the same file has the same id."""
    name: str
    status: DocumentStatus
    size_bytes: int = 0
    kind: str | None = None
    """Detected format once parsed (`pdf`, `docx`, ...)."""
    pages: int | None = None
    chunks: int = 0
    reason: str | None = None
    """For `failed`: the sentence to show the user."""
    code: str | None = None
    """For `failed`: a stable short reason (`encrypted`, `too_large`, ...)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ingestion_id: str | None = None
    """While queued or processing: the ingestion reading it (its staged chunks carry the id)."""
    lease_holder: str | None = None
    """While queued or processing: the process running that ingestion (`leases.process_name`)."""
    lease_until: float | None = None
    """Unix seconds until which the holder's claim holds unless renewed; after it, any process
    may settle the record as interrupted (see `knowledge.leases`)."""

    @property
    def finished(self) -> bool:
        """Ready or failed: no ingestion holds it any more."""
        return self.status in (DocumentStatus.READY, DocumentStatus.FAILED)

    def moved_to(self, status: DocumentStatus, **changes: object) -> DocumentRecord:
        """A copy in a new status, stamped now."""
        return replace(self, status=status, updated_at=utcnow(), **changes)  # type: ignore[arg-type]


class DocumentCatalog(Protocol):
    """Where document records live; the app implements it on its SQL database."""

    async def put(self, record: DocumentRecord) -> None:
        """Insert or replace the record keyed by (owner, document_id)."""
        ...

    async def add(self, record: DocumentRecord) -> bool:
        """Insert the record unless the owner already has one for that document; whether
        it was inserted. One conditional write: a record written meanwhile (a new upload of
        the same file) stands."""
        ...

    async def get(self, owner: str, document_id: str) -> DocumentRecord | None:
        """The owner's record, or `None`."""
        ...

    async def list_documents(self, owner: str) -> list[DocumentRecord]:
        """The owner's records, newest first."""
        ...

    async def remove(self, owner: str, document_id: str) -> bool:
        """Delete the record; whether there was one."""
        ...

    async def unfinished(self) -> list[DocumentRecord]:
        """Records of every owner still `queued` or `processing` (for recovery at start-up)."""
        ...

    async def renew(self, ingestion_ids: Sequence[str], until: float) -> set[str]:
        """Extend the leases of these ingestions to `until`; returns the ids whose record still
        waits under them (the others were settled by another process, or taken over by a
        new upload of the same file)."""
        ...

    async def settle(self, record: DocumentRecord, expired_before: float | None) -> bool:
        """Write `record` (ready or failed) over the waiting record of `record.ingestion_id`,
        only if that record's lease ended before `expired_before` or it has none (`None`:
        whatever its lease); whether it was written. One conditional write, so two processes
        recovering at once cannot both settle it, nor one settle a live ingestion."""
        ...


class InMemoryCatalog:
    """A `DocumentCatalog` in a dict: for tests, the CLI, and single-process use."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], DocumentRecord] = {}
        self._lock = asyncio.Lock()

    async def put(self, record: DocumentRecord) -> None:
        """Insert or replace the record."""
        async with self._lock:
            self._write(record)

    async def add(self, record: DocumentRecord) -> bool:
        """Insert the record unless there is one already; whether inserted."""
        async with self._lock:
            if (record.owner, record.document_id) in self._records:
                return False
            self._write(record)
            return True

    def _write(self, record: DocumentRecord) -> None:
        previous = self._records.get((record.owner, record.document_id))
        created = record.created_at or (previous.created_at if previous else None) or utcnow()
        if record.finished:  # nothing holds a finished record
            record = replace(record, ingestion_id=None, lease_holder=None, lease_until=None)
        self._records[(record.owner, record.document_id)] = replace(
            record, created_at=created, updated_at=record.updated_at or utcnow()
        )

    async def get(self, owner: str, document_id: str) -> DocumentRecord | None:
        """The owner's record, or `None`."""
        return self._records.get((owner, document_id))

    async def list_documents(self, owner: str) -> list[DocumentRecord]:
        """The owner's records, newest first."""
        mine = [r for (o, _), r in self._records.items() if o == owner]
        return sorted(mine, key=lambda r: r.created_at or utcnow(), reverse=True)

    async def remove(self, owner: str, document_id: str) -> bool:
        """Delete the record; whether there was one."""
        async with self._lock:
            return self._records.pop((owner, document_id), None) is not None

    async def unfinished(self) -> list[DocumentRecord]:
        """Records still queued or processing."""
        return [r for r in self._records.values() if not r.finished]

    async def renew(self, ingestion_ids: Sequence[str], until: float) -> set[str]:
        """Extend the leases of these ingestions; the ids still held."""
        wanted = set(ingestion_ids)
        async with self._lock:
            held: set[str] = set()
            for key, record in self._records.items():
                if record.ingestion_id in wanted and not record.finished:
                    self._records[key] = replace(record, lease_until=until)
                    held.add(record.ingestion_id)
            return held

    async def settle(self, record: DocumentRecord, expired_before: float | None) -> bool:
        """Write `record` over its ingestion's waiting record if that one's lease ran out."""
        async with self._lock:
            stored = self._records.get((record.owner, record.document_id))
            if stored is None or stored.finished or stored.ingestion_id != record.ingestion_id:
                return False
            lease = stored.lease_until
            if expired_before is not None and lease is not None and lease >= expired_before:
                return False
            self._records[(record.owner, record.document_id)] = replace(
                record,
                created_at=stored.created_at,
                updated_at=record.updated_at or utcnow(),
                ingestion_id=None,
                lease_holder=None,
                lease_until=None,
            )
            return True
