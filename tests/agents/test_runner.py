"""The runner's loop and guards, driven by scripted models."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from agents import (
    AgentLimits,
    AgentSpec,
    Price,
    PriceTable,
    Queued,
    RetrievalDone,
    RunContext,
    RunEvent,
    RunFailed,
    RunFinished,
    Runner,
    ToolCallFinished,
    ToolCallStarted,
    TurnLimits,
    UsageReported,
    builtin_tools,
    tool,
)
from agents.errors import LoopDetected, TurnLimitExceeded
from agents.models import base
from agents.models.base import Capabilities, ChatMessage, Usage
from agents.models.scripted import ScriptedModel
from agents.prompt_guard import CANARY_LINE
from knowledge.documents import Passage
from tests.agents.agent_helpers import call, collect, kinds, of

ANALYST_LIKE = AgentSpec(
    name="Analyst",
    description="Calculates.",
    instructions="Use the calculator.",
    tools=("calculate", "column_statistics"),
)


async def test_a_tool_loop_streams_calls_results_and_the_answer() -> None:
    model = ScriptedModel(
        [[call("calculate", expression="0.1 + 0.2")], "The sum is exactly 0.3."], name="m"
    )
    runner = Runner(model, tools=builtin_tools())

    events = await collect(runner.stream(ANALYST_LIKE, "Add 0.1 and 0.2"))

    assert kinds(events) == [
        "run_started",
        "usage_reported",
        "tool_call_started",
        "tool_call_finished",
        *["text_delta"] * 5,
        "usage_reported",
        "run_finished",
    ]
    [started] = of(events, ToolCallStarted)
    assert started.arguments == {"expression": "0.1 + 0.2"}
    [finished] = of(events, ToolCallFinished)
    assert finished.output == "0.1 + 0.2 = 0.3"
    assert not finished.is_error
    assert finished.call_id == started.call_id
    assert finished.duration_s >= 0
    tool_turn = model.calls[1].messages
    assert tool_turn[-2].tool_calls[0].name == "calculate"
    assert tool_turn[-1] == ChatMessage.tool(started.call_id, "0.1 + 0.2 = 0.3")


async def test_run_returns_the_final_answer_and_passes_history() -> None:
    model = ScriptedModel(["Hello again, Ada."])
    runner = Runner(model)
    history = [ChatMessage.user("I am Ada."), ChatMessage.assistant("Hi Ada!")]
    agent = AgentSpec(name="Helper", description="Helps.", instructions="Be kind.")

    answer = await runner.run(agent, "Who am I?", history=history)

    assert answer == "Hello again, Ada."
    assert model.calls[0].messages == (
        ChatMessage.system(f"{CANARY_LINE}\nBe kind."),
        *history,
        ChatMessage.user("Who am I?"),
    )


async def test_the_same_call_again_gets_a_warning_then_the_loop_guard_stops_the_run() -> None:
    same = call("calculate", expression="2 + 2")
    model = ScriptedModel([[same], [same], [same], "unreachable"])
    runner = Runner(model, tools=builtin_tools())

    events = await collect(runner.stream(ANALYST_LIKE, "What is 2 + 2?"))

    results = of(events, ToolCallFinished)
    assert [r.is_error for r in results] == [False, True]
    assert results[1].output.startswith("You already called calculate with exactly these")
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.error_type == "LoopDetected"
    assert failed.error == (
        "The Analyst kept calling calculate with the same arguments (3 times), "
        "so I stopped it to avoid a loop."
    )
    with pytest.raises(LoopDetected):
        await Runner(ScriptedModel(model.turns), tools=builtin_tools()).run(ANALYST_LIKE, "2+2?")


async def test_max_turns_stops_a_run_that_never_answers() -> None:
    model = ScriptedModel([[call("calculate", expression=f"{i} + 1")] for i in range(3)])
    agent = AgentSpec(
        name="Analyst",
        description="Calculates.",
        instructions="",
        tools=("calculate",),
        limits=AgentLimits(max_turns=3),
    )

    events = await collect(Runner(model, tools=builtin_tools()).stream(agent, "Count"))

    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.error_type == "TurnLimitExceeded"
    assert "used all 3 of its steps" in failed.error
    assert isinstance(failed.exception, TurnLimitExceeded)


async def test_the_turn_deadline_stops_everything_with_a_sentence() -> None:
    model = ScriptedModel(["far too slow"], delay=30)
    runner = Runner(model, limits=TurnLimits(deadline_s=0.05))
    agent = AgentSpec(name="Helper", description="Helps.", instructions="")

    events = await collect(runner.stream(agent, "Hi"))

    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.error_type == "DeadlineExceeded"
    assert failed.error.startswith("This request hit its 0.05-second time limit")
    assert not failed.cancelled


async def test_usage_and_cost_are_reported_per_model_call() -> None:
    model = ScriptedModel(
        [[base.QueuePosition(2), base.QueuePosition(1), base.TextChunk("ok"), Usage(1000, 500)]]
    )
    prices = PriceTable({model.id: Price(input_per_million=2.0, output_per_million=8.0)})
    runner = Runner(model, prices=prices)
    agent = AgentSpec(name="Helper", description="Helps.", instructions="")

    events = await collect(runner.stream(agent, "Hi"))

    assert [e.position for e in of(events, Queued)] == [2, 1]
    [usage] = of(events, UsageReported)
    assert (usage.input_tokens, usage.output_tokens) == (1000, 500)
    assert usage.cost == pytest.approx(0.006)
    assert of(events, RunFinished)[0].usage == Usage(1000, 500)


async def test_a_model_that_reports_no_usage_is_estimated() -> None:
    model = ScriptedModel([[base.TextChunk("twelve chars")]])
    agent = AgentSpec(name="Helper", description="Helps.", instructions="x" * 400)

    events = await collect(Runner(model).stream(agent, "Hi"))

    [usage] = of(events, UsageReported)
    assert usage.input_tokens > 100
    assert usage.output_tokens == 3
    assert usage.cost is None


async def test_tools_can_report_citations() -> None:
    passage = Passage("Notice is 30 days.", "doc-1", "contract.pdf", 4, 0.9, page=2)

    @tool
    async def search(ctx: RunContext, query: str) -> str:
        """Search the user's documents.

        Args:
            query: What to look for.
        """
        ctx.report_retrieval(query, [passage])
        return passage.text

    model = ScriptedModel([[call("search", "s1", query="notice")], "30 days [1]."])
    agent = AgentSpec(name="Researcher", description="Finds.", instructions="", tools=("search",))

    events = await collect(Runner(model, tools=[search]).stream(agent, "Notice period?"))

    [retrieval] = of(events, RetrievalDone)
    assert retrieval.call_id == "s1"
    assert retrieval.query == "notice"
    assert retrieval.citations == (passage,)
    assert retrieval.agent == "Researcher"


async def test_a_model_without_tool_calling_gets_a_fixed_policy() -> None:
    model = ScriptedModel(["17.5% of 2,340 is 409.5."], capabilities=Capabilities(tools=False))
    runner = Runner(model, tools=builtin_tools())

    events = await collect(runner.stream(ANALYST_LIKE, "What is 17.5% of 2,340?"))

    [finished] = of(events, ToolCallFinished)
    assert finished.tool == "calculate"
    assert finished.output == "17.5% * 2340 = 409.5"
    prompt = model.calls[0].messages[-1].content
    assert prompt.startswith("What is 17.5% of 2,340?\n\nTool results computed for you")
    assert "17.5% * 2340 = 409.5" in prompt
    assert model.calls[0].tools == ()
    assert events[-1].kind == "run_finished"


async def test_a_bug_is_reported_then_raised() -> None:
    model = ScriptedModel([RuntimeError("provider bug")])
    agent = AgentSpec(name="Helper", description="Helps.", instructions="")
    events: list[RunEvent] = []

    async def consume() -> None:
        async for event in Runner(model).stream(agent, "Hi"):
            events.append(event)

    with pytest.raises(RuntimeError, match="provider bug"):
        await consume()

    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.error == "RuntimeError: provider bug"


async def test_leaving_the_stream_early_cancels_the_turn() -> None:
    model = ScriptedModel(["many words that take a while to stream out"], delay=0.01)
    agent = AgentSpec(name="Helper", description="Helps.", instructions="")

    async with aclosing(Runner(model).stream(agent, "Hi")) as events:
        async for event in events:
            if event.kind == "text_delta":
                break

    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_misconfigured_agent_fails_as_a_visible_run() -> None:
    agent = AgentSpec(name="Helper", description="Helps.", instructions="", tools=("nope",))

    events = await collect(Runner(ScriptedModel([])).stream(agent, "Hi"))

    assert kinds(events) == ["run_started", "run_failed"]
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.error_type == "ConfigError"
    assert failed.error.startswith("The Helper needs tools that are not registered: nope")


async def test_a_body_failing_before_its_run_starts_still_ends_the_stream() -> None:
    from agents.errors import ConfigError

    async def body(ctx: RunContext) -> str:
        raise ConfigError("No model is configured; pick one in the settings.")

    events = await collect(Runner(ScriptedModel([])).stream_turn("Chief", "Hi", body))

    [failed] = events
    assert isinstance(failed, RunFailed)
    assert failed.parent_run_id is None
    assert failed.error == "No model is configured; pick one in the settings."
