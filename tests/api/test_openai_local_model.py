"""The OpenAI SDK against Cadre on its bundled local model: a real answer, streamed and whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.cli import add_user, new_api_key
from tests.support.server import RunningServer, cadre_server

pytestmark = pytest.mark.slow  # the bundled model answers


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    data: Path = tmp_path_factory.mktemp("data")
    add_user(data, "carol")
    key = new_api_key(data, "carol")
    with cadre_server(data, CADRE_TEMPERATURE="0") as server:
        yield server, key


def test_the_local_model_knows_the_capital_of_france(served: tuple[RunningServer, str]) -> None:
    server, key = served
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, timeout=600)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    reply = client.chat.completions.create(model="cadre", messages=question)  # type: ignore[arg-type]
    assert "Paris" in (reply.choices[0].message.content or "")
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model="cadre",
        messages=question,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in answer
    assert chunks[-1].usage is not None
