"""History as a person uses it: chat, leave, come back, resume; list, search, rename, delete;
feedback that is still there after a restart. A real server and the bundled model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.helpers import TIMEOUT, delete, get, put
from tests.support.chainlit_client import ChainlitClient, Received, dumps
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # the bundled model answers

SETTINGS = {"CADRE_TEMPERATURE": "0"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[RunningServer]:
    with cadre_server(data_dir, **SETTINGS) as running:
        yield running


def _answer(chat: ChainlitClient, events: list[Received]) -> dict[str, Any]:
    answers = [
        step
        for step in chat.messages(events).values()
        if step.get("type") == "assistant_message" and step.get("name") == "Chief of Staff"
    ]
    assert answers, dumps(events)
    return answers[-1]


def _threads(server: RunningServer, cookie: str, search: str | None = None) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.url}/project/threads",
        json={"pagination": {"first": 20, "cursor": None}, "filter": {"search": search}},
        headers={"Cookie": cookie},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_leave_and_resume_with_the_earlier_turns(server: RunningServer) -> None:
    cookie = server.login()
    first = ChainlitClient(server.url, cookie=cookie)
    await first.connect()
    await first.ask("My name is Zorbalina. Please remember my name.")
    started = next(e for e in first.events if e.name == "first_interaction")
    thread_id = started.data["thread_id"]
    await first.close()

    listed = _threads(server, cookie)
    assert [t["id"] for t in listed] == [thread_id]
    assert listed[0]["name"].startswith("My name is Zorbalina")

    again = ChainlitClient(server.url, cookie=cookie, thread_id=thread_id)
    await again.connect(resume=True)
    try:
        assert again.resumed is not None
        outputs = [step.get("output") for step in again.resumed["steps"]]
        assert "My name is Zorbalina. Please remember my name." in outputs
        events = await again.ask("What is my name?")
        assert "Zorbalina" in str(_answer(again, events)["output"])
    finally:
        await again.close()
    thread = get(f"{server.url}/project/thread/{thread_id}", headers={"Cookie": cookie}).json()
    users = [s["output"] for s in thread["steps"] if s["type"] == "user_message"]
    assert users == ["My name is Zorbalina. Please remember my name.", "What is my name?"]


async def test_search_rename_and_delete(server: RunningServer) -> None:
    cookie = server.login()
    chat = ChainlitClient(server.url, cookie=cookie)
    await chat.connect()
    await chat.ask("Plan a picnic for Saturday.")
    thread_id = next(e for e in chat.events if e.name == "first_interaction").data["thread_id"]
    await chat.close()
    headers = {"Cookie": cookie}

    assert [t["id"] for t in _threads(server, cookie, search="picnic")] == [thread_id]
    assert _threads(server, cookie, search="no such words anywhere") == []

    renamed = put(
        f"{server.url}/project/thread",
        json={"threadId": thread_id, "name": "Weekend picnic"},
        headers=headers,
    )
    assert renamed.status_code == 200, renamed.text
    names = {t["id"]: t["name"] for t in _threads(server, cookie)}
    assert names[thread_id] == "Weekend picnic"

    deleted = delete(f"{server.url}/project/thread", json={"threadId": thread_id}, headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert thread_id not in {t["id"] for t in _threads(server, cookie)}
    assert get(f"{server.url}/project/thread/{thread_id}", headers=headers).status_code == 404


async def test_feedback_survives_a_restart(tmp_path: Path) -> None:
    with cadre_server(tmp_path, **SETTINGS, CADRE_MAX_NEW_TOKENS="32") as running:
        cookie = running.login()
        chat = ChainlitClient(running.url, cookie=cookie)
        await chat.connect()
        events = await chat.ask("Say hello.")
        answer = _answer(chat, events)
        thread_id = next(e for e in chat.events if e.name == "first_interaction").data["thread_id"]
        given = put(
            f"{running.url}/feedback",
            json={
                "feedback": {
                    "forId": answer["id"],
                    "threadId": thread_id,
                    "value": 0,
                    "comment": "Too short.",
                },
                "sessionId": chat.session_id,
            },
            headers={"Cookie": cookie},
        )
        assert given.status_code == 200, given.text
        await chat.close()

    with cadre_server(tmp_path, **SETTINGS, wait_ready=False) as restarted:
        cookie = restarted.login()
        thread = get(f"{restarted.url}/project/thread/{thread_id}", headers={"Cookie": cookie})
        assert thread.status_code == 200
        step = next(s for s in thread.json()["steps"] if s["id"] == answer["id"])
        assert step["feedback"]["value"] == 0
        assert step["feedback"]["comment"] == "Too short."
        assert [t["id"] for t in _threads(restarted, cookie)] == [thread_id]
