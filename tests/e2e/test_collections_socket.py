"""End to end: an admin makes a shared collection in the chat, fills it, gives it to an
operator with the wizard, and a member's question is answered from it by that operator;
members cannot manage collections by any door, and a collection in use is not deleted.

The chat model is a scripted OpenAI-compatible server, so the Chief of Staff and the
operator call tools as a remote provider would; the files are read by the real pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.models.openai_server import FakeOpenAI, text, tool_call
from tests.support.chainlit_client import ChainlitClient
from tests.support.cli import cadre
from tests.support.server import RunningServer

pytestmark = pytest.mark.slow  # starts a server

ON_FAKE_OPENAI = True
WITH_MEMBER = True

HANDBOOK = """# Leave

Parental leave is 18 weeks at full pay, for every parent, taken within two years of the birth.

# Equipment

Every employee may expense one standing desk, up to 450 euros.
"""


def _said(chat: ChainlitClient, after: int) -> list[str]:
    return [
        str(step.get("output", ""))
        for step in chat.messages(chat.events[after:]).values()
        if step.get("name") == "Cadre"
    ]


async def _saying(chat: ChainlitClient, after: int, words: str) -> str:
    await chat.wait_until(lambda ev: any(words in s for s in _said(chat, after)))
    return next(s for s in _said(chat, after) if words in s)


async def _step(chat: ChainlitClient, mark: int) -> dict[str, Any]:
    return await chat.next_ask(after=mark)


async def test_a_collection_answers_members_through_its_operator(
    admin: ChainlitClient,
    member: ChainlitClient,
    server: RunningServer,
    remote: FakeOpenAI,
    tmp_path: Path,
) -> None:
    mark = len(admin.events)
    await admin.send("/collections")
    await _saying(admin, mark, "None yet")

    # Make one: an unusable name is asked again with the reason.
    ask = await _step(admin, await admin.press_action("New collection", after=mark))
    assert "Name the new collection" in ask["msg"]["output"]
    ask = await _step(admin, await admin.answer("<b>"))
    assert "1 to 60 letters" in ask["msg"]["output"]
    ask = await _step(admin, await admin.answer("Employee handbook"))
    assert "What is in **Employee handbook**?" in ask["msg"]["output"]
    ask = await _step(admin, await admin.answer("Leave, benefits and equipment policies."))

    # Then its files, read with the chat's progress step.
    assert ask["spec"]["type"] == "file"
    assert "Employee handbook" in ask["msg"]["output"]
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    mark = await admin.answer_files(ask, [(handbook, "text/markdown")])
    shown = await _saying(admin, mark, "**Employee handbook** (1)")
    assert "handbook.md** — ✅ ready" in shown

    mark = len(admin.events)
    await admin.send("/collections")
    listing = await _saying(admin, mark, "**Shared collections**")
    assert "| Employee handbook | 1 ready of 1 | no operator yet |" in listing

    # The wizard offers it as an operator's knowledge.
    mark = len(admin.events)
    await admin.send("/new-operator")
    ask = await _step(admin, mark)
    ask = await _step(admin, await admin.answer("Policy Desk"))
    ask = await _step(
        admin, await admin.answer("Answers questions about company policies from the handbook.")
    )
    ask = await _step(admin, await admin.press(ask, "Template: Document expert"))
    ask = await _step(admin, await admin.press(ask, "The chat's model"))
    ask = await _step(admin, await admin.press(ask, "search_documents"))
    ask = await _step(admin, await admin.press(ask, "Done"))
    ask = await _step(admin, await admin.press(ask, "A shared collection"))
    assert "Which shared collection" in ask["msg"]["output"]
    ask = await _step(admin, await admin.press(ask, "Employee handbook"))
    ask = await _step(admin, await admin.press(ask, "Standard"))
    review = await _step(
        admin,
        await admin.answer("How long is parental leave?\nCan I expense a standing desk?"),
    )
    assert "| Knowledge | the shared collection Employee handbook |" in review["msg"]["output"]
    await _saying(admin, await admin.press(review, "Save"), "Saved **Policy Desk**")

    # A member asks; the Chief of Staff delegates and the operator searches the collection.
    remote.requests.clear()
    remote.replies += [
        tool_call("delegate_to_policy_desk", '{"instructions": "Parental leave length"}', "d1"),
        tool_call("search_documents", '{"query": "parental leave"}', "s1"),
        text("Parental leave is 18 weeks at full pay [1]."),
        text("Parental leave is 18 weeks at full pay [1]."),
    ]
    events = await member.ask("How long is parental leave?")
    tool_results = [
        str(m.get("content"))
        for request in remote.requests
        for m in request["messages"]
        if m.get("role") == "tool"
    ]
    assert any("18 weeks at full pay" in result for result in tool_results), tool_results
    assert "18 weeks" in member.answers(events)[-1]
    # It is not the member's document: their own list stays empty.
    mark = len(member.events)
    await member.send("/documents")
    await _saying(member, mark, "You have no documents yet")

    # In use, it is not deleted.
    mark = len(admin.events)
    await admin.send("/collections")
    await _saying(admin, mark, "| Employee handbook | 1 ready of 1 | Policy Desk |")
    mark = await admin.press_action("Employee handbook", after=mark)
    mark = await admin.press_action("Delete Employee handbook", after=mark)
    refusal = await _saying(admin, mark, "is searched by Policy Desk")
    assert "first" in refusal
    listed = cadre(server.log.parent, "collections", "list")
    assert "Employee handbook" in listed.stdout
    assert "Policy Desk" in listed.stdout


async def test_members_cannot_manage_collections_by_any_door(
    member: ChainlitClient, server: RunningServer
) -> None:
    mark = len(member.events)
    await member.send("/collections")
    await _saying(member, mark, "Only admins can manage shared collections")
    for name, payload in (
        ("collection_new", {}),
        ("collection_open", {"id": "x"}),
        ("collection_add", {"id": "x"}),
        ("collection_remove_document", {"id": "x", "document_id": "y"}),
        ("collection_delete", {"id": "x"}),
    ):
        response = await member.post_action(name, payload)
        assert response.status_code == 403, (name, response.text)
    assert not [e for e in member.events if e.name == "ask"]


def test_the_cli_makes_fills_and_deletes_a_collection(
    server: RunningServer, tmp_path: Path
) -> None:
    data = server.log.parent
    made = cadre(data, "collections", "create", "Price lists", "--about", "What we charge.")
    assert made.returncode == 0, made.stderr
    again = cadre(data, "collections", "create", "price LISTS")
    assert again.returncode == 1
    assert "already a collection" in again.stderr
    prices = tmp_path / "prices.csv"
    prices.write_text("item,price\nconsulting day,1200\n")
    both = cadre(data, "ingest", "--collection", "Price lists", "--user", "admin", str(prices))
    assert both.returncode == 1
    assert "not both" in both.stderr
    ingested = cadre(data, "ingest", "--collection", "Price lists", str(prices))
    assert ingested.returncode == 0, ingested.stderr
    assert "the collection Price lists" in ingested.stderr
    listed = cadre(data, "collections", "list")
    assert "Price lists" in listed.stdout
    assert "What we charge." in listed.stdout
    users = cadre(data, "users", "list")
    assert "Price lists" not in users.stdout
    assert "collection:" not in users.stdout
    gone = cadre(data, "collections", "delete", "Price lists", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert "its 1 document(s)" in gone.stdout
    assert "Price lists" not in cadre(data, "collections", "list").stdout
