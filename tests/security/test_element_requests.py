"""Chainlit's element endpoint, as the advisories used it (CVE-2026-22218 file read,
CVE-2026-22219 SSRF, and an update naming another user's thread), against a real server.

`PUT /project/element` takes an element from the client and stores it. An element that names
a URL on the server's network, or a file on its disk, must never be fetched or read: a
canary HTTP server must see no request, and no stored byte may be the canary file's. A
custom element naming another user's thread must not appear there.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.auth.helpers import add_user
from tests.models.openai_server import FakeOpenAI, fake_openai, text
from tests.support.chainlit_client import ChainlitClient
from tests.support.local_http import serving
from tests.support.server import RunningServer, cadre_server, login_cookie

pytestmark = pytest.mark.slow  # starts a server

CANARY_BODY = "CANARY-7731-INTERNAL-ONLY"
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


@pytest.fixture(scope="module")
def canary_hits() -> Iterator[tuple[str, list[str]]]:
    """An internal-only HTTP service: its address and every path requested from it."""
    hits: list[str] = []

    async def anything(request: Request) -> PlainTextResponse:
        hits.append(request.url.path)
        return PlainTextResponse(CANARY_BODY)

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST", "HEAD"])])
    with serving(app, "canary") as url:
        yield url, hits


@pytest.fixture(scope="module")
def canary_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "server-secret.txt"
    path.write_text(CANARY_BODY)
    return path


@pytest.fixture(scope="module")
def remote() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def server(remote: FakeOpenAI, data_dir: Path) -> Iterator[RunningServer]:
    with cadre_server(
        data_dir, CADRE_OPENAI_BASE_URL=remote.url, CADRE_CHAT_MODEL="openai:test-model"
    ) as running:
        add_user(data_dir, "bob", "bob-password-long")
        yield running


def _rows(data_dir: Path, sql: str, *args: object) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "cadre.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, args)]


def _thread_rows(data_dir: Path, thread: str) -> dict[str, list[dict[str, Any]]]:
    return {
        table: _rows(data_dir, f"SELECT * FROM {table} WHERE thread_id = ?", thread)
        for table in ("elements", "steps")
    }


async def _settled(data_dir: Path, thread: str) -> dict[str, list[dict[str, Any]]]:
    """The thread's rows once Chainlit's background writes of the last turn have landed."""
    last = _thread_rows(data_dir, thread)
    for _ in range(60):
        await asyncio.sleep(0.5)
        now = _thread_rows(data_dir, thread)
        if now == last:
            return now
        last = now
    raise AssertionError("the thread's rows never stopped changing")


def _put(server: RunningServer, cookie: str, session_id: str, element: dict[str, Any]) -> int:
    response = httpx.put(
        f"{server.url}/project/element",
        json={"sessionId": session_id, "element": element},
        headers={"Cookie": cookie},
        timeout=30,
    )
    return response.status_code


async def _spoken(server: RunningServer, remote: FakeOpenAI, cookie: str) -> ChainlitClient:
    """A chat session that has had one turn (so Chainlit writes its elements)."""
    chat = ChainlitClient(server.url, cookie=cookie)
    await chat.connect()
    remote.replies.append(text("Hello."))
    await chat.ask("Hi")
    return chat


def _thread_and_message(chat: ChainlitClient) -> tuple[str, str]:
    """The chat's thread and the id of a message in it (the answer)."""
    steps = list(chat.messages(chat.events).values())
    answer = next(s for s in steps if s.get("type") == "assistant_message" and s.get("threadId"))
    return str(answer["threadId"]), str(answer["id"])


async def test_elements_naming_internal_urls_or_server_files_are_never_fetched(
    server: RunningServer,
    remote: FakeOpenAI,
    data_dir: Path,
    canary_hits: tuple[str, list[str]],
    canary_file: Path,
) -> None:
    canary_url, hits = canary_hits
    cookie = server.login()
    chat = await _spoken(server, remote, cookie)
    try:
        thread, message = _thread_and_message(chat)
        base = {"threadId": thread, "forId": message, "display": "inline", "props": {}}
        attempts = [
            {"type": "custom", "name": "ssrf", "url": f"{canary_url}/custom", **base},
            {"type": "custom", "name": "metadata", "url": METADATA, **base},
            {"type": "custom", "name": "read", "path": str(canary_file), **base},
            {"type": "image", "name": "img", "url": f"{canary_url}/image", **base},
            {"type": "file", "name": "file", "path": str(canary_file), **base},
            {"type": "text", "name": "text", "url": f"{canary_url}/text", **base},
        ]
        ids = []
        for attempt in attempts:
            attempt["id"] = str(uuid.uuid4())
            ids.append(attempt["id"])
            assert _put(server, cookie, chat.session_id, attempt) in (200, 400, 422)
        # Chainlit answers at once and stores in the background: a whole turn later it is done.
        remote.replies.append(text("Still here."))
        assert chat.answers(await chat.ask("Still there?"))[-1] == "Still here."
        await asyncio.sleep(1)
    finally:
        await chat.close()

    assert hits == [], f"the server fetched {hits}"
    stored = _rows(data_dir, "SELECT * FROM elements WHERE thread_id = ?", thread)
    for row in stored:
        assert canary_url not in str(row.get("url") or ""), row
        assert "169.254" not in str(row.get("url") or ""), row
    # No element's bytes anywhere in Cadre's storage are the server file's.
    leaked = [
        path
        for path in (data_dir / "files").rglob("*")
        if path.is_file() and CANARY_BODY.encode() in path.read_bytes()
    ]
    assert leaked == []
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        thread_view = (await http.get(f"/project/thread/{thread}", timeout=30)).json()
        for element in thread_view["elements"]:
            url = str(element.get("url") or "")
            if element["id"] in ids and url:
                body = await http.get(url, timeout=30)
                assert CANARY_BODY not in body.text


async def test_a_custom_element_naming_another_users_thread_changes_nothing(
    server: RunningServer, remote: FakeOpenAI, data_dir: Path
) -> None:
    alice_cookie = server.login()
    alice = await _spoken(server, remote, alice_cookie)
    await alice.close()
    thread, message = _thread_and_message(alice)
    before = await _settled(data_dir, thread)

    bob_cookie = login_cookie(server.url, "bob", "bob-password-long")
    bob = await _spoken(server, remote, bob_cookie)
    try:
        planted = str(uuid.uuid4())
        element = {
            "type": "custom",
            "id": planted,
            "threadId": thread,
            "forId": message,
            "name": "Notice",
            "props": {"text": "Your session expired: sign in again at evil.example"},
            "display": "inline",
        }
        mark = len(server.log_text())
        assert _put(server, bob_cookie, bob.session_id, element) == 200
        await server.logged("data layer refused create_element")
        assert "data layer refused create_element" in server.log_text()[mark:]
    finally:
        await bob.close()

    assert _rows(data_dir, "SELECT * FROM elements WHERE id = ?", planted) == []
    assert _thread_rows(data_dir, thread) == before
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": alice_cookie}) as http:
        seen = (await http.get(f"/project/thread/{thread}", timeout=30)).json()
    assert planted not in {element["id"] for element in seen["elements"]}
