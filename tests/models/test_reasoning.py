"""A model's reasoning is kept out of its answer and shown on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from agents import AgentSpec, ReasoningDelta, RunFinished, Runner, TextDelta
from agents.models.base import Finish, ModelEvent, ReasoningChunk, TextChunk, Usage
from agents.models.reasoning import split_reasoning
from agents.models.scripted import ScriptedModel
from tests.agents.agent_helpers import collect, of


async def _stream(events: Sequence[ModelEvent]) -> AsyncIterator[ModelEvent]:
    for event in events:
        yield event


async def split(*pieces: str) -> tuple[str, str]:
    """The reasoning and the answer `pieces` split into, each joined."""
    events = [e async for e in split_reasoning(_stream([*map(TextChunk, pieces), Finish("stop")]))]
    assert events[-1] == Finish("stop")
    thought = "".join(e.text for e in events if isinstance(e, ReasoningChunk))
    answer = "".join(e.text for e in events if isinstance(e, TextChunk))
    return thought, answer


@pytest.mark.parametrize(
    "pieces",
    [
        ("<think>France's capital is Paris.</think>\n\nParis.",),
        ("<thi", "nk>France's capital", " is Paris.</th", "ink>", "\n\nParis", "."),
        ("\n<think>", "France's capital is Paris.", "</think>", "Paris."),
    ],
    ids=["one chunk", "tags split across chunks", "leading whitespace"],
)
async def test_a_leading_think_block_is_reasoning_not_answer(pieces: tuple[str, ...]) -> None:
    thought, answer = await split(*pieces)
    assert thought == "France's capital is Paris."
    assert answer == "Paris."


async def test_an_answer_without_reasoning_passes_unchanged() -> None:
    assert await split("Paris ", "is the capital.") == ("", "Paris is the capital.")


async def test_a_think_tag_inside_an_answer_is_text() -> None:
    answer = "Use the <think> tag like this: <think>…</think>."
    assert await split("Use the ", "<think> tag like this: <think>…</think>.") == ("", answer)


async def test_reasoning_cut_off_before_its_end_stays_reasoning() -> None:
    assert await split("<think>Let me see", " what 17% of") == ("Let me see what 17% of", "")


async def test_the_runner_streams_reasoning_apart_and_answers_without_it() -> None:
    model = ScriptedModel(
        [
            [
                TextChunk("<think>The user wants "),
                TextChunk("the capital.</think>Paris."),
                Usage(5, 9),
            ]
        ]
    )
    agent = AgentSpec(name="Helper", description="Answers.", instructions="Answer.")

    events = await collect(Runner(model).stream(agent, "Capital of France?"))

    assert "".join(e.text for e in of(events, ReasoningDelta)) == "The user wants the capital."
    assert "".join(e.text for e in of(events, TextDelta)) == "Paris."
    assert of(events, RunFinished)[-1].output == "Paris."
