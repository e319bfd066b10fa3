"""A routed delegation to the Writer on the bundled SmolLM2 (real weights, real router)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import (
    CHIEF_OF_STAFF,
    OPERATORS,
    ChiefOfStaff,
    DelegationFinished,
    DelegationStarted,
    InMemoryTaskStore,
    RunFinished,
    Runner,
    RunStarted,
    SemanticRouter,
    TaskUpdated,
    TextDelta,
    ToolCallFinished,
    UsageReported,
)
from agents.models.base import ModelOptions
from agents.models.local import LocalModel, LocalModelConfig
from tests.agents.agent_helpers import collect, of


@pytest.mark.slow
async def test_the_bundled_model_drafts_a_note_through_the_writer(model_cache: str) -> None:
    from knowledge.embedder import SentenceTransformerEmbedder

    model = LocalModel(
        "smollm2", LocalModelConfig(cache_dir=Path(model_cache), quantization="q8_0")
    )
    store = InMemoryTaskStore()
    runner = Runner(model, tasks=store, options=ModelOptions(max_tokens=160, seed=7))
    router = SemanticRouter(SentenceTransformerEmbedder(), OPERATORS, CHIEF_OF_STAFF.examples)
    chief = ChiefOfStaff(runner, router=router)
    assert not chief.uses_tools

    events = await collect(chief.stream("Draft a short thank-you note to my team"))

    root = events[0]
    assert isinstance(root, RunStarted)
    assert root.model == "local:smollm2"
    route = of(events, ToolCallFinished)[0]
    assert route.tool == "route"
    assert "Writer" in route.output
    [delegation] = of(events, DelegationStarted)
    assert delegation.operator == "Writer"
    assert delegation.run_id == root.run_id
    writer_run = next(e for e in of(events, RunStarted) if e.agent == "Writer")
    assert writer_run.parent_run_id == root.run_id
    writer_text = "".join(e.text for e in of(events, TextDelta) if e.agent == "Writer")
    [finished_delegation] = of(events, DelegationFinished)
    assert not finished_delegation.is_error
    assert finished_delegation.output == writer_text
    usage = [e for e in of(events, UsageReported) if e.agent == "Writer"]
    assert usage
    assert usage[0].input_tokens > 0
    assert usage[0].output_tokens > 0
    assert [e.task.status for e in of(events, TaskUpdated)] == ["pending", "running", "done"]

    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.run_id == root.run_id
    answer = final.output.strip()
    assert len(answer.split()) >= 5, answer
    assert answer == writer_text.strip()
    assert "".join(e.text for e in of(events, TextDelta) if e.run_id == root.run_id) == final.output
