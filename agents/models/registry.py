"""Resolve `provider:name` model ids to shared `ChatModel` instances."""

from __future__ import annotations

from collections.abc import Callable

from agents.errors import ModelNotFound
from agents.models.base import ChatModel

ProviderFactory = Callable[[str], ChatModel]
"""Builds the model called `name` for one provider; raises `ModelNotFound` if unknown."""


def split_model_id(model_id: str) -> tuple[str, str]:
    """Split `"provider:name"` into its parts; the name may itself contain colons."""
    provider, sep, name = model_id.partition(":")
    if not sep or not provider or not name:
        raise ModelNotFound(
            f"Model id {model_id!r} must look like 'provider:name', e.g. 'local:smollm2'."
        )
    return provider, name


class ModelRegistry:
    """Knows the providers and hands out one instance per model id (weights load once)."""

    def __init__(self) -> None:
        self._providers: dict[str, ProviderFactory] = {}
        self._models: dict[str, ChatModel] = {}

    def register_provider(self, provider: str, factory: ProviderFactory) -> None:
        """Make `provider:*` ids resolvable through `factory`."""
        self._providers[provider] = factory

    def add(self, model: ChatModel) -> None:
        """Register a ready-made instance under its own id (test models use this)."""
        self._models[model.id] = model

    @property
    def providers(self) -> list[str]:
        """Names of the registered providers."""
        return sorted(self._providers)

    def loaded(self) -> list[ChatModel]:
        """The instances resolved so far."""
        return list(self._models.values())

    def resolve(self, model_id: str) -> ChatModel:
        """Return the model for `model_id`, building it on first use."""
        if model := self._models.get(model_id):
            return model
        provider, name = split_model_id(model_id)
        factory = self._providers.get(provider)
        if factory is None:
            known = ", ".join(self.providers) or "none"
            raise ModelNotFound(f"Unknown model provider {provider!r} (known: {known}).")
        model = factory(name)
        # An alias (`local:auto`) and the model's own id share one instance: one copy of weights.
        model = self._models.setdefault(model.id, model)
        self._models[model_id] = model
        return model
