"""The model layer's wire types: messages in, a stream of model events out.

Every provider (local, OpenAI, Anthropic, Ollama, scripted) implements `ChatModel.stream`;
`complete()` drains that stream, so streaming and non-streaming share one code path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "cancelled"]
ToolChoice = Literal["auto", "required", "none"]
"""`auto`: the model decides; `required`: it must call one of the tools; `none`: it may not."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation in provider-neutral form."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """Tool calls made by an assistant turn."""
    tool_call_id: str | None = None
    """For a `tool` turn: the id of the call this is the result of."""

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        """A system prompt."""
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        """A user turn."""
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str, tool_calls: Sequence[ToolCall] = ()) -> ChatMessage:
        """An assistant turn, optionally with tool calls."""
        return cls("assistant", content, tuple(tool_calls))

    @classmethod
    def tool(cls, call_id: str, content: str) -> ChatMessage:
        """The result of a tool call."""
        return cls("tool", content, tool_call_id=call_id)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a model is told about a tool: its name, purpose and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """Per-request generation options; `None` means the provider's default."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tool_choice: ToolChoice = "auto"
    json_schema: dict[str, Any] | None = None
    """Constrain the reply to JSON valid for this schema (models whose capabilities say
    `json_schema`): OpenAI's `response_format`, Ollama's `format`, llama.cpp's grammar."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model can do; the agent layer adapts to these (e.g. routing without tools)."""

    tools: bool = False
    """Decides by itself, reliably, when to call which tool (the runner gives it a tool loop)."""
    constrained_tools: bool = False
    """Emits a valid call when told to (`tool_choice="required"`), but cannot be trusted to
    decide when: code decides, and decoding is constrained to the tools' JSON schemas."""
    json_schema: bool = False
    vision: bool = False
    context_window: int = 4096


# --- events a model stream yields -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """The request waits for a busy model; `position` 1 means next in line."""

    position: int
    kind: Literal["queued"] = "queued"


@dataclass(frozen=True, slots=True)
class ModelNotice:
    """Something the person should know about the call: a retry, a switch to another model."""

    text: str
    kind: Literal["notice"] = "notice"


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A piece of generated text, in order."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ReasoningChunk:
    """A piece of the model's reasoning before it answers (`<think>` text, Ollama's `thinking`,
    Anthropic's thinking blocks): shown apart from the answer, never part of it."""

    text: str
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call the model asked for: an event of its stream, and part of the
    assistant message that made it in the conversation history."""

    id: str
    name: str
    arguments: dict[str, Any]
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens consumed by one request."""

    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    """The id of the model that served the request, when it is not the one called (a
    fallback chain answering with a later model); `None` means the one called."""
    kind: Literal["usage"] = "usage"

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.model or other.model,
        )

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    """The last event of every successful stream."""

    reason: FinishReason
    kind: Literal["finish"] = "finish"


ModelEvent = QueuePosition | ModelNotice | TextChunk | ReasoningChunk | ToolCall | Usage | Finish


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: one streaming method, plus what it is and what it can do."""

    @property
    def id(self) -> str:
        """The `provider:name` id this model was resolved from."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the model supports."""
        ...

    async def warm(self) -> None:
        """Load weights or open clients ahead of the first request (idempotent)."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Generate a reply; cancelling the consuming task stops generation promptly."""
        ...


@dataclass(slots=True)
class Completion:
    """A drained stream: the whole text, tool calls, usage and why it stopped."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: FinishReason = "stop"


async def complete(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec] = (),
    options: ModelOptions | None = None,
) -> Completion:
    """Run `model.stream` to the end and collect what it produced."""
    result = Completion()
    parts: list[str] = []
    async for event in model.stream(messages, tools, options):
        match event:
            case TextChunk(text=text):
                parts.append(text)
            case ToolCall():
                result.tool_calls.append(event)
            case Usage():
                result.usage = result.usage + event
            case Finish(reason=reason):
                result.finish_reason = reason
            case QueuePosition() | ModelNotice() | ReasoningChunk():
                pass
    result.text = "".join(parts)
    return result
