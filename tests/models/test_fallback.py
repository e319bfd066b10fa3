"""A fallback chain answers with the next model when one fails before saying anything."""

from __future__ import annotations

import pytest

from agents import AgentSpec, Price, PriceTable, RunFinished, Runner, UsageReported
from agents import Notice as RunNotice
from agents.errors import ModelError
from agents.models.base import ChatMessage, ModelNotice, TextChunk, Usage, complete
from agents.models.fallback import FallbackModel
from agents.models.scripted import ScriptedModel
from tests.agents.agent_helpers import collect, of

HELPER = AgentSpec(name="Helper", description="Answers questions.", instructions="Answer.")


async def test_a_dead_first_model_hands_over_to_the_next() -> None:
    remote = ScriptedModel([ModelError("api.example.com did not answer after 3 tries")], name="a")
    local = ScriptedModel(["Paris."], name="b")
    chain = FallbackModel([remote, local])
    events = [e async for e in chain.stream([ChatMessage.user("Capital of France?")])]
    [notice] = [e for e in events if isinstance(e, ModelNotice)]
    assert notice.text.endswith("switched to scripted:b")
    assert "did not answer after 3 tries" in notice.text
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "Paris."
    assert chain.id == "scripted:a"  # the chain is known by the model the settings name


async def test_a_model_that_fails_after_answering_is_not_replaced() -> None:
    class CutOff(ScriptedModel):
        async def stream(self, messages, tools=(), options=None):  # type: ignore[no-untyped-def,override]
            yield TextChunk("Half an ")
            raise ModelError("the stream broke; the answer is incomplete")

    chain = FallbackModel([CutOff([], name="a"), ScriptedModel(["never"], name="b")])
    with pytest.raises(ModelError, match="incomplete"):
        await complete(chain, [ChatMessage.user("Hi")])


async def test_every_model_failing_says_why_each_failed() -> None:
    chain = FallbackModel(
        [
            ScriptedModel([ModelError("401")], name="a"),
            ScriptedModel([ModelError("gone")], name="b"),
        ]
    )
    with pytest.raises(ModelError, match="scripted:a failed: 401; scripted:b failed: gone"):
        await complete(chain, [ChatMessage.user("Hi")])


async def test_the_switch_is_an_event_of_the_run_and_the_run_finishes() -> None:
    chain = FallbackModel(
        [ScriptedModel([ModelError("quota")], name="a"), ScriptedModel(["Done."], name="b")]
    )
    events = await collect(Runner(chain).stream(HELPER, "Do it"))
    [notice] = of(events, RunNotice)
    assert notice.agent == "Helper"
    assert "switched to scripted:b" in notice.text
    assert of(events, RunFinished)[-1].output == "Done."


async def test_tokens_and_cost_belong_to_the_model_that_answered() -> None:
    remote = ScriptedModel([ModelError("quota")], name="remote")
    backup = ScriptedModel([[TextChunk("Done."), Usage(1000, 100)]], name="backup")
    prices = PriceTable(
        {"scripted:remote": Price(100.0, 100.0), "scripted:backup": Price(1.0, 10.0)}
    )

    events = await collect(
        Runner(FallbackModel([remote, backup]), prices=prices).stream(HELPER, "Do it")
    )

    [usage] = of(events, UsageReported)
    assert usage.model == "scripted:backup"
    assert usage.cost == pytest.approx(0.002)  # 1000 x $1/M + 100 x $10/M, not the remote's price
