"""What model calls cost: a price per model id, so token usage becomes money.

The table holds the providers' published list prices (US dollars per million tokens) for the
models teams most often configure; deployments override or extend it with
`CADRE_MODEL_PRICES`. Models that run on the team's own hardware (`local:`, `ollama:`) cost
nothing per token. A model that is in neither is reported without a cost (never a guess).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.models.base import Usage


@dataclass(frozen=True, slots=True)
class Price:
    """What a model costs, in US dollars per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, usage: Usage) -> float:
        """Dollars for `usage`."""
        return (
            usage.input_tokens * self.input_per_million
            + usage.output_tokens * self.output_per_million
        ) / 1_000_000


FREE = Price(0.0, 0.0)

LIST_PRICES: Mapping[str, Price] = {
    # OpenAI list prices (standard tier).
    "openai:gpt-4o-mini": Price(0.15, 0.60),
    "openai:gpt-4o": Price(2.50, 10.00),
    "openai:gpt-4.1-nano": Price(0.10, 0.40),
    "openai:gpt-4.1-mini": Price(0.40, 1.60),
    "openai:gpt-4.1": Price(2.00, 8.00),
    "openai:o3-mini": Price(1.10, 4.40),
    "openai:o4-mini": Price(1.10, 4.40),
    # Anthropic list prices.
    "anthropic:claude-3-haiku": Price(0.25, 1.25),
    "anthropic:claude-3-5-haiku": Price(0.80, 4.00),
    "anthropic:claude-haiku-4-5": Price(1.00, 5.00),
    "anthropic:claude-3-5-sonnet": Price(3.00, 15.00),
    "anthropic:claude-3-7-sonnet": Price(3.00, 15.00),
    "anthropic:claude-sonnet-4": Price(3.00, 15.00),
    "anthropic:claude-opus-4": Price(15.00, 75.00),
}
"""Published list prices; a dated snapshot like `openai:gpt-4o-mini-2024-07-18` takes the
price of the longest id it starts with."""

SELF_HOSTED = ("local:", "ollama:")
"""Providers that run on the team's own machines: no per-token price."""


class PriceTable:
    """Looks up the price of a model id: overrides first, then list prices, then self-hosted."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self._prices = {**LIST_PRICES, **(overrides or {})}

    def price(self, model_id: str) -> Price | None:
        """The price of `model_id`, or `None` when nobody said what it costs."""
        if model_id in self._prices:
            return self._prices[model_id]
        candidates = [known for known in self._prices if model_id.startswith(known + "-")]
        if candidates:
            return self._prices[max(candidates, key=len)]
        if model_id.startswith(SELF_HOSTED):
            return FREE
        return None

    def cost(self, model_id: str, usage: Usage) -> float | None:
        """Dollars for `usage` on `model_id`, or `None` when its price is unknown."""
        price = self.price(model_id)
        return None if price is None else price.cost(usage)
