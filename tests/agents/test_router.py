"""The routed path: models without tool calling, a semantic router, the same events."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agents import (
    ANALYST,
    CHIEF_OF_STAFF,
    OPERATORS,
    WRITER,
    AgentSpec,
    ChiefOfStaff,
    DelegationFinished,
    DelegationStarted,
    RunFinished,
    Runner,
    RunStarted,
    SemanticRouter,
    TaskUpdated,
    TextDelta,
    ToolCallFinished,
)
from agents.errors import ConfigError, ModelError
from agents.models.base import Capabilities, ChatMessage
from agents.models.scripted import ScriptedModel
from knowledge.embedder import HashEmbedder
from tests.agents.agent_helpers import collect, kinds, of, team

NO_TOOLS = Capabilities(tools=False)
DATA = Path(__file__).resolve().parents[1] / "data" / "routing_requests.jsonl"


def small(name: str, turns: list[str | BaseException]) -> ScriptedModel:
    """A scripted model that cannot call tools, like the bundled SmolLM2."""
    return ScriptedModel(list(turns), name=name, capabilities=NO_TOOLS)


def hash_router() -> SemanticRouter:
    return SemanticRouter(HashEmbedder(), OPERATORS, CHIEF_OF_STAFF.examples)


def test_the_router_picks_the_closest_operator_or_none() -> None:
    router = hash_router()
    writer = router.route("Draft a short thank-you note to my team")
    assert writer.operator == "Writer"
    assert writer.score > 0.2
    assert writer.reason.startswith("This is work for the Writer")
    assert set(writer.scores) == {"Researcher", "Analyst", "Writer", "none"}
    greeting = router.route("Hi there!")
    assert greeting.operator is None
    assert greeting.reason == "A question I can answer myself."
    nonsense = router.route("zyxw qqqv plorf")
    assert nonsense.operator is None
    assert nonsense.reason.startswith("No operator fits well")


def test_a_near_tie_between_operators_is_answered_by_the_chief() -> None:
    twins = [
        AgentSpec(name="Left", description="alpha beta gamma", instructions=""),
        AgentSpec(name="Right", description="alpha beta delta", instructions=""),
    ]
    router = SemanticRouter(HashEmbedder(), twins, ["hello"])
    route = router.route("alpha beta")
    assert route.operator is None
    assert route.reason == "Unsure between Left and Right; answering myself."
    with pytest.raises(ConfigError, match="cannot be called 'none'"):
        SemanticRouter(HashEmbedder(), [AgentSpec("none", "d", "")], ["hi"])


async def test_a_routed_delegation_to_the_writer_streams_the_same_events() -> None:
    chief_model = small("chief", [])  # relaying the Writer's answer needs no second pass
    writer = small("writer", ["Dear team,\nthank you for a great quarter!"])
    t = team(chief_model, [(WRITER, writer)], router=hash_router())
    assert not t.chief.uses_tools

    events = await collect(t.chief.stream("Draft a short thank-you note to my team"))

    root = events[0]
    assert isinstance(root, RunStarted)
    assert root.agent == "Chief of Staff"
    assert root.model == "scripted:chief"
    route = of(events, ToolCallFinished)[0]
    assert route.tool == "route"
    assert route.run_id == root.run_id
    assert route.output.startswith('This asks for Writer work ("Draft")')
    [started] = of(events, DelegationStarted)
    assert started.operator == "Writer"
    assert started.instructions == root.input
    writer_run = next(e for e in of(events, RunStarted) if e.agent == "Writer")
    assert writer_run.parent_run_id == root.run_id
    assert writer_run.run_id == started.child_run_id
    assert [e.task.status for e in of(events, TaskUpdated)] == ["pending", "running", "done"]
    [ended] = of(events, DelegationFinished)
    assert not ended.is_error
    answer = "".join(e.text for e in of(events, TextDelta) if e.run_id == root.run_id)
    assert answer == "Dear team,\nthank you for a great quarter!"
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.run_id == root.run_id
    assert final.output == answer
    assert chief_model.calls == []
    assert len(writer.calls) == 1
    assert writer.calls[0].tools == ()


async def test_the_chief_answers_small_talk_itself() -> None:
    chief_model = small("chief", ["Hello! How can I help?"])
    t = team(chief_model, [(WRITER, small("writer", []))], router=hash_router())

    events = await collect(t.chief.stream("Hi there!"))

    assert kinds(events) == [
        "run_started",
        "tool_call_started",
        "tool_call_finished",
        *["text_delta"] * 5,
        "usage_reported",
        "run_finished",
    ]
    assert events[-1].output == "Hello! How can I help?"  # type: ignore[union-attr]
    assert chief_model.calls[0].messages[0].content.endswith(CHIEF_OF_STAFF.instructions)
    assert t.store.all() == []


async def test_earlier_results_reach_the_chief_without_their_operator_labels() -> None:
    # A plan's results are shown as "**Researcher:** …"; answering a later question itself,
    # the small model copied that label, naming an operator that never ran.
    chief_model = small("chief", ["Jane Austen."])
    t = team(chief_model, [(WRITER, small("writer", []))], router=hash_router())
    earlier = (
        ChatMessage.user("Summarise the memo and draft a reply."),
        ChatMessage.assistant("**Writer:** Dear team,\n\n**Writer:** thanks. **Writer:** stays"),
    )

    await collect(t.chief.stream("Hi there!", history=earlier))

    seen = [m.content for m in chief_model.calls[0].messages if m.role == "assistant"]
    assert seen == ["Dear team,\n\nthanks. **Writer:** stays"]


async def test_a_routed_operator_failure_is_answered_by_the_chief() -> None:
    chief_model = small("chief", ["Sorry, the Writer is unavailable; here is a short note."])
    writer = small("writer", [ModelError("out of memory")])
    t = team(chief_model, [(WRITER, writer)], router=hash_router())

    events = await collect(t.chief.stream("Draft a short thank-you note to my team"))

    [ended] = of(events, DelegationFinished)
    assert ended.is_error
    prompt = chief_model.calls[0].messages[-1].content
    assert prompt.endswith(
        "(Note: The Writer failed: out of memory — answer with what you have, "
        "and say what is missing.)"
    )
    assert t.store.all()[0].status == "failed"
    assert events[-1].kind == "run_finished"


async def test_a_routed_analyst_runs_its_calculator_by_fixed_policy() -> None:
    analyst = small("analyst", ["It is 409.5."])
    t = team(small("chief", []), [(ANALYST, analyst)], router=hash_router())

    events = await collect(t.chief.stream("What is 17.5% of 2,340?"))

    analyst_run = next(e for e in of(events, RunStarted) if e.agent == "Analyst")
    [calculation] = [e for e in of(events, ToolCallFinished) if e.tool == "calculate"]
    assert calculation.run_id == analyst_run.run_id
    assert calculation.output == "17.5% * 2340 = 409.5"
    assert "17.5% * 2340 = 409.5" in analyst.calls[0].messages[-1].content
    assert events[-1].output == "It is 409.5."  # type: ignore[union-attr]


def test_a_model_without_tools_needs_a_router() -> None:
    chief = ChiefOfStaff(Runner(small("chief", [])))
    with pytest.raises(ConfigError, match="needs a SemanticRouter"):
        chief.stream("Hello")


def test_the_labelled_routing_set_is_large_balanced_and_honest() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 150
    labels = Counter(r["label"] for r in rows)
    assert set(labels) == {"researcher", "analyst", "writer", "none"}
    assert max(labels.values()) == min(labels.values())
    test = [r for r in rows if r["split"] == "test"]
    assert {r["split"] for r in rows} == {"dev", "test"}
    assert len(test) >= 150 // 2
    assert len({r["text"].lower() for r in rows}) == len(rows)
    examples = {e.lower() for spec in (*OPERATORS, CHIEF_OF_STAFF) for e in spec.examples}
    assert not [r["text"] for r in test if r["text"].lower() in examples]


@pytest.mark.slow
def test_the_bundled_embedder_routes_plain_requests() -> None:
    from knowledge.embedder import SentenceTransformerEmbedder

    router = SemanticRouter(SentenceTransformerEmbedder(), OPERATORS, CHIEF_OF_STAFF.examples)
    routed = {
        request: router.route(request).operator
        for request in (
            "Draft a short thank-you note to my team",
            "What is 23% of 1,250?",
            "What does the contract I uploaded say about the notice period?",
            "Good morning!",
        )
    }
    assert list(routed.values()) == ["Writer", "Analyst", "Researcher", None]
