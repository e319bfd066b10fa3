"""The Chief of Staff delegating to operators through tools, with scripted models."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from agents import (
    ANALYST,
    RESEARCHER,
    WRITER,
    AgentLimits,
    AgentSpec,
    DelegationFinished,
    DelegationStarted,
    RunFailed,
    RunFinished,
    RunStarted,
    TaskUpdated,
    TextDelta,
    ToolCallFinished,
    TurnLimits,
    delegation_tool,
)
from agents.errors import BudgetExceeded, ModelError
from agents.models.base import ChatMessage, ToolSpec, Usage
from agents.models.base import TextChunk as ModelText
from agents.models.scripted import FunctionModel, ScriptedModel
from tests.agents.agent_helpers import call, collect, kinds, of, team


def tool_results(model: ScriptedModel, turn: int) -> list[str]:
    """The tool results the model was shown on its `turn`-th call."""
    return [m.content for m in model.calls[turn].messages if m.role == "tool"]


async def test_single_delegation_streams_nested_runs_and_records_a_task() -> None:
    chief_model = ScriptedModel(
        [
            [call("delegate_to_writer", instructions="Draft a thank-you note to the team")],
            "Here is your note: Thank you, team!",
        ],
        name="chief",
    )
    writer = ScriptedModel(["Thank you, team!"], name="writer")
    t = team(chief_model, [(WRITER, writer)])

    events = await collect(t.chief.stream("Write a thank-you note for my team"))

    root = events[0]
    assert isinstance(root, RunStarted)
    assert root.parent_run_id is None
    assert root.agent == "Chief of Staff"
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.run_id == root.run_id
    assert finished.output == "Here is your note: Thank you, team!"
    answer = "".join(e.text for e in of(events, TextDelta) if e.run_id == root.run_id)
    assert answer == finished.output

    [started] = of(events, DelegationStarted)
    [ended] = of(events, DelegationFinished)
    child = next(e for e in of(events, RunStarted) if e.parent_run_id == root.run_id)
    assert started.run_id == root.run_id
    assert started.child_run_id == child.run_id
    assert child.agent == "Writer"
    assert child.depth == 1
    assert kinds(events, child.run_id) == [
        "run_started",
        "text_delta",
        "text_delta",
        "text_delta",
        "usage_reported",
        "run_finished",
    ]
    assert ended.output == "Thank you, team!"
    assert not ended.is_error
    assert ended.usage == Usage(output_tokens=3)

    statuses = [e.task.status for e in of(events, TaskUpdated)]
    assert statuses == ["pending", "running", "done"]
    [task] = t.store.all()
    assert task.operator == "Writer"
    assert task.status == "done"
    assert task.result == "Thank you, team!"
    assert task.run_id == child.run_id
    assert task.started_at is not None
    assert task.finished_at is not None

    assert tool_results(chief_model, 1) == ["Thank you, team!"]
    writer_prompt = writer.calls[0].messages
    assert writer_prompt[0].content.endswith(WRITER.instructions)
    assert "Draft a thank-you note to the team" in writer_prompt[-1].content


async def test_two_parallel_delegations_overlap() -> None:
    chief_model = ScriptedModel(
        [
            [
                call("delegate_to_researcher", "c1", instructions="Find the notice period"),
                call("delegate_to_analyst", "c2", instructions="Compute 12 * 30"),
            ],
            "Both done.",
        ],
        name="chief",
    )
    words = "one two three four five six seven eight"
    researcher = ScriptedModel([words], name="researcher", delay=0.005)
    analyst = ScriptedModel([words], name="analyst", delay=0.005)
    t = team(chief_model, [(RESEARCHER, researcher), (ANALYST, analyst)])

    events = await collect(t.chief.stream("Check the notice period and compute the cost"))

    children = [e for e in events if e.parent_run_id is not None and e.agent != "Chief of Staff"]
    first_finish = next(i for i, e in enumerate(children) if isinstance(e, RunFinished))
    started_before = [e.agent for e in children[:first_finish] if isinstance(e, RunStarted)]
    assert sorted(started_before) == ["Analyst", "Researcher"]
    # Both operators streamed text before either finished: their events interleave.
    agents_streaming = {e.agent for e in children[:first_finish] if isinstance(e, TextDelta)}
    assert agents_streaming == {"Analyst", "Researcher"}

    tasks = t.store.all()
    assert [task.status for task in tasks] == ["done", "done"]
    starts = [task.started_at for task in tasks]
    finishes = [task.finished_at for task in tasks]
    assert None not in starts
    assert None not in finishes
    assert max(s for s in starts if s) <= min(f for f in finishes if f)
    assert tool_results(chief_model, 1) == [words, words]


async def test_an_operator_that_raises_becomes_a_result_the_chief_recovers_from() -> None:
    chief_model = ScriptedModel(
        [
            [call("delegate_to_analyst", instructions="Compute the totals")],
            "The Analyst failed, so here is what I know.",
        ],
        name="chief",
    )
    analyst = ScriptedModel([ModelError("the model server went away")], name="analyst")
    t = team(chief_model, [(ANALYST, analyst)])

    events = await collect(t.chief.stream("Total my expenses"))

    [failed] = of(events, RunFailed)
    assert failed.agent == "Analyst"
    assert failed.error == "the model server went away"
    assert not failed.cancelled
    assert failed.error_type == "ModelError"
    [ended] = of(events, DelegationFinished)
    assert ended.is_error
    assert tool_results(chief_model, 1) == [
        "The Analyst failed: the model server went away — answer with what you have, "
        "and say what is missing."
    ]
    [task] = t.store.all()
    assert task.status == "failed"
    assert task.result == "the model server went away"
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.parent_run_id is None
    assert final.output == "The Analyst failed, so here is what I know."


async def test_an_operator_that_times_out_becomes_a_result() -> None:
    chief_model = ScriptedModel(
        [[call("delegate_to_writer", instructions="Write a novel")], "It took too long."],
        name="chief",
    )
    writer = ScriptedModel(["a very slow reply"], name="writer", delay=30)
    slow_writer = (
        AgentSpec(
            name=WRITER.name,
            description=WRITER.description,
            instructions=WRITER.instructions,
            limits=AgentLimits(timeout_s=0.05),
        ),
        writer,
    )
    t = team(chief_model, [slow_writer])

    events = await collect(t.chief.stream("Write me a novel"))

    [failed] = of(events, RunFailed)
    assert failed.agent == "Writer"
    assert failed.error_type == "DeadlineExceeded"
    assert failed.error == "The Writer did not finish within its 0.05-second limit."
    assert tool_results(chief_model, 1) == [
        "The Writer did not finish within its 0.05-second limit — answer with what you have, "
        "and say what is missing."
    ]
    [task] = t.store.all()
    assert task.status == "failed"
    assert isinstance(events[-1], RunFinished)
    assert events[-1].output == "It took too long."


async def test_operators_cannot_delegate_further_by_default() -> None:
    writer = ScriptedModel([], name="writer")  # must never be called
    manager_model = ScriptedModel(
        [[call("delegate_to_writer", instructions="Draft it")], "I drafted it myself."],
        name="manager",
    )
    writer_spec = AgentSpec(
        name="Writer", description=WRITER.description, instructions="", model=writer.id
    )
    manager = AgentSpec(
        name="Manager",
        description="Coordinates drafts.",
        instructions="You manage drafts.",
        tools=("delegate_to_writer",),
    )
    chief_model = ScriptedModel(
        [[call("delegate_to_manager", instructions="Get a draft done")], "Done."], name="chief"
    )
    t = team(
        chief_model,
        [(manager, manager_model), (writer_spec, writer)],
        tools=[delegation_tool(writer_spec)],
    )

    events = await collect(t.chief.stream("Get me a draft"))

    refused = [e for e in of(events, ToolCallFinished) if e.tool == "delegate_to_writer"]
    assert len(refused) == 1
    assert refused[0].is_error
    assert refused[0].agent == "Manager"
    assert "delegation is limited to depth 1" in refused[0].output
    assert writer.calls == []
    assert [e.agent for e in of(events, DelegationStarted)] == ["Chief of Staff"]
    assert [task.operator for task in t.store.all()] == ["Manager"]
    assert events[-1].kind == "run_finished"


async def test_a_deeper_limit_lets_operators_delegate() -> None:
    writer = ScriptedModel(["Draft."], name="writer")
    manager_model = ScriptedModel(
        [[call("delegate_to_writer", instructions="Draft it")], "Got the draft."], name="manager"
    )
    writer_spec = AgentSpec(name="Writer", description="Writes.", instructions="", model=writer.id)
    manager = AgentSpec(
        name="Manager", description="Manages.", instructions="", tools=("delegate_to_writer",)
    )
    chief_model = ScriptedModel(
        [[call("delegate_to_manager", instructions="Get a draft")], "Done."], name="chief"
    )
    t = team(
        chief_model,
        [(manager, manager_model)],
        tools=[delegation_tool(writer_spec)],
        limits=TurnLimits(max_depth=2),
    )
    t.runner.models.add(writer)  # type: ignore[union-attr]

    events = await collect(t.chief.stream("Get me a draft"))

    writer_run = next(e for e in of(events, RunStarted) if e.agent == "Writer")
    assert writer_run.depth == 2
    assert {task.operator: task.status for task in t.store.all()} == {
        "Manager": "done",
        "Writer": "done",
    }


async def test_the_token_budget_is_shared_by_the_whole_tree() -> None:
    chief_model = ScriptedModel(
        [
            [call("delegate_to_writer", instructions="Draft"), Usage(400, 50)],
            "never reached",
        ],
        name="chief",
    )
    writer = ScriptedModel([[ModelText("A draft."), Usage(500, 100)]], name="writer")
    t = team(chief_model, [(WRITER, writer)], limits=TurnLimits(token_budget=1_000))

    events = await collect(t.chief.stream("Draft something"))

    final = events[-1]
    assert isinstance(final, RunFailed)
    assert final.parent_run_id is None
    assert final.error_type == "BudgetExceeded"
    assert final.error.startswith("This request used its token budget (1,050 of 1,000 tokens)")
    assert len(chief_model.calls) == 1  # stopped before spending more
    with pytest.raises(BudgetExceeded):
        await team(
            ScriptedModel(chief_model.turns, name="chief"),
            [(WRITER, ScriptedModel(writer.turns, name="writer"))],
            limits=TurnLimits(token_budget=1_000),
        ).chief.run("Draft something")


async def test_a_planned_task_list_is_filled_by_the_delegations() -> None:
    chief_model = ScriptedModel(
        [
            [
                call(
                    "plan",
                    steps=[
                        {"operator": "Researcher", "title": "Find the differences"},
                        {"operator": "writer", "title": "Draft the email"},
                        {"operator": "Analyst", "title": "Cost the changes"},
                    ],
                )
            ],
            [
                call("delegate_to_researcher", "r", instructions="Compare contract A and B"),
                call("delegate_to_writer", "w", instructions="Email summarising differences"),
            ],
            "Here is the email.",
        ],
        name="chief",
    )
    t = team(
        chief_model,
        [
            (RESEARCHER, ScriptedModel(["A has 30 days, B has 60."], name="researcher")),
            (WRITER, ScriptedModel(["Dear team, ..."], name="writer")),
            (ANALYST, ScriptedModel([], name="analyst")),
        ],
    )

    events = await collect(t.chief.stream("Compare the two contracts and draft an email"))

    tasks = {task.title: task for task in t.store.all()}
    assert list(tasks) == ["Find the differences", "Draft the email", "Cost the changes"]
    assert tasks["Find the differences"].status == "done"
    assert tasks["Find the differences"].instructions == "Compare contract A and B"
    assert tasks["Draft the email"].status == "done"
    # Planned but never delegated: closed at the end of the turn, not left pending.
    assert tasks["Cost the changes"].status == "cancelled"
    first_updates = [e.task.title for e in of(events, TaskUpdated)][:3]
    assert first_updates == list(tasks)
    assert "Plan recorded as 3 task(s)" in tool_results(chief_model, 1)[0]


async def test_a_plan_naming_an_unknown_operator_is_a_recoverable_error() -> None:
    chief_model = ScriptedModel(
        [[call("plan", steps=[{"operator": "Lawyer", "title": "Check it"}])], "OK."],
        name="chief",
    )
    t = team(chief_model, [(WRITER, ScriptedModel([], name="writer"))])

    await collect(t.chief.stream("Check the contract"))

    [result] = tool_results(chief_model, 1)
    assert result == "Unknown operator(s): Lawyer. Use one of: Writer."
    assert t.store.all() == []


async def test_the_per_operator_concurrency_limit_queues_delegations() -> None:
    chief_model = ScriptedModel(
        [
            [
                call("delegate_to_writer", "a", instructions="Draft A"),
                call("delegate_to_writer", "b", instructions="Draft B"),
            ],
            "Both drafts done.",
        ],
        name="chief",
    )
    writer = ScriptedModel(["draft one", "draft two"], name="writer", delay=0.005)
    single = AgentSpec(
        name="Writer",
        description=WRITER.description,
        instructions="",
        limits=AgentLimits(max_concurrency=1),
    )
    t = team(chief_model, [(single, writer)])

    events = await collect(t.chief.stream("Two drafts please"))

    runs = [e.kind for e in events if e.agent == "Writer" and e.kind.startswith("run_")]
    assert runs == ["run_started", "run_finished", "run_started", "run_finished"]
    first, second = sorted(t.store.all(), key=lambda task: task.started_at or 0)
    assert first.finished_at is not None
    assert second.started_at is not None
    assert second.started_at >= first.finished_at


def _hanging(name: str, cancelled: list[str], started: asyncio.Event) -> FunctionModel:
    """A model that generates until it is cancelled, and records that it was."""

    async def reply(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return "never"

    return FunctionModel(reply, name=name)


async def test_cancelling_the_consumer_stops_the_whole_tree() -> None:
    chief_model = ScriptedModel(
        [
            [
                call("delegate_to_researcher", "r", instructions="Dig"),
                call("delegate_to_writer", "w", instructions="Write"),
                call("delegate_to_analyst", "a", instructions="Count"),
            ],
            "never reached",
        ],
        name="chief",
    )
    cancelled: list[str] = []
    generating = {name: asyncio.Event() for name in ("researcher", "writer")}
    t = team(
        chief_model,
        [
            (RESEARCHER, _hanging("researcher", cancelled, generating["researcher"])),
            (WRITER, _hanging("writer", cancelled, generating["writer"])),
            # The Analyst is still waiting for its only slot when the user presses stop.
            (ANALYST, ScriptedModel([], name="analyst")),
        ],
    )
    analyst = t.chief.operators[2]
    slot = t.runner.operator_slot(analyst)
    held = 0
    while not slot.locked():
        await slot.acquire()
        held += 1
    seen: list[object] = []

    async def consume() -> None:
        async for event in t.chief.stream("Do three things"):
            seen.append(event)

    consumer = asyncio.create_task(consume())
    for event in generating.values():
        await asyncio.wait_for(event.wait(), timeout=10)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    for _ in range(held):
        slot.release()

    assert sorted(cancelled) == ["researcher", "writer"]
    tasks = t.store.all()
    assert len(tasks) == 3
    assert {task.operator: task.status for task in tasks} == {
        "Researcher": "cancelled",
        "Writer": "cancelled",
        "Analyst": "cancelled",
    }
    assert all(task.finished_at is not None for task in tasks)
    assert asyncio.all_tasks() == {asyncio.current_task()}
