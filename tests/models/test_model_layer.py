"""The model protocol, the registry and the strict scripted model."""

from __future__ import annotations

import pytest

from agents.errors import ModelError, ModelNotFound, ScriptExhausted
from agents.models.base import (
    ChatMessage,
    Finish,
    ModelOptions,
    TextChunk,
    ToolCall,
    Usage,
    complete,
)
from agents.models.registry import ModelRegistry, split_model_id
from agents.models.scripted import FunctionModel, ScriptedModel


async def test_complete_collects_text_tool_calls_usage_and_reason() -> None:
    model = ScriptedModel(
        [
            [
                TextChunk("Let me "),
                TextChunk("check."),
                ToolCall("c1", "lookup", {"q": "x"}),
                Usage(10, 3),
            ]
        ]
    )

    result = await complete(model, [ChatMessage.user("hi")])

    assert result.text == "Let me check."
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("lookup", {"q": "x"})]
    assert result.usage == Usage(10, 3)
    assert result.finish_reason == "tool_calls"


async def test_scripted_text_streams_in_several_deltas() -> None:
    model = ScriptedModel(["one two three"])

    events = [e async for e in model.stream([ChatMessage.user("count")])]

    deltas = [e.text for e in events if isinstance(e, TextChunk)]
    assert deltas == ["one ", "two ", "three"]
    assert events[-1] == Finish("stop")


async def test_scripted_model_is_strict_about_extra_calls() -> None:
    model = ScriptedModel(["only once"])
    await complete(model, [ChatMessage.user("a")])

    with pytest.raises(ScriptExhausted, match="called 2 times but scripted for 1"):
        await complete(model, [ChatMessage.user("b")])


async def test_scripted_model_records_what_it_was_asked() -> None:
    model = ScriptedModel(["ok"])
    options = ModelOptions(temperature=0.0)

    await complete(model, [ChatMessage.system("s"), ChatMessage.user("q")], options=options)

    call = model.calls[0]
    assert [m.role for m in call.messages] == ["system", "user"]
    assert call.options == options


async def test_scripted_model_raises_a_scripted_error() -> None:
    model = ScriptedModel([ModelError("provider down")])

    with pytest.raises(ModelError, match="provider down"):
        await complete(model, [ChatMessage.user("a")])


async def test_function_model_answers_from_the_conversation() -> None:
    async def echo(messages: object, tools: object) -> str:
        assert isinstance(messages, tuple | list)
        return f"you said {messages[-1].content}"

    model = FunctionModel(echo)

    assert (await complete(model, [ChatMessage.user("ping")])).text == "you said ping"


def test_model_ids_split_into_provider_and_name() -> None:
    assert split_model_id("local:smollm2") == ("local", "smollm2")
    assert split_model_id("ollama:llama3.2:1b") == ("ollama", "llama3.2:1b")
    for bad in ("smollm2", ":x", "local:"):
        with pytest.raises(ModelNotFound, match="provider:name"):
            split_model_id(bad)


def test_registry_builds_each_model_once() -> None:
    built: list[str] = []

    def factory(name: str) -> ScriptedModel:
        built.append(name)
        return ScriptedModel([], name=name)

    registry = ModelRegistry()
    registry.register_provider("scripted", factory)

    first = registry.resolve("scripted:a")
    assert registry.resolve("scripted:a") is first
    assert registry.resolve("scripted:b") is not first
    assert built == ["a", "b"]


def test_registry_names_the_known_providers_for_an_unknown_one() -> None:
    registry = ModelRegistry()
    registry.register_provider("local", lambda name: ScriptedModel([], name=name))

    with pytest.raises(ModelNotFound, match=r"'openai'.*known: local"):
        registry.resolve("openai:gpt-4o-mini")


def test_registry_serves_ready_made_test_models() -> None:
    registry = ModelRegistry()
    model = ScriptedModel(["hi"], name="cos")
    registry.add(model)

    assert registry.resolve("scripted:cos") is model
