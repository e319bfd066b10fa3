"""The long-lived objects one Cadre process shares: settings, models, agents, database."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from agents import (
    CHIEF_OF_STAFF,
    OPERATORS,
    AgentSpec,
    ChiefOfStaff,
    Runner,
    SemanticRouter,
    TurnLimits,
    builtin_tools,
)
from agents.knowledge_tools import document_match, row_search
from agents.models.anthropic_messages import AnthropicConfig, AnthropicModel
from agents.models.base import ChatModel
from agents.models.fallback import FallbackModel
from agents.models.local import LocalModel
from agents.models.ollama_chat import OllamaConfig, OllamaModel
from agents.models.openai_compatible import OpenAICompatibleModel, OpenAIConfig
from agents.models.prices import Price, PriceTable
from agents.models.registry import ModelRegistry
from agents.models.resilience import RetryPolicy
from app.db.chainlit_data.layer import CadreDataLayer
from app.db.stores import SqlDocumentCatalog
from app.model_catalog import ModelCatalog
from app.originals import original_tables
from app.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.embedder import Embedder, bundled_minilm

log = logging.getLogger(__name__)

WarmState = Literal["loading", "ready", "failed"]
_ROUTER_CACHE = 8
"""Rosters whose routers are kept (widget sites may each allow different operators)."""


def build_registry(settings: Settings) -> ModelRegistry:
    """A registry that knows every provider the settings enable."""
    registry = ModelRegistry()
    registry.register_provider("local", lambda name: LocalModel(name, settings.local_model))
    nearby = OllamaConfig(
        host=settings.ollama_host,
        timeout_s=settings.provider_timeout_s,
        retry=RetryPolicy(attempts=settings.provider_retries),
        think=settings.ollama_think,
    )
    registry.register_provider("ollama", lambda name: OllamaModel(name, nearby))
    if settings.anthropic_api_key:
        claude = AnthropicConfig(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            timeout_s=settings.provider_timeout_s,
            retry=RetryPolicy(attempts=settings.provider_retries),
        )
        registry.register_provider("anthropic", lambda name: AnthropicModel(name, claude))
    if settings.openai_api_key or settings.openai_base_url:
        key = settings.openai_api_key
        remote = OpenAIConfig(
            api_key=key.get_secret_value() if key else None,
            base_url=settings.openai_base_url,
            timeout_s=settings.provider_timeout_s,
            retry=RetryPolicy(attempts=settings.provider_retries),
        )
        registry.register_provider("openai", lambda name: OpenAICompatibleModel(name, remote))
    return registry


def bundled_embedder(settings: Settings) -> Embedder:
    """The bundled MiniLM, on ONNX Runtime when its export (cached once) matches torch.

    The server and the CLI both build it here: the store refuses vectors of any other embedder.
    """
    return bundled_minilm(settings.models_dir / "embedder")


def document_embedder(settings: Settings) -> Embedder:
    """The embedder of the users' documents, as `CADRE_EMBEDDER` chooses: the bundled MiniLM,
    or the multilingual e5 (its files checked by sha256 at load, like MiniLM's)."""
    if settings.embedder == "e5":
        from knowledge.embedder_e5 import E5Embedder

        return E5Embedder()
    return bundled_embedder(settings)


@dataclass
class Services:
    """What the server, the chat handlers and the CLI share within one process."""

    settings: Settings
    registry: ModelRegistry
    data_layer: CadreDataLayer
    state: WarmState = "loading"
    error: str | None = None
    _routers: dict[tuple[AgentSpec, ...], SemanticRouter] = field(default_factory=dict, repr=False)
    _embedder: Embedder | None = field(default=None, repr=False)
    _document_embedder: Embedder | None = field(default=None, repr=False)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _warming: asyncio.Task[None] | None = field(default=None, repr=False)
    _knowledge: KnowledgeBase | None = field(default=None, repr=False)
    _knowledge_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """Build the services for `settings` (nothing is loaded yet)."""
        return cls(
            settings=settings,
            registry=build_registry(settings),
            data_layer=CadreDataLayer.from_url(settings.db_url, settings.files_dir),
        )

    @cached_property
    def chat_model(self) -> ChatModel:
        """The Chief of Staff's model, with the fallback chain behind it when one is set."""
        first = self.registry.resolve(self.settings.chat_model)
        if not self.settings.fallback_models:
            return first
        rest = [self.registry.resolve(model_id) for model_id in self.settings.fallback_models]
        return FallbackModel([first, *rest])

    @cached_property
    def catalog(self) -> ModelCatalog:
        """The models people may pick for a chat."""
        return ModelCatalog(self.settings)

    @property
    def embedder(self) -> Embedder:
        """The bundled embedder, loaded once on first use (blocking: call it off the loop)."""
        with self._embedder_lock:  # the router and the knowledge base may ask at once
            if self._embedder is None:
                self._embedder = bundled_embedder(self.settings)
            return self._embedder

    @property
    def document_embedder(self) -> Embedder:
        """The documents' embedder (`CADRE_EMBEDDER`); the bundled one unless e5 is chosen.

        The router stays on the bundled MiniLM either way: its threshold is tuned on
        MiniLM's similarities (`bench/routing.py`).
        """
        if self.settings.embedder == "minilm":
            return self.embedder
        with self._embedder_lock:
            if self._document_embedder is None:
                self._document_embedder = document_embedder(self.settings)
            return self._document_embedder

    @cached_property
    def runner(self) -> Runner:
        """Runs agents; one per process, so per-operator limits hold across chats."""
        return Runner(
            self.chat_model,
            models=self.registry,
            tools=builtin_tools(self.knowledge, original_tables(self.settings.originals_dir)),
            limits=TurnLimits(
                token_budget=self.settings.turn_token_budget,
                deadline_s=self.settings.turn_deadline_s,
            ),
            prices=PriceTable(
                {model: Price(*price) for model, price in self.settings.model_prices.items()}
            ),
            # An operator's pinned model (or a chat's pick) that is gone answers on the default.
            fall_back_to_default=True,
        )

    async def knowledge(self) -> KnowledgeBase:
        """The users' documents, opened on first use (which cleans up interrupted ingestions)."""
        async with self._knowledge_lock:
            if self._knowledge is None:
                embedder = await asyncio.to_thread(lambda: self.document_embedder)
                self._knowledge = await KnowledgeBase.open(
                    self.settings.knowledge_uri, embedder, SqlDocumentCatalog(self.data_layer)
                )
            return self._knowledge

    async def chief(
        self, operators: Sequence[AgentSpec] = OPERATORS, model: str | None = None
    ) -> ChiefOfStaff:
        """The Chief of Staff for `operators`, with a semantic router when its model cannot
        call tools (one router per roster, built once: embedding the examples takes seconds).

        `model` is a model picked for one chat: the Chief of Staff and every operator without
        a model of its own run on it; `None` keeps the deployment's chat model.
        """
        roster = tuple(operators)
        spec, team = CHIEF_OF_STAFF, roster
        if model is not None:
            spec = replace(CHIEF_OF_STAFF, model=model)
            team = tuple(op if op.model else replace(op, model=model) for op in roster)
        router = None
        if not self.runner.resolve_model(spec).capabilities.tools:
            router = self._routers.get(roster)
            if router is None:
                # Loading the embedder takes seconds: do it off the event loop, like routing.
                router = await asyncio.to_thread(
                    lambda: SemanticRouter(self.embedder, roster, CHIEF_OF_STAFF.examples)
                )
                if len(self._routers) >= _ROUTER_CACHE:
                    self._routers.pop(next(iter(self._routers)))  # the oldest roster
                self._routers[roster] = router
        return ChiefOfStaff(
            self.runner,
            operators=team,
            spec=spec,
            router=router,
            documents=document_match(self.knowledge),
            table_rows=row_search(self.knowledge),
        )

    def start_warming(self) -> None:
        """Load models in the background; the server answers requests meanwhile."""
        if self._warming is None:
            self._warming = asyncio.create_task(self._warm(), name="cadre-warm-models")

    async def _warm(self) -> None:
        try:
            await self.chat_model.warm()
            await self.chief()
            await self.knowledge()  # opening it cleans up ingestions a stop interrupted
        except Exception as exc:
            self.state, self.error = "failed", str(exc)
            log.exception("Loading %s failed", self.settings.chat_model)
        else:
            self.state = "ready"
            # What start-up loaded (libraries, models) lives as long as the process: take it
            # out of the collector's reach, or each full collection under load walks all of
            # it with the event loop stopped (~450 ms every ~14 s with 100 chats, load bench).
            # (Reverted once for a silent log: that was llama.cpp's quiet mode, now gone.)
            gc.collect()
            gc.freeze()

    async def close(self) -> None:
        """Stop background work and release the database."""
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
        if self._knowledge is not None:
            await self._knowledge.close()  # before the database its lease renewals write to
        await self.data_layer.close()


_current: Services | None = None


def install(services: Services) -> None:
    """Make `services` the process-wide instance (the server does this at start)."""
    global _current
    _current = services


def current() -> Services:
    """The process-wide services; created from the environment if nobody installed any."""
    global _current
    if _current is None:
        _current = Services.from_settings(Settings())
    return _current
