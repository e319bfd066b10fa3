"""An agent with a model of its own (an admin pinned it): it runs there, and when that model
fails or is gone, the runner's default answers with a notice instead of an error."""

from __future__ import annotations

import pytest

from agents import AgentSpec, Notice, RunFailed, RunFinished, Runner, RunStarted, UsageReported
from agents.errors import ModelError, ModelNotFound
from agents.models.registry import ModelRegistry
from agents.models.scripted import ScriptedModel
from tests.agents.agent_helpers import collect, of

WRITER = AgentSpec(
    name="Writer", description="Writes.", instructions="Write well.", model="scripted:pinned"
)


def runner(default: ScriptedModel, pinned: ScriptedModel, *, fall_back: bool = True) -> Runner:
    registry = ModelRegistry()
    registry.add(pinned)
    return Runner(default, models=registry, fall_back_to_default=fall_back)


async def test_a_pinned_agent_runs_on_its_own_model() -> None:
    default = ScriptedModel([], name="default")
    pinned = ScriptedModel(["A memo from the pinned model."], name="pinned")

    events = await collect(runner(default, pinned).stream(WRITER, "Write a memo"))

    [started] = of(events, RunStarted)
    assert started.model == "scripted:pinned"
    assert {u.model for u in of(events, UsageReported)} == {"scripted:pinned"}
    [finished] = of(events, RunFinished)
    assert finished.output == "A memo from the pinned model."
    assert not of(events, Notice)
    assert not default.calls


async def test_a_pinned_model_that_fails_gives_way_to_the_default_with_a_notice() -> None:
    default = ScriptedModel(["A memo from the default."], name="default")
    pinned = ScriptedModel([ModelError("404: no such model")], name="pinned")

    events = await collect(runner(default, pinned).stream(WRITER, "Write a memo"))

    [finished] = of(events, RunFinished)
    assert finished.output == "A memo from the default."
    [notice] = of(events, Notice)
    assert notice.agent == "Writer"
    assert "switched to scripted:default" in notice.text
    assert "404: no such model" in notice.text
    assert not of(events, RunFailed)


async def test_a_pinned_model_whose_provider_is_gone_gives_way_to_the_default() -> None:
    default = ScriptedModel(["Written on the default."], name="default")
    gone = AgentSpec(
        name="Writer", description="Writes.", instructions="Write.", model="vanished:model-x"
    )
    unused = ScriptedModel([], name="pinned")

    events = await collect(runner(default, unused).stream(gone, "Write"))

    [finished] = of(events, RunFinished)
    assert finished.output == "Written on the default."
    [notice] = of(events, Notice)
    assert notice.text.startswith("vanished:model-x is not available")
    assert notice.text.endswith("switched to scripted:default")


async def test_without_the_fallback_a_missing_model_is_the_runs_error() -> None:
    default = ScriptedModel([], name="default")
    gone = AgentSpec(name="Writer", description="Writes.", instructions="Write.", model="x:y")

    events = await collect(
        runner(default, ScriptedModel([], name="pinned"), fall_back=False).stream(gone, "Write")
    )

    [failed] = of(events, RunFailed)
    assert failed.error_type == ModelNotFound.__name__
    assert not of(events, Notice)


@pytest.mark.parametrize("fall_back", [True, False])
async def test_an_agent_without_a_model_uses_the_default(fall_back: bool) -> None:
    default = ScriptedModel(["Hello."], name="default")
    plain = AgentSpec(name="Writer", description="Writes.", instructions="Write.")

    events = await collect(
        runner(default, ScriptedModel([], name="pinned"), fall_back=fall_back).stream(plain, "Hi")
    )

    [started] = of(events, RunStarted)
    assert started.model == "scripted:default"
    assert of(events, RunFinished)[0].output == "Hello."
