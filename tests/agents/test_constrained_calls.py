"""Code decides a tool is needed; a constrained model only writes the call (the Analyst)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import ANALYST, RunFinished, Runner, ToolCallFinished, builtin_tools
from agents import TextDelta as AgentTextDelta
from agents.calculator import calculate, evaluate
from agents.models.base import (
    Capabilities,
    ChatMessage,
    Finish,
    ModelEvent,
    ModelOptions,
    TextChunk,
    ToolCall,
)
from agents.models.local import LocalModel, LocalModelConfig
from agents.models.scripted import ScriptedModel, Turn
from agents.runner import FROM_RESULTS
from tests.agents.agent_helpers import call, collect, of

FLEET = "compute 48 electric vans plus 12 diesel trucks"
TOGETHER = "How many vehicles are 48 electric vans and 12 diesel trucks?"
"""Numbers with no operator between them: only the model can say what to compute."""
CONSTRAINED = Capabilities(tools=False, constrained_tools=True)


def constrained(*turns: Turn) -> ScriptedModel:
    """A scripted model like the bundled Qwen: writes a call when told to, never decides."""
    return ScriptedModel(list(turns), name="qwen-like", capabilities=CONSTRAINED)


async def analyst_answer(model: ScriptedModel, request: str) -> tuple[str, list[ToolCallFinished]]:
    """The Analyst's answer on the fixed policy, and its calculator steps."""
    events = await collect(Runner(model, tools=builtin_tools()).stream(ANALYST, request))
    [finished] = [e for e in of(events, RunFinished) if e.parent_run_id is None]
    return finished.output, [e for e in of(events, ToolCallFinished) if e.tool == "calculate"]


def forced(model: ScriptedModel) -> list[int]:
    """Which of the model's calls asked for a required tool call."""
    return [
        i
        for i, c in enumerate(model.calls)
        if c.options is not None and c.options.tool_choice == "required"
    ]


async def test_numbers_in_words_get_one_forced_calculate_call() -> None:
    model = constrained([call("calculate", expression="48 + 12")], "The fleet has 60 vehicles.")

    answer, steps = await analyst_answer(model, TOGETHER)

    assert forced(model) == [0]
    first = model.calls[0]
    assert [t.name for t in first.tools] == ["calculate"]
    assert first.options is not None
    assert first.options.temperature == 0.0
    assert first.messages[-1].content == TOGETHER
    assert [s.output for s in steps] == ["48 + 12 = 60"]
    assert not steps[0].is_error
    assert answer == "The fleet has 60 vehicles."


async def test_the_answer_is_written_from_the_tool_result_without_tools() -> None:
    model = constrained([call("calculate", expression="48 + 12")], "The fleet has 60 vehicles.")

    await analyst_answer(model, TOGETHER)

    last = model.calls[1]
    assert last.tools == ()
    assert last.messages[-1].content == (
        f"{TOGETHER}\n\nTool results computed for you (use these numbers exactly, "
        "do not recompute them):\ncalculate:\n48 + 12 = 60\n\n" + FROM_RESULTS
    )


async def test_a_call_with_an_invented_number_is_refused_and_asked_again() -> None:
    model = constrained(
        [call("calculate", expression="48 * 1250 + 12")],
        [call("calculate", expression="48 + 12")],
        "The fleet has 60 vehicles.",
    )

    answer, steps = await analyst_answer(model, TOGETHER)

    assert forced(model) == [0, 1]
    retry = model.calls[1].messages
    assert retry[: len(model.calls[0].messages)] == model.calls[0].messages
    assert retry[-1] == ChatMessage.user(
        "Your call used numbers that are not in the request (1250). "
        "Call the tool again using only numbers written in the request."
    )
    assert [s.output for s in steps] == ["48 + 12 = 60"]  # the refused call never ran
    assert answer == "The fleet has 60 vehicles."


async def test_two_calls_with_invented_numbers_run_no_calculation() -> None:
    model = constrained(
        [call("calculate", expression="48 * 1250 + 12")],
        [call("calculate", expression="48 * 1300 + 12")],
        "I need the price per vehicle to work this out.",
    )

    answer, steps = await analyst_answer(model, TOGETHER)

    assert forced(model) == [0, 1]
    assert steps == []
    assert model.calls[2].messages[-1].content == TOGETHER
    assert answer == "I need the price per vehicle to work this out."


async def test_written_arithmetic_is_found_in_the_request_without_a_forced_call() -> None:
    model = constrained("It is 409.5.")

    answer, steps = await analyst_answer(model, "What is 17.5% of 2,340?")

    assert forced(model) == []
    assert len(model.calls) == 1
    assert [s.output for s in steps] == ["17.5% * 2340 = 409.5"]
    assert answer == "It is 409.5."


async def test_a_request_with_one_number_gets_no_forced_call() -> None:
    model = constrained("Each electric van needs a charging point; I need more numbers.")

    _, steps = await analyst_answer(model, "compute the running cost of 48 electric vans")

    assert forced(model) == []
    assert len(model.calls) == 1
    assert model.calls[0].tools == ()
    assert steps == []


async def test_an_operator_in_words_is_computed_without_a_forced_call() -> None:
    model = constrained("The fleet has 60 vehicles.")

    answer, steps = await analyst_answer(model, FLEET)

    assert forced(model) == []
    assert [s.output for s in steps] == ["48 + 12 = 60"]
    assert answer == "The fleet has 60 vehicles."


async def test_a_model_that_cannot_write_calls_is_never_forced() -> None:
    model = ScriptedModel(["About 60 vehicles."], capabilities=Capabilities(tools=False))

    _, steps = await analyst_answer(model, TOGETHER)

    assert forced(model) == []
    assert len(model.calls) == 1
    assert steps == []


# --- the real bundled Qwen writes the call ------------------------------------------------


@pytest.fixture(scope="module")
def qwen(model_cache: str) -> LocalModel:
    # Loaded on the first request and kept for the module's slow tests.
    config = LocalModelConfig(cache_dir=Path(model_cache), runtime="llama_cpp", device="cpu")
    return LocalModel("qwen2.5-1.5b", config)


@pytest.mark.slow
async def test_the_bundled_qwen_answers_a_required_call_with_one_valid_call(
    qwen: LocalModel,
) -> None:
    assert qwen.capabilities.constrained_tools
    messages = [ChatMessage.system(ANALYST.instructions), ChatMessage.user(FLEET)]
    options = ModelOptions(tool_choice="required", temperature=0.0, max_tokens=96)

    events: list[ModelEvent] = [e async for e in qwen.stream(messages, [calculate.spec], options)]

    assert not [e for e in events if isinstance(e, TextChunk)]  # the JSON is not for the user
    [written] = [e for e in events if isinstance(e, ToolCall)]
    assert written.name == "calculate"
    assert set(written.arguments) == {"expression"}
    expression = written.arguments["expression"]
    evaluate(expression)  # arithmetic the calculator accepts, not prose
    assert "48" in expression
    assert "12" in expression
    assert events[-1] == Finish("tool_calls")


@pytest.mark.slow
async def test_the_analyst_on_the_bundled_qwen_computes_the_fleet_total(qwen: LocalModel) -> None:
    runner = Runner(qwen, tools=builtin_tools(), options=ModelOptions(max_tokens=80, seed=7))

    events = await collect(runner.stream(ANALYST, FLEET))

    steps = [e for e in of(events, ToolCallFinished) if e.tool == "calculate"]
    assert [s.output for s in steps] == ["48 + 12 = 60"]
    shown = "".join(e.text for e in of(events, AgentTextDelta))
    assert '"expression"' not in shown
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.output == shown
    assert "60" in final.output
