"""The Anthropic provider through the real `anthropic` SDK against a local server speaking the
Messages API's event stream: text, thinking kept out, a tool use round trip, failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import AgentSpec, Runner
from agents.calculator import calculate
from agents.errors import ModelError, ModelNotFound
from agents.models.anthropic_messages import AnthropicConfig, AnthropicModel
from agents.models.base import ChatMessage, Finish, ReasoningChunk, TextChunk, Usage
from agents.models.resilience import RetryPolicy
from app.services import build_registry
from app.settings import Settings
from tests.models.anthropic_server import FakeAnthropic, fake_anthropic, refused, uses, wrote

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def server() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as running:
        yield running


def claude(server: FakeAnthropic) -> AnthropicModel:
    config = AnthropicConfig(api_key="sk-ant-test", base_url=server.url, retry=FAST)
    return AnthropicModel("claude-test", config)


async def test_text_streams_and_thinking_is_reasoning_apart(server: FakeAnthropic) -> None:
    server.replies.append(wrote("Paris ", "is the capital.", thinking="The user asks…"))
    conversation = [ChatMessage.system("Be brief."), ChatMessage.user("Capital of France?")]
    events = [e async for e in claude(server).stream(conversation)]
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "Paris is the capital."
    assert [e.text for e in events if isinstance(e, ReasoningChunk)] == ["The user asks…"]
    assert Usage(40, 9) in events
    assert events[-1] == Finish("stop")
    [sent] = server.requests
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert sent["max_tokens"] == 1024


async def test_a_tool_use_round_trip_through_the_runner(server: FakeAnthropic) -> None:
    server.replies += [uses("calculate", '{"expression": "48 + 12"}'), wrote("That is 60.")]
    analyst = AgentSpec(
        name="Analyst",
        description="Computes.",
        instructions="Use the calculator.",
        tools=("calculate",),
    )
    answer = await Runner(claude(server), tools=[calculate]).run(analyst, "48 plus 12?")
    assert answer == "That is 60."
    first, second = server.requests
    assert first["tools"][0]["name"] == "calculate"
    assert "input_schema" in first["tools"][0]
    call_turn, result_turn = second["messages"][-2:]
    assert call_turn["content"][-1]["type"] == "tool_use"
    [result] = result_turn["content"]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", "toolu_1")
    assert "60" in result["content"]


async def test_overloaded_and_rate_limited_are_retried(server: FakeAnthropic) -> None:
    server.replies += [
        refused(529, "overloaded_error"),
        refused(429, "rate_limit_error", **{"retry-after": "0.3"}),
        wrote("ok"),
    ]
    started = time.monotonic()
    events = [e async for e in claude(server).stream([ChatMessage.user("Hi")])]
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "ok"
    assert len(server.requests) == 3
    assert time.monotonic() - started >= 0.3


async def test_a_bad_key_is_not_retried(server: FakeAnthropic) -> None:
    server.replies.append(refused(401, "authentication_error"))
    with pytest.raises(ModelError, match="CADRE_ANTHROPIC_API_KEY"):
        [e async for e in claude(server).stream([ChatMessage.user("Hi")])]
    assert len(server.requests) == 1


def test_the_app_offers_claude_once_a_key_is_set(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        build_registry(Settings(data_dir=tmp_path)).resolve("anthropic:claude-test")
    keyed = build_registry(Settings(data_dir=tmp_path, anthropic_api_key="sk-ant-test"))
    assert keyed.resolve("anthropic:claude-test").id == "anthropic:claude-test"
