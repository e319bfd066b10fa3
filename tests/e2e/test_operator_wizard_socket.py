"""End to end: an admin makes an operator with the chat's wizard, and the Chief of Staff
hands it work in the very next message; members cannot reach the wizard by any door.

The chat model is a scripted OpenAI-compatible server (tool calls included), so the
Chief of Staff plans with tools exactly as with a remote provider.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest

from tests.models.openai_server import FakeOpenAI, text, tool_call
from tests.support.chainlit_client import ChainlitClient, dumps, login
from tests.support.server import RunningServer

pytestmark = pytest.mark.slow  # starts a server

SAMPLES = (
    "Plan a two-day business trip to Berlin",
    "What should I pack for a week in Oslo in winter?",
    "Find a morning train from Paris to Lyon on Monday",
)


ON_FAKE_OPENAI = True
WITH_MEMBER = True


def _rows(server: RunningServer, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.log.parent / "cadre.db") as db:
        return db.execute(sql, args).fetchall()


def _said(chat: ChainlitClient, after: int) -> list[str]:
    """What Cadre said (plain messages) since event `after`."""
    return [
        str(step.get("output", ""))
        for step in chat.messages(chat.events[after:]).values()
        if step.get("name") == "Cadre"
    ]


async def _step(chat: ChainlitClient, mark: int) -> dict[str, Any]:
    return await chat.next_ask(after=mark)


async def test_an_admin_makes_an_operator_and_the_chief_delegates_to_it_next(
    admin: ChainlitClient, server: RunningServer, remote: FakeOpenAI
) -> None:
    mark = len(admin.events)
    await admin.send("/new-operator")
    ask = await _step(admin, mark)
    assert "What is the new operator called" in ask["msg"]["output"]

    # Invalid names are asked again, with the reason.
    ask = await _step(admin, await admin.answer("9 lives!"))
    assert "starts with a letter" in ask["msg"]["output"]
    ask = await _step(admin, await admin.answer("researcher"))
    assert "already taken" in ask["msg"]["output"]
    assert "What is the new operator called" in ask["msg"]["output"]

    ask = await _step(admin, await admin.answer("Travel Planner"))
    assert "What is **Travel Planner** for?" in ask["msg"]["output"]
    # Back returns to the name, which is kept.
    ask = await _step(admin, await admin.answer("back"))
    assert "Now: _Travel Planner_" in ask["msg"]["output"]
    ask = await _step(admin, await admin.answer("keep"))
    ask = await _step(admin, await admin.answer("too short"))
    assert "too short" in ask["msg"]["output"]
    assert "at least 20" in ask["msg"]["output"]
    ask = await _step(
        admin,
        await admin.answer(
            "Plans business trips: itineraries, train and flight options, hotels and packing."
        ),
    )
    labels = [a["label"] for a in admin.ask_actions(ask)]
    assert "Template: Specialist" in labels
    assert "Write my own" in labels
    assert labels[-2:] == ["Back", "Cancel"]
    ask = await _step(admin, await admin.press(ask, "Template: Specialist"))

    # Models: only those that can answer now, with a note on tools and where requests go.
    assert "test-model" in ask["msg"]["output"]
    assert "requests leave the machine" in ask["msg"]["output"]
    # A crafted reply naming a button that was never offered is refused and asked again.
    ask = await _step(admin, await admin.reply_raw({"payload": {"choice": 99}}))
    assert "not a model that can answer now" in ask["msg"]["output"]
    offered = {"name": "operator_wizard", "label": "x", "payload": {"choice": 99}}
    ask = await _step(admin, await admin.reply_raw(offered))
    assert "not a model that can answer now" in ask["msg"]["output"]
    ask = await _step(admin, await admin.press(ask, "The chat's model"))

    assert "`calculate`:" in ask["msg"]["output"]  # each tool with its one-line explanation
    ask = await _step(admin, await admin.press(ask, "calculate"))
    assert "Selected: **calculate**" in ask["msg"]["output"]
    ask = await _step(admin, await admin.press(ask, "Done"))
    ask = await _step(admin, await admin.press(ask, "No documents"))
    ask = await _step(admin, await admin.press(ask, "Quick"))
    ask = await _step(admin, await admin.answer("Only one sample"))
    assert "2 to 10" in ask["msg"]["output"]
    review = await _step(admin, await admin.answer("\n".join(SAMPLES)))
    card = review["msg"]["output"]
    assert "**Review**" in card
    assert "| Name | Travel Planner |" in card
    assert "calculate" in card
    assert "4 model calls" in card
    # Nothing is saved before the review's Save.
    assert _rows(server, "SELECT name FROM agents WHERE name = 'Travel Planner'") == []

    # Try it: a sample request runs on the draft, streaming, with its steps.
    remote.requests.clear()
    remote.replies.append(text("Day 1: ", "train to Berlin at 8:00. Day 2: meetings."))
    pick = await _step(admin, await admin.press(review, "Try it"))
    mark = await admin.press(pick, SAMPLES[0][:60])
    review = await _step(admin, mark)
    steps = list(admin.messages(admin.events[mark:]).values())
    planner = [s for s in steps if s.get("name") == "Travel Planner" and s["type"] == "llm"]
    assert planner, dumps(admin.events[mark:])
    assert "train to Berlin" in planner[0]["output"]
    assert any(e.name == "stream_token" for e in admin.events[mark:])
    assert "You are the Travel Planner" in remote.requests[0]["messages"][0]["content"]

    mark = await admin.press(review, "Save")
    await admin.wait_until(
        lambda ev: any("Saved **Travel Planner**" in s for s in _said(admin, mark))
    )
    [(tools, examples)] = _rows(
        server, "SELECT tools, examples FROM agents WHERE name = 'Travel Planner'"
    )
    assert "calculate" in tools
    assert "Oslo" in examples
    [(action, actor)] = _rows(
        server, "SELECT action, actor FROM operator_changes WHERE operator = 'Travel Planner'"
    )
    assert (action, actor) == ("created", "admin")

    # The very next message: the Chief of Staff is offered the new operator and uses it.
    remote.requests.clear()
    remote.replies += [
        tool_call("delegate_to_travel_planner", '{"instructions": "Two days in Berlin"}', "t1"),
        text("Day 1: arrive by train. Day 2: meetings, back at 18:00."),
        text("Here is your Berlin plan: arrive by train, meetings on day 2."),
    ]
    events = await admin.ask("Plan my two days in Berlin next week")
    offered = {t["function"]["name"] for t in remote.requests[0]["tools"]}
    assert "delegate_to_travel_planner" in offered
    assert (
        "Travel Planner (delegate_to_travel_planner)"
        in remote.requests[0]["messages"][0]["content"]
    )
    steps = list(admin.messages(events).values())
    root = next(s for s in steps if s["name"] == "Chief of Staff" and s["type"] == "run")
    planner = next(s for s in steps if s["name"] == "Travel Planner" and s["type"] == "llm")
    assert planner["parentId"] == root["id"]
    assert admin.answers(events)[-1].startswith("Here is your Berlin plan")


async def test_cancel_at_any_step_saves_nothing(
    admin: ChainlitClient, server: RunningServer
) -> None:
    mark = len(admin.events)
    await admin.send("/new-operator")
    ask = await _step(admin, mark)
    ask = await _step(admin, await admin.answer("Budget Checker"))
    ask = await _step(admin, await admin.answer("Checks budgets against the spending policy."))
    mark = await admin.press(ask, "Cancel")
    await admin.wait_until(lambda ev: any("Cancelled" in s for s in _said(admin, mark)))
    assert _rows(server, "SELECT name FROM agents WHERE name = 'Budget Checker'") == []


async def test_operators_list_edits_disables_enables_and_deletes_with_an_audit_trail(
    admin: ChainlitClient, server: RunningServer
) -> None:
    mark = len(admin.events)
    await admin.send("/operators")
    await admin.wait_until(lambda ev: any("**Operators**" in s for s in _said(admin, mark)))
    listing = next(s for s in _said(admin, mark) if "**Operators**" in s)
    assert "| Writer | built-in | the chat's | enabled |" in listing
    assert "| Travel Planner | made here | the chat's | enabled |" in listing
    assert "admin created **Travel Planner**" in listing  # the recent changes

    mark = await admin.press_action("Disable Writer", after=mark)
    mark = await admin.press_action("Enable Writer", after=mark)
    labels = {e.data["label"] for e in admin.events if e.name == "action"}
    assert "Delete Writer" not in labels  # built-ins can be disabled, not deleted

    # Edit: the same wizard, prefilled; a new description, everything else kept.
    ask = await _step(admin, await admin.press_action("Edit Travel Planner", after=mark))
    assert "Now: _Travel Planner_" in ask["msg"]["output"]
    ask = await _step(admin, await admin.answer("keep"))
    ask = await _step(
        admin, await admin.answer("Plans business trips and checks them against the policy.")
    )
    ask = await _step(admin, await admin.press(ask, "Keep the current ones"))
    ask = await _step(admin, await admin.press(ask, "The chat's model"))
    assert "Selected: **calculate**" in ask["msg"]["output"]
    ask = await _step(admin, await admin.press(ask, "Done"))
    ask = await _step(admin, await admin.press(ask, "No documents"))
    ask = await _step(admin, await admin.press(ask, "Quick"))
    review = await _step(admin, await admin.answer("keep"))
    assert "Save changes" in [a["label"] for a in admin.ask_actions(review)]
    mark = await admin.press(review, "Save changes")
    await admin.wait_until(
        lambda ev: any("Saved **Travel Planner**" in s for s in _said(admin, mark))
    )

    # Delete asks first: "Keep it" changes nothing, the second time it goes.
    ask = await _step(admin, await admin.press_action("Delete Travel Planner", after=0))
    assert "cannot be undone" in ask["msg"]["output"]
    mark = await admin.press(ask, "Keep it")
    await admin.wait_until(
        lambda ev: any("**Travel Planner** stays" in s for s in _said(admin, mark))
    )
    assert _rows(server, "SELECT name FROM agents WHERE name = 'Travel Planner'") != []
    ask = await _step(admin, await admin.press_action("Delete Travel Planner", after=0))
    mark = await admin.press(ask, "Yes, delete it")
    await admin.wait_until(
        lambda ev: any("Deleted **Travel Planner**" in s for s in _said(admin, mark))
    )
    assert _rows(server, "SELECT name FROM agents WHERE name = 'Travel Planner'") == []
    rows = _rows(
        server,
        "SELECT operator, action, actor, changes FROM operator_changes ORDER BY id",
    )
    assert [(o, a, who) for o, a, who, _ in rows] == [
        ("Travel Planner", "created", "admin"),
        ("Writer", "disabled", "admin"),
        ("Writer", "enabled", "admin"),
        ("Travel Planner", "updated", "admin"),
        ("Travel Planner", "deleted", "admin"),
    ]
    assert '"description"' in rows[3][3]
    assert '"examples"' not in rows[3][3]  # kept, so not a change


async def test_members_cannot_reach_the_wizard_by_any_door(
    member: ChainlitClient, server: RunningServer
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        mine = await http.get(
            "/project/settings",
            params={"language": "en-US"},
            headers={"Cookie": member.cookie or ""},
        )
        theirs = await http.get(
            "/project/settings",
            params={"language": "en-US"},
            headers={"Cookie": await login(server.url)},
        )
    assert "New operator" not in [s["label"] for s in mine.json()["starters"]]
    assert "New operator" in [s["label"] for s in theirs.json()["starters"]]  # the door exists

    commands = next(e.data for e in member.events if e.name == "set_commands")
    offered = [c["id"] for c in commands]
    assert "documents" in offered
    assert not {"new-operator", "operators"} & set(offered)  # everyone else's, not the admins'

    for typed in ("/new-operator", "/operators"):
        mark = len(member.events)
        await member.ask(typed)
        assert any("Only admins" in s for s in _said(member, mark))
        assert not [e for e in member.events[mark:] if e.name in ("ask", "action")]

    # The command chip, sent as the UI sends it.
    mark = len(member.events)
    await member.sio.emit(
        "client_message",
        {
            "message": {
                "id": "6f1e2c6a-3a8b-4a55-9e35-2b7f7f2f6a01",
                "output": "",
                "type": "user_message",
                "name": "User",
                "createdAt": "2026-11-30T00:00:00Z",
                "threadId": "",
                "command": "new-operator",
            },
            "fileReferences": [],
        },
    )
    await member.wait_until(lambda ev: any("Only admins" in s for s in _said(member, mark)))

    # The action endpoint, with actions crafted for each admin button.
    for name, payload in (
        ("operator_new", {}),
        ("operator_edit", {"name": "Travel Planner"}),
        ("operator_disable", {"name": "Writer"}),
        ("operator_enable", {"name": "Writer"}),
        ("operator_delete", {"name": "Travel Planner"}),
    ):
        response = await member.post_action(name, payload)
        assert response.status_code == 403, (name, response.text)
    assert not [e for e in member.events if e.name == "ask"]
    assert _rows(server, "SELECT actor FROM operator_changes WHERE actor = 'max'") == []
