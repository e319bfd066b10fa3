"""The long-lived objects one Cadre process shares: settings, models, readiness."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Literal

from agents.models.base import ChatModel
from agents.models.local import LocalModel
from agents.models.registry import ModelRegistry
from app.data_layer import CadreDataLayer
from app.settings import Settings

log = logging.getLogger(__name__)

WarmState = Literal["loading", "ready", "failed"]


def build_registry(settings: Settings) -> ModelRegistry:
    """A registry that knows every provider the settings enable."""
    registry = ModelRegistry()
    registry.register_provider("local", lambda name: LocalModel(name, settings.local_model))
    return registry


@dataclass
class Services:
    """What the server, the chat handlers and the CLI share within one process."""

    settings: Settings
    registry: ModelRegistry
    data_layer: CadreDataLayer
    state: WarmState = "loading"
    error: str | None = None
    _warming: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """Build the services for `settings` (nothing is loaded yet)."""
        return cls(
            settings=settings,
            registry=build_registry(settings),
            data_layer=CadreDataLayer.from_url(settings.db_url, settings.files_dir),
        )

    @property
    def chat_model(self) -> ChatModel:
        """The Chief of Staff's model."""
        return self.registry.resolve(self.settings.chat_model)

    def start_warming(self) -> None:
        """Load the models in the background; the server answers requests meanwhile."""
        if self._warming is None:
            self._warming = asyncio.create_task(self._warm(), name="cadre-warm-models")

    async def _warm(self) -> None:
        try:
            await self.chat_model.warm()
        except Exception as exc:
            self.state, self.error = "failed", str(exc)
            log.exception("Loading %s failed", self.settings.chat_model)
        else:
            self.state = "ready"

    async def close(self) -> None:
        """Stop background work and release the database."""
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
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
