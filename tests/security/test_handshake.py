"""The socket handshake and browser origins: what a crafted client or a foreign page can do.

Chainlit uses the client's `sessionId` as a folder name that it deletes when the session
ends; a traversal there could delete any folder. A canary folder outside `.files` must
survive every attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.auth.helpers import get, post
from tests.support.chainlit_client import ChainlitClient
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server

WIDGET = "https://widget.example"
EVIL = "https://evil.example"
THREADS = {"pagination": {"first": 20, "cursor": None}, "filter": {}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with cadre_server(
        tmp_path_factory.mktemp("data"), wait_ready=False, CADRE_ALLOWED_ORIGINS=WIDGET
    ) as running:
        yield running


@pytest.fixture(scope="module")
def cookie(server: RunningServer) -> str:
    return server.login()


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    folder = tmp_path / "canary"
    folder.mkdir()
    (folder / "keep.txt").write_text("still here")
    return folder


def _intact(canary: Path) -> bool:
    return (canary / "keep.txt").read_text() == "still here"


async def _refused(server: RunningServer, cookie: str, **auth: Any) -> None:
    client = ChainlitClient(server.url, cookie=cookie)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(auth=auth)
    finally:
        await client.close()


def _traversals(canary: Path) -> list[object]:
    climb = "../" * 16 + str(canary).lstrip("/")
    return [
        str(canary),  # pathlib drops `.files/` in front of an absolute path
        climb,
        f"{uuid.uuid4()}/{climb}",
        f"{uuid.uuid4()}/../../{canary.name}",
        "..",
        str(uuid.uuid4()).upper(),
        "{" + str(uuid.uuid4()) + "}",
        str(uuid.uuid4()) + "\x00",
        "",
        None,
        ["x"],
        {"a": 1},
    ]


async def test_session_ids_that_are_not_uuids_are_refused(
    server: RunningServer, cookie: str, canary: Path
) -> None:
    for session_id in _traversals(canary):
        await _refused(server, cookie, sessionId=session_id)
    # Uploads name the session too: no session can exist under such an id.
    upload = post(
        f"{server.url}/project/file",
        params={"session_id": str(canary)},
        files={"file": ("x.txt", b"x", "text/plain")},
        headers={"Cookie": cookie},
    )
    assert upload.status_code >= 400
    assert _intact(canary)


async def test_a_session_that_ends_leaves_other_folders_alone(
    server: RunningServer, cookie: str, canary: Path
) -> None:
    client = ChainlitClient(server.url, cookie=cookie)
    await client.connect()
    await client.sio.call("clear_session", timeout=30)  # deleted at once on disconnect
    await client.close()
    for session_id in _traversals(canary):
        await _refused(server, cookie, sessionId=session_id)
    ended = ChainlitClient(server.url, cookie=cookie, session_id=client.session_id)
    await ended.connect()  # a new session under the same id: nothing was left behind
    await ended.close()
    assert _intact(canary)


async def test_thread_ids_must_be_uuids(server: RunningServer, cookie: str) -> None:
    for thread_id in ["../../etc", "x" * 40, str(uuid.uuid4()).upper()]:
        await _refused(server, cookie, threadId=thread_id)


async def test_client_types_other_than_the_web_ui_and_widget_are_refused(
    server: RunningServer, cookie: str
) -> None:
    for client_type in ["slack", "teams", "discord", "admin", "", None]:
        await _refused(server, cookie, clientType=client_type)
    widget = ChainlitClient(server.url, cookie=cookie)
    await widget.connect(auth={"clientType": "copilot"})
    await widget.close()


async def test_a_made_up_chat_profile_changes_nothing(server: RunningServer, cookie: str) -> None:
    client = ChainlitClient(server.url, cookie=cookie)
    await client.connect(auth={"chatProfile": "admin-tools"})  # the chat starts as usual
    await client.close()
    assert "ignored chat profile 'admin-tools'" in server.log_text()
    for profile in [{"x": 1}, "p" * 300]:
        await _refused(server, cookie, chatProfile=profile)


async def test_user_env_must_be_a_json_object(server: RunningServer, cookie: str) -> None:
    for user_env in ["not json", "[1, 2]", "42", {"k": "v"}]:
        await _refused(server, cookie, userEnv=user_env)


async def test_the_socket_refuses_foreign_origins(server: RunningServer, cookie: str) -> None:
    for origin in [EVIL, "null", "http://127.0.0.1.evil.example", f"{server.url}.evil.example"]:
        client = ChainlitClient(server.url, cookie=cookie)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(headers={"Origin": origin})
        await client.close()
    for origin in [server.url, WIDGET]:
        client = ChainlitClient(server.url, cookie=cookie)
        await client.connect(headers={"Origin": origin})
        await client.close()


async def test_the_socket_needs_a_login(server: RunningServer) -> None:
    await _refused(server, "")
    await _refused(server, "access_token=forged.token.value")


def test_state_changes_from_foreign_origins_are_refused(server: RunningServer, cookie: str) -> None:
    url = f"{server.url}/project/threads"
    headers = {"Cookie": cookie}
    assert post(url, json=THREADS, headers={**headers, "Origin": EVIL}).status_code == 403
    assert post(url, json=THREADS, headers={**headers, "Origin": "null"}).status_code == 403
    assert post(url, json=THREADS, headers={**headers, "Origin": server.url}).status_code == 200
    assert post(url, json=THREADS, headers={**headers, "Origin": WIDGET}).status_code == 200
    assert post(url, json=THREADS, headers=headers).status_code == 200  # not from a browser
    evil_login = post(
        f"{server.url}/login",
        data={"username": "admin", "password": "admin-password-for-tests"},
        headers={"Origin": EVIL},
    )
    assert evil_login.status_code == 403
    assert "access_token" not in evil_login.cookies


def test_cors_answers_only_configured_origins(server: RunningServer, cookie: str) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    import httpx

    def options(origin: str) -> httpx.Response:
        return httpx.options(
            f"{server.url}/project/threads", headers={**preflight, "Origin": origin}, timeout=60
        )

    assert "access-control-allow-origin" not in options(EVIL).headers
    assert options(WIDGET).headers["access-control-allow-origin"] == WIDGET
    read = get(f"{server.url}/user", headers={"Cookie": cookie, "Origin": EVIL})
    assert "access-control-allow-origin" not in read.headers
