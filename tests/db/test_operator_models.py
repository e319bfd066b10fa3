"""Admins pin operators (built-ins too) to a model: stored, audited, used by the next turn, and
ranked against a chat's pick — the person's pick moves the Chief of Staff and every operator
that follows the chat, an admin's pin stays (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from agents import ANALYST, WRITER, Notice, RunFinished, RunStarted, UsageReported
from agents.models.scripted import ScriptedModel
from app.auth.users import Account, UserDirectory
from app.db.domain import AgentRecord
from app.db.operators import Actor, OperatorStore
from app.services import Services
from app.settings import Settings
from app.turns import Caller, TurnRequest, Turns
from tests.agents.agent_helpers import call, collect, of


@pytest.fixture
async def services(db_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(data_dir=tmp_path, database_url=db_url, chat_model="scripted:chief")
    shared = Services.from_settings(settings)
    yield shared
    await shared.close()


async def ada(services: Services) -> Account:
    return await UserDirectory(services.data_layer).add("ada", "ada-password-1", role="admin")


async def test_a_pinned_builtin_is_stored_audited_and_in_the_next_roster(
    services: Services,
) -> None:
    admin = await ada(services)
    actor = Actor(admin.id, "ada")
    store = OperatorStore(services.data_layer)
    turns = Turns(services)
    caller = Caller(user_id=admin.id)

    assert await store.set_model("Writer", "scripted:pinned", actor=actor, builtin=WRITER)
    roster = {op.name: op for op in await turns.roster(caller)}
    assert roster["Writer"].model == "scripted:pinned"
    assert roster["Analyst"].model is None
    assert roster["Writer"].instructions == WRITER.instructions  # only the model is the admin's
    assert await store.models() == {"Writer": "scripted:pinned"}

    # Pinning again to the same model changes nothing and logs nothing.
    assert await store.set_model("Writer", "scripted:pinned", actor=actor, builtin=WRITER)
    assert await store.set_model("Writer", None, actor=actor, builtin=WRITER)
    assert {op.name: op.model for op in await turns.roster(caller)}["Writer"] is None
    assert await store.models() == {}

    changes = await store.changes("Writer")
    assert [(c.action, c.actor, c.actor_id, c.changes) for c in reversed(changes)] == [
        ("updated", "ada", admin.id, {"model": [None, "scripted:pinned"]}),
        ("updated", "ada", admin.id, {"model": ["scripted:pinned", None]}),
    ]


async def test_a_disabled_builtin_keeps_its_flag_when_pinned_and_unknown_names_are_refused(
    services: Services,
) -> None:
    admin = await ada(services)
    actor = Actor(admin.id, "ada")
    store = OperatorStore(services.data_layer)
    await store.set_builtin_enabled(ANALYST, False, actor)

    assert await store.set_model("Analyst", "scripted:pinned", actor=actor, builtin=ANALYST)
    assert (await store.states())["Analyst"] is False
    assert "Analyst" not in [op.name for op in await Turns(services).roster(Caller(admin.id))]
    assert not await store.set_model("Nobody", "scripted:pinned", actor=actor)
    async with services.data_layer.reading() as session:
        names = list(await session.scalars(select(AgentRecord.name)))
    assert names == ["Analyst"]


async def test_a_chats_pick_moves_the_chief_and_followers_but_not_a_pinned_operator(
    services: Services,
) -> None:
    admin = await ada(services)
    store = OperatorStore(services.data_layer)
    await store.set_model("Writer", "scripted:pinned", actor=Actor(admin.id, "ada"), builtin=WRITER)
    services.registry.add(ScriptedModel([], name="chief"))
    services.registry.add(ScriptedModel([], name="picked"))
    roster = await Turns(services).roster(Caller(admin.id))

    picked = await services.chief(roster, model="scripted:picked")
    deployment = await services.chief(roster)

    assert picked.spec.model == "scripted:picked"
    assert {op.name: op.model for op in picked.operators} == {
        "Researcher": "scripted:picked",
        "Analyst": "scripted:picked",
        "Writer": "scripted:pinned",
    }
    assert deployment.spec.model is None  # the deployment's chat model
    assert {op.name: op.model for op in deployment.operators}["Writer"] == "scripted:pinned"


async def test_the_next_turn_runs_the_pinned_operator_on_its_model(services: Services) -> None:
    admin = await ada(services)
    await OperatorStore(services.data_layer).set_model(
        "Writer", "scripted:pinned", actor=Actor(admin.id, "ada"), builtin=WRITER
    )
    services.registry.add(
        ScriptedModel(
            [[call("delegate_to_writer", instructions="A note for the board")], "Here it is."],
            name="chief",
        )
    )
    pinned = ScriptedModel(["Dear board, the fleet grows to 60."], name="pinned")
    services.registry.add(pinned)

    events = await collect(
        Turns(services).stream(Caller(user_id=admin.id), TurnRequest("Draft a note"))
    )

    writer = next(e for e in of(events, RunStarted) if e.agent == "Writer")
    assert writer.model == "scripted:pinned"
    assert {u.model for u in of(events, UsageReported) if u.agent == "Writer"} == {
        "scripted:pinned"
    }
    assert len(pinned.calls) == 1
    assert not of(events, Notice)


async def test_a_pinned_model_that_is_gone_answers_on_the_default_with_a_notice(
    services: Services,
) -> None:
    admin = await ada(services)
    # Pinned while an OpenAI server was configured; this deployment has none any more.
    await OperatorStore(services.data_layer).set_model(
        "Writer", "openai:gpt-4o-mini", actor=Actor(admin.id, "ada"), builtin=WRITER
    )
    services.registry.add(
        ScriptedModel(
            [
                [call("delegate_to_writer", instructions="A note for the board")],
                "Dear board, written on the default.",  # the Writer, on the chat model
                "Here is the note.",
            ],
            name="chief",
        )
    )

    events = await collect(
        Turns(services).stream(Caller(user_id=admin.id), TurnRequest("Draft a note"))
    )

    [notice] = of(events, Notice)
    assert notice.agent == "Writer"
    assert notice.text.startswith("openai:gpt-4o-mini is not available")
    assert notice.text.endswith("switched to scripted:chief")
    finished = {e.agent: e.output for e in of(events, RunFinished)}
    assert finished["Writer"] == "Dear board, written on the default."
    assert finished["Chief of Staff"] == "Here is the note."
