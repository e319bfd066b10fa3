"""Every person's tasks, across threads: the queries behind `/tasks`, `/api/tasks` and the
background runner (a `SqlTaskStore` serves one turn; this serves the board).

Several server processes may share the database, so a requested task that waits or runs is
*held* by one process under a `Lease` that the process renews while it lives. Every change
of hands is one conditional UPDATE: two processes that try to take the same task, or to fail
the same abandoned one, cannot both succeed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Update, or_, select, update

from agents.tasks import Origin, Priority, Task, TaskStatus
from app.db.domain import TaskRecord
from app.db.models import Thread
from app.db.sessions import Sessions
from app.db.stores import SqlTaskStore, task_of, task_values

__all__ = ["FiledTask", "Lease", "TaskBoard", "TaskFilter"]

MAX_LIST = 500
"""The most tasks one listing returns (newest first)."""
_LIVE = ("pending", "running")


@dataclass(frozen=True, slots=True)
class FiledTask:
    """A task with where it is filed: whose it is and the thread its result goes to."""

    task: Task
    user_id: str
    thread_id: str | None


@dataclass(frozen=True, slots=True)
class Lease:
    """One server process's hold on the tasks it runs: who holds them, and until when."""

    holder: str
    """The process (host, pid and a random part: unique per start)."""
    until: float
    """Unix seconds; past it, other processes treat the holder as gone."""


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

    async def save(self, filed: FiledTask, lease: Lease | None = None) -> None:
        """Insert or replace the record (its thread row is created if needed); with `lease`,
        held by its holder from the moment it exists."""
        store = SqlTaskStore(self._layer, thread_id=filed.thread_id, user_id=filed.user_id)
        held = None if lease is None else {"runner": lease.holder, "lease_until": lease.until}
        await store.save(filed.task, held)

    async def save_held(self, filed: FiledTask, holder: str) -> bool:
        """Write the task's new state if `holder` still holds it and it is not over (nobody
        cancelled it or failed it as abandoned meanwhile); whether it was written."""
        query = (
            update(TaskRecord)
            .where(
                TaskRecord.id == filed.task.id,
                TaskRecord.runner == holder,
                TaskRecord.status.in_(_LIVE),
            )
            .values(**task_values(filed.task))
        )
        return await self._changed(query)

    async def claim(self, task_id: str, lease: Lease) -> bool:
        """Take a pending task nobody holds (or whose holder's lease ran out); whether taken."""
        query = (
            update(TaskRecord)
            .where(
                TaskRecord.id == task_id,
                TaskRecord.status == "pending",
                _unheld(time.time()),
            )
            .values(runner=lease.holder, lease_until=lease.until)
        )
        return await self._changed(query)

    async def renew(self, lease: Lease, task_ids: Sequence[str]) -> set[str]:
        """Extend the hold on `task_ids`; those still held and not over (the rest were
        cancelled, or taken over after the holder was thought gone)."""
        if not task_ids:
            return set()
        mine = (
            TaskRecord.id.in_(list(task_ids)),
            TaskRecord.runner == lease.holder,
            TaskRecord.status.in_(_LIVE),
        )
        async with self._layer.writing() as session:
            await session.execute(update(TaskRecord).where(*mine).values(lease_until=lease.until))
            return set(await session.scalars(select(TaskRecord.id).where(*mine)))

    async def release(self, task_id: str, holder: str) -> None:
        """Let go of the task (it ended, or this process stops): any process may take it."""
        query = (
            update(TaskRecord)
            .where(TaskRecord.id == task_id, TaskRecord.runner == holder)
            .values(runner=None, lease_until=None)
        )
        await self._changed(query)

    async def unheld(self) -> list[FiledTask]:
        """Requested tasks waiting or running that no live process holds, oldest first."""
        query = (
            select(TaskRecord)
            .where(
                TaskRecord.origin == "requested",
                TaskRecord.status.in_(_LIVE),
                _unheld(time.time()),
            )
            .order_by(TaskRecord.created_at, TaskRecord.id)
            .limit(MAX_LIST)
        )
        async with self._layer.reading() as session:
            return [_filed(row) for row in await session.scalars(query)]

    async def fail_unheld(self, filed: FiledTask, reason: str) -> FiledTask | None:
        """Mark a running task failed with `reason` if still nobody holds it; the failed
        task, or None when a live process holds it again or another one failed it first."""
        failed = replace(filed, task=filed.task.finish("failed", reason))
        query = (
            update(TaskRecord)
            .where(
                TaskRecord.id == filed.task.id,
                TaskRecord.status == "running",
                _unheld(time.time()),
            )
            .values(
                status="failed",
                result=reason,
                finished_at=failed.task.finished_at,
                runner=None,
                lease_until=None,
            )
        )
        return failed if await self._changed(query) else None

    async def _changed(self, query: Update) -> bool:
        async with self._layer.writing() as session:
            result = await session.execute(query)
        return bool(getattr(result, "rowcount", 0))

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


def _unheld(now: float) -> ColumnElement[bool]:
    """No process holds the record: none took it, or the holder stopped renewing its lease."""
    return or_(
        TaskRecord.runner.is_(None), TaskRecord.lease_until.is_(None), TaskRecord.lease_until < now
    )


def _filed(row: TaskRecord) -> FiledTask:
    return FiledTask(task_of(row), row.user_id or "", row.thread_id)
