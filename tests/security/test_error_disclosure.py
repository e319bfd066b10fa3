"""Errors shown to people hold no keys, server paths or stack traces (OWASP LLM02/LLM07).

A real `cadre serve` talks to a fake OpenAI-protocol server that refuses with bodies echoing
the configured key and a file on the server, as real providers do ("Incorrect API key
provided: sk-..."). The chat answer (over the socket, as a browser) and the /v1 error body
must name neither; the server's log keeps the detail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agents.scrub import register_secret, scrub_error
from tests.models.openai_server import FakeOpenAI, error, fake_openai
from tests.support.chainlit_client import ChainlitClient, dumps
from tests.support.cli import add_user, new_api_key
from tests.support.server import RunningServer, cadre_server

KEY = "sk-proj-Zq81TestKeyEchoedBack0000abcd"
SERVER_FILE = "/srv/provider/app/handlers/auth_check.py"
LEAKY = [
    f"Incorrect API key provided: {KEY}. You can find your API key at https://example.test.",
    f"Invalid request: tokenizer failed in {SERVER_FILE} line 88 for key {KEY}",
]


def _hidden(text: str) -> bool:
    return KEY not in text and KEY[-12:] not in text and "/srv/provider" not in text


def test_the_scrubber_takes_out_keys_paths_and_tracebacks() -> None:
    register_secret("literal-configured-value-42")
    cases = {
        f"OpenAI refused the request (400): {LEAKY[1]}": [KEY, SERVER_FILE],
        "Anthropic said: x-api-key sk-ant-api03-AbCdEf123456 is invalid": ["sk-ant-api03"],
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload": ["eyJhbGci"],
        "bad key literal-configured-value-42 (api_key=hunter2hunter2)": ["literal-conf", "hunter2"],
        "FileNotFoundError: [Errno 2] No such file: '/home/ana/.cadre/cadre.db'": ["/home/ana"],
        'Traceback (most recent call last):\n  File "/app/agents/x.py", line 3': ["Traceback"],
        "could not open C:\\Users\\ana\\cadre\\keys.txt": ["C:\\Users"],
    }
    for text, secrets in cases.items():
        shown = scrub_error(text)
        assert shown
        for secret in secrets:
            assert secret not in shown, (text, shown)
    # Ordinary error sentences are left as they were.
    for plain in [
        "http://127.0.0.1:8000/v1 could not be reached or dropped the connection",
        "The Analyst used all 8 of its steps without finishing, so I stopped it.",
        "openai:gpt-4o-mini is not a model this server knows.",
    ]:
        assert scrub_error(plain) == plain


@dataclass
class Site:
    server: RunningServer
    remote: FakeOpenAI
    data: Path
    key: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("data")
    add_user(data, "alice")
    key = new_api_key(data, "alice")
    with (
        fake_openai() as remote,
        cadre_server(
            data,
            CADRE_OPENAI_BASE_URL=remote.url,
            CADRE_OPENAI_API_KEY=KEY,
            CADRE_CHAT_MODEL="openai:test-model",
        ) as server,
    ):
        yield Site(server, remote, data, key)


@pytest.mark.slow  # starts a server
@pytest.mark.parametrize(("status", "message"), [(401, LEAKY[0]), (400, LEAKY[1])])
async def test_a_provider_error_that_echoes_the_key_reaches_no_one(
    site: Site, status: int, message: str
) -> None:
    site.remote.replies.append(error(status, message))
    chat = ChainlitClient(site.server.url)
    await chat.connect()
    try:
        events = await chat.ask("What is the capital of France?")
    finally:
        await chat.close()
    every = "\n".join(json.dumps(e.data) for e in events)  # all the browser was sent
    assert "refused" in " ".join(chat.answers(events)), dumps(events)
    assert _hidden(every), every

    site.remote.replies.append(error(status, message))
    async with httpx.AsyncClient(timeout=120) as client:
        reply = await client.post(
            f"{site.server.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {site.key}"},
            json={"model": "cadre", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert "refused" in reply.text, reply.text
    assert _hidden(reply.text), reply.text
    assert len(site.remote.requests) >= 2  # both channels did reach the provider
