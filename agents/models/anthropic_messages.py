"""Anthropic's Messages API through the official `anthropic` SDK: streamed text, tool use,
usage; thinking blocks become reasoning, shown apart from the answer.

Model ids are `anthropic:<model>`. The system prompt travels apart from the messages, tool
calls are `tool_use` blocks of the assistant's turn and their results `tool_result` blocks of
the next user turn, so consecutive tool results are merged into one user message. The SDK's
retries are off: `agents/models/resilience.py` owns them.
"""

from __future__ import annotations

import json
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

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


@dataclass(frozen=True, slots=True)
class AnthropicConfig:
    """The key and, for a proxy or a test server, the base URL."""

    api_key: str | None = None
    base_url: str | None = None
    timeout_s: float = 60.0
    max_tokens: int = 1024
    """Anthropic requires a cap on every answer; `ModelOptions.max_tokens` overrides it."""
    context_window: int = 200_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def to_anthropic(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt, and the conversation as Messages API turns."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            if turns and turns[-1]["role"] == "user" and isinstance(turns[-1]["content"], list):
                turns[-1]["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
        elif message.tool_calls:
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": message.content}] if message.content else []
            )
            blocks += [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in message.tool_calls
            ]
            turns.append({"role": "assistant", "content": blocks})
        else:
            turns.append({"role": message.role, "content": message.content})
    return system, turns


class AnthropicModel(RemoteModel):
    """A Claude model."""

    provider = "anthropic"
    example = "claude-sonnet-4-5"

    def __init__(self, name: str, config: AnthropicConfig) -> None:
        capabilities = Capabilities(tools=True, context_window=config.context_window)
        super().__init__(name, config.retry, capabilities)
        self.config = config
        register_secret(config.api_key)

    def _connect(self) -> Any:
        from anthropic import AsyncAnthropic

        return AsyncAnthropic(
            api_key=self.config.api_key,
            base_url=self.config.base_url,
            timeout=self.config.timeout_s,
            max_retries=0,  # retries belong to resilience.py
        )

    async def _once(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: ModelOptions
    ) -> AsyncIterator[ModelEvent]:
        system, turns = to_anthropic(messages)
        request: dict[str, Any] = {
            "model": self.name,
            "messages": turns,
            "max_tokens": options.max_tokens or self.config.max_tokens,
            "stream": True,
        }
        if system:
            request["system"] = system
        if tools and options.tool_choice != "none":
            request["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in tools
            ]
            request["tool_choice"] = {
                "type": "any" if options.tool_choice == "required" else "auto"
            }
        if options.temperature is not None:
            request["temperature"] = options.temperature
        if options.stop:
            request["stop_sequences"] = list(options.stop)
        blocks: dict[int, dict[str, str]] = {}
        finish: FinishReason = "stop"
        usage_in = usage_out = 0
        stream = await self.client.messages.create(**request)
        async for event in stream:
            match event.type:
                case "message_start":
                    usage_in = event.message.usage.input_tokens or 0
                case "content_block_start" if event.content_block.type == "tool_use":
                    block = event.content_block
                    blocks[event.index] = {"id": block.id, "name": block.name, "json": ""}
                case "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta" and delta.text:
                        yield TextChunk(delta.text)
                    elif delta.type == "thinking_delta" and delta.thinking:
                        yield ReasoningChunk(delta.thinking)
                    elif delta.type == "input_json_delta" and event.index in blocks:
                        blocks[event.index]["json"] += delta.partial_json
                case "message_delta":
                    usage_out = event.usage.output_tokens or usage_out
                    if event.delta.stop_reason:
                        finish = _STOP.get(event.delta.stop_reason, "stop")
        yield Usage(usage_in, usage_out)
        for index in sorted(blocks):
            block = blocks[index]
            try:
                arguments = json.loads(block["json"] or "{}")
            except ValueError as exc:
                raise ModelError(f"{self.id} sent tool input that is not JSON") from exc
            yield ToolCall(block["id"], block["name"], arguments)
        yield Finish("tool_calls" if blocks else finish)

    def _translate(self, error: Exception) -> ModelError:
        import anthropic
        import httpx

        if isinstance(error, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
            return ModelError(
                f"Anthropic refused the request ({error.status_code}): check "
                "CADRE_ANTHROPIC_API_KEY and that the key may use this model."
            )
        if isinstance(error, anthropic.RateLimitError):
            return TransientProviderError(
                "Anthropic is rate limiting (429)", retry_after=retry_after_of(error)
            )
        if isinstance(error, anthropic.APIStatusError) and error.status_code >= 500:
            # 529 is Anthropic's "overloaded".
            return TransientProviderError(f"Anthropic failed ({error.status_code})")
        if isinstance(error, anthropic.APITimeoutError):
            return TransientProviderError(
                f"Anthropic did not answer within {self.config.timeout_s:.0f} s"
            )
        if isinstance(error, anthropic.APIConnectionError | httpx.TransportError):
            return TransientProviderError(
                "Anthropic could not be reached or dropped the connection"
            )
        if isinstance(error, anthropic.APIStatusError):
            return ModelError(
                f"Anthropic refused the request ({error.status_code}): {error.message}"
            )
        if isinstance(error, ModelError):
            return error
        return ModelError(f"Anthropic failed: {type(error).__name__}: {error}")
