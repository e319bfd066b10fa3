"""Which chat models this deployment can use right now: the bundled ones that are installed,
and the models each configured provider lists (OpenAI-compatible, Anthropic, Ollama).

The chat's model picker (and anything else that offers a choice of model) shows only these.
Providers are asked in parallel with a short timeout; one that does not answer is left out
(and logged) rather than offered and then failing. Answers are kept for a minute: the list
is asked for on every new chat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.models.local.bundled import BUNDLED_MODELS, is_available
from app.settings import Settings

log = logging.getLogger(__name__)

LIST_TIMEOUT_S = 3.0
"""How long a provider may take to list its models before it is left out."""
KEEP_S = 60.0


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """One model a person may pick."""

    id: str
    """`provider:name`, as `CADRE_CHAT_MODEL` takes it."""
    plans_with_tools: bool
    """Calls tools itself (the Chief of Staff delegates natively); otherwise Cadre routes."""
    on_this_machine: bool
    """Requests stay on this machine (bundled models; Ollama on this host)."""
    json_schema: bool = True
    """Can be held to a JSON schema (structured output)."""
    context_window: int | None = None
    """Tokens of context, where the provider says."""

    @property
    def label(self) -> str:
        """The choice as people read it in a picker."""
        parts = ["plans with tools" if self.plans_with_tools else "Cadre plans for it"]
        if self.json_schema:
            parts.append("JSON output")
        if self.context_window:
            parts.append(f"{self.context_window // 1024}k context")
        parts.append(
            "stays on this machine" if self.on_this_machine else "requests leave the machine"
        )
        return f"{self.id} — {', '.join(parts)}"


class ModelCatalog:
    """Lists the models that can answer now, asking each configured provider."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._kept: tuple[float, list[ModelChoice]] | None = None
        self._lock = asyncio.Lock()

    async def choices(self) -> list[ModelChoice]:
        """The bundled models first, then each provider's, in a stable order."""
        async with self._lock:
            if self._kept is not None and time.monotonic() - self._kept[0] < KEEP_S:
                return self._kept[1]
            # Finding the bundled packages looks on disk: off the event loop, with the listing.
            bundled, *listed = await asyncio.gather(
                asyncio.to_thread(self._bundled),
                *(self._ask(name, ask) for name, ask in self._providers()),
            )
            found = [*bundled, *(choice for batch in listed for choice in batch)]
            self._kept = (time.monotonic(), found)
            return found

    async def offers(self, model_id: str) -> bool:
        """Whether `model_id` is one of the choices (so a picked id can be trusted)."""
        return any(choice.id == model_id for choice in await self.choices())

    def _bundled(self) -> list[ModelChoice]:
        cache = self._settings.models_dir
        window = self._settings.local_model.context_window
        return [
            ModelChoice(
                f"local:{model.name}",
                plans_with_tools=False,
                on_this_machine=True,
                json_schema=model.constrained_tools,
                context_window=window,
            )
            for model in BUNDLED_MODELS.values()
            if is_available(model, cache)
        ]

    def _providers(self) -> list[tuple[str, Callable[[], Awaitable[list[ModelChoice]]]]]:
        settings = self._settings
        providers: list[tuple[str, Callable[[], Awaitable[list[ModelChoice]]]]] = [
            ("ollama", self._ollama)
        ]
        if settings.openai_api_key or settings.openai_base_url:
            providers.append(("openai", self._openai))
        if settings.anthropic_api_key:
            providers.append(("anthropic", self._anthropic))
        return providers

    async def _ask(
        self, provider: str, ask: Callable[[], Awaitable[list[ModelChoice]]]
    ) -> list[ModelChoice]:
        try:
            return await asyncio.wait_for(ask(), LIST_TIMEOUT_S)
        except Exception as exc:  # any SDK or network error: the provider is just not offered
            log.info("%s models not offered: %s", provider, exc or type(exc).__name__)
            return []

    async def _ollama(self) -> list[ModelChoice]:
        import ollama

        host = self._settings.ollama_host
        listed = await ollama.AsyncClient(host=host, timeout=LIST_TIMEOUT_S).list()
        local = any(name in host for name in ("127.0.0.1", "localhost", "[::1]"))
        return [
            ModelChoice(f"ollama:{model.model}", plans_with_tools=True, on_this_machine=local)
            for model in sorted(listed.models, key=lambda m: str(m.model))
            if model.model
        ]

    async def _openai(self) -> list[ModelChoice]:
        from openai import AsyncOpenAI

        settings = self._settings
        key = settings.openai_api_key
        client = AsyncOpenAI(
            api_key=key.get_secret_value() if key else "not-needed",
            base_url=settings.openai_base_url,
            timeout=LIST_TIMEOUT_S,
            max_retries=0,
        )
        async with client:
            ids = sorted([model.id async for model in client.models.list()])
        if settings.openai_base_url is None:
            # api.openai.com lists embedding, audio and image models too: chat models only.
            ids = [i for i in ids if i.startswith(("gpt-", "o1", "o3", "o4", "chatgpt-"))]
        return [
            ModelChoice(f"openai:{i}", plans_with_tools=True, on_this_machine=False) for i in ids
        ]

    async def _anthropic(self) -> list[ModelChoice]:
        from anthropic import AsyncAnthropic

        settings = self._settings
        assert settings.anthropic_api_key is not None
        client = AsyncAnthropic(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            timeout=LIST_TIMEOUT_S,
            max_retries=0,
        )
        async with client:
            ids = sorted([model.id async for model in client.models.list()])
        return [
            ModelChoice(
                f"anthropic:{i}", plans_with_tools=True, on_this_machine=False, json_schema=False
            )
            for i in ids
        ]
