"""`/stats` through the socket, as the browser sees it: an admin's turn that delegates to the
Writer, a thumbs up on its answer (`PUT /feedback`, as the UI sends it), then the table and
the Plotly chart; a member sees only their own usage; the period buttons and a bad period.

The chat model is a scripted OpenAI-compatible server, so every token count is known.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.models.openai_server import FakeOpenAI, text, tool_call
from tests.support.chainlit_client import ChainlitClient, Received, dumps
from tests.support.server import RunningServer

pytestmark = pytest.mark.slow  # starts a server

HEADING = "**Operator performance"


ON_FAKE_OPENAI = True
WITH_MEMBER = True


async def stats(chat: ChainlitClient, typed: str) -> tuple[str, list[Received]]:
    """Send `typed`; the table message and the events since."""
    mark = len(chat.events)
    await chat.send(typed)
    await chat.wait_until(lambda ev: any(HEADING in s for s in _said(chat, mark)))
    await chat.handler_ended(after=mark)
    return next(s for s in _said(chat, mark) if HEADING in s), chat.events[mark:]


def _said(chat: ChainlitClient, after: int) -> list[str]:
    return [
        str(step.get("output", ""))
        for step in chat.messages(chat.events[after:]).values()
        if step.get("name") == "Cadre"
    ]


def _row(table: str, operator: str) -> str:
    rows = [line for line in table.splitlines() if line.startswith(f"| {operator} |")]
    assert len(rows) == 1, f"no single row of {operator} in:\n{table}"
    return rows[0]


def _plotly(event: Received) -> bool:
    return event.name == "element" and event.data["type"] == "plotly"


async def _figure(chat: ChainlitClient, events: list[Received]) -> dict[str, Any]:
    """The Plotly element sent with the table (after it), fetched as the browser fetches it."""
    start = chat.events.index(events[0])
    await chat.wait_until(lambda ev: any(_plotly(e) for e in ev[start:]))
    [element] = [e.data for e in chat.events[start:] if _plotly(e)]
    async with httpx.AsyncClient(
        base_url=chat.base_url, headers={"Cookie": chat.cookie or ""}
    ) as http:
        if element.get("url"):
            response = await http.get(element["url"])
        else:
            response = await http.get(
                f"/project/file/{element['chainlitKey']}",
                params={"session_id": chat.session_id},
            )
    assert response.status_code == 200, (element, response.text)
    figure: dict[str, Any] = json.loads(response.text)
    return figure


async def test_an_admin_sees_each_operator_with_the_thumbs_on_its_answers(
    admin: ChainlitClient, server: RunningServer, remote: FakeOpenAI, member: ChainlitClient
) -> None:
    commands = [e.data for e in member.events if e.name == "set_commands"][-1]
    assert "stats" in [c["id"] for c in commands]  # offered to everyone

    remote.replies += [
        tool_call("delegate_to_writer", '{"instructions": "Thank the team"}', "w1"),
        text("Dear team, thank you.", usage=(20, 6)),  # the Writer
        text("Here is the note.", usage=(50, 4)),  # the Chief of Staff
    ]
    events = await admin.ask("Write a thank-you note to the team.")
    [answer] = [
        step
        for step in admin.messages(events).values()
        if step.get("type") == "assistant_message" and step.get("name") == "Chief of Staff"
    ]
    # The answer's row is written just after the turn ends: thumb it once it is stored.
    thumbs = await _thumb_up(server, admin, answer)
    assert thumbs.status_code == 200, (thumbs.text, dumps(events))

    table, shown = await stats(admin, "/stats today")
    assert f"{HEADING} — today** (all users)" in table, table
    # The tool call's usage chunk is (30, 9); the others as scripted above.
    assert (
        _row(table, "Chief of Staff") == "| Chief of Staff | 0 | — | — | — | 80 / 13 | — | 1 / 0 |"
    )
    writer = _row(table, "Writer").split(" | ")
    assert writer[1:3] == ["1", "100%"], table
    assert writer[3].endswith(" s")
    assert writer[3] == writer[4]  # one task: its median is its p95
    assert writer[5:] == ["20 / 6", "—", "1 / 0 |"]
    assert "| **All** | 1 |" in table

    figure = await _figure(admin, shown)
    bars = {trace["name"]: trace for trace in figure["data"]}
    assert set(bars) == {"done", "failed", "cancelled", "tokens in", "tokens out"}
    assert list(bars["done"]["x"]) == ["Chief of Staff", "Writer"]
    assert list(bars["done"]["y"]) == [0, 1]
    assert list(bars["tokens in"]["y"]) == [80, 20]

    # The member has done nothing yet: their own figures are empty, not everyone's.
    table, shown = await stats(member, "/stats")
    assert f"{HEADING} — last 7 days** (your own usage)" in table
    assert "No operator has recorded work in this period" in table
    empty = member.events.index(shown[0])

    remote.replies.append(text("Hello Max.", usage=(12, 5)))
    hello = await member.ask("Hello")
    assert member.answers(hello) == ["Hello Max."], (dumps(hello), server.log_text()[-3000:])
    assert not [e for e in member.events[empty : member.events.index(hello[0])] if _plotly(e)]
    table, _ = await stats(member, "/stats all")
    assert (
        _row(table, "Chief of Staff") == "| Chief of Staff | 0 | — | — | — | 12 / 5 | — | 0 / 0 |"
    )
    assert "| Writer |" not in table

    # The period buttons under the table, pressed as the browser does.
    mark = await member.press_action("Last 30 days")
    await member.wait_until(lambda ev: any("last 30 days" in s for s in _said(member, mark)))

    table, _ = await stats(admin, "/stats 30d")
    assert "| Chief of Staff | 0 | — | — | — | 92 / 18 |" in table  # both users' turns

    mark = len(member.events)
    await member.send("/stats forever")
    await member.wait_until(lambda ev: any("No period 'forever'" in s for s in _said(member, mark)))


async def _thumb_up(
    server: RunningServer, chat: ChainlitClient, answer: dict[str, Any]
) -> httpx.Response:
    """`PUT /feedback` as the UI sends it, until the answer is stored (at most 10 s)."""
    body = {
        "feedback": {"forId": answer["id"], "value": 1, "threadId": answer["threadId"]},
        "sessionId": chat.session_id,
    }
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Cookie": chat.cookie or ""}
    ) as http:
        for _ in range(100):
            response = await http.put("/feedback", json=body)
            if response.status_code != 404:
                break
            await asyncio.sleep(0.1)
    return response
