"""Token usage becomes money: list prices, overrides, dated model ids, self-hosted models."""

from __future__ import annotations

import pytest

from agents import Price, PriceTable
from agents.models.base import Usage

MILLION_EACH = Usage(1_000_000, 1_000_000)


def test_a_listed_model_costs_its_list_price() -> None:
    assert PriceTable().cost("openai:gpt-4o-mini", MILLION_EACH) == pytest.approx(0.75)


def test_a_dated_snapshot_takes_the_price_of_its_family() -> None:
    table = PriceTable()
    assert table.price("openai:gpt-4o-mini-2024-07-18") == table.price("openai:gpt-4o-mini")
    # The longest listed id wins: a gpt-4o-mini snapshot is not priced as gpt-4o.
    assert table.price("openai:gpt-4o-2024-08-06") == Price(2.50, 10.00)


def test_an_override_replaces_the_list_price_and_adds_new_models() -> None:
    table = PriceTable({"openai:gpt-4o-mini": Price(1.0, 1.0), "openai:my-finetune": Price(3, 3)})
    assert table.cost("openai:gpt-4o-mini", MILLION_EACH) == pytest.approx(2.0)
    assert table.cost("openai:my-finetune", MILLION_EACH) == pytest.approx(6.0)


def test_self_hosted_models_are_free_and_unknown_ones_have_no_cost() -> None:
    table = PriceTable()
    assert table.cost("local:qwen2.5-1.5b", MILLION_EACH) == 0.0
    assert table.cost("ollama:llama3.2", MILLION_EACH) == 0.0
    assert table.cost("openai:some-model-nobody-priced", MILLION_EACH) is None
