"""Property-based fuzzing of what a browser can send a real `cadre serve`.

One server; one signed-in socket sends hypothesis-generated malformed payloads for every
event the server handles (`client_message`, `edit_message`, `window_message`, the audio
events, `stop`, `chat_settings_change`/`_edit`, favourites), and `POST /project/action`
gets odd JSON bodies. Properties: no request is answered with a 5xx; afterwards the server
is up (`/healthz`), its log holds no traceback (a malformed event is refused or ignored,
never crashes a handler), and another person's session still starts and gets an answer.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.chainlit_client import ChainlitClient
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server and asks the local model

T = TypeVar("T")

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

EVENTS = [
    "client_message",
    "edit_message",
    "window_message",
    "audio_start",
    "audio_chunk",
    "audio_end",
    "stop",
    "chat_settings_change",
    "chat_settings_edit",
    "message_favorite",
    "fetch_favorites",
]
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["../../etc/passwd", "00000000-0000-0000-0000-000000000000", "x" * 500])
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    ["id", "output", "threadId", "parentId", "createdAt", "type", "name", "metadata", "command"]
)
MESSAGE = st.dictionaries(FIELDS, JSON, max_size=6)
PAYLOAD = st.one_of(
    JSON,
    st.fixed_dictionaries({"message": MESSAGE}, optional={"fileReferences": JSON}),
    st.fixed_dictionaries(
        {},
        optional={
            "isStart": JSON,
            "mimeType": JSON,
            "elapsedTime": JSON,
            "data": st.binary(max_size=64) | JSON,
        },
    ),
    st.binary(max_size=64),
)


class _Loop:
    """An event loop in a thread, for a socket client that outlives each sync example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with cadre_server(tmp_path_factory.mktemp("data"), CADRE_MAX_NEW_TOKENS="8") as running:
        yield running


@pytest.fixture(scope="module")
def loop() -> Iterator[_Loop]:
    running = _Loop()
    yield running
    running.close()


@pytest.fixture(scope="module")
def attacker(server: RunningServer, loop: _Loop) -> Iterator[ChainlitClient]:
    cookie = server.login()

    async def connected() -> ChainlitClient:
        client = ChainlitClient(server.url, cookie=cookie)
        await client.connect()
        return client

    client = loop.run(connected())
    yield client
    loop.run(client.close())


def _tracebacks(log: str) -> list[str]:
    """The distinct errors behind the tracebacks in `log` (each one's last line)."""
    errors = []
    for part in log.split("Traceback (most recent call last)")[1:]:
        lines = [line for line in part.splitlines() if line and not line.startswith(" ")]
        errors.append(next((line for line in lines if not line.startswith(":")), part[:300]))
    return sorted(set(errors))


@FUZZ
@given(event=st.sampled_from(EVENTS), payload=PAYLOAD, extra=st.booleans())
def test_malformed_socket_events_are_refused_or_ignored(
    server: RunningServer,
    loop: _Loop,
    attacker: ChainlitClient,
    event: str,
    payload: Any,
    extra: bool,
) -> None:
    if not attacker.sio.connected:
        # A refusal may close this socket; the fuzzing goes on from a fresh one.
        attacker.session_id = str(uuid.uuid4())
        attacker.events.clear()
        loop.run(attacker.connect())
    args = (payload, payload) if extra else (payload,)

    async def emit() -> None:
        await attacker.sio.emit(event, args if extra else payload)
        await asyncio.sleep(0.02)

    loop.run(emit())


@FUZZ
@given(
    body=st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"sessionId": JSON | st.just("SESSION"), "action": JSON | st.just({})},
        ),
        st.fixed_dictionaries(
            {
                "sessionId": st.just("SESSION"),
                "action": st.dictionaries(
                    st.sampled_from(["name", "payload", "label", "id", "forId"]), JSON
                ),
            }
        ),
    ),
    raw=st.booleans(),
)
def test_odd_action_bodies_are_refused_not_crashed(
    server: RunningServer, attacker: ChainlitClient, body: Any, raw: bool
) -> None:
    if isinstance(body, dict) and body.get("sessionId") == "SESSION":
        body = {**body, "sessionId": attacker.session_id}
    import json

    content = json.dumps(body, allow_nan=True)
    if raw:
        content = content[: len(content) // 2]  # broken JSON
    response = httpx.post(
        f"{server.url}/project/action",
        content=content.encode(),
        headers={"Cookie": attacker.cookie or "", "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code < 500, (response.status_code, response.text[:300], content)


def test_afterwards_the_server_is_up_clean_and_answers_others(
    server: RunningServer, loop: _Loop, attacker: ChainlitClient, tmp_path: Path
) -> None:
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200

    async def another_person_asks() -> list[str]:
        other = ChainlitClient(server.url, cookie=server.login())
        try:
            await other.connect()
            events = await other.ask("Say hello.")
            return other.answers(events)
        finally:
            await other.close()

    answers = loop.run(another_person_asks())
    assert answers, "no answer for another session after the fuzzing"
    assert any(a.strip() for a in answers), answers
    problems = _tracebacks(server.log_text())
    assert not problems, "\n".join(problems)
