"""`/task` and `/tasks` over the real socket.io protocol, against a running Cadre.

The chat model is a local fake of OpenAI, so every task's answer is known (a hanging reply
keeps a task running for as long as a test needs). Buttons are pressed as the browser
presses them: `POST /project/action` with the action the server sent.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.models.openai_server import FakeOpenAI, Reply, text
from tests.support.chainlit_client import ChainlitClient, dumps, login
from tests.support.server import MEMBER, RunningServer

pytestmark = pytest.mark.slow  # starts a server

REQUESTED = "SELECT status FROM tasks WHERE origin = 'requested' AND instructions = ?"
"""The status of the task a person asked for (its operator's delegation is a record too)."""


ON_FAKE_OPENAI = True
WITH_MEMBER = True


@pytest.fixture
async def chat(server: RunningServer, remote: FakeOpenAI) -> AsyncIterator[ChainlitClient]:
    remote.replies.clear()
    client = ChainlitClient(server.url)
    await client.connect()
    yield client
    await client.close()


def _rows(server: RunningServer, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.log.parent / "cadre.db") as db:
        return db.execute(sql, args).fetchall()


def _from(chat: ChainlitClient, author: str, after: int) -> list[str]:
    return [
        str(step.get("output", ""))
        for step in chat.messages(chat.events[after:]).values()
        if step.get("name") == author
    ]


async def _said(chat: ChainlitClient, author: str, fragment: str, after: int) -> str:
    """The first message by `author` after event `after` that contains `fragment`."""
    await chat.wait_until(
        lambda _: any(fragment in said for said in _from(chat, author, after)), timeout=60
    )
    return next(said for said in _from(chat, author, after) if fragment in said)


async def test_a_task_is_filed_with_its_priority_and_its_result_arrives_in_the_thread(
    chat: ChainlitClient, remote: FakeOpenAI, server: RunningServer
) -> None:
    remote.replies.append(text("Dear team, thank you for a great quarter."))
    mark = len(chat.events)
    await chat.send("/task high @Writer write a thank-you note to the team")

    filed = await _said(chat, "Cadre", "filed", mark)
    assert "Task **write a thank-you note to the team** filed: priority **high**, Writer." in (
        filed
    )
    result = await _said(chat, "Chief of Staff", "Task done", mark)
    assert "write a thank-you note to the team" in result
    assert "Dear team, thank you for a great quarter." in result

    [(thread_id, status, priority, operator)] = _rows(
        server,
        "SELECT thread_id, status, priority, operator FROM tasks WHERE origin = 'requested' "
        "AND instructions = 'write a thank-you note to the team'",
    )
    assert (status, priority, operator) == ("done", "high", "Writer")
    stored: list[tuple[Any, ...]] = []
    for _ in range(300):  # shown live first; the data layer stores it a moment later
        stored = _rows(
            server,
            "SELECT s.name FROM steps s JOIN tasks t "
            "ON t.id = json_extract(s.metadata, '$.task_id') "
            "WHERE s.thread_id = ? AND s.output LIKE '%great quarter%'",
            thread_id,
        )
        if stored:
            break
        await asyncio.sleep(0.1)
    assert stored == [("Chief of Staff",)]  # shown live and stored once, naming its task

    reopened = ChainlitClient(server.url, cookie=chat.cookie, thread_id=thread_id)
    await reopened.connect(resume=True)
    try:
        assert reopened.resumed is not None
        outputs = [str(step.get("output")) for step in reopened.resumed["steps"]]
        assert any("great quarter" in output for output in outputs), outputs
    finally:
        await reopened.close()


async def test_a_task_without_a_request_gets_the_usage(chat: ChainlitClient) -> None:
    mark = len(chat.events)
    await chat.send("/task urgent")
    said = await _said(chat, "Cadre", "Say what to do", mark)
    assert "/task [urgent|high|normal|low] [@Operator] <request>" in said


async def test_an_unknown_operator_is_named_with_the_choices(chat: ChainlitClient) -> None:
    mark = len(chat.events)
    await chat.send("/task @Astronaut fly to the moon")
    said = await _said(chat, "Cadre", "not one of your operators", mark)
    assert "'Astronaut'" in said
    assert "Writer" in said


async def test_the_board_cancels_and_retries_a_task(
    chat: ChainlitClient, remote: FakeOpenAI, server: RunningServer
) -> None:
    remote.replies.append(Reply(text("Too late.").chunks, hang_s=30))
    mark = len(chat.events)
    await chat.send("/task low @Writer write the annual report")
    await _said(chat, "Cadre", "filed: priority **low**", mark)

    mark = len(chat.events)
    await chat.send("/tasks")
    board = await _said(chat, "Cadre", "Your tasks", mark)
    assert "**write the annual report** · low · @Writer" in board
    assert "### ▶️ Running (1)" in board or "### ⏳ Pending (1)" in board, board

    said = await chat.press_action("Cancel: write the annual report", after=mark)
    await _said(chat, "Cadre", "🚫 Cancelled **write the annual report**.", said)
    [(status,)] = _rows(server, REQUESTED, "write the annual report")
    assert status == "cancelled"

    mark = len(chat.events)
    await chat.send("/tasks")
    board = await _said(chat, "Cadre", "Your tasks", mark)
    assert "### 🚫 Cancelled (1)" in board, board
    remote.replies[:] = [text("The annual report, in short: a good year.")]
    said = await chat.press_action("Retry: write the annual report", after=mark)
    await _said(chat, "Cadre", "🔁 Retrying **write the annual report** (low).", said)
    result = await _said(chat, "Chief of Staff", "Task done: write the annual report", said)
    assert "a good year" in result, dumps(chat.events[said:])

    mark = len(chat.events)
    await chat.send("/tasks")
    board = await _said(chat, "Cadre", "Your tasks", mark)
    assert "### ✅ Done (2)" in board, board
    assert "a good year" in board


async def test_another_persons_task_cannot_be_cancelled_from_their_button(
    chat: ChainlitClient, remote: FakeOpenAI, server: RunningServer
) -> None:
    remote.replies.append(Reply(text("Still mine.").chunks, hang_s=30))
    mark = len(chat.events)
    await chat.send("/task @Writer draft the admin memo")
    await _said(chat, "Cadre", "filed", mark)
    board = len(chat.events)
    await chat.send("/tasks")
    await _said(chat, "Cadre", "Your tasks", board)

    intruder = ChainlitClient(server.url, cookie=await login(server.url, *MEMBER))
    await intruder.connect()
    try:
        pressed = await chat.press_action("Cancel: draft the admin memo", after=board, by=intruder)
        await _said(intruder, "Cadre", "That task is not one of yours.", pressed)
        mark = len(intruder.events)
        await intruder.send("/tasks")
        assert "You have no tasks yet" in await _said(intruder, "Cadre", "tasks", mark)
    finally:
        await intruder.close()
    [(status,)] = _rows(server, REQUESTED, "draft the admin memo")
    assert status in ("pending", "running")

    said = await chat.press_action("Cancel: draft the admin memo", after=board)  # the owner can
    await _said(chat, "Cadre", "🚫 Cancelled **draft the admin memo**.", said)


async def test_task_commands_are_offered_to_everyone(chat: ChainlitClient) -> None:
    commands = [e.data for e in chat.events if e.name == "set_commands"]
    assert commands, dumps(chat.events)
    offered = {c["id"]: c["description"] for c in commands[-1]}
    assert offered["task"].startswith("Run a request in the background")
    assert "tasks" in offered
