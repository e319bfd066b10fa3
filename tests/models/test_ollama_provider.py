"""The Ollama provider through the real `ollama` SDK against a local server speaking
`/api/chat` (NDJSON): streamed text, a tool call round trip, usage, failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import AgentSpec, Runner
from agents.calculator import calculate
from agents.errors import ModelError
from agents.events import ReasoningDelta, RunFinished, TextDelta
from agents.models.base import ChatMessage, Finish, ReasoningChunk, TextChunk, Usage
from agents.models.ollama_chat import OllamaConfig, OllamaModel
from agents.models.resilience import RetryPolicy
from app.cli.doctor import diagnose
from app.services import build_registry
from app.settings import Settings
from tests.models.ollama_server import (
    FakeOllama,
    OllamaReply,
    calls,
    fake_ollama,
    said,
    thought,
)

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    with fake_ollama() as running:
        yield running


def model(host: str) -> OllamaModel:
    return OllamaModel("llama3.2", OllamaConfig(host=host, timeout_s=5, retry=FAST))


async def test_text_streams_with_usage(server: FakeOllama) -> None:
    server.replies.append(said("Paris ", "is the capital."))
    events = [e async for e in model(server.host).stream([ChatMessage.user("Capital?")])]
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["Paris ", "is the capital."]
    assert Usage(21, 7) in events
    assert events[-1] == Finish("stop")
    [sent] = server.requests
    assert (sent["model"], sent["stream"]) == ("llama3.2", True)
    assert sent["messages"] == [{"role": "user", "content": "Capital?"}]


async def test_thinking_is_reasoning_not_answer(server: FakeOllama) -> None:
    server.replies.append(thought("The user wants a capital.", "Paris."))
    events = [e async for e in model(server.host).stream([ChatMessage.user("Capital?")])]
    assert [e.text for e in events if isinstance(e, ReasoningChunk)] == [
        "The user wants a capital."
    ]
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["Paris."]


async def test_a_thinking_model_is_asked_to_think_and_its_thinking_is_not_the_answer(
    server: FakeOllama,
) -> None:
    server.capabilities["llama3.2"] = ["completion", "tools", "thinking"]
    server.replies += [
        thought("Capitals: France's is Paris.", "Paris."),
        thought("Again a capital.", "Rome."),
    ]
    thinker = model(server.host)
    writer = AgentSpec(name="Writer", description="Writes.", instructions="Answer briefly.")
    events = [e async for e in Runner(thinker).stream(writer, "Capital of France?")]
    assert server.requests[0]["think"] is True
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == [
        "Capitals: France's is Paris."
    ]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Paris."]
    assert [e.output for e in events if isinstance(e, RunFinished)] == ["Paris."]
    await Runner(thinker).run(writer, "Capital of Italy?")
    assert server.requests[1]["think"] is True
    assert server.shown == ["llama3.2"]  # the capabilities are asked once per model


async def test_a_model_that_cannot_think_is_not_asked_to(server: FakeOllama) -> None:
    server.replies.append(said("Paris."))
    [e async for e in model(server.host).stream([ChatMessage.user("Capital?")])]
    [sent] = server.requests
    assert "think" not in sent
    assert server.shown == ["llama3.2"]


@pytest.mark.parametrize("think", [True, False])
async def test_the_deployment_can_turn_thinking_on_or_off(server: FakeOllama, think: bool) -> None:
    server.capabilities["llama3.2"] = ["completion", "thinking"]
    server.replies.append(said("Paris."))
    configured = OllamaModel(
        "llama3.2", OllamaConfig(host=server.host, timeout_s=5, retry=FAST, think=think)
    )
    [e async for e in configured.stream([ChatMessage.user("Capital?")])]
    assert server.requests[0]["think"] is think
    assert server.shown == []  # configured: no need to ask


def test_the_setting_reaches_the_provider(tmp_path: Path) -> None:
    registry = build_registry(Settings(data_dir=tmp_path, ollama_think=False))
    resolved = registry.resolve("ollama:llama3.2")
    assert isinstance(resolved, OllamaModel)
    assert resolved.config.think is False


async def test_a_tool_call_round_trip_through_the_runner(server: FakeOllama) -> None:
    server.replies += [calls("calculate", {"expression": "48 + 12"}), said("That is 60.")]
    analyst = AgentSpec(
        name="Analyst",
        description="Computes.",
        instructions="Use the calculator.",
        tools=("calculate",),
    )
    answer = await Runner(model(server.host), tools=[calculate]).run(analyst, "48 plus 12?")
    assert answer == "That is 60."
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "calculate"
    result = second["messages"][-1]
    assert (result["role"], result["tool_name"]) == ("tool", "calculate")
    assert "60" in result["content"]


async def test_a_500_is_retried(server: FakeOllama) -> None:
    server.replies += [OllamaReply(status=500, error="loading"), said("ok")]
    events = [e async for e in model(server.host).stream([ChatMessage.user("Hi")])]
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "ok"
    assert len(server.requests) == 2


async def test_a_missing_model_says_how_to_pull_it(server: FakeOllama) -> None:
    server.replies.append(OllamaReply(status=404, error="model 'llama3.2' not found"))
    with pytest.raises(ModelError, match=r"ollama pull llama3\.2"):
        [e async for e in model(server.host).stream([ChatMessage.user("Hi")])]
    assert len(server.requests) == 1


async def test_no_server_says_so() -> None:
    with pytest.raises(ModelError, match="is `ollama serve` running"):
        [e async for e in model("http://127.0.0.1:9").stream([ChatMessage.user("Hi")])]


def test_doctor_lists_the_servers_models(server: FakeOllama, tmp_path: Path) -> None:
    [check] = [
        c
        for c in diagnose(Settings(data_dir=tmp_path, ollama_host=server.host))
        if c.name == "ollama provider"
    ]
    assert check.detail == f"{server.host} answers; models: ollama:llama3.2:latest"


def test_doctor_says_which_models_are_loaded_and_where(server: FakeOllama, tmp_path: Path) -> None:
    server.loaded = [("llama3.2:latest", 3 * 2**30, 3 * 2**30), ("qwen3:8b", 6 * 2**30, 0)]
    [check] = [
        c
        for c in diagnose(Settings(data_dir=tmp_path, ollama_host=server.host))
        if c.name == "ollama provider"
    ]
    assert check.detail.endswith(
        "loaded now: llama3.2:latest (3.0 GiB on the GPU), qwen3:8b (6.0 GiB in RAM)"
    )


async def test_the_app_resolves_ollama_ids_with_no_setting(tmp_path: Path) -> None:
    registry = build_registry(Settings(data_dir=tmp_path))
    resolved = registry.resolve("ollama:llama3.2")
    assert resolved.id == "ollama:llama3.2"
    assert resolved.capabilities.tools
