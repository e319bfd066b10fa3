"""End to end on Ollama: a model whose `/api/show` says it can think is asked to (`think:
true`), and its thinking arrives as the collapsed "Reasoning" step, not in the answer — seen
through the socket like a browser, against a local server speaking Ollama's NDJSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models.ollama_server import FakeOllama, fake_ollama, thought
from tests.support.chainlit_client import ChainlitClient, dumps
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # starts a server


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    with fake_ollama() as running:
        running.capabilities["llama3.2"] = ["completion", "tools", "thinking"]
        yield running


@pytest.fixture(scope="module")
def server(ollama: FakeOllama, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("data")
    with cadre_server(
        data, CADRE_OLLAMA_HOST=ollama.host, CADRE_CHAT_MODEL="ollama:llama3.2"
    ) as running:
        yield running


async def test_a_thinking_ollama_model_s_thoughts_are_a_step_not_the_answer(
    server: RunningServer, ollama: FakeOllama
) -> None:
    ollama.replies.append(thought("The person asks for a capital; France's is Paris.", "Paris."))
    chat = ChainlitClient(server.url)
    await chat.connect()
    try:
        events = await chat.ask("What is the capital of France?")
    finally:
        await chat.close()

    [request] = ollama.requests
    assert request["think"] is True
    steps = list(chat.messages(events).values())
    root = next(s for s in steps if s["name"] == "Chief of Staff" and s["type"] == "run")
    [reasoning] = [s for s in steps if s["name"] == "Reasoning"]
    assert reasoning["parentId"] == root["id"], dumps(events)
    assert reasoning["output"] == "The person asks for a capital; France's is Paris."
    assert chat.answers(events)[-1].startswith("Paris.")
    assert "capital" not in chat.answers(events)[-1]
    assert "`ollama:llama3.2` ·" in root["output"]  # the footer names the model
