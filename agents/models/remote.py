"""`RemoteModel`: what every provider behind an HTTP API shares — the `provider:name` id, a
lazily made SDK client, the retries and circuit breaker of `resilience.py`, and one place
where the SDK's exceptions become our errors. A provider writes `_connect`, `_once` (one
streamed call, in our events) and `_translate` (its SDK's errors, as sentences).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

from agents.errors import ConfigError, ModelError
from agents.models.base import Capabilities, ChatMessage, ModelEvent, ModelOptions, ToolSpec
from agents.models.resilience import CircuitBreaker, RetryPolicy, resilient_stream


class RemoteModel(ABC):
    """A model served over HTTP by a provider's SDK."""

    provider: ClassVar[str]
    """The id prefix, e.g. `openai`."""
    example: ClassVar[str]
    """A model name to show in messages, e.g. `gpt-4o-mini`."""

    def __init__(self, name: str, retry: RetryPolicy, capabilities: Capabilities) -> None:
        if not name:
            raise ConfigError(
                f"Name the model after `{self.provider}:`, e.g. `{self.provider}:{self.example}`."
            )
        self.name = name
        self.retry = retry
        self.capabilities = capabilities
        self._breaker = CircuitBreaker()
        self._client: Any = None

    @property
    def id(self) -> str:
        """`<provider>:<model>`."""
        return f"{self.provider}:{self.name}"

    @property
    def where(self) -> str:
        """The model and its server, for messages."""
        return self.id

    @property
    def client(self) -> Any:
        """The SDK client, made on first use (with the SDK's own retries off)."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    async def warm(self) -> None:
        """Make the client; nothing is sent."""
        _ = self.client

    def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Stream one reply, retried while nothing has been shown."""
        if options is not None and options.json_schema and not self.capabilities.json_schema:
            raise ModelError(
                f"{self.id} cannot constrain its reply to a JSON schema; use a model that can "
                "(OpenAI, Ollama or a bundled Qwen model)."
            )
        return resilient_stream(
            self.where,
            lambda: self._translated(self._once(messages, tools, options or ModelOptions())),
            policy=self.retry,
            breaker=self._breaker,
        )

    async def _translated(self, events: AsyncIterator[ModelEvent]) -> AsyncIterator[ModelEvent]:
        try:
            async for event in events:
                yield event
        except ModelError:
            raise
        except Exception as error:  # the SDK's and its HTTP library's errors, once
            raise self._translate(error) from error

    @abstractmethod
    def _connect(self) -> Any:
        """A new SDK client."""

    @abstractmethod
    def _once(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: ModelOptions
    ) -> AsyncIterator[ModelEvent]:
        """One call, streamed as our events (an async generator)."""

    @abstractmethod
    def _translate(self, error: Exception) -> ModelError:
        """An SDK error as a `ModelError` (`TransientProviderError` when worth retrying)."""
