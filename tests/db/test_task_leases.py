"""Background tasks with two server processes on one database (SQLite and PostgreSQL): each
task runs in one process only, a starting process leaves another's work alone, a process that
died has its running tasks marked failed once its lease runs out, a stopping one hands its
waiting tasks over, and a cancel made through either process holds.

Each "process" is its own `Services` (own engine, own model) and `TaskRunner`, as two
`cadre serve` would have; the leases are short so the renewals and take-overs happen within
a test. The model holds every generation until the test opens its gate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.models.base import (
    ChatMessage,
    Finish,
    ModelEvent,
    ModelOptions,
    QueuePosition,
    TextChunk,
    ToolSpec,
    Usage,
)
from agents.tasks import Task
from app.auth.users import UserDirectory
from app.background_tasks import CHIEF_DECIDES, INTERRUPTED, TaskRunner
from app.db.task_board import FiledTask, Lease
from app.services import Services
from app.settings import Settings
from tests.db.test_background_tasks import BusyModel, ended, posts, until

LEASE_S = 1.0
"""Renewed every 0.25 s; a process silent for longer than this is taken for dead."""


class StartedModel(BusyModel):
    """Says it is working at once (the task is then `running`), answers once the gate opens."""

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        request = next(m.content for m in reversed(messages) if m.role == "user")
        async with self.queue.turn() as positions:
            async for position in positions:
                yield QueuePosition(position)
            self.served.append(request)
            yield TextChunk("Working. ")
            await self.gate.wait()
            yield TextChunk(f"Answer: {request}")
            yield Usage(20, 4)
            yield Finish("stop")


@dataclass
class Process:
    """One server process's share: its services, model and task runner."""

    services: Services
    model: BusyModel
    runner: TaskRunner


async def _process(db_url: str, data_dir: Path) -> Process:
    settings = Settings(
        data_dir=data_dir, database_url=db_url, chat_model="scripted:busy", task_concurrency=8
    )
    services = Services.from_settings(settings)
    model = StartedModel()
    services.registry.add(model)
    return Process(services, model, TaskRunner(services, lease_s=LEASE_S))


@pytest.fixture
async def two(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Process, Process]]:
    """Two processes on the same database, not started yet."""
    first = await _process(db_url, tmp_path / "a")
    second = await _process(db_url, tmp_path / "b")
    yield first, second
    for process in (first, second):
        process.model.gate.set()
        await process.runner.stop()
        await process.services.close()


@pytest.fixture
async def owner(two: tuple[Process, Process]) -> str:
    account = await UserDirectory(two[0].services.data_layer).add("alice", "correct horse battery")
    return account.id


async def status_of(process: Process, task_id: str) -> str:
    filed = await process.runner.board.get(task_id)
    assert filed is not None
    return filed.task.status


async def reaches(process: Process, task_id: str, status: str) -> FiledTask:
    """The task's record once it has `status` (the runners work meanwhile)."""
    for _ in range(1000):
        filed = await process.runner.board.get(task_id)
        assert filed is not None
        if filed.task.status == status:
            return filed
        await asyncio.sleep(0.01)
    raise AssertionError(f"task {task_id} never {status}: {filed.task}")


async def one_post(process: Process, thread_id: str) -> str:
    """The one message posted to the thread, once it is there (it follows the record)."""
    for _ in range(1000):
        found = await posts(process.services, thread_id)
        if found:
            [(_, _, text)] = found
            return text
        await asyncio.sleep(0.01)
    raise AssertionError(f"nothing posted to {thread_id}")


async def test_a_starting_process_leaves_the_other_ones_running_task_alone(
    two: tuple[Process, Process], owner: str
) -> None:
    a, b = two
    await a.runner.start()
    filed = await a.runner.submit(owner, "thread-1", "Long work")
    await until(lambda: a.model.served == ["Long work"])
    await reaches(a, filed.task.id, "running")

    await b.runner.start()
    # Several of B's sweeps and more than one lease go by while A keeps renewing its own.
    await asyncio.sleep(LEASE_S * 3)
    assert await status_of(b, filed.task.id) == "running"
    assert await posts(a.services, "thread-1") == []

    a.model.gate.set()
    done = await ended(a.runner, filed.task.id)
    assert (done.task.status, done.task.result) == ("done", "Working. Answer: Long work")
    assert b.model.served == []
    assert "Task done: Long work" in await one_post(a, "thread-1")


async def test_each_pending_task_runs_once_when_two_processes_start_together(
    two: tuple[Process, Process], owner: str
) -> None:
    a, b = two
    left = [
        FiledTask(Task.request(CHIEF_DECIDES, f"Job {n}", f"Job {n}", "normal"), owner, f"t-{n}")
        for n in range(8)
    ]
    for filed in left:  # pending, held by nobody: as a stopped server leaves them
        await a.runner.board.save(filed)
    a.model.gate.set()
    b.model.gate.set()

    await asyncio.gather(a.runner.start(), b.runner.start())
    for filed in left:
        await reaches(a, filed.task.id, "done")
    await asyncio.sleep(LEASE_S * 2)  # later sweeps must not run any of them again

    served = a.model.served + b.model.served
    assert sorted(served) == sorted(f.task.instructions for f in left)
    for filed in left:
        assert f"Task done: {filed.task.title}" in await one_post(a, str(filed.thread_id))


async def test_a_task_of_a_process_that_died_is_marked_failed_once_its_lease_runs_out(
    two: tuple[Process, Process], owner: str
) -> None:
    a, b = two
    await a.runner.start()
    await b.runner.start()
    filed = await a.runner.submit(owner, "thread-1", "Work of a process about to die")
    await until(lambda: a.model.served == ["Work of a process about to die"])
    await reaches(a, filed.task.id, "running")

    # A hangs: it stops renewing (as a killed process would) and its turn never ends.
    heartbeat = a.runner._heartbeat
    assert heartbeat is not None
    heartbeat.cancel()

    failed = await reaches(b, filed.task.id, "failed")
    assert failed.task.result == INTERRUPTED
    assert "retry it" in INTERRUPTED
    assert "Task failed: Work of a process about to die" in await one_post(b, "thread-1")

    # A wakes up and finishes: its late answer must not overwrite the failure or be posted.
    a.model.gate.set()
    await until(lambda: not a.runner.is_active(filed.task.id))
    assert await status_of(b, filed.task.id) == "failed"
    assert len(await posts(b.services, "thread-1")) == 1


async def test_a_running_task_whose_lease_already_ran_out_is_failed_at_start(
    two: tuple[Process, Process], owner: str
) -> None:
    a, _ = two
    task = Task.request(CHIEF_DECIDES, "Orphan", "Orphan work", "normal").start("run-1", "x")
    orphan = FiledTask(task, owner, "thread-1")
    await a.runner.board.save(orphan, Lease("gone-host:4242:dead", time.time() - 1))
    held = FiledTask(
        Task.request(CHIEF_DECIDES, "Held", "Held work", "normal").start("run-2", "y"),
        owner,
        "thread-2",
    )
    await a.runner.board.save(held, Lease("other-host:7:alive", time.time() + 3600))

    await a.runner.start()
    assert (await reaches(a, orphan.task.id, "failed")).task.result == INTERRUPTED
    await asyncio.sleep(LEASE_S * 2)
    assert await status_of(a, held.task.id) == "running"  # its holder keeps a valid lease
    assert a.model.served == []


async def test_a_stopping_process_hands_its_waiting_tasks_to_the_live_one(
    two: tuple[Process, Process], owner: str
) -> None:
    a, b = two
    await a.runner.start()
    await b.runner.start()
    filed = await a.runner.submit(owner, "thread-1", "Handed-over work")
    await until(lambda: a.model.served == ["Handed-over work"])

    await a.runner.stop()  # a rolling restart: A goes, B stays
    b.model.gate.set()
    done = await reaches(b, filed.task.id, "done")
    assert done.task.result == "Working. Answer: Handed-over work"
    assert b.model.served == ["Handed-over work"]
    assert "Task done: Handed-over work" in await one_post(b, "thread-1")


async def test_a_cancel_through_the_other_process_stops_the_run_and_holds(
    two: tuple[Process, Process], owner: str
) -> None:
    a, b = two
    await a.runner.start()
    await b.runner.start()
    filed = await a.runner.submit(owner, "thread-1", "Work to cancel")
    await until(lambda: a.model.served == ["Work to cancel"])
    running = await reaches(a, filed.task.id, "running")

    cancelled = await b.runner.cancel(running)
    assert cancelled.task.status == "cancelled"
    await until(lambda: not a.runner.is_active(filed.task.id))  # A stops it at its next renewal
    a.model.gate.set()
    await asyncio.sleep(LEASE_S)
    assert await status_of(a, filed.task.id) == "cancelled"
    assert await posts(a.services, "thread-1") == []
