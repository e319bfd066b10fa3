"""`/keys` in the chat: offered to people who sign in, never to a site's widget visitors."""

from __future__ import annotations

import chainlit as cl

from app.chat.key_link import for_visitor


def test_signed_in_people_get_the_keys_command_and_widget_visitors_do_not() -> None:
    person = cl.User(identifier="alice", metadata={"role": "member", "provider": "credentials"})
    visitor = cl.User(identifier="w-1234abcd-ef", metadata={"role": "member", "site": "s-1"})
    assert for_visitor(person)
    assert not for_visitor(visitor)
    assert not for_visitor(None)
