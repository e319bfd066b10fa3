"""Widget visitors in the channel-neutral turn: their site's operators, rate and budget.

Whatever the channel (the widget's chat, or anything else a visitor's token could reach),
the turn holds a visitor to what the site allows (on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.errors import ModelNotFound
from agents.models.base import TextChunk, Usage
from agents.models.scripted import ScriptedModel
from app.auth.sites import SiteStore, VisitorLimitError
from app.auth.users import UserDirectory
from app.services import Services
from app.settings import Settings
from app.turns import Caller, TurnRequest, Turns
from tests.agents.agent_helpers import collect


@pytest.fixture
async def services(db_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(data_dir=tmp_path, database_url=db_url, chat_model="scripted:chief")
    shared = Services.from_settings(settings)
    yield shared
    await shared.close()


async def visitor(services: Services, rate: int, budget: int) -> Caller:
    sites = SiteStore(services.data_layer)
    site = await sites.add(
        f"https://shop{rate}-{budget}.example",
        "Shop",
        operators=("Writer",),
        rate_per_minute=rate,
        daily_tokens=budget,
    )
    identifier, _, _ = await sites.visitor(site, None, None)
    account = await UserDirectory(services.data_layer).get(identifier)
    assert account is not None
    return Caller(user_id=account.id, thread_id=None)


async def test_a_visitor_sees_only_the_sites_operators(services: Services) -> None:
    caller = await visitor(services, rate=10, budget=1000)
    assert [op.name for op in await Turns(services).roster(caller)] == ["Writer"]
    staff = await UserDirectory(services.data_layer).add("ada", "a-long-password-1")
    everyone = [op.name for op in await Turns(services).roster(Caller(user_id=staff.id))]
    assert everyone == ["Researcher", "Analyst", "Writer"]


async def test_the_rate_limit_trips_with_a_message_that_says_what_to_do(
    services: Services,
) -> None:
    services.registry.add(ScriptedModel(["One.", "Two."], name="chief"))
    caller = await visitor(services, rate=2, budget=100_000)
    for _ in range(2):
        await collect(Turns(services).stream(caller, TurnRequest("Hello")))
    with pytest.raises(VisitorLimitError, match=r"2 messages in the last minute.*Wait a minute"):
        await collect(Turns(services).stream(caller, TurnRequest("Hello again")))


async def test_the_daily_budget_trips_once_the_tokens_are_used(services: Services) -> None:
    answer = [TextChunk("Paris."), Usage(input_tokens=80, output_tokens=30)]
    services.registry.add(ScriptedModel([answer, answer], name="chief"))  # type: ignore[list-item]
    caller = await visitor(services, rate=100, budget=100)
    await collect(Turns(services).stream(caller, TurnRequest("What is the capital of France?")))
    with pytest.raises(VisitorLimitError, match=r"today's allowance.*100 tokens.*tomorrow"):
        await collect(Turns(services).stream(caller, TurnRequest("And of Italy?")))


async def test_a_visitor_cannot_choose_the_model(services: Services) -> None:
    # Chat settings come from the browser: a visitor's pick is refused, not obeyed.
    caller = await visitor(services, rate=10, budget=1000)
    request = TurnRequest("Hello", model="local:smollm2")
    with pytest.raises(ModelNotFound, match="Visitors of a site cannot choose the model"):
        await collect(Turns(services).stream(caller, request))
