"""A chain of models: when one fails before it has said anything, the next one answers.

`CADRE_FALLBACK_MODELS=local:auto` behind `CADRE_CHAT_MODEL=openai:gpt-4o-mini` keeps Cadre
answering when the remote provider is down, out of quota or rate limited past its retries: the
person sees "switched to local:qwen2.5-1.5b" in the step and gets the local model's answer.
A model that fails after it has streamed text is not replaced (the text is already shown);
its error stands, and says the answer is incomplete.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from agents.errors import ConfigError, ModelError
from agents.models.base import (
    Capabilities,
    ChatMessage,
    ChatModel,
    ModelEvent,
    ModelNotice,
    ModelOptions,
    TextChunk,
    ToolCall,
    ToolSpec,
    Usage,
)

log = logging.getLogger(__name__)


class FallbackModel:
    """Presents `models[0]`; falls through the rest in order when one fails before output."""

    def __init__(self, models: Sequence[ChatModel]) -> None:
        if not models:
            raise ConfigError("A fallback chain needs at least one model.")
        self.models = tuple(models)

    @property
    def id(self) -> str:
        """The first model's id: the one the settings name."""
        return self.models[0].id

    @property
    def capabilities(self) -> Capabilities:
        """The first model's: agents plan for the model they expect to answer."""
        return self.models[0].capabilities

    async def warm(self) -> None:
        """Warm every model that can be warmed; a dead first provider must not stop the rest."""
        for model in self.models:
            try:
                await model.warm()
            except ModelError as exc:
                log.warning("could not warm %s: %s", model.id, exc)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec] = (),
        options: ModelOptions | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """The first model's answer, or the next model's when it fails before answering."""
        failures: list[str] = []
        for index, model in enumerate(self.models):
            if index:
                yield ModelNotice(f"{failures[-1]} — switched to {model.id}")
            shown = False
            try:
                async for event in model.stream(messages, tools, options):
                    shown = shown or isinstance(event, TextChunk | ToolCall)
                    if index and isinstance(event, Usage):
                        # Tokens (and their price) belong to the model that spent them.
                        event = replace(event, model=event.model or model.id)
                    yield event
                return
            except ModelError as exc:
                if shown:
                    raise
                log.warning("%s failed, trying the next model: %s", model.id, exc)
                failures.append(f"{model.id} failed: {exc}")
        raise ModelError("Every model in the chain failed: " + "; ".join(failures))
