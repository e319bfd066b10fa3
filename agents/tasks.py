"""A `Task` record for every delegation, and where those records are kept."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from agents.models.base import Usage
from agents.models.queue import PRIORITIES, Priority

__all__ = [
    "FINAL_STATUSES",
    "PRIORITIES",
    "InMemoryTaskStore",
    "Origin",
    "Priority",
    "Task",
    "TaskStatus",
    "TaskStore",
    "new_id",
]

TaskStatus = Literal["pending", "running", "done", "failed", "cancelled"]
Origin = Literal["delegated", "requested"]
"""`delegated`: the Chief of Staff handed it to an operator inside a turn (a record of what
happened). `requested`: a person asked for it (`/task`, REST); it runs in the background and
can be cancelled and retried."""

FINAL_STATUSES: frozenset[TaskStatus] = frozenset({"done", "failed", "cancelled"})


def new_id() -> str:
    """A random hex id for runs, tasks and tool calls."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Task:
    """One item of the user's task list: a sub-task handed to an operator, or work a person
    asked to run in the background."""

    id: str
    turn_id: str
    """Run id of the Chief of Staff run (the user turn) this task belongs to."""
    operator: str
    """The operator's name; for a requested task the Chief of Staff's when it decides."""
    title: str
    """Short label for the task list."""
    instructions: str = ""
    """What the operator was asked to do (empty while only planned)."""
    priority: Priority = "normal"
    status: TaskStatus = "pending"
    result: str | None = None
    """The operator's answer, or for a failed task the reason."""
    run_id: str | None = None
    """The operator's run, once it started."""
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    usage: Usage = field(default_factory=Usage)
    origin: Origin = "delegated"

    @classmethod
    def create(
        cls,
        turn_id: str,
        operator: str,
        title: str,
        instructions: str = "",
        priority: Priority = "normal",
    ) -> Task:
        """A new pending task with a fresh id."""
        return cls(new_id(), turn_id, operator, title, instructions, priority)

    @classmethod
    def request(cls, operator: str, title: str, request: str, priority: Priority) -> Task:
        """A pending task a person asked for; it gets its turn id when it runs."""
        task_id = new_id()
        return cls(task_id, task_id, operator, title, request, priority, origin="requested")

    def start(self, run_id: str, instructions: str) -> Task:
        """This task, now running in `run_id`."""
        return replace(
            self, status="running", run_id=run_id, instructions=instructions, started_at=time.time()
        )

    def finish(self, status: TaskStatus, result: str | None, usage: Usage | None = None) -> Task:
        """This task, ended with `status`."""
        return replace(
            self,
            status=status,
            result=result,
            finished_at=time.time(),
            usage=self.usage if usage is None else usage,
        )

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish, once finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class TaskStore(Protocol):
    """Keeps task records; the app provides a database-backed one."""

    async def save(self, task: Task) -> None:
        """Insert or replace the record with `task.id`."""
        ...

    async def get(self, task_id: str) -> Task | None:
        """The record with this id, if any."""
        ...

    async def for_turn(self, turn_id: str) -> list[Task]:
        """The tasks of one user turn, oldest first."""
        ...


class InMemoryTaskStore:
    """A `TaskStore` in a dict: for tests and for running without a database."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    async def save(self, task: Task) -> None:
        """Insert or replace the record."""
        self._tasks[task.id] = task

    async def get(self, task_id: str) -> Task | None:
        """The record with this id, if any."""
        return self._tasks.get(task_id)

    async def for_turn(self, turn_id: str) -> list[Task]:
        """The tasks of one user turn, oldest first."""
        tasks = [t for t in self._tasks.values() if t.turn_id == turn_id]
        return sorted(tasks, key=lambda t: t.created_at)

    def all(self) -> list[Task]:
        """Every record, oldest first."""
        return sorted(self._tasks.values(), key=lambda t: t.created_at)
