"""The OpenAI-compatible provider through the real `openai` SDK against a local server that
speaks the protocol: streaming, tool calls, usage, and what it does when the server fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import ANALYST, AgentSpec, Runner
from agents.calculator import calculate
from agents.errors import ModelError
from agents.models.base import (
    ChatMessage,
    Finish,
    ModelEvent,
    ReasoningChunk,
    TextChunk,
    ToolCall,
    Usage,
    complete,
)
from agents.models.openai_compatible import OpenAICompatibleModel, OpenAIConfig
from agents.models.resilience import RetryPolicy
from app.cli.doctor import diagnose
from app.settings import Settings
from tests.models.openai_server import (
    FakeOpenAI,
    Reply,
    error,
    fake_openai,
    reasoned,
    text,
    tool_call,
)

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


def model(server: FakeOpenAI, **config: object) -> OpenAICompatibleModel:
    settings = {"base_url": server.url, "api_key": "sk-test", "retry": FAST, **config}
    return OpenAICompatibleModel("test-model", OpenAIConfig(**settings))  # type: ignore[arg-type]


async def events_of(llm: OpenAICompatibleModel, question: str = "Hi") -> list[ModelEvent]:
    return [event async for event in llm.stream([ChatMessage.user(question)])]


async def _read_into(llm: OpenAICompatibleModel, shown: list[str]) -> None:
    async for event in llm.stream([ChatMessage.user("Hi")]):
        if isinstance(event, TextChunk):
            shown.append(event.text)


async def test_text_streams_in_pieces_with_usage(server: FakeOpenAI) -> None:
    server.replies.append(text("Paris ", "is the ", "capital."))
    events = await events_of(model(server), "What is the capital of France?")
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["Paris ", "is the ", "capital."]
    assert Usage(12, 5) in events
    assert events[-1] == Finish("stop")
    [sent] = server.requests
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [{"role": "user", "content": "What is the capital of France?"}]


async def test_a_tool_call_round_trip_through_the_runner(server: FakeOpenAI) -> None:
    server.replies += [
        tool_call("calculate", '{"expression": "48 + 12"}'),
        text("The fleet has 60 vehicles."),
    ]
    llm = model(server)
    analyst = AgentSpec(
        name="Analyst",
        description=ANALYST.description,
        instructions="Use the calculator.",
        tools=("calculate",),
    )
    answer = await Runner(llm, tools=[calculate]).run(analyst, "48 electric vans plus 12 trucks?")
    assert answer == "The fleet has 60 vehicles."
    first, second = server.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["calculate"]
    call_message = second["messages"][-2]
    assert call_message["tool_calls"][0]["function"]["name"] == "calculate"
    result = second["messages"][-1]
    assert (result["role"], result["tool_call_id"]) == ("tool", "call_1")
    assert "60" in result["content"]


async def test_a_429_is_retried_after_its_retry_after(server: FakeOpenAI) -> None:
    server.replies += [error(429, "slow down", **{"Retry-After": "0.4"}), text("ok")]
    reply = await complete(model(server), [ChatMessage.user("Hi")])
    assert reply.text == "ok"
    assert len(server.requests) == 2
    assert server.times[1] - server.times[0] >= 0.4


async def test_three_500s_give_up_with_a_sentence(server: FakeOpenAI) -> None:
    server.replies += [error(500, "boom")] * 3
    with pytest.raises(ModelError, match="did not answer after 3 tries"):
        await events_of(model(server))
    assert len(server.requests) == 3


async def test_a_bad_key_is_not_retried_and_says_what_to_fix(server: FakeOpenAI) -> None:
    server.replies.append(error(401, "invalid api key", code="invalid_api_key"))
    with pytest.raises(ModelError, match="CADRE_OPENAI_API_KEY"):
        await events_of(model(server))
    assert len(server.requests) == 1


async def test_no_quota_is_not_retried(server: FakeOpenAI) -> None:
    server.replies.append(error(429, "You exceeded your quota", code="insufficient_quota"))
    with pytest.raises(ModelError, match="no quota"):
        await events_of(model(server))
    assert len(server.requests) == 1


async def test_a_stream_cut_mid_answer_keeps_the_text_and_is_not_retried(
    server: FakeOpenAI,
) -> None:
    cut = text("The answer ", "is long ", "and then")
    cut.cut_after = 3
    server.replies.append(cut)
    shown: list[str] = []
    with pytest.raises(ModelError, match="incomplete"):
        await _read_into(model(server), shown)
    assert shown == ["The answer ", "is long "]
    assert len(server.requests) == 1


async def test_a_hang_times_out_and_is_retried(server: FakeOpenAI) -> None:
    # Long enough for the good reply on a loaded 2-core machine; the hang is longer still.
    server.replies += [Reply(hang_s=8.0), text("late but here")]
    reply = await complete(model(server, timeout_s=2.5), [ChatMessage.user("Hi")])
    # The hung reply carries no text: the answer can only come from the retry after a timeout.
    assert reply.text == "late but here"
    assert len(server.requests) == 2


async def test_a_failing_provider_is_skipped_for_a_while(server: FakeOpenAI) -> None:
    llm = model(server, retry=RetryPolicy(attempts=1))
    server.replies += [error(500, "down")] * 5
    for _ in range(5):
        with pytest.raises(ModelError):
            await events_of(llm)
    with pytest.raises(ModelError, match="skipped"):
        await events_of(llm)
    assert len(server.requests) == 5  # the sixth call never reached the server


def test_tool_calls_reach_history_in_the_protocols_shape() -> None:
    from agents.models.openai_compatible import to_openai_messages

    call = ToolCall("call_9", "calculate", {"expression": "2+2"})
    messages = [ChatMessage.assistant("", [call]), ChatMessage.tool("call_9", "4")]
    assert to_openai_messages(messages) == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "calculate", "arguments": '{"expression": "2+2"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "4"},
    ]


def test_doctor_says_whether_the_server_answers_and_what_it_offers(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    up = diagnose(Settings(data_dir=tmp_path, openai_base_url=server.url))
    [check] = [c for c in up if c.name == "openai provider"]
    assert (check.status, check.detail) == (
        "ok",
        f"{server.url} answers; models: openai:test-model",
    )
    down = diagnose(Settings(data_dir=tmp_path, openai_base_url="http://127.0.0.1:9/v1"))
    [check] = [c for c in down if c.name == "openai provider"]
    assert check.status == "fail"
    assert "CADRE_OPENAI_BASE_URL" in check.fix


async def test_reasoning_sent_beside_the_content_is_kept_out_of_the_answer(
    server: FakeOpenAI,
) -> None:
    # vLLM and DeepSeek stream a reasoning model's thoughts as `reasoning_content`.
    server.replies.append(reasoned(["17% is 0.17; ", "0.17 x 2340 = 397.8"], "397.8"))
    events = await events_of(model(server), "What is 17% of 2,340?")
    thought = "".join(e.text for e in events if isinstance(e, ReasoningChunk))
    assert thought == "17% is 0.17; 0.17 x 2340 = 397.8"
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["397.8"]
