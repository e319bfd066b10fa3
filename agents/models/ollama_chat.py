"""Ollama's `/api/chat` through the official `ollama` SDK: streamed text, tool calls, usage.

Model ids are `ollama:<model>` (`ollama:llama3.2`); the server is `CADRE_OLLAMA_HOST`, by
default Ollama's own local address. Ollama sends each tool call whole, with its arguments
already parsed; a reasoning model's `thinking` is reasoning, shown apart from the answer; a
`json_schema` option becomes its `format`. Ollama sends thinking only when asked (`think`):
it is asked when the model says it can think (`/api/show` capabilities, asked once per model)
or when the deployment says so. Retries and the circuit breaker come from
`agents/models/resilience.py`, like every remote provider's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.errors import ModelError
from agents.models.base import (
    Capabilities,
    ChatMessage,
    Finish,
    FinishReason,
    ModelEvent,
    ModelOptions,
    ReasoningChunk,
    TextChunk,
    ToolCall,
    ToolSpec,
    Usage,
)
from agents.models.openai_compatible import to_openai_tools
from agents.models.remote import RemoteModel
from agents.models.resilience import (
    RetryPolicy,
    TransientProviderError,
)

log = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"


@dataclass(frozen=True, slots=True)
class OllamaConfig:
    """Where the Ollama server is."""

    host: str = DEFAULT_HOST
    timeout_s: float = 60.0
    context_window: int = 8192
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    think: bool | None = None
    """Ask for the model's reasoning (`think`): `None` when the model says it can think,
    `True` always, `False` never (an older server rejects the field for models that cannot)."""


def to_ollama_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Our conversation in `/api/chat`'s format (tool results name their tool)."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    converted: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            entry["tool_calls"] = [
                {"function": {"name": call.name, "arguments": call.arguments}}
                for call in message.tool_calls
            ]
        if message.role == "tool" and message.tool_call_id in names:
            entry["tool_name"] = names[message.tool_call_id]
        converted.append(entry)
    return converted


class OllamaModel(RemoteModel):
    """A model served by Ollama."""

    provider = "ollama"
    example = "llama3.2"

    def __init__(self, name: str, config: OllamaConfig) -> None:
        capabilities = Capabilities(
            tools=True, json_schema=True, context_window=config.context_window
        )
        super().__init__(name, config.retry, capabilities)
        self.config = config
        self._thinks: bool | None = config.think

    @property
    def where(self) -> str:
        """The model and its server, for messages."""
        return f"{self.id} at {self.config.host}"

    def _connect(self) -> Any:
        from ollama import AsyncClient

        return AsyncClient(host=self.config.host, timeout=self.config.timeout_s)

    async def thinks(self) -> bool:
        """Whether requests ask for reasoning: as configured, else the model's capabilities.

        The answer of `/api/show` is kept; a server that cannot say is asked again next time
        (the chat request that follows reports what is wrong with it).
        """
        if self._thinks is None:
            import httpx
            import ollama

            try:
                shown = await self.client.show(self.name)
            # A ValueError is an answer the SDK cannot read (an older or odd server).
            except (ollama.ResponseError, httpx.HTTPError, ConnectionError, ValueError) as exc:
                log.info("%s: could not ask whether it thinks: %s", self.where, exc)
                return False
            self._thinks = "thinking" in (shown.capabilities or ())
        return self._thinks

    async def _once(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: ModelOptions
    ) -> AsyncIterator[ModelEvent]:
        sampling: dict[str, Any] = {
            key: value
            for key, value in (
                ("temperature", options.temperature),
                ("top_p", options.top_p),
                ("num_predict", options.max_tokens),
                ("seed", options.seed),
            )
            if value is not None
        }
        if options.stop:
            sampling["stop"] = list(options.stop)
        offered = to_openai_tools(tools) if tools and options.tool_choice != "none" else None
        calls = 0
        finish: FinishReason = "stop"
        think = await self.thinks()
        stream = await self.client.chat(
            model=self.name,
            messages=to_ollama_messages(messages),
            tools=offered,
            stream=True,
            options=sampling or None,
            format=options.json_schema,
            # Unasked, a thinking model may still think inside its text: `False` turns it off.
            think=True if think else (False if self.config.think is False else None),
        )
        async for chunk in stream:
            message = chunk.message
            if message.thinking:
                yield ReasoningChunk(message.thinking)
            if message.content:
                yield TextChunk(message.content)
            for call in message.tool_calls or ():
                calls += 1
                arguments = dict(call.function.arguments or {})
                yield ToolCall(f"ollama_call_{calls}", call.function.name, arguments)
            if chunk.done:
                yield Usage(chunk.prompt_eval_count or 0, chunk.eval_count or 0)
                finish = "length" if chunk.done_reason == "length" else "stop"
        yield Finish("tool_calls" if calls else finish)

    def _translate(self, error: Exception) -> ModelError:
        import httpx
        import ollama

        host = self.config.host
        if isinstance(error, ollama.ResponseError):
            status = error.status_code
            if status == 404:
                return ModelError(
                    f"{host} has no model {self.name!r}: run `ollama pull {self.name}` there."
                )
            if status == 429 or status >= 500:
                return TransientProviderError(f"{host} failed ({status}): {error.error}")
            return ModelError(f"{host} refused the request ({status}): {error.error}")
        if isinstance(error, httpx.TimeoutException):
            return TransientProviderError(
                f"{host} did not answer within {self.config.timeout_s:.0f} s"
            )
        if isinstance(error, httpx.TransportError | ConnectionError):
            return TransientProviderError(
                f"{host} could not be reached (is `ollama serve` running?)"
            )
        if isinstance(error, ModelError):
            return error
        return ModelError(f"{host} failed: {type(error).__name__}: {error}")
