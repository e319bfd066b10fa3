"""Replies constrained to a JSON schema, on every provider that can, refused where it cannot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.errors import ModelError
from agents.models.anthropic_messages import AnthropicConfig, AnthropicModel
from agents.models.base import ChatMessage, ModelOptions, complete
from agents.models.local import LocalModel, LocalModelConfig
from agents.models.ollama_chat import OllamaConfig, OllamaModel
from agents.models.openai_compatible import OpenAICompatibleModel, OpenAIConfig
from agents.models.resilience import RetryPolicy
from tests.models.ollama_server import FakeOllama, fake_ollama, said
from tests.models.openai_server import FakeOpenAI, fake_openai, text

FAST = RetryPolicy(attempts=1, base_delay_s=0.01, max_delay_s=0.05)
DEADLINE = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "opens": {"type": "string"}},
    "required": ["city", "opens"],
    "additionalProperties": False,
}
ASK = [ChatMessage.user("Which city's warehouse opens when? The Tallinn one opens 14 March 2027.")]
STRUCTURED = ModelOptions(json_schema=DEADLINE, temperature=0.0, max_tokens=64)


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


@pytest.fixture
def ollama_server() -> Iterator[FakeOllama]:
    with fake_ollama() as running:
        yield running


async def test_openai_gets_the_schema_as_its_response_format(openai_server: FakeOpenAI) -> None:
    openai_server.replies.append(text('{"city": "Tallinn", "opens": "14 March 2027"}'))
    config = OpenAIConfig(base_url=openai_server.url, api_key="sk-test", retry=FAST)
    model = OpenAICompatibleModel("test-model", config)

    reply = await complete(model, ASK, options=STRUCTURED)

    assert json.loads(reply.text) == {"city": "Tallinn", "opens": "14 March 2027"}
    [sent] = openai_server.requests
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": DEADLINE, "strict": True},
    }


async def test_ollama_gets_the_schema_as_its_format(ollama_server: FakeOllama) -> None:
    ollama_server.replies.append(said('{"city": "Tallinn", "opens": "14 March 2027"}'))
    model = OllamaModel("llama3.2", OllamaConfig(host=ollama_server.host, timeout_s=5, retry=FAST))

    await complete(model, ASK, options=STRUCTURED)

    [sent] = ollama_server.requests
    assert sent["format"] == DEADLINE


async def test_a_model_without_schema_support_refuses_instead_of_ignoring_it() -> None:
    config = AnthropicConfig(api_key="sk-ant-test", base_url="http://127.0.0.1:9", retry=FAST)
    with pytest.raises(ModelError, match="cannot constrain its reply to a JSON schema"):
        await complete(AnthropicModel("claude-test", config), ASK, options=STRUCTURED)


@pytest.mark.slow
async def test_the_bundled_qwen_writes_json_valid_for_the_schema(model_cache: str) -> None:
    config = LocalModelConfig(cache_dir=Path(model_cache), runtime="llama_cpp", device="cpu")
    qwen = LocalModel("qwen2.5-1.5b", config)
    assert qwen.capabilities.json_schema

    reply = await complete(qwen, ASK, options=STRUCTURED)

    answer = json.loads(reply.text)
    assert set(answer) == {"city", "opens"}
    assert answer["city"] == "Tallinn"
