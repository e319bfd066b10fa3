"""Requested tasks, run in the background by the `TaskRunner` on a real database (SQLite and
PostgreSQL): their life from pending to done, priority under a busy model, cancel, retry,
and what a restart leaves behind.

The model is a test model that serves one generation at a time through the real
`GenerationQueue` and holds each generation until the test opens its gate, so "the model is
busy" is a state the test controls rather than a race.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agents.errors import ModelError
from agents.models.base import (
    Capabilities,
    ChatMessage,
    Finish,
    ModelEvent,
    ModelOptions,
    QueuePosition,
    TextChunk,
    ToolSpec,
    Usage,
)
from agents.models.queue import GenerationQueue
from agents.tasks import Task
from app.auth.users import UserDirectory
from app.background_tasks import (
    CHIEF_DECIDES,
    INTERRUPTED,
    TaskRequestError,
    TaskRunner,
    TaskStateError,
    title_for,
)
from app.db.task_board import FiledTask
from app.services import Services
from app.settings import Settings


@dataclass
class BusyModel:
    """Answers "Answer: <request>" one generation at a time, each once `gate` is open."""

    name: str = "busy"
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    queue: GenerationQueue = field(default_factory=GenerationQueue)
    served: list[str] = field(default_factory=list)
    """Requests in the order the model took them up."""
    unreachable: set[str] = field(default_factory=set)
    """Requests the model fails on, as a provider that went away would."""
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(tools=True))

    @property
    def id(self) -> str:
        return f"scripted:{self.name}"

    async def warm(self) -> None:
        """Nothing to load."""

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
            await self.gate.wait()
            if request in self.unreachable:
                raise ModelError("The model server did not answer.")
            yield TextChunk(f"Answer: {request}")
            yield Usage(20, 4)
            yield Finish("stop")


@pytest.fixture
async def services(db_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    # Room for every task at once: the model's queue decides the order (one test narrows it).
    settings = Settings(
        data_dir=tmp_path, database_url=db_url, chat_model="scripted:busy", task_concurrency=8
    )
    shared = Services.from_settings(settings)
    yield shared
    await shared.close()


@pytest.fixture
def model(services: Services) -> BusyModel:
    busy = BusyModel()
    services.registry.add(busy)
    return busy


@pytest.fixture
async def runner(services: Services) -> AsyncIterator[TaskRunner]:
    running = TaskRunner(services)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def owner(services: Services) -> str:
    account = await UserDirectory(services.data_layer).add("alice", "correct horse battery")
    return account.id


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:  # noqa: ASYNC109
    """Let the runner work until `condition` holds (it runs tasks and database writes)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached within {timeout}s")


def placed(runner: TaskRunner, task_id: str) -> Callable[[], bool]:
    return lambda: runner.position(task_id) is not None


async def ended(runner: TaskRunner, task_id: str) -> FiledTask:
    """The task's record once its run is over."""
    await until(lambda: not runner.is_active(task_id))
    filed = await runner.board.get(task_id)
    assert filed is not None
    return filed


async def posts(services: Services, thread_id: str) -> list[tuple[str, str, str]]:
    thread = await services.data_layer.get_thread(thread_id)
    assert thread is not None
    return [(s["type"], s["name"], s["output"] or "") for s in thread["steps"]]


async def test_a_task_runs_from_pending_to_done_and_posts_its_result(
    services: Services, model: BusyModel, runner: TaskRunner, owner: str
) -> None:
    filed = await runner.submit(owner, "thread-1", "Summarise the budget.", priority="high")
    assert filed.task.status == "pending"
    assert (filed.task.origin, filed.task.operator) == ("requested", CHIEF_DECIDES)
    assert filed.task.title == "Summarise the budget."
    stored = await runner.board.get(filed.task.id, owner)
    assert stored is not None
    assert stored.task.status in ("pending", "running")

    model.gate.set()
    done = await ended(runner, filed.task.id)
    assert done.task.status == "done"
    assert done.task.result == "Answer: Summarise the budget."
    assert (done.task.usage.input_tokens, done.task.usage.output_tokens) == (20, 4)
    assert done.task.started_at is not None
    assert done.task.finished_at is not None
    assert done.task.run_id is not None
    [(kind, author, text)] = await posts(services, "thread-1")
    assert (kind, author) == ("assistant_message", "Chief of Staff")
    assert "Task done: Summarise the budget." in text
    assert "Answer: Summarise the budget." in text


async def test_waiting_tasks_take_the_busy_model_in_priority_order(
    model: BusyModel, runner: TaskRunner, owner: str
) -> None:
    first = await runner.submit(owner, "thread-1", "busy work", priority="low")
    await until(lambda: model.served == ["busy work"])
    waiting = {}
    for priority in ("low", "normal", "urgent", "high"):
        filed = await runner.submit(owner, "thread-1", f"{priority} work", priority=priority)
        waiting[priority] = filed.task.id
        await until(placed(runner, filed.task.id))

    # Each arrival took its place by priority; the earlier ones moved back.
    await until(lambda: runner.position(waiting["low"]) == 4)
    places = {priority: runner.position(task_id) for priority, task_id in waiting.items()}
    assert places == {"urgent": 1, "high": 2, "normal": 3, "low": 4}
    stored = await runner.board.get(waiting["urgent"])
    assert stored is not None
    assert stored.task.status == "pending"

    model.gate.set()
    for task_id in [first.task.id, *waiting.values()]:
        assert (await ended(runner, task_id)).task.status == "done"
    assert model.served == ["busy work", "urgent work", "high work", "normal work", "low work"]


async def test_with_one_task_at_a_time_tasks_wait_their_turn_by_priority(
    services: Services, model: BusyModel, owner: str
) -> None:
    services.settings = services.settings.model_copy(update={"task_concurrency": 1})
    runner = TaskRunner(services)
    try:
        first = await runner.submit(owner, "thread-1", "busy work", priority="low")
        await until(lambda: model.served == ["busy work"])
        waiting = {}
        for priority in ("low", "normal", "urgent", "high"):
            filed = await runner.submit(owner, "thread-1", f"{priority} work", priority=priority)
            waiting[priority] = filed.task.id
        await until(lambda: all(runner.position(t) is not None for t in waiting.values()))
        places = {priority: runner.position(task_id) for priority, task_id in waiting.items()}
        assert places == {"urgent": 1, "high": 2, "normal": 3, "low": 4}

        model.gate.set()
        for task_id in [first.task.id, *waiting.values()]:
            assert (await ended(runner, task_id)).task.status == "done"
        assert model.served == ["busy work", "urgent work", "high work", "normal work", "low work"]
    finally:
        await runner.stop()


async def test_a_waiting_task_is_cancelled_and_retried(
    services: Services, model: BusyModel, runner: TaskRunner, owner: str
) -> None:
    await runner.submit(owner, "thread-1", "busy work")
    await until(lambda: model.served == ["busy work"])
    filed = await runner.submit(owner, "thread-2", "Draft the memo.")
    await until(lambda: runner.position(filed.task.id) == 1)

    cancelled = await runner.cancel(filed)
    assert cancelled.task.status == "cancelled"
    assert runner.position(filed.task.id) is None
    assert not runner.is_active(filed.task.id)
    with pytest.raises(TaskStateError, match="already cancelled"):
        await runner.cancel(cancelled)

    model.gate.set()
    again = await runner.retry(cancelled)
    assert again.task.status == "pending"
    assert again.task.result is None
    done = await ended(runner, filed.task.id)
    assert (done.task.status, done.task.result) == ("done", "Answer: Draft the memo.")
    assert model.served == ["busy work", "Draft the memo."]  # the cancelled wait never ran
    with pytest.raises(TaskStateError, match="only a failed or cancelled"):
        await runner.retry(done)
    [(_, _, text)] = await posts(services, "thread-2")
    assert "Answer: Draft the memo." in text


async def test_a_running_task_is_cancelled(
    services: Services, model: BusyModel, runner: TaskRunner, owner: str
) -> None:
    filed = await runner.submit(owner, "thread-1", "A long report.")
    await until(lambda: model.served == ["A long report."])
    cancelled = await runner.cancel(filed)
    assert cancelled.task.status == "cancelled"
    assert cancelled.task.finished_at is not None
    thread = await services.data_layer.get_thread("thread-1")
    assert thread is None or not thread["steps"]  # nothing posted for a cancelled task


async def test_a_failed_turn_fails_the_task_with_the_reason_and_posts_it(
    services: Services, model: BusyModel, runner: TaskRunner, owner: str
) -> None:
    with pytest.raises(TaskRequestError, match="'Astronaut' is not one of your operators"):
        await runner.submit(owner, "thread-1", "Fly.", operator="Astronaut")
    with pytest.raises(TaskRequestError, match="needs a request"):
        await runner.submit(owner, "thread-1", "   ")

    model.gate.set()
    model.unreachable.add("Write it.")
    filed = await runner.submit(owner, "thread-1", "Write it.", operator="Writer")
    failed = await ended(runner, filed.task.id)
    assert (failed.task.status, failed.task.operator) == ("failed", "Writer")
    assert failed.task.result
    [(kind, _, text)] = await posts(services, "thread-1")
    assert kind == "assistant_message"
    assert "Task failed: Write it." in text

    model.unreachable.clear()
    again = await ended(runner, (await runner.retry(failed)).task.id)
    assert (again.task.status, again.task.result) == ("done", "Answer: Write it.")


async def test_after_a_restart_pending_tasks_run_and_running_ones_are_marked_failed(
    services: Services, model: BusyModel, owner: str
) -> None:
    first = TaskRunner(services)
    left_pending = FiledTask(
        Task.request(CHIEF_DECIDES, "Pending", "Pending work", "normal"), owner, "thread-1"
    )
    interrupted = FiledTask(
        Task.request(CHIEF_DECIDES, "Running", "Running work", "normal").start("r", "x"),
        owner,
        "thread-2",
    )
    for filed in (left_pending, interrupted):
        await first.board.save(filed)

    model.gate.set()
    restarted = TaskRunner(services)
    await restarted.start()
    try:
        failed = await restarted.board.get(interrupted.task.id)
        assert failed is not None
        assert (failed.task.status, failed.task.result) == ("failed", INTERRUPTED)
        [(_, _, text)] = await posts(services, "thread-2")
        assert "Task failed: Running" in text
        done = await ended(restarted, left_pending.task.id)
        assert (done.task.status, done.task.result) == ("done", "Answer: Pending work")
    finally:
        await restarted.stop()


async def test_stopping_the_server_leaves_unfinished_tasks_pending_for_the_next_start(
    services: Services, model: BusyModel, owner: str
) -> None:
    runner = TaskRunner(services)
    filed = await runner.submit(owner, "thread-1", "Slow work")
    await until(lambda: model.served == ["Slow work"])
    await runner.stop()
    stopped = await runner.board.get(filed.task.id)
    assert stopped is not None
    assert stopped.task.status == "pending"

    model.gate.set()
    again = TaskRunner(services)
    await again.start()
    try:
        done = await ended(again, filed.task.id)
        assert done.task.status == "done"
    finally:
        await again.stop()


def test_titles_come_from_the_first_line_cut_at_a_word() -> None:
    assert title_for("  \nDraft the memo.\nWith details.") == "Draft the memo."
    long = "Write " + "a very long request " * 10
    title = title_for(long)
    assert len(title) <= 81
    assert title.endswith("…")
    assert long.startswith(title.removesuffix("…"))
