"""`/api/tasks`: create tasks that run in the background, list, read, cancel and retry them.

A member sees only their own tasks (another user's task answers 404, exactly like a missing
one); an admin sees everyone's. A task created here runs like one made with `/task` in the
chat (app/background_tasks.py) and posts its result to its thread: the one named, which
must be the caller's, or a new one named after the task.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field, field_validator

from agents.tasks import Origin, Priority, TaskStatus
from app.api.principal import Authenticated, Principal
from app.background_tasks import TaskRequestError, TaskRunner, TaskStateError, task_runner
from app.db.task_board import MAX_LIST, FiledTask, TaskFilter
from app.services import Services

__all__ = ["TaskCreate", "TaskOut", "tasks_router"]

_NOT_FOUND = "No such task."


class TaskCreate(BaseModel):
    """A task to run in the background."""

    request: str = Field(
        min_length=1, max_length=20_000, description="What should be done, in plain words."
    )
    title: str | None = Field(
        default=None, max_length=200, description="A short label; derived from the request."
    )
    operator: str | None = Field(
        default=None,
        max_length=64,
        description="The operator to hand it to; omitted: the Chief of Staff decides.",
    )
    priority: Priority = Field(
        default="normal", description="urgent runs first when the local model is busy."
    )
    thread_id: str | None = Field(
        default=None,
        max_length=255,
        description="Your conversation to post the result in; omitted: a new one.",
    )

    @field_validator("request")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the request is blank: say what should be done")
        return value


class TaskOut(BaseModel):
    """A task as stored, with its place in line while it waits for the model."""

    id: str
    title: str
    request: str
    operator: str
    """The operator's name, or "Chief of Staff" when the Chief decides."""
    priority: Priority
    status: TaskStatus
    origin: Origin
    """`requested` (made with /task or this API) or `delegated` (by the Chief in a chat)."""
    result: str | None
    """The answer once done; the reason once failed."""
    thread_id: str | None
    user_id: str
    position: int | None
    """Place in line for the model while waiting (1 = next); null otherwise."""
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    input_tokens: int
    output_tokens: int


def task_out(filed: FiledTask, runner: TaskRunner) -> TaskOut:
    """The wire form of a filed task."""
    task = filed.task
    return TaskOut(
        id=task.id,
        title=task.title,
        request=task.instructions,
        operator=task.operator,
        priority=task.priority,
        status=task.status,
        origin=task.origin,
        result=task.result,
        thread_id=filed.thread_id,
        user_id=filed.user_id,
        position=runner.position(task.id),
        created_at=_when(task.created_at),
        started_at=None if task.started_at is None else _when(task.started_at),
        finished_at=None if task.finished_at is None else _when(task.finished_at),
        input_tokens=task.usage.input_tokens,
        output_tokens=task.usage.output_tokens,
    )


def tasks_router(services: Services) -> APIRouter:
    """The `/api/tasks` routes."""
    router = APIRouter(prefix="/api/tasks", tags=["tasks"])
    member = Depends(Authenticated(services))

    def runner() -> TaskRunner:
        return task_runner(services)

    async def visible(task_id: str, principal: Principal) -> FiledTask:
        owner = None if principal.is_admin else principal.user_id
        filed = await runner().board.get(task_id, owner)
        if filed is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
        return filed

    @router.post(
        "",
        summary="Create a task that runs in the background",
        status_code=status.HTTP_201_CREATED,
        response_model=TaskOut,
        responses={404: {"description": "The thread is not one of yours."}},
    )
    async def create(body: TaskCreate, principal: Principal = member) -> TaskOut:
        """File the task as pending and start it. Its result is posted to the thread."""
        tasks = runner()
        title = (body.title or "").strip() or None
        if body.thread_id is not None:
            if await tasks.board.thread_owner(body.thread_id) != principal.user_id:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such thread.")
            thread_id = body.thread_id
        else:
            thread_id = str(uuid.uuid4())
        try:
            filed = await tasks.submit(
                principal.user_id,
                thread_id,
                body.request,
                title=title,
                operator=body.operator,
                priority=body.priority,
                before_start=lambda filed: _open_thread(services, tasks, filed, principal, body),
            )
        except TaskRequestError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
        return task_out(filed, tasks)

    @router.get("", summary="List tasks, newest first", response_model=list[TaskOut])
    async def listing(
        principal: Principal = member,
        status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
        priority: Priority | None = None,
        operator: Annotated[str | None, Query(max_length=64)] = None,
        origin: Origin | None = None,
        created_after: Annotated[
            datetime | date | None,
            Query(description="Created at or after this date or time (UTC when unzoned)."),
        ] = None,
        created_before: Annotated[
            datetime | date | None,
            Query(description="Created before this date (a date: before its first moment)."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    ) -> list[TaskOut]:
        """Your tasks (an admin: everyone's), filtered by status, priority, operator, origin
        and creation date."""
        after = None if created_after is None else _stamp(created_after)
        before = None if created_before is None else _stamp(created_before)
        if after is not None and before is not None and after >= before:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                "created_after must be earlier than created_before.",
            )
        where = TaskFilter(
            user_id=None if principal.is_admin else principal.user_id,
            statuses=None if status_ is None else (status_,),
            priority=priority,
            operator=operator,
            origin=origin,
            created_after=after,
            created_before=before,
            limit=limit,
        )
        tasks = runner()
        return [task_out(filed, tasks) for filed in await tasks.board.list(where)]

    @router.get(
        "/{task_id}",
        summary="Read one task",
        response_model=TaskOut,
        responses={404: {"description": "No such task (or not yours)."}},
    )
    async def read(task_id: str, principal: Principal = member) -> TaskOut:
        """The task with its status, result and place in line."""
        return task_out(await visible(task_id, principal), runner())

    @router.post(
        "/{task_id}/cancel",
        summary="Cancel a pending or running task",
        response_model=TaskOut,
        responses={
            404: {"description": "No such task (or not yours)."},
            409: {"description": "The task has already ended."},
        },
    )
    async def cancel(task_id: str, principal: Principal = member) -> TaskOut:
        """Stop the task; it ends `cancelled`."""
        tasks = runner()
        try:
            filed = await tasks.cancel(await visible(task_id, principal))
        except TaskStateError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return task_out(filed, tasks)

    @router.post(
        "/{task_id}/retry",
        summary="Run a failed or cancelled task again",
        response_model=TaskOut,
        responses={
            404: {"description": "No such task (or not yours)."},
            409: {"description": "The task is not failed or cancelled."},
        },
    )
    async def retry(task_id: str, principal: Principal = member) -> TaskOut:
        """Queue the task again at its priority; it posts its new result to its thread."""
        tasks = runner()
        try:
            filed = await tasks.retry(await visible(task_id, principal))
        except TaskStateError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return task_out(filed, tasks)

    return router


async def _open_thread(
    services: Services,
    tasks: TaskRunner,
    filed: FiledTask,
    principal: Principal,
    body: TaskCreate,
) -> None:
    """Name a new thread after the task, and show the request in the thread."""
    if body.thread_id is None and filed.thread_id is not None:
        await services.data_layer.update_thread(
            filed.thread_id, name=filed.task.title, user_id=principal.user_id
        )
    await tasks.record_request(filed, principal.identifier)


def _when(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def _stamp(moment: datetime | date) -> float:
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
