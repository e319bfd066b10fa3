"""The database-backed `TaskStore` (agents) and `DocumentCatalog` (knowledge).

Both take their sessions from a `Sessions` (in the server, the Chainlit data layer's), so
their writes follow its SQLite discipline (the write lock taken at BEGIN) and need no
locks of their own. Saves are single upserts, safe to run concurrently on either backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agents.models.base import Usage
from agents.tasks import Task
from app.db.base import Base
from app.db.domain import DOCUMENT_STATUSES, TASK_PRIORITIES, TASK_STATUSES, DocumentRow, TaskRecord
from app.db.errors import PersistenceError
from app.db.models import Thread
from app.db.sessions import Sessions
from app.db.types import utcnow
from knowledge.catalog import DocumentRecord, DocumentStatus

__all__ = [
    "SqlDocumentCatalog",
    "SqlTaskStore",
    "ensure_thread",
    "task_of",
    "task_values",
    "upsert",
]

# Every other Task field has a column of the same name; usage is split in two.
_TASK_FIELDS = tuple(f.name for f in fields(Task) if f.name not in ("id", "usage"))
_FINISHED = (DocumentStatus.READY.value, DocumentStatus.FAILED.value)
_WAITING = (DocumentStatus.QUEUED.value, DocumentStatus.PROCESSING.value)


class SqlTaskStore:
    """An `agents.tasks.TaskStore` on the `tasks` table.

    `thread_id` and `user_id` tie every saved task to a conversation (its tasks go when it
    is deleted) and a person; with `user_id` set, reads only see that user's tasks.
    """

    def __init__(
        self,
        sessions: Sessions,
        *,
        thread_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self._layer = sessions
        self.thread_id = thread_id
        self.user_id = user_id

    async def save(self, task: Task, held: Mapping[str, Any] | None = None) -> None:
        """Insert or replace the record with `task.id`; `held` names the background runner
        that holds it (`runner`, `lease_until`), written in the same statement."""
        if task.status not in TASK_STATUSES or task.priority not in TASK_PRIORITIES:
            raise PersistenceError(
                f"task {task.id}: status {task.status!r} / priority {task.priority!r} unknown; "
                f"use one of {TASK_STATUSES} / {TASK_PRIORITIES}"
            )
        values = {**task_values(task), **(held or {})}
        insert = upsert(self._layer, TaskRecord).values(
            id=task.id, thread_id=self.thread_id, user_id=self.user_id, **values
        )
        try:
            async with self._layer.writing() as session:
                if self.thread_id is not None:
                    await ensure_thread(session, self._layer, self.thread_id, self.user_id)
                await session.execute(
                    insert.on_conflict_do_update(index_elements=["id"], set_=values)
                )
        except IntegrityError as exc:
            raise PersistenceError(
                f"cannot save task {task.id}: user {self.user_id!r} does not exist; "
                "pass SqlTaskStore the users.id of an existing user (or None)"
            ) from exc

    async def get(self, task_id: str) -> Task | None:
        """The record with this id, if any (and if it is this store's user's)."""
        if not _usable(task_id):
            return None
        async with self._layer.reading() as session:
            row = await session.scalar(
                select(TaskRecord).where(TaskRecord.id == task_id, *self._mine())
            )
        return None if row is None else task_of(row)

    async def for_turn(self, turn_id: str) -> list[Task]:
        """The tasks of one user turn, oldest first."""
        if not _usable(turn_id):
            return []
        query = (
            select(TaskRecord)
            .where(TaskRecord.turn_id == turn_id, *self._mine())
            .order_by(TaskRecord.created_at, TaskRecord.id)
        )
        async with self._layer.reading() as session:
            return [task_of(row) for row in await session.scalars(query)]

    def _mine(self) -> list[ColumnElement[bool]]:
        return [] if self.user_id is None else [TaskRecord.user_id == self.user_id]


class SqlDocumentCatalog:
    """A `knowledge.catalog.DocumentCatalog` on the `documents` table.

    A record's `owner` is the owner's `users.id` (the user must exist) and its
    `document_id` the content hash; the pair is unique, so `put` updates in place.
    """

    def __init__(self, sessions: Sessions) -> None:
        self._layer = sessions

    async def put(self, record: DocumentRecord) -> None:
        """Insert or replace the record keyed by (owner, document_id)."""
        await self._insert(record, overwrite=True)

    async def add(self, record: DocumentRecord) -> bool:
        """Insert the record unless the owner has one for that document; whether inserted."""
        return await self._insert(record, overwrite=False)

    async def _insert(self, record: DocumentRecord, *, overwrite: bool) -> bool:
        status = str(record.status)
        if status not in DOCUMENT_STATUSES or not (
            _usable(record.owner) and _usable(record.document_id)
        ):
            raise PersistenceError(
                f"document {record.name!r} not saved: status must be one of {DOCUMENT_STATUSES} "
                f"(not {status!r}), owner and document_id non-empty text without NUL"
            )
        now = utcnow()
        updated = record.updated_at or now
        values = {
            "name": _clean(record.name),
            "status": status,
            "size_bytes": record.size_bytes,
            "kind": record.kind,
            "pages": record.pages,
            "chunks": record.chunks,
            "reason": _clean(record.reason),
            "error_code": record.code,
            "updated_at": updated,
            "finished_at": updated if status in _FINISHED else None,
            **_lease(record),
        }
        insert = upsert(self._layer, DocumentRow).values(
            id=str(uuid.uuid4()),
            owner_id=record.owner,
            content_hash=record.document_id,
            created_at=record.created_at or now,
            **values,
        )
        if record.created_at is not None:  # else the first put's time stays
            values["created_at"] = record.created_at
        keys = ["owner_id", "content_hash"]
        written = (
            insert.on_conflict_do_update(index_elements=keys, set_=values)
            if overwrite
            else insert.on_conflict_do_nothing(index_elements=keys)
        ).returning(DocumentRow.id)
        try:
            async with self._layer.writing() as session:
                return bool((await session.scalars(written)).all())
        except IntegrityError as exc:
            raise PersistenceError(
                f"cannot record document {record.name!r}: owner {record.owner!r} is not the "
                "users.id of an existing user; create the user first"
            ) from exc

    async def get(self, owner: str, document_id: str) -> DocumentRecord | None:
        """The owner's record, or `None`."""
        if not (_usable(owner) and _usable(document_id)):
            return None
        async with self._layer.reading() as session:
            row = await session.scalar(
                select(DocumentRow).where(
                    DocumentRow.owner_id == owner, DocumentRow.content_hash == document_id
                )
            )
        return None if row is None else _document(row)

    async def list_documents(self, owner: str) -> list[DocumentRecord]:
        """The owner's records, newest first."""
        if not _usable(owner):
            return []
        query = (
            select(DocumentRow)
            .where(DocumentRow.owner_id == owner)
            .order_by(DocumentRow.created_at.desc(), DocumentRow.content_hash)
        )
        async with self._layer.reading() as session:
            return [_document(row) for row in await session.scalars(query)]

    async def remove(self, owner: str, document_id: str) -> bool:
        """Delete the record; whether there was one."""
        if not (_usable(owner) and _usable(document_id)):
            return False
        async with self._layer.writing() as session:
            gone = await session.scalars(
                delete(DocumentRow)
                .where(DocumentRow.owner_id == owner, DocumentRow.content_hash == document_id)
                .returning(DocumentRow.id)
            )
            return bool(gone.all())

    async def unfinished(self) -> list[DocumentRecord]:
        """Records of every owner still `queued` or `processing`, oldest first."""
        query = (
            select(DocumentRow)
            .where(DocumentRow.status.in_(_WAITING))
            .order_by(DocumentRow.created_at, DocumentRow.id)
        )
        async with self._layer.reading() as session:
            return [_document(row) for row in await session.scalars(query)]

    async def renew(self, ingestion_ids: Sequence[str], until: float) -> set[str]:
        """Extend the leases of these ingestions to `until`; the ids whose record still
        waits under them."""
        ids = [i for i in ingestion_ids if _usable(i)]
        if not ids:
            return set()
        mine = (DocumentRow.ingestion_id.in_(ids), DocumentRow.status.in_(_WAITING))
        async with self._layer.writing() as session:
            await session.execute(update(DocumentRow).where(*mine).values(lease_until=until))
            return set(await session.scalars(select(DocumentRow.ingestion_id).where(*mine)))

    async def settle(self, record: DocumentRecord, expired_before: float | None) -> bool:
        """Write `record` (ready or failed) over the waiting record of its ingestion if that
        record's lease ended before `expired_before` (or it has none); whether written."""
        status = str(record.status)
        if status not in _FINISHED:
            raise PersistenceError(f"settle writes a finished record, not {status!r}")
        conditions: list[ColumnElement[bool]] = [
            DocumentRow.owner_id == record.owner,
            DocumentRow.content_hash == record.document_id,
            DocumentRow.status.in_(_WAITING),
            DocumentRow.ingestion_id.is_(None)
            if record.ingestion_id is None
            else DocumentRow.ingestion_id == record.ingestion_id,
        ]
        if expired_before is not None:
            conditions.append(
                or_(DocumentRow.lease_until.is_(None), DocumentRow.lease_until < expired_before)
            )
        now = utcnow()
        query = (
            update(DocumentRow)
            .where(*conditions)
            .values(
                status=status,
                chunks=record.chunks,
                reason=_clean(record.reason),
                error_code=record.code,
                updated_at=now,
                finished_at=now,
                ingestion_id=None,
                lease_holder=None,
                lease_until=None,
            )
        )
        async with self._layer.writing() as session:
            result = await session.execute(query)
        return bool(getattr(result, "rowcount", 0))


def _lease(record: DocumentRecord) -> dict[str, Any]:
    """The lease columns: the holder's while the record waits, none once it is finished."""
    if str(record.status) in _FINISHED:
        return {"ingestion_id": None, "lease_holder": None, "lease_until": None}
    return {
        "ingestion_id": record.ingestion_id,
        "lease_holder": record.lease_holder,
        "lease_until": record.lease_until,
    }


def task_values(task: Task) -> dict[str, Any]:
    """The columns of `task`'s record (all but its id and the keys that tie it to a thread,
    a user or a runner)."""
    values = {name: _clean(getattr(task, name)) for name in _TASK_FIELDS}
    values.update(input_tokens=task.usage.input_tokens, output_tokens=task.usage.output_tokens)
    return values


def task_of(row: TaskRecord) -> Task:
    """The `Task` a record holds."""
    columns = {name: getattr(row, name) for name in _TASK_FIELDS}
    return Task(id=row.id, **columns, usage=Usage(row.input_tokens, row.output_tokens))


def _document(row: DocumentRow) -> DocumentRecord:
    return DocumentRecord(
        owner=row.owner_id,
        document_id=row.content_hash,
        name=row.name,
        status=DocumentStatus(row.status),
        size_bytes=row.size_bytes or 0,
        kind=row.kind,
        pages=row.pages,
        chunks=row.chunks or 0,
        reason=row.reason,
        code=row.error_code,
        created_at=row.created_at,
        updated_at=row.updated_at,
        ingestion_id=row.ingestion_id,
        lease_holder=row.lease_holder,
        lease_until=row.lease_until,
    )


async def ensure_thread(
    session: AsyncSession, layer: Sessions, thread_id: str, user_id: str | None
) -> None:
    """Create the thread row if it is not there yet (inside `session`'s transaction).

    Chainlit writes a thread's row lazily, after the first steps; records that refer to
    the thread (tasks, usage) may come first.
    """
    await session.execute(
        upsert(layer, Thread)
        .values(id=thread_id, user_id=user_id, metadata={})
        .on_conflict_do_nothing(index_elements=["id"])
    )


def upsert(layer: Sessions, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT in the dialect of `layer`, for its ON CONFLICT clause (same SQL on both)."""
    if layer.engine.dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def _usable(key: str) -> bool:
    # Keys may come from a model's tool call; PostgreSQL rejects NUL in text outright.
    return bool(key) and "\x00" not in key


def _clean(value: Any) -> Any:
    # Names and model output may hold NUL, which PostgreSQL cannot store; SQLite could.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value
