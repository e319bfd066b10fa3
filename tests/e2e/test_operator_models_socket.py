"""End to end: an admin pins the built-in Writer to another model from `/operators`, and the
next turn's Writer step runs on it (its footer names the model); when that model stops
answering, the Writer finishes on the deployment's model with a notice. Members cannot pin.

Both models are served by a scripted OpenAI-compatible server, seen through the socket like a
browser.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from tests.models.openai_server import FakeOpenAI, error, fake_openai, text, tool_call
from tests.support.chainlit_client import ChainlitClient, dumps, login
from tests.support.server import MEMBER, RunningServer

pytestmark = pytest.mark.slow  # starts a server


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeOpenAI]:
    with fake_openai(models=("test-model", "writer-model")) as running:
        yield running


ON_FAKE_OPENAI = True
WITH_MEMBER = True


def _rows(server: RunningServer, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.log.parent / "cadre.db") as db:
        return db.execute(sql, args).fetchall()


def _said(chat: ChainlitClient, after: int) -> list[str]:
    return [
        str(step.get("output", ""))
        for step in chat.messages(chat.events[after:]).values()
        if step.get("name") == "Cadre"
    ]


async def _pin_writer(chat: ChainlitClient, label: str) -> str:
    """`/operators` → "Model of Writer" → `label`; the question that was asked."""
    mark = len(chat.events)
    await chat.send("/operators")
    ask = await chat.next_ask(after=await chat.press_action("Model of Writer", after=mark))
    question = str(ask["msg"]["output"])
    mark = await chat.press(ask, label)
    await chat.wait_until(lambda ev: any("✅ **Writer** runs on" in s for s in _said(chat, mark)))
    return question


def _steps(chat: ChainlitClient, events: list[Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in chat.messages(events).values() if s.get("type") in ("llm", "run")}


async def test_an_admin_pins_the_writer_and_the_next_turn_runs_it_on_that_model(
    admin: ChainlitClient, server: RunningServer, remote: FakeOpenAI
) -> None:
    mark = len(admin.events)
    await admin.send("/operators")
    await admin.wait_until(lambda ev: any("**Operators**" in s for s in _said(admin, mark)))
    listing = next(s for s in _said(admin, mark) if "**Operators**" in s)
    assert "| Writer | built-in | the chat's | enabled |" in listing

    question = await _pin_writer(admin, "openai:writer-model")
    # Only models that answer now, each with what it can do and where requests go.
    assert "`openai:writer-model`: plans with tools, requests leave the machine" in question
    assert "Now: the chat's model." in question
    assert _rows(server, "SELECT model FROM agents WHERE name = 'Writer'") == [
        ("openai:writer-model",)
    ]
    [(action, actor, changes)] = _rows(
        server, "SELECT action, actor, changes FROM operator_changes WHERE operator = 'Writer'"
    )
    assert (action, actor) == ("updated", "admin")
    assert json.loads(changes) == {"model": [None, "openai:writer-model"]}
    # The list again, with the pin and the change.
    pinned = "| Writer | built-in | `openai:writer-model` | enabled |"
    await admin.wait_until(lambda ev: any(pinned in s for s in _said(admin, 0)))
    listing = next(s for s in _said(admin, 0) if pinned in s)
    assert "model: the chat's → `openai:writer-model`" in listing  # the recent changes

    remote.requests.clear()
    remote.replies += [
        tool_call("delegate_to_writer", '{"instructions": "Two lines for the board: 60"}', "w1"),
        text("Dear board, our fleet will have 60 vehicles."),  # the Writer
        text("Here is the note for the board."),  # the Chief of Staff
    ]
    events = await admin.ask("Draft a two-line note to the board: the fleet grows to 60.")
    steps = _steps(admin, events)
    assert [r["model"] for r in remote.requests] == ["test-model", "writer-model", "test-model"]
    assert "`openai:writer-model` ·" in steps["Writer"]["output"], dumps(events)
    assert "`openai:test-model` ·" in steps["Chief of Staff"]["output"]
    assert admin.answers(events)[-1] == "Here is the note for the board."

    # The pinned model stops answering (removed from the server): the Writer finishes on the
    # deployment's model, and its step says so.
    remote.requests.clear()
    remote.replies += [
        tool_call("delegate_to_writer", '{"instructions": "Two lines for the board: 61"}', "w2"),
        error(404, "The model `writer-model` does not exist", code="model_not_found"),
        text("Dear board, our fleet will have 61 vehicles."),  # the Writer, on test-model
        text("Here is the new note."),
    ]
    events = await admin.ask("Draft it again with 61.")
    steps = _steps(admin, events)
    writer = steps["Writer"]["output"]
    assert "61 vehicles" in writer, dumps(events)
    assert "switched to openai:test-model" in writer
    assert "`openai:test-model` ·" in writer
    assert [r["model"] for r in remote.requests] == [
        "test-model",
        "writer-model",
        "test-model",
        "test-model",
    ]

    # Cleared: back to the chat's model, audited.
    await _pin_writer(admin, "The chat's model")
    assert _rows(server, "SELECT model FROM agents WHERE name = 'Writer'") == [(None,)]
    changes = _rows(
        server, "SELECT changes FROM operator_changes WHERE operator = 'Writer' ORDER BY id"
    )
    assert json.loads(changes[-1][0]) == {"model": ["openai:writer-model", None]}


async def test_members_cannot_pin_a_model(server: RunningServer) -> None:
    member = ChainlitClient(server.url, cookie=await login(server.url, *MEMBER))
    await member.connect()
    try:
        response = await member.post_action("operator_model", {"name": "Writer"})
        assert response.status_code == 403, response.text
        assert not [e for e in member.events if e.name == "ask"]
    finally:
        await member.close()
    assert _rows(server, "SELECT actor FROM operator_changes WHERE actor = 'max'") == []
