"""Test models: a strict scripted model and a function-backed model.

They ship with the library so tests of the agent layer and the app run without weights.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from agents.errors import ScriptExhausted
from agents.models.base import (
    Capabilities,
    ChatMessage,
    Finish,
    ModelEvent,
    ModelOptions,
    TextChunk,
    ToolCall,
    ToolSpec,
    Usage,
)

Turn = str | Sequence[ModelEvent] | BaseException
"""One scripted reply: plain text, an explicit event list, or an exception to raise."""


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """What a test model was asked, for assertions."""

    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...]
    options: ModelOptions | None


def _events_for(turn: str | Sequence[ModelEvent]) -> list[ModelEvent]:
    if isinstance(turn, str):
        # Split after spaces so a test sees several deltas, like a real stream.
        words = turn.split(" ")
        deltas: list[ModelEvent] = [
            TextChunk(w if i == len(words) - 1 else w + " ") for i, w in enumerate(words) if w
        ]
        return [*deltas, Usage(output_tokens=len(deltas)), Finish("stop")]
    events = list(turn)
    if not any(isinstance(e, Finish) for e in events):
        calls = any(isinstance(e, ToolCall) for e in events)
        events.append(Finish("tool_calls" if calls else "stop"))
    return events


@dataclass
class ScriptedModel:
    """Replies with scripted turns in order; fails loudly when called once too often."""

    turns: list[Turn]
    name: str = "test"
    delay: float = 0.0
    """Seconds to sleep before each event, to make streams observable and cancellable."""
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(tools=True))
    calls: list[RecordedCall] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The model id, `scripted:<name>`."""
        return f"scripted:{self.name}"

    async def warm(self) -> None:
        """Nothing to load."""

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Yield the next scripted turn."""
        index = len(self.calls)
        self.calls.append(RecordedCall(tuple(messages), tuple(tools), options))
        if index >= len(self.turns):
            raise ScriptExhausted(
                f"{self.id} was called {index + 1} times but scripted for {len(self.turns)}"
            )
        turn = self.turns[index]
        if isinstance(turn, BaseException):
            raise turn
        for event in _events_for(turn):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield event


ModelFunction = Callable[
    [Sequence[ChatMessage], Sequence[ToolSpec]], Awaitable[str | Sequence[ModelEvent]]
]


@dataclass
class FunctionModel:
    """Replies with whatever an async function returns for the conversation so far."""

    function: ModelFunction
    name: str = "function"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(tools=True))
    calls: list[RecordedCall] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The model id, `scripted:<name>`."""
        return f"scripted:{self.name}"

    async def warm(self) -> None:
        """Nothing to load."""

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Yield the events for the function's reply."""
        self.calls.append(RecordedCall(tuple(messages), tuple(tools), options))
        for event in _events_for(await self.function(messages, tools)):
            yield event
