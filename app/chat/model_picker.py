"""The chat settings' model picker: only models that can answer now are offered.

The pick is kept in the Chainlit session's chat settings and sent with each turn; the turn
checks it against the catalog again (settings come from the browser, so they are input).
"""

from __future__ import annotations

import chainlit as cl
from chainlit.input_widget import InputWidget, Select

from app.model_catalog import ModelCatalog

MODEL = "model"
"""The chat settings key of the picked model's id."""


async def offer_models(catalog: ModelCatalog, default: str) -> None:
    """Show the picker with every available model, `default` selected."""
    choices = await catalog.choices()
    items = {choice.label: choice.id for choice in choices}
    if default not in items.values():
        items = {default: default, **items}  # the deployment's model, even if it lists oddly
    picker: InputWidget = Select(
        id=MODEL,
        label="Model",
        items=items,
        initial_value=default,
        description="Who answers in this chat. Operators with a model of their own keep it.",
    )
    await cl.ChatSettings([picker]).send()


def picked_model(default: str) -> str | None:
    """The model picked for this chat, or `None` for the deployment's default."""
    settings = cl.user_session.get("chat_settings") or {}
    picked = settings.get(MODEL)
    return picked if isinstance(picked, str) and picked and picked != default else None
