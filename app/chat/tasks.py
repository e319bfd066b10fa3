"""Tasks in the chat: `/task` runs a request in the background, `/tasks` shows the board.

`/task [urgent|high|normal|low] [@Operator] <request>` files the task in this conversation
and answers with its priority and place in line; the result arrives here later, live when
the conversation is open (`deliver_live`), else written to the thread. `/tasks` lists the
person's tasks grouped by status with Cancel and Retry buttons. A button names a task id
only: the owner always comes from the session, so another person's id is refused.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import chainlit as cl
from chainlit.context import init_ws_context
from chainlit.session import WebsocketSession, ws_sessions_id
from chainlit.types import CommandDict

from agents.models.queue import PRIORITIES, Priority
from agents.tasks import Task
from app.background_tasks import (
    CHIEF_DECIDES,
    TaskRequestError,
    TaskRunner,
    TaskStateError,
    task_runner,
)
from app.db.task_board import FiledTask, TaskFilter
from app.services import Services
from app.turns import Caller, Turns

log = logging.getLogger(__name__)

TASK = "task"
BOARD = "tasks"
CANCEL_ACTION = "task_cancel"
RETRY_ACTION = "task_retry"
BOARD_SIZE = 50
"""The most recent tasks the board shows."""
PLACE_WAIT_S = 2.0
"""How long the `/task` reply waits to learn the task's place in line."""

COMMANDS: list[CommandDict] = [
    {
        "id": TASK,
        "icon": "list-plus",
        "description": "Run a request in the background: /task [urgent|high|normal|low] "
        "[@Operator] what to do",
        "button": False,
        "persistent": False,
        "selected": False,
    },
    {
        "id": BOARD,
        "icon": "list-checks",
        "description": "Your tasks by status, with cancel and retry",
        "button": False,
        "persistent": False,
        "selected": False,
    },
]

USAGE = (
    "Say what to do: `/task [urgent|high|normal|low] [@Operator] <request>`, e.g. "
    "`/task urgent @Writer draft the launch announcement`."
)
_GROUPS = (
    ("pending", "⏳ Pending"),
    ("running", "▶️ Running"),
    ("done", "✅ Done"),
    ("failed", "❌ Failed"),
    ("cancelled", "🚫 Cancelled"),
)
_PREVIEW = 160
_PRIORITIES: dict[str, Priority] = {priority: priority for priority in PRIORITIES}


@dataclass(frozen=True, slots=True)
class TaskOrder:
    """What a `/task` message asks for."""

    request: str
    priority: Priority = "normal"
    operator: str | None = None


def command_of(message: cl.Message) -> str | None:
    """`task` or `tasks` when the message is one of these commands, else `None`."""
    if message.command in (TASK, BOARD):
        return message.command
    typed = message.content.strip()
    if typed == f"/{BOARD}":
        return BOARD
    if typed == f"/{TASK}" or typed.startswith(f"/{TASK} ") or typed.startswith(f"/{TASK}\n"):
        return TASK
    return None


def parse_order(text: str, operators: list[str]) -> TaskOrder:
    """Read `[priority] [@Operator] request` (the `/task` prefix already off or still on).

    The operator may have spaces in its name; the longest name of the roster that follows
    `@` wins. An unknown `@name` is kept, so the runner can say which operators there are.
    """
    rest = text.strip()
    if rest == f"/{TASK}" or rest.startswith((f"/{TASK} ", f"/{TASK}\n")):
        rest = rest[len(TASK) + 1 :].strip()
    priority: Priority = "normal"
    first, _, after = rest.partition(" ")
    if first.lower() in _PRIORITIES:
        priority = _PRIORITIES[first.lower()]
        rest = after.strip()
    operator = None
    if rest.startswith("@"):
        named = rest[1:]
        for name in sorted(operators, key=len, reverse=True):
            if re.match(rf"{re.escape(name)}(\s|$)", named, re.IGNORECASE):
                operator, rest = name, named[len(name) :].strip()
                break
        else:
            operator, _, rest = named.partition(" ")
            rest = rest.strip()
    return TaskOrder(rest, priority, operator)


async def create_task(services: Services, caller: Caller, text: str) -> None:
    """File the `/task` in this conversation and say so, with its place in line."""
    runner = task_runner(services)
    roster = [op.name for op in await Turns(services).roster(caller)]
    order = parse_order(text, roster)
    if not order.request:
        await _say(f"⚠️ {USAGE}")
        return
    if caller.thread_id is None:
        await _say("⚠️ This chat has no conversation to post the result to; send a message first.")
        return
    try:
        filed = await runner.submit(
            caller.user_id,
            caller.thread_id,
            order.request,
            operator=order.operator,
            priority=order.priority,
        )
    except TaskRequestError as exc:
        await _say(f"⚠️ {exc}")
        return
    place = await _place(runner, filed.task.id)
    who = "the Chief of Staff decides who does it" if order.operator is None else order.operator
    await _say(
        f"📋 Task **{filed.task.title}** filed: priority **{order.priority}**, {who}. {place} "
        "The result will be posted in this conversation; `/tasks` shows all your tasks."
    )


async def show_board(services: Services, caller: Caller) -> None:
    """Post the person's tasks grouped by status, with Cancel and Retry buttons."""
    runner = task_runner(services)
    filed = await runner.board.list(
        TaskFilter(user_id=caller.user_id, origin="requested", limit=BOARD_SIZE)
    )
    if not filed:
        await _say(f"You have no tasks yet. {USAGE}")
        return
    sections: list[str] = []
    actions: list[cl.Action] = []
    for status, heading in _GROUPS:
        group = [f.task for f in filed if f.task.status == status]
        if not group:
            continue
        lines = "\n".join(_line(task, runner) for task in group)
        sections.append(f"### {heading} ({len(group)})\n{lines}")
        for task in group:
            if status in ("pending", "running"):
                actions.append(_button(CANCEL_ACTION, task, "Cancel", "x"))
            elif status in ("failed", "cancelled"):
                actions.append(_button(RETRY_ACTION, task, "Retry", "rotate-ccw"))
    body = "\n\n".join(sections)
    await cl.Message(
        content=f"**Your tasks** ({len(filed)})\n\n{body}", author="Cadre", actions=actions
    ).send()


async def cancel_or_retry(services: Services, caller: Caller, action: cl.Action) -> str:
    """Cancel or retry the task a button names, if it is the caller's; say what happened."""
    task_id = action.payload.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        return "⚠️ That button does not name a task."
    runner = task_runner(services)
    filed = await runner.board.get(task_id, caller.user_id)  # ownership from the session
    if filed is None or filed.task.origin != "requested":
        log.warning("refused %s of task %r to user %s", action.name, task_id, caller.user_id)
        return "⚠️ That task is not one of yours."
    try:
        if action.name == CANCEL_ACTION:
            done = await runner.cancel(filed)
            return f"🚫 Cancelled **{done.task.title}**."
        again = await runner.retry(filed)
    except TaskStateError as exc:
        return f"⚠️ {exc}"
    place = await _place(runner, again.task.id)
    return f"🔁 Retrying **{again.task.title}** ({again.task.priority}). {place}"


def connect(services: Services) -> None:
    """Let the task runner show results live in the conversations open in this server."""
    task_runner(services).live = deliver_live


async def deliver_live(filed: FiledTask, author: str, text: str) -> bool:
    """Show a result in the task's conversation if its owner has it open; it is stored too."""
    for session in list(ws_sessions_id.values()):
        if not _shows(session, filed):
            continue
        init_ws_context(session)  # this runs in the task's own context, not a request's
        # The task id lets feedback on the result count for the task's turn (app/db/stats.py).
        await cl.Message(content=text, author=author, metadata={"task_id": filed.task.id}).send()
        return True
    return False


def _shows(session: WebsocketSession, filed: FiledTask) -> bool:
    user_id = getattr(session.user, "id", None)
    # Before its first interaction a session parks its writes (app/db/chainlit_data/calls.py):
    # the result would not be stored until the person typed, so write it directly instead.
    return (
        session.thread_id == filed.thread_id
        and str(user_id) == filed.user_id
        and session.has_first_interaction
    )


async def _place(runner: TaskRunner, task_id: str) -> str:
    """Where the task stands, once it has had a moment to reach the model's line."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PLACE_WAIT_S
    while loop.time() < deadline:
        position = runner.position(task_id)
        if position is not None:
            return f"Other work comes first: it is **#{position}** in line."
        filed = await runner.board.get(task_id)
        if filed is None or filed.task.status != "pending":
            return "It is running now."
        await asyncio.sleep(0.1)
    return "It is waiting to start."


def _line(task: Task, runner: TaskRunner) -> str:
    details: list[str] = [task.priority]
    if task.operator != CHIEF_DECIDES:
        details.append(f"@{task.operator}")
    if (position := runner.position(task.id)) is not None:
        details.append(f"#{position} in line")
    line = f"- **{task.title}** · {' · '.join(details)}"
    if task.result and task.status != "cancelled":
        preview = " ".join(task.result.split())
        if len(preview) > _PREVIEW:
            preview = preview[:_PREVIEW].rsplit(" ", 1)[0] + "…"
        line += f"\n  {preview}"
    return line


def _button(name: str, task: Task, verb: str, icon: str) -> cl.Action:
    return cl.Action(
        name=name, payload={"task_id": task.id}, label=f"{verb}: {task.title}", icon=icon
    )


async def _say(text: str) -> None:
    await cl.Message(content=text, author="Cadre").send()
