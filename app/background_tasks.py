"""Tasks a person asks for (`/task`, `POST /api/tasks`), run in the background.

A task is filed as pending, then runs as a turn of the channel-neutral `Turns` for its
owner in its thread (handed to the named operator, or the Chief of Staff decides). Every
model call of that turn waits in the generation queue at the task's priority, so when the
local model is busy urgent work goes first; the place in line (from the turn's `Queued`
events) is kept while the task waits. The result is posted to the thread as an assistant
message: live, when a chat channel has that thread open (`live`), else written through the
data layer so it shows when the thread is opened.

Cancel stops a pending or running task; retry runs a failed or cancelled one again.

Several server processes may share one database. Each task that waits or runs is held by one
process under a lease (`TaskBoard`), renewed every quarter of `lease_s` while the process
lives; taking a task is one conditional UPDATE, so each runs in one process only. A stopping
process puts its unfinished tasks back to pending and lets go of them; at start, and at each
renewal, a process takes the pending tasks nobody holds and marks failed the running ones
whose holder stopped renewing (it crashed), so nothing is lost silently and a starting
process never fails another's work. A cancel made through another process ends the run
here at the next renewal; this process's later writes to it are refused.
Channel-neutral: nothing here imports Chainlit or FastAPI.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from agents import events as ev
from agents.errors import CadreError
from agents.models.base import Usage
from agents.models.queue import PRIORITIES, Priority, PrioritySemaphore, serving
from agents.roster import CHIEF_OF_STAFF
from agents.tasks import FINAL_STATUSES, Task, new_id
from app.db.errors import PersistenceError
from app.db.task_board import FiledTask, Lease, TaskBoard
from app.services import Services
from app.turns import Caller, TurnRequest, Turns

__all__ = [
    "CHIEF_DECIDES",
    "LiveDelivery",
    "TaskRequestError",
    "TaskRunner",
    "TaskStateError",
    "task_runner",
    "title_for",
]

log = logging.getLogger(__name__)

CHIEF_DECIDES = CHIEF_OF_STAFF.name
"""The operator of a requested task when the Chief of Staff picks who does it."""
INTERRUPTED = (
    "Interrupted by a restart of the server (the process running it stopped without "
    "finishing it); retry it to run it again."
)
LEASE_S = 60.0
"""How long a process's hold on its tasks lasts unrenewed: after a crash, its running tasks
are marked failed (and its waiting ones taken up elsewhere) this long after its last renewal."""
_FAILED = "Something went wrong on our side; it has been logged. Retry the task."
_TITLE_CHARS = 80

_RUNNERS: dict[int, TaskRunner] = {}

LiveDelivery = Callable[[FiledTask, str, str], Awaitable[bool]]
"""(task, author, text) -> whether a channel showed (and stored) the message live."""


class TaskStateError(CadreError):
    """The task cannot do that now (cancel a finished task, retry a running one)."""


class TaskRequestError(CadreError):
    """A task cannot be made from this request (no text, an operator that is not there)."""


def _concurrency(services: Services) -> int:
    configured = services.settings.task_concurrency
    if configured is not None:
        return configured
    return 1 if services.settings.chat_model.startswith("local:") else 4


def title_for(request: str) -> str:
    """A short title from the request: its first line, cut at a word."""
    line = next((part.strip() for part in request.splitlines() if part.strip()), "Task")
    if len(line) <= _TITLE_CHARS:
        return line
    return line[:_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


def task_runner(services: Services) -> TaskRunner:
    """The one runner of `services` (the server starts and stops it; channels use it)."""
    runner = _RUNNERS.get(id(services))
    if runner is None or runner.services is not services:
        runner = _RUNNERS[id(services)] = TaskRunner(services)
    return runner


class TaskRunner:
    """Runs requested tasks in the background of one server process."""

    def __init__(self, services: Services, *, lease_s: float = LEASE_S) -> None:
        self.services = services
        self.board = TaskBoard(services.data_layer)
        self.lease_s = lease_s
        self.name = f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"
        """This process, as task records name their holder."""
        self.live: LiveDelivery | None = None
        """Set by a chat channel that can show a message in an open thread."""
        self._running: dict[str, asyncio.Task[None]] = {}
        self._positions: dict[str, int] = {}
        self._latest: dict[str, Task] = {}
        """Each running task's record as its turn moved it on (run id, start time)."""
        self._stopping = False
        self._gate = PrioritySemaphore(_concurrency(services))
        self._at_gate: dict[str, tuple[int, float]] = {}
        """Tasks waiting for a turn to run, with their (priority rank, arrival)."""
        self._lost: set[str] = set()
        """Runs stopped because their task was cancelled or taken over elsewhere."""
        self._settled: set[str] = set()
        """Runs whose outcome is saved (they only post it now): renewals leave them be."""
        self._heartbeat: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Take up what no live process holds: fail abandoned running tasks, queue pending
        ones; then keep this process's leases renewed until `stop`."""
        self._stopping = False
        await self._sweep()
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(
                self._renew_forever(), name="cadre-task-leases", context=contextvars.Context()
            )

    async def stop(self) -> None:
        """Stop every run; their records go back to pending, free for any process to take
        (another live one, or this one after its next start)."""
        self._stopping = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        runs = list(self._running.values())
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    def _lease(self) -> Lease:
        return Lease(self.name, time.time() + self.lease_s)

    async def _sweep(self) -> None:
        """Fail running tasks whose holder is gone; take and queue pending ones nobody holds."""
        queued = 0
        for filed in await self.board.unheld():
            if filed.task.status == "running":
                failed = await self.board.fail_unheld(filed, INTERRUPTED)
                if failed is not None:
                    log.warning("task %s lost its server process: marked failed", filed.task.id)
                    await self._post(failed)
            elif filed.task.id not in self._running and await self.board.claim(
                filed.task.id, self._lease()
            ):
                self._launch(filed)
                queued += 1
        if queued:
            log.info("queued %d pending task(s) nobody was running", queued)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 4)
            try:
                await self._renew()
                await self._sweep()
            except Exception:  # a dead heartbeat would let others fail our tasks
                log.exception("could not renew task leases; trying again")

    async def _renew(self) -> None:
        """Extend this process's leases; stop runs whose task is no longer ours to run."""
        ids = [task_id for task_id in self._running if task_id not in self._settled]
        held = await self.board.renew(self._lease(), ids)
        for task_id in ids:
            run = self._running.get(task_id)
            if task_id in held or run is None or run.done() or task_id in self._settled:
                continue
            log.info("task %s was cancelled or taken over elsewhere: stopped here", task_id)
            self._lost.add(task_id)
            run.cancel()

    # ---- what people do --------------------------------------------------------------

    async def submit(
        self,
        user_id: str,
        thread_id: str,
        request: str,
        *,
        title: str | None = None,
        operator: str | None = None,
        priority: Priority = "normal",
        before_start: Callable[[FiledTask], Awaitable[None]] | None = None,
    ) -> FiledTask:
        """File a pending task for `user_id` in `thread_id` and start it.

        `before_start` runs once the record (and its thread) exists, before the task can post
        anything: a channel names the thread or shows the request there.
        """
        if not request.strip():
            raise TaskRequestError("A task needs a request: say what should be done.")
        if operator is not None and operator != CHIEF_DECIDES:
            await self._check_operator(user_id, operator)
        task = Task.request(
            operator or CHIEF_DECIDES,
            (title or "").strip() or title_for(request),
            request,
            priority,
        )
        filed = FiledTask(task, user_id, thread_id)
        await self.board.save(filed, self._lease())  # ours from the start: nobody else takes it
        if before_start is not None:
            await before_start(filed)
        self._launch(filed)
        return filed

    async def cancel(self, filed: FiledTask) -> FiledTask:
        """Stop a pending or running task; it ends `cancelled`."""
        if filed.task.status in FINAL_STATUSES:
            raise TaskStateError(f"The task is already {filed.task.status}; nothing to cancel.")
        run = self._running.get(filed.task.id)
        if run is not None:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            current = await self.board.get(filed.task.id)
            if current is not None and current.task.status in FINAL_STATUSES:
                return current  # the run saved itself as cancelled (or had just finished)
        cancelled = replace(filed, task=filed.task.finish("cancelled", "Cancelled."))
        await self.board.save(cancelled)
        return cancelled

    async def retry(self, filed: FiledTask) -> FiledTask:
        """Run a failed or cancelled task again, at the same priority."""
        if filed.task.origin != "requested":
            raise TaskStateError("Only tasks you asked for can be retried.")
        if filed.task.status not in ("failed", "cancelled"):
            raise TaskStateError(
                f"The task is {filed.task.status}; only a failed or cancelled task can be retried."
            )
        task = replace(
            filed.task,
            status="pending",
            result=None,
            run_id=None,
            started_at=None,
            finished_at=None,
            usage=Usage(),
        )
        finishing = self._running.get(filed.task.id)
        if finishing is not None:  # its last run is posting its outcome: let it let go first
            await asyncio.gather(finishing, return_exceptions=True)
        again = replace(filed, task=task)
        await self.board.save(again)
        if await self.board.claim(again.task.id, self._lease()):
            self._launch(again)  # else another process's sweep took it a moment ago
        return again

    async def record_request(self, filed: FiledTask, author: str) -> None:
        """Write the request into the task's thread as the person's message (for channels
        where the person did not type it there, like the REST API)."""
        if filed.thread_id is None:
            return
        task = filed.task
        text = f"📋 **Task ({task.priority}): {task.title}**\n\n{task.instructions}"
        await self._write_step(filed.thread_id, author, "user_message", text, task.id)

    def position(self, task_id: str) -> int | None:
        """The task's place in line while it waits (1 = next), else `None`: among the tasks
        waiting to run, then in the model's queue once it runs."""
        key = self._at_gate.get(task_id)
        if key is not None:
            return 1 + sum(other < key for other in self._at_gate.values())
        return self._positions.get(task_id)

    def is_active(self, task_id: str) -> bool:
        """Whether this process is running (or waiting to run) the task now."""
        return task_id in self._running

    # ---- running ---------------------------------------------------------------------

    def _launch(self, filed: FiledTask) -> None:
        # A fresh context: the run must not act as whoever happened to submit it (an HTTP
        # request's user, a chat session) but as the task's owner, which the turn is told.
        run = asyncio.create_task(
            self._run(filed), name=f"cadre-task-{filed.task.id}", context=contextvars.Context()
        )
        self._running[filed.task.id] = run
        run.add_done_callback(lambda _: self._forget(filed.task.id, run))

    def _forget(self, task_id: str, run: asyncio.Task[None]) -> None:
        if self._running.get(task_id) is run:
            del self._running[task_id]
            self._positions.pop(task_id, None)
            self._latest.pop(task_id, None)
            self._lost.discard(task_id)
            self._settled.discard(task_id)

    async def _run(self, filed: FiledTask) -> None:
        try:
            await self._run_held(filed)
        finally:
            try:
                await self.board.release(filed.task.id, self.name)
            except (PersistenceError, SQLAlchemyError):
                log.exception("could not let go of task %s; its lease will run out", filed.task.id)

    async def _run_held(self, filed: FiledTask) -> None:
        task = filed.task
        with serving(task.priority):
            try:
                self._at_gate[task.id] = (PRIORITIES.index(task.priority), time.monotonic())
                try:
                    await self._gate.acquire()
                finally:
                    self._at_gate.pop(task.id, None)
                try:
                    task = await self._turn(filed)
                finally:
                    self._gate.release()
            except asyncio.CancelledError:
                if task.id in self._lost:
                    pass  # cancelled, or failed as abandoned, elsewhere: its record says so
                elif self._stopping:
                    task = replace(task, status="pending", started_at=None)
                    await self._keep(replace(filed, task=task))
                else:
                    await self._keep(
                        replace(filed, task=self._now(filed).finish("cancelled", "Cancelled."))
                    )
                raise
            except CadreError as exc:
                log.warning("task %s failed: %s", task.id, exc)
                task = self._now(filed).finish("failed", str(exc))
            except Exception:
                log.exception("task %s failed", task.id)
                task = self._now(filed).finish("failed", _FAILED)
            finished = replace(filed, task=task)
            if await self._keep(finished):
                self._settled.add(task.id)
                await self._post(finished)

    def _now(self, filed: FiledTask) -> Task:
        return self._latest.get(filed.task.id, filed.task)

    async def _turn(self, filed: FiledTask) -> Task:
        """Run the task's turn; its record as it ended (`done` or `failed`)."""
        task = filed.task
        self._latest[task.id] = task
        operator = None if task.operator == CHIEF_DECIDES else task.operator
        caller = Caller(user_id=filed.user_id, thread_id=filed.thread_id)
        request = TurnRequest(task.instructions, operator=operator)
        usage = Usage()
        answer: str | None = None
        error: str | None = None
        async with aclosing(Turns(self.services).stream(caller, request)) as events:
            async for event in events:
                match event:
                    case ev.Queued(position=position):
                        self._positions[task.id] = position
                        continue
                    case ev.UsageReported(input_tokens=i, output_tokens=o):
                        usage = usage + Usage(i, o)
                    case ev.RunStarted(parent_run_id=None) if task.status == "pending":
                        task = replace(task, turn_id=event.run_id, run_id=event.run_id)
                        self._latest[task.id] = task
                        continue
                    case ev.RunFinished(parent_run_id=None, output=output):
                        answer = output
                    case ev.RunFailed(parent_run_id=None, error=reason):
                        error = reason
                self._positions.pop(task.id, None)
                if task.status == "pending":
                    # The turn got going (an operator picked, the model's first words).
                    task = task.start(task.run_id or new_id(), task.instructions)
                    self._latest[task.id] = task
                    await self._keep(replace(filed, task=task))
        task = replace(task, usage=usage)
        if answer is not None and error is None:
            return task.finish("done", answer)
        return task.finish("failed", error or "The turn ended without an answer.")

    async def _keep(self, filed: FiledTask) -> bool:
        """Save a run's progress while this process holds the task; False when it no longer
        does (the task was cancelled or taken over elsewhere: that record stands)."""
        try:
            if await self.board.save_held(filed, self.name):
                return True
        except (PersistenceError, SQLAlchemyError):
            log.exception("could not save task %s", filed.task.id)
            return True  # the outcome is still worth posting
        log.info(
            "task %s is no longer this process's to run: its update was dropped", filed.task.id
        )
        return False

    async def _post(self, filed: FiledTask) -> None:
        """Post a finished task's result to its thread, live when the thread is open."""
        task = filed.task
        if filed.thread_id is None or task.status not in ("done", "failed"):
            return
        if task.status == "done":
            text = f"✅ **Task done: {task.title}** ({task.priority})\n\n{task.result or ''}"
        else:
            text = f"❌ **Task failed: {task.title}** ({task.priority})\n\n{task.result or ''}"
        author = CHIEF_OF_STAFF.name
        try:
            if self.live is not None and await self.live(filed, author, text):
                return
            await self._write_step(
                filed.thread_id,
                author,
                "assistant_message",
                text,
                task.id,
                error=task.status == "failed",
            )
        except (CadreError, SQLAlchemyError):
            log.exception("could not post the result of task %s to its thread", task.id)

    async def _write_step(
        self,
        thread_id: str,
        author: str,
        kind: Literal["user_message", "assistant_message"],
        text: str,
        task_id: str,
        *,
        error: bool = False,
    ) -> None:
        now = datetime.now(UTC).isoformat()
        await self.services.data_layer.create_step(
            {
                "id": new_id(),
                "threadId": thread_id,
                "parentId": None,
                "name": author,
                "type": kind,
                "output": text,
                "input": "",
                "createdAt": now,
                "start": now,
                "end": now,
                "streaming": False,
                "isError": error,
                "metadata": {"task_id": task_id},
            }
        )

    async def _check_operator(self, user_id: str, operator: str) -> None:
        roster = await Turns(self.services).roster(Caller(user_id=user_id))
        if all(op.name != operator for op in roster):
            names = ", ".join(op.name for op in roster)
            raise TaskRequestError(
                f"{operator!r} is not one of your operators; choose one of: "
                f"{names} (or leave it to the Chief of Staff)."
            )
