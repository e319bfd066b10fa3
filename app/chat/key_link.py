"""The `keys` command: a link to the API keys page, where keys are made and revoked.

Keys are never made in the chat itself: a secret posted in a conversation would be kept in
its history. The page (app/api/keys_page.py) shows a new key once, outside any thread.
"""

from __future__ import annotations

import chainlit as cl
from chainlit.types import CommandDict

COMMAND = "keys"
PAGE_PATH = "/settings/keys"
COMMANDS: list[CommandDict] = [
    {
        "id": COMMAND,
        "icon": "key-round",
        "description": "Create and revoke your personal API keys (OpenAI-compatible API)",
        "button": False,
        "persistent": False,
        "selected": False,
    }
]


def is_command(message: cl.Message) -> bool:
    """Whether the message asks for the keys page (the command, or `/keys` typed)."""
    return message.command == COMMAND or message.content.strip() == f"/{COMMAND}"


def for_visitor(user: cl.User | cl.PersistedUser | None) -> bool:
    """Whether this chat's person may have API keys: not an anonymous widget visitor."""
    return user is not None and not (getattr(user, "metadata", None) or {}).get("site")


async def show_link(user: cl.User | cl.PersistedUser | None) -> None:
    """Answer with a link to the keys page (or say why there is none)."""
    if not for_visitor(user):
        text = "API keys belong to people who sign in to Cadre itself."
    else:
        text = (
            f"[Open your API keys]({PAGE_PATH}) to create, copy and revoke personal API "
            "keys for Cadre's OpenAI-compatible API. A new key is shown once, on that page, "
            "and never in this chat."
        )
    await cl.Message(content=text, author="Cadre").send()
