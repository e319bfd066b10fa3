"""OpenAI's chat completions API, and every server that speaks it (vLLM, LM Studio,
llama.cpp's server, Ollama's `/v1`): streaming text, tool calls, usage.

Model ids are `openai:<model>`; the base URL decides which server answers. The SDK's own
retries are off: `agents/models/resilience.py` owns retries and the circuit breaker.
"""

from __future__ import annotations

import json
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
from agents.models.remote import RemoteModel
from agents.models.resilience import (
    RetryPolicy,
    TransientProviderError,
    retry_after_of,
)
from agents.scrub import register_secret

log = logging.getLogger(__name__)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "stop",
}


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    """Where the server is and how to reach it."""

    api_key: str | None = None
    base_url: str | None = None
    """`None` for api.openai.com; e.g. `http://gpu-box:8000/v1` for vLLM."""
    timeout_s: float = 60.0
    """Seconds to wait for the first byte of an answer (and between bytes)."""
    context_window: int = 128_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Our conversation in the chat completions format."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            converted.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
        elif message.tool_calls:
            converted.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": json.dumps(call.arguments, ensure_ascii=False),
                            },
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            converted.append({"role": message.role, "content": message.content})
    return converted


def to_openai_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as chat completions `tools`."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


class OpenAICompatibleModel(RemoteModel):
    """A model behind a chat completions endpoint."""

    provider = "openai"
    example = "gpt-4o-mini"

    def __init__(self, name: str, config: OpenAIConfig) -> None:
        capabilities = Capabilities(
            tools=True, json_schema=True, context_window=config.context_window
        )
        super().__init__(name, config.retry, capabilities)
        self.config = config
        register_secret(config.api_key)

    @property
    def where(self) -> str:
        """The model and its server, for messages."""
        return f"{self.id} at {self.server}"

    @property
    def server(self) -> str:
        """The server's address."""
        return self.config.base_url or "api.openai.com"

    def _connect(self) -> Any:
        from openai import AsyncOpenAI

        return AsyncOpenAI(
            # Servers like vLLM accept any key; the SDK insists on one.
            api_key=self.config.api_key or "not-needed",
            base_url=self.config.base_url,
            timeout=self.config.timeout_s,
            max_retries=0,  # retries belong to resilience.py
        )

    async def _once(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: ModelOptions
    ) -> AsyncIterator[ModelEvent]:
        request: dict[str, Any] = {
            "model": self.name,
            "messages": to_openai_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools and options.tool_choice != "none":
            request["tools"] = to_openai_tools(tools)
            request["tool_choice"] = options.tool_choice
        for key in ("temperature", "top_p", "max_tokens", "seed"):
            if (value := getattr(options, key)) is not None:
                request[key] = value
        if options.stop:
            request["stop"] = list(options.stop)
        if options.json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": options.json_schema, "strict": True},
            }
        calls: dict[int, dict[str, str]] = {}
        finish: FinishReason = "stop"
        stream = await self.client.chat.completions.create(**request)
        async for chunk in stream:
            if chunk.usage is not None:
                yield Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
            for choice in chunk.choices:
                delta = choice.delta
                # vLLM, DeepSeek and llama.cpp's server send reasoning beside the content.
                reasoning = getattr(delta, "reasoning_content", None) or getattr(
                    delta, "reasoning", None
                )
                if isinstance(reasoning, str) and reasoning:
                    yield ReasoningChunk(reasoning)
                if delta.content:
                    yield TextChunk(delta.content)
                for part in delta.tool_calls or ():
                    call = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] = part.id or call["id"]
                    if part.function is not None:
                        call["name"] += part.function.name or ""
                        call["arguments"] += part.function.arguments or ""
                if choice.finish_reason:
                    finish = _FINISH.get(choice.finish_reason, "stop")
        for index in sorted(calls):
            yield self._tool_call(calls[index], index)
        yield Finish("tool_calls" if calls else finish)

    def _tool_call(self, call: dict[str, str], index: int) -> ToolCall:
        try:
            arguments = json.loads(call["arguments"] or "{}")
        except ValueError as exc:
            raise ModelError(
                f"{self.id} sent tool call arguments that are not JSON: {call['arguments'][:200]}"
            ) from exc
        if not isinstance(arguments, dict):
            arguments = {"value": arguments}
        return ToolCall(call["id"] or f"call_{index}", call["name"], arguments)

    def _translate(self, error: Exception) -> ModelError:
        import httpx
        import openai

        where = self.server
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            return ModelError(
                f"{where} refused the request ({error.status_code}): check "
                "CADRE_OPENAI_API_KEY and that the key may use this model."
            )
        if isinstance(error, openai.RateLimitError):
            if _code(error) == "insufficient_quota":
                return ModelError(f"{where} says the account has no quota left: top it up.")
            return TransientProviderError(
                f"{where} is rate limiting (429)", retry_after=retry_after_of(error)
            )
        if isinstance(error, openai.InternalServerError):
            return TransientProviderError(f"{where} failed ({error.status_code})")
        if isinstance(error, openai.APITimeoutError):
            return TransientProviderError(
                f"{where} did not answer within {self.config.timeout_s:.0f} s"
            )
        if isinstance(error, openai.APIConnectionError | httpx.TransportError):
            return TransientProviderError(f"{where} could not be reached or dropped the connection")
        if isinstance(error, openai.APIStatusError):
            return ModelError(f"{where} refused the request ({error.status_code}): {error.message}")
        if isinstance(error, ModelError):
            return error
        return ModelError(f"{where} failed: {type(error).__name__}: {error}")


def _code(error: Any) -> str | None:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code = inner.get("code")
            return str(code) if code else None
    return None
