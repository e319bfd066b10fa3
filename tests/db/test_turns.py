"""The channel-neutral turn, run without Chainlit: who asks is passed in, and what happened
is filed under that user and thread (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from agents import (
    AgentSpec,
    DelegationStarted,
    RunFailed,
    RunFinished,
    RunStarted,
    UsageReported,
)
from agents.errors import ModelError
from agents.models.base import TextChunk, Usage
from agents.models.scripted import ScriptedModel
from app.auth.users import Account, UserDirectory
from app.db import TaskRecord, UsageRecord
from app.db.operators import OperatorStore
from app.services import Services
from app.settings import Settings
from app.turns import Caller, TurnRequest, Turns
from tests.agents.agent_helpers import call, collect, of

CLERK = AgentSpec(
    name="Clerk",
    description="Files invoices and receipts in the accounting system.",
    instructions="You are the Clerk. Say what you filed.",
    model="scripted:clerk",
    examples=("File this invoice", "Record the receipt from the supplier"),
)


@pytest.fixture
async def services(db_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    """Cadre's services on that database, the Chief of Staff on a scripted model."""
    settings = Settings(data_dir=tmp_path, database_url=db_url, chat_model="scripted:chief")
    shared = Services.from_settings(settings)
    yield shared
    await shared.close()


async def alice(services: Services) -> Account:
    return await UserDirectory(services.data_layer).add("alice", "correct horse battery")


def script(services: Services, chief: list[object], clerk: list[object]) -> ScriptedModel:
    """Scripted models for the Chief of Staff and the Clerk, known to the registry."""
    chief_model = ScriptedModel(chief, name="chief")  # type: ignore[arg-type]
    services.registry.add(chief_model)
    services.registry.add(ScriptedModel(clerk, name="clerk"))  # type: ignore[arg-type]
    return chief_model


async def test_a_turn_files_tasks_and_usage_under_the_caller(services: Services) -> None:
    user = await alice(services)
    await OperatorStore(services.data_layer).save(CLERK, created_by=user.id)
    chief_model = script(
        services,
        chief=[
            [call("delegate_to_clerk", instructions="File invoice 42"), Usage(120, 8)],
            [TextChunk("Invoice 42 is filed."), Usage(150, 6)],
        ],
        clerk=[[TextChunk("Filed invoice 42 under March."), Usage(40, 7)]],
    )

    caller = Caller(user_id=user.id, thread_id="thread-alice-1")
    events = await collect(Turns(services).stream(caller, TurnRequest("File invoice 42")))

    # The admin-made operator was offered and used in the very turn after it was saved.
    offered = {tool.name for tool in chief_model.calls[0].tools}
    assert "delegate_to_clerk" in offered
    [delegation] = of(events, DelegationStarted)
    assert delegation.operator == "Clerk"
    root = next(e for e in of(events, RunStarted) if e.parent_run_id is None)
    assert of(events, RunFinished)[-1].output == "Invoice 42 is filed."

    async with services.data_layer.reading() as session:
        tasks = list(await session.scalars(select(TaskRecord)))
        usage = list(await session.scalars(select(UsageRecord)))
    [task] = tasks
    assert (task.operator, task.status, task.turn_id) == ("Clerk", "done", root.run_id)
    assert (task.thread_id, task.user_id) == ("thread-alice-1", user.id)
    assert task.result == "Filed invoice 42 under March."
    reported = of(events, UsageReported)
    assert len(usage) == len(reported) == 3
    assert {(u.user_id, u.thread_id) for u in usage} == {(user.id, "thread-alice-1")}
    assert {u.agent for u in usage} == {"Chief of Staff", "Clerk"}
    assert await Turns(services).usage.totals(user.id) == (310, 21)


async def test_each_call_s_cost_is_kept_at_the_configured_price(
    db_url: str, tmp_path: Path
) -> None:
    prices = {"scripted:chief": (1.0, 10.0)}  # dollars per million input / output tokens
    settings = Settings(
        data_dir=tmp_path, database_url=db_url, chat_model="scripted:chief", model_prices=prices
    )
    shared = Services.from_settings(settings)
    try:
        user = await alice(shared)
        script(shared, chief=[[TextChunk("Hello."), Usage(2000, 100)]], clerk=[])

        await collect(Turns(shared).stream(Caller(user_id=user.id), TurnRequest("Hi")))

        async with shared.data_layer.reading() as session:
            [row] = list(await session.scalars(select(UsageRecord)))
    finally:
        await shared.close()
    assert row.model == "scripted:chief"
    assert row.cost == pytest.approx(0.003)  # 2000 x $1/M + 100 x $10/M
    assert row.outcome == "ok"
    assert row.duration_s is not None
    assert row.duration_s >= 0


async def test_a_failed_model_call_is_recorded_as_failed(services: Services) -> None:
    user = await alice(services)
    script(services, chief=[ModelError("the provider is down")], clerk=[])

    events = await collect(Turns(services).stream(Caller(user_id=user.id), TurnRequest("Hi")))

    assert isinstance(events[-1], RunFailed)
    async with services.data_layer.reading() as session:
        [row] = list(await session.scalars(select(UsageRecord)))
    assert (row.model, row.outcome, row.output_tokens) == ("scripted:chief", "failed", 0)


async def test_disabled_and_clashing_operators_stay_out_of_the_roster(services: Services) -> None:
    user = await alice(services)
    store = OperatorStore(services.data_layer)
    await store.save(CLERK)
    impostor = AgentSpec(name="writer", description="Pretends to be the Writer.", instructions=".")
    await store.save(impostor)
    turns = Turns(services)
    caller = Caller(user_id=user.id)

    names = [op.name for op in await turns.roster(caller)]
    assert names == ["Researcher", "Analyst", "Writer", "Clerk"]

    assert await store.set_enabled("Clerk", False)
    assert "Clerk" not in [op.name for op in await turns.roster(caller)]
    assert not await store.set_enabled("Nobody", True)

    limited = Caller(user_id=user.id, operators={"Writer"})
    assert [op.name for op in await turns.roster(limited)] == ["Writer"]


async def test_an_operator_reads_back_as_the_spec_that_was_saved(services: Services) -> None:
    store = OperatorStore(services.data_layer)
    scoped = AgentSpec(
        name="Clerk",
        description=CLERK.description,
        instructions=CLERK.instructions,
        tools=("calculate",),
        examples=CLERK.examples,
        knowledge_scope=("doc-1", "doc-2"),
    )
    await store.save(scoped)
    assert await store.enabled() == [scoped]
