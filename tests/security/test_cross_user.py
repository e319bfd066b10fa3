"""User B against everything user A owns, over every channel: refused, and A's data unchanged.

A owns a thread with a question and an answer, a file attached to the question (bytes on
disk), feedback on the answer and a live chat session. B is a logged-in member who knows
every id (they leak through URLs, logs and shoulder-surfing). Each attempt must be refused
(404 where an object is named, the same answer as for an id that does not exist), and a
snapshot of A's rows and file taken before must equal the one taken after.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chainlit as cl
import httpx
import pytest
import socketio
from chainlit.context import init_http_context

from app.auth.users import UserDirectory
from app.db import database_url
from app.db.chainlit_data.layer import CadreDataLayer
from tests.auth.helpers import TIMEOUT, get
from tests.support.chainlit_client import ChainlitClient
from tests.support.server import RunningServer, cadre_server, login_cookie

pytestmark = pytest.mark.slow  # starts a server

SECRET = "the launch code is 1234"


@dataclass(frozen=True)
class Owned:
    """Ids of what A owns."""

    thread: str
    question: str
    answer: str
    element: str
    file_url: str
    object_key: str
    feedback: str


async def _seed(data_dir: Path) -> tuple[str, str, str]:
    """A's thread, messages and file, stored as the chat would store them."""
    layer = CadreDataLayer.from_url(database_url(data_dir), data_dir / "files")
    try:
        users = UserDirectory(layer)
        alice = await users.add("alice", "alice-password")
        await users.add("bob", "bob-password")
        thread = str(uuid.uuid4())
        await layer.update_thread(thread, name="Alice's secret plan", user_id=alice.id)
        init_http_context(thread_id=thread)
        question = cl.Message(content=SECRET, type="user_message", author="alice")
        await layer.create_step(question.to_dict())
        answer = cl.Message(content="Noted, I will keep it safe.", author="Chief of Staff")
        await layer.create_step(answer.to_dict())
        file = cl.File(
            name="plan.txt", content=b"alice's plan", mime="text/plain", for_id=question.id
        )
        file.thread_id = thread
        await layer.create_element(file)
        return thread, question.id, answer.id
    finally:
        await layer.close()


def _db(data_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data_dir / "cadre.db")
    conn.row_factory = sqlite3.Row
    return conn


def snapshot(data_dir: Path, owned: Owned) -> dict[str, Any]:
    """Every row and byte of A's that B might try to read or change."""
    with _db(data_dir) as conn:
        rows = {
            table: [
                dict(row)
                for row in conn.execute(
                    f"SELECT * FROM {table} WHERE {column} = ?", (owned.thread,)
                )
            ]
            for table, column in [
                ("threads", "id"),
                ("steps", "thread_id"),
                ("elements", "thread_id"),
                ("feedback", "thread_id"),
            ]
        }
        rows["alice"] = [
            dict(row) for row in conn.execute("SELECT * FROM users WHERE identifier = 'alice'")
        ]
    stored = data_dir / "files" / owned.object_key
    return {"rows": rows, "file": stored.read_bytes()}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[RunningServer]:
    # B speaks once (a short answer from the bundled model) to make its session write.
    with cadre_server(data_dir, CADRE_MAX_NEW_TOKENS="8") as running:
        yield running


@pytest.fixture(scope="module")
def seeded(server: RunningServer, data_dir: Path) -> tuple[str, str, str]:
    return asyncio.run(_seed(data_dir))


@pytest.fixture(scope="module")
def alice(server: RunningServer, seeded: tuple[str, str, str]) -> str:
    return login_cookie(server.url, "alice", "alice-password")


@pytest.fixture(scope="module")
def bob(server: RunningServer, seeded: tuple[str, str, str]) -> str:
    return login_cookie(server.url, "bob", "bob-password")


@pytest.fixture(scope="module")
def owned(server: RunningServer, data_dir: Path, alice: str, seeded: tuple[str, str, str]) -> Owned:
    thread, question, answer = seeded
    feedback = httpx.put(
        f"{server.url}/feedback",
        json={
            "feedback": {"forId": answer, "value": 1, "comment": "great", "threadId": thread},
            "sessionId": str(uuid.uuid4()),
        },
        headers={"Cookie": alice},
        timeout=TIMEOUT,
    )
    assert feedback.status_code == 200, feedback.text
    mine = get(f"{server.url}/project/thread/{thread}", headers={"Cookie": alice})
    assert mine.status_code == 200, mine.text
    element = mine.json()["elements"][0]
    assert (
        get(
            element["url"] if "://" in element["url"] else f"{server.url}{element['url']}",
            headers={"Cookie": alice},
        ).content
        == b"alice's plan"
    )
    with _db(data_dir) as conn:
        key = conn.execute("SELECT object_key FROM elements WHERE id = ?", (element["id"],))
        object_key = key.fetchone()[0]
    return Owned(
        thread=thread,
        question=question,
        answer=answer,
        element=element["id"],
        file_url=element["url"],
        object_key=object_key,
        feedback=feedback.json()["feedbackId"],
    )


@pytest.fixture
async def alice_live(server: RunningServer, alice: str) -> AsyncIterator[ChainlitClient]:
    """A's open chat session, whose id B has learned."""
    chat = ChainlitClient(server.url, cookie=alice)
    await chat.connect()
    yield chat
    await chat.close()


def _http(method: str, server: RunningServer, path: str, cookie: str, **kw: Any) -> int:
    response = httpx.request(
        method, f"{server.url}{path}", headers={"Cookie": cookie}, timeout=TIMEOUT, **kw
    )
    return response.status_code


def _feedback(server: RunningServer, cookie: str, **feedback: Any) -> int:
    """`PUT /feedback` as the UI sends it (with a comment and a session id)."""
    body = {"feedback": {"comment": "pwned", **feedback}, "sessionId": str(uuid.uuid4())}
    return _http("PUT", server, "/feedback", cookie, json=body)


def test_b_cannot_reach_as_objects_over_http(
    server: RunningServer, data_dir: Path, owned: Owned, bob: str
) -> None:
    before = snapshot(data_dir, owned)
    missing = str(uuid.uuid4())
    file_path = owned.file_url.split(server.url)[-1]
    attempts: dict[str, tuple[int, int]] = {
        # name: (status for A's object, status for an id nobody has)
        "read thread (path)": (
            _http("GET", server, f"/project/thread/{owned.thread}", bob),
            _http("GET", server, f"/project/thread/{missing}", bob),
        ),
        "read element (path)": (
            _http("GET", server, f"/project/thread/{owned.thread}/element/{owned.element}", bob),
            _http("GET", server, f"/project/thread/{missing}/element/{missing}", bob),
        ),
        "download file (path)": (
            _http("GET", server, file_path, bob),
            _http("GET", server, f"/storage/{missing}/x.txt", bob),
        ),
        "shared view (path)": (
            _http("GET", server, f"/project/share/{owned.thread}", bob),
            _http("GET", server, f"/project/share/{missing}", bob),
        ),
        "rename thread (body)": (
            _http(
                "PUT",
                server,
                "/project/thread",
                bob,
                json={"threadId": owned.thread, "name": "pwned"},
            ),
            _http("PUT", server, "/project/thread", bob, json={"threadId": missing, "name": "x"}),
        ),
        "delete thread (body)": (
            _http("DELETE", server, "/project/thread", bob, json={"threadId": owned.thread}),
            _http("DELETE", server, "/project/thread", bob, json={"threadId": missing}),
        ),
        "feedback on A's answer (body)": (
            _feedback(server, bob, forId=owned.answer, value=0, threadId=owned.thread),
            _feedback(server, bob, forId=missing, value=0, threadId=missing),
        ),
        "feedback on A's answer, B's thread id (body)": (
            _feedback(server, bob, forId=owned.answer, value=0, threadId=missing),
            _feedback(server, bob, forId=missing, value=0),
        ),
        "overwrite A's feedback by id (body)": (
            _feedback(server, bob, id=owned.feedback, forId=owned.answer, value=0),
            _feedback(server, bob, id=missing, forId=missing, value=0),
        ),
        "delete A's feedback (body)": (
            _http("DELETE", server, "/feedback", bob, json={"feedbackId": owned.feedback}),
            _http("DELETE", server, "/feedback", bob, json={"feedbackId": missing}),
        ),
    }
    for name, (theirs, nobodys) in attempts.items():
        assert theirs == 404, f"{name}: {theirs}"
        assert theirs == nobodys, f"{name}: A's object and a missing one answer differently"

    listed = httpx.post(
        f"{server.url}/project/threads",
        json={
            "pagination": {"first": 50, "cursor": None},
            "filter": {"search": "secret", "userId": "someone-else"},
        },
        headers={"Cookie": bob},
        timeout=TIMEOUT,
    )
    assert listed.status_code == 200
    assert listed.json()["data"] == []
    assert snapshot(data_dir, owned) == before


async def test_b_cannot_reach_as_session(
    server: RunningServer, data_dir: Path, owned: Owned, bob: str, alice_live: ChainlitClient
) -> None:
    before = snapshot(data_dir, owned)
    session = alice_live.session_id
    element = {
        "type": "custom",
        "id": owned.element,
        "threadId": owned.thread,
        "forId": owned.question,
        "name": "pwned",
        "props": {"x": 1},
        "display": "inline",
    }
    refused = {
        "session file (query)": _http("GET", server, f"/project/file/x?session_id={session}", bob),
        "upload into A's session (query)": _http(
            "POST",
            server,
            f"/project/file?session_id={session}",
            bob,
            files={"file": ("x.txt", b"x", "text/plain")},
        ),
        "run an action in A's session (body)": _http(
            "POST",
            server,
            "/project/action",
            bob,
            json={"sessionId": session, "action": {"name": "x", "payload": {}, "id": "1"}},
        ),
        "update element via A's session (body)": _http(
            "PUT", server, "/project/element", bob, json={"sessionId": session, "element": element}
        ),
        "delete element via A's session (body)": _http(
            "DELETE",
            server,
            "/project/element",
            bob,
            json={"sessionId": session, "element": element},
        ),
    }
    for name, status in refused.items():
        assert status in (401, 403, 404), f"{name}: {status}"

    mine = ChainlitClient(server.url, cookie=bob)
    await mine.connect()
    try:
        # B's own session, once it has spoken (so writes are no longer held back), naming
        # A's thread and element: the data layer refuses.
        await mine.ask("Hi")
        body = {"sessionId": mine.session_id, "element": element}
        assert _http("DELETE", server, "/project/element", bob, json=body) == 404
        # Chainlit answers an element update at once and writes it in the background,
        # where the data layer refuses it (A's rows are compared below).
        _http("PUT", server, "/project/element", bob, json=body)
        await server.logged("data layer refused create_element")
        await mine.sio.emit("edit_message", {"message": {"id": owned.question, "output": "x"}})
        await mine.sio.emit(
            "message_favorite",
            {
                "message": {
                    "id": owned.answer,
                    "threadId": owned.thread,
                    "metadata": {"favorite": True},
                }
            },
        )
        await server.logged("refused an edit of message")
        await mine.ask("Thanks")  # a whole turn later, the favorite has been handled too
    finally:
        await mine.close()

    for auth in ({"threadId": owned.thread}, {"sessionId": session}):
        intruder = ChainlitClient(server.url, cookie=bob)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await intruder.connect(auth=auth)  # connect, resume or hijack: all refused
        await intruder.close()
    assert snapshot(data_dir, owned) == before


def test_a_still_has_everything(server: RunningServer, owned: Owned, alice: str) -> None:
    thread = get(f"{server.url}/project/thread/{owned.thread}", headers={"Cookie": alice}).json()
    assert thread["name"] == "Alice's secret plan"
    outputs = [step["output"] for step in thread["steps"]]
    assert SECRET in outputs
    answer = next(step for step in thread["steps"] if step["id"] == owned.answer)
    assert answer["feedback"]["comment"] == "great"
    assert answer["feedback"]["value"] == 1
    file = get(f"{server.url}{owned.file_url.split(server.url)[-1]}", headers={"Cookie": alice})
    assert file.content == b"alice's plan"
