"""Every person's tasks, across threads: the queries behind `/tasks`, `/api/tasks` and the
background runner (a `SqlTaskStore` serves one turn; this serves the board)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select

from agents.tasks import Origin, Priority, Task, TaskStatus
from app.db.domain import TaskRecord
from app.db.models import Thread
from app.db.sessions import Sessions
from app.db.stores import SqlTaskStore, task_of

__all__ = ["FiledTask", "TaskBoard", "TaskFilter"]

MAX_LIST = 500
"""The most tasks one listing returns (newest first)."""


@dataclass(frozen=True, slots=True)
class FiledTask:
    """A task with where it is filed: whose it is and the thread its result goes to."""

    task: Task
    user_id: str
    thread_id: str | None


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What a listing keeps; `None` keeps everything."""

    user_id: str | None = None
    statuses: Sequence[TaskStatus] | None = None
    priority: Priority | None = None
    operator: str | None = None
    origin: Origin | None = None
    created_after: float | None = None
    created_before: float | None = None
    limit: int = MAX_LIST


class TaskBoard:
    """Reads and writes task records of any user and thread."""

    def __init__(self, sessions: Sessions) -> None:
        self._layer = sessions

    async def save(self, filed: FiledTask) -> None:
        """Insert or replace the record (its thread row is created if needed)."""
        store = SqlTaskStore(self._layer, thread_id=filed.thread_id, user_id=filed.user_id)
        await store.save(filed.task)

    async def get(self, task_id: str, user_id: str | None = None) -> FiledTask | None:
        """The task with this id; with `user_id`, only if it is that user's."""
        if not task_id or "\x00" in task_id:
            return None
        query = select(TaskRecord).where(TaskRecord.id == task_id)
        if user_id is not None:
            query = query.where(TaskRecord.user_id == user_id)
        async with self._layer.reading() as session:
            row = await session.scalar(query)
        return None if row is None else _filed(row)

    async def list(self, where: TaskFilter) -> list[FiledTask]:
        """Tasks that match `where`, newest first."""
        conditions: list[ColumnElement[bool]] = []
        if where.user_id is not None:
            conditions.append(TaskRecord.user_id == where.user_id)
        if where.statuses is not None:
            conditions.append(TaskRecord.status.in_(list(where.statuses)))
        if where.priority is not None:
            conditions.append(TaskRecord.priority == where.priority)
        if where.operator is not None:
            conditions.append(TaskRecord.operator == where.operator)
        if where.origin is not None:
            conditions.append(TaskRecord.origin == where.origin)
        if where.created_after is not None:
            conditions.append(TaskRecord.created_at >= where.created_after)
        if where.created_before is not None:
            conditions.append(TaskRecord.created_at < where.created_before)
        query = (
            select(TaskRecord)
            .where(*conditions)
            .order_by(TaskRecord.created_at.desc(), TaskRecord.id)
            .limit(max(1, min(where.limit, MAX_LIST)))
        )
        async with self._layer.reading() as session:
            return [_filed(row) for row in await session.scalars(query)]

    async def thread_owner(self, thread_id: str) -> str | None:
        """The users.id owning the thread; `None` when it does not exist (or has no owner)."""
        async with self._layer.reading() as session:
            return await session.scalar(select(Thread.user_id).where(Thread.id == thread_id))


def _filed(row: TaskRecord) -> FiledTask:
    return FiledTask(task_of(row), row.user_id or "", row.thread_id)
