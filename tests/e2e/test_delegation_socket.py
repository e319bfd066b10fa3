"""End to end: the Chief of Staff delegates, and the person sees it as nested steps."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest

from tests.support.chainlit_client import ChainlitClient, Received, dumps, tokens_of
from tests.support.server import RunningServer

pytestmark = pytest.mark.slow


def _steps(chat: ChainlitClient, events: list[Received]) -> list[dict[str, Any]]:
    return list(chat.messages(events).values())


def _one(steps: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [s for s in steps if all(s.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(s.get("name"), s.get("type")) for s in steps])
    return found[0]


async def _content(chat: ChainlitClient, element: dict[str, Any]) -> Any:
    """What the browser loads for an element: its file, fetched like the UI does."""
    url = f"{chat.base_url}/project/file/{element['chainlitKey']}?session_id={chat.session_id}"
    async with httpx.AsyncClient(headers={"Cookie": chat.cookie or ""}) as http:
        response = await http.get(url)
    response.raise_for_status()
    return json.loads(response.text)


def _task_lists(events: list[Received]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.name == "element" and e.data.get("type") == "tasklist"]


async def test_a_delegation_to_an_operator_with_a_tool_nests_every_step(
    client: ChainlitClient, server: RunningServer
) -> None:
    events = await client.ask("What is 17.5% of 2,340?")
    steps = _steps(client, events)

    chief = _one(steps, name="Chief of Staff", type="run")
    route = _one(steps, name="route", type="tool")
    analyst = _one(steps, name="Analyst", type="llm")
    calculator = _one(steps, name="calculate", type="tool")
    assert route["parentId"] == chief["id"]
    assert analyst["parentId"] == chief["id"]
    assert calculator["parentId"] == analyst["id"]
    assert "409.5" in calculator["output"], dumps(events)
    assert "tokens" in analyst["output"]  # usage and timing shown on the operator's step

    answer = _one(steps, type="assistant_message", name="Chief of Staff")
    assert "".join(tokens_of(events, answer["id"])) == answer["output"]
    assert "409.5" in answer["output"]

    lists = _task_lists(events)
    assert len(lists) >= 2, dumps(events)  # it changed while the work went on
    first, last = await _content(client, lists[0]), await _content(client, lists[-1])
    assert first["tasks"][0]["status"] in {"ready", "running"}
    assert last["status"] == "Done"
    assert [t["status"] for t in last["tasks"]] == ["done"]
    assert last["tasks"][0]["title"].startswith("Analyst")

    # The task record is kept with the conversation it belongs to.
    with sqlite3.connect(server.log.parent / "cadre.db") as db:
        rows = db.execute(
            "SELECT operator, status, thread_id, output_tokens FROM tasks WHERE title LIKE ?",
            ("%17.5%",),
        ).fetchall()
    assert [(operator, status) for operator, status, _, _ in rows] == [("Analyst", "done")]
    assert rows[0][2] == answer["threadId"]
    assert rows[0][3] > 0


async def test_a_writing_request_goes_to_the_writer(client: ChainlitClient) -> None:
    events = await client.ask("Draft a short thank-you note to my team")
    steps = _steps(client, events)

    chief = _one(steps, name="Chief of Staff", type="run")
    writer = _one(steps, name="Writer", type="llm")
    assert writer["parentId"] == chief["id"]
    answer = _one(steps, type="assistant_message", name="Chief of Staff")
    assert len(answer["output"].split()) >= 5


async def test_a_greeting_is_answered_by_the_chief_of_staff_itself(client: ChainlitClient) -> None:
    events = await client.ask("Hello!")
    steps = _steps(client, events)

    _one(steps, name="Chief of Staff", type="run")
    assert not [s for s in steps if s.get("name") in {"Writer", "Analyst", "Researcher"}]
    answer = _one(steps, type="assistant_message", name="Chief of Staff")
    assert answer["output"].strip()
