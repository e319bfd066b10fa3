"""Operators changed by admins: saved, renamed, disabled, deleted, each change in the audit
log (who, when, what), and the roster of the next turn following along (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from agents import WRITER, AgentSpec
from app.auth.users import UserDirectory
from app.db.operators import Actor, OperatorStore
from app.services import Services
from app.settings import Settings
from app.turns import Caller, Turns

PLANNER = AgentSpec(
    name="Travel Planner",
    description="Plans business trips: trains, flights, hotels.",
    instructions="You are the Travel Planner.",
    tools=("calculate",),
    examples=("Plan a trip to Berlin", "Book a hotel in Vienna"),
    knowledge_scope=("doc-1",),
    knowledge_owner="someone",
)


@pytest.fixture
async def services(db_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    shared = Services.from_settings(Settings(data_dir=tmp_path, database_url=db_url))
    yield shared
    await shared.close()


async def test_every_change_is_audited_and_the_roster_follows(services: Services) -> None:
    ada = await UserDirectory(services.data_layer).add("ada", "ada-password-1", role="admin")
    actor = Actor(ada.id, "ada")
    store = OperatorStore(services.data_layer)
    turns = Turns(services)
    caller = Caller(user_id=ada.id, role="admin")

    await store.save(PLANNER, actor=actor)
    assert await store.get("Travel Planner") == PLANNER  # knowledge owner kept too
    assert "Travel Planner" in [op.name for op in await turns.roster(caller)]

    renamed = replace(PLANNER, name="Trip Planner", model="openai:gpt-4o-mini")
    await store.save(renamed, actor=actor, replaces="Travel Planner")
    assert await store.get("Travel Planner") is None
    assert await store.get("Trip Planner") == renamed

    assert await store.set_enabled("Trip Planner", False, actor=actor)
    assert "Trip Planner" not in [op.name for op in await turns.roster(caller)]
    await store.set_builtin_enabled(WRITER, False, actor)
    assert "Writer" not in [op.name for op in await turns.roster(caller)]
    await store.set_builtin_enabled(WRITER, True, actor)
    assert "Writer" in [op.name for op in await turns.roster(caller)]
    assert await store.delete("Trip Planner", actor=actor)
    assert not await store.delete("Trip Planner", actor=actor)

    log = list(reversed(await store.changes()))
    assert [(c.operator, c.action, c.actor) for c in log] == [
        ("Travel Planner", "created", "ada"),
        ("Trip Planner", "updated", "ada"),
        ("Trip Planner", "disabled", "ada"),
        ("Writer", "disabled", "ada"),
        ("Writer", "enabled", "ada"),
        ("Trip Planner", "deleted", "ada"),
    ]
    assert {c.actor_id for c in log} == {ada.id}
    update = log[1].changes
    assert set(update) == {"name", "model"}
    assert update["model"] == [None, "openai:gpt-4o-mini"]
    assert log[-1].changes["instructions"][0] == "You are the Travel Planner."
    assert all(c.created_at is not None for c in log)
