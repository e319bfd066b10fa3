"""Chainlit handlers: the chat a person has with the Chief of Staff.

Chainlit loads this file by path (see app/server.py), so it imports our packages by
absolute name and keeps per-chat state in `cl.user_session`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing

import chainlit as cl
from chainlit.types import ThreadDict

from agents.errors import CadreError
from agents.models.base import ChatMessage
from agents.scope import UserScope
from app import documents_ui, services
from app.auth import hooks as _login_hooks  # noqa: F401 (registers login callbacks)
from app.citations import citation_elements
from app.data_layer import CadreDataLayer
from app.render import CHIEF_OF_STAFF, TurnRenderer
from app.uploads import ingest_uploads

log = logging.getLogger(__name__)

HISTORY = "history"


def _history() -> list[ChatMessage]:
    history: list[ChatMessage] | None = cl.user_session.get(HISTORY)
    if history is None:
        history = []
        cl.user_session.set(HISTORY, history)
    return history


def history_from_thread(thread: ThreadDict) -> list[ChatMessage]:
    """The conversation stored in a thread, as the model sees it."""
    turns: list[ChatMessage] = []
    steps = sorted(thread.get("steps") or [], key=lambda step: step.get("createdAt") or "")
    for step in steps:
        text = step.get("output") or ""
        if step["type"] == "user_message" and text:
            turns.append(ChatMessage.user(text))
        elif step["type"] == "assistant_message" and step["name"] == CHIEF_OF_STAFF and text:
            turns.append(ChatMessage.assistant(text))
    return turns


@cl.data_layer
def data_layer() -> CadreDataLayer:
    """Threads, steps, elements and feedback live in Cadre's own database."""
    return services.current().data_layer


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    """Suggestions shown on an empty chat."""
    return [
        cl.Starter(
            label="Draft a thank-you note", message="Draft a short thank-you note to my team."
        ),
        cl.Starter(label="Explain a concept", message="Explain what a vector database is, simply."),
        cl.Starter(label="Plan my week", message="Help me plan a focused work week."),
    ]


@cl.on_chat_start
async def on_chat_start() -> None:
    """A new chat starts with an empty history."""
    cl.user_session.set(HISTORY, [])
    await cl.context.emitter.set_commands(documents_ui.COMMANDS)


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    """Continue an earlier chat: its turns become the model's context again."""
    cl.user_session.set(HISTORY, history_from_thread(thread))
    await cl.context.emitter.set_commands(documents_ui.COMMANDS)


@cl.action_callback(documents_ui.DELETE_ACTION)
async def on_delete_document(action: cl.Action) -> None:
    """Delete one of the signed-in person's documents."""
    kb = await services.current().knowledge()
    await cl.Message(
        content=await documents_ui.delete_document(kb, _owner(), action), author="Cadre"
    ).send()


def _owner() -> str:
    """The signed-in person's database id: the owner of their documents."""
    user = cl.context.session.user
    owner = getattr(user, "id", None)
    if not owner:
        raise CadreError("Sign in again: this session has no stored user.")
    return str(owner)


@cl.on_message
async def on_message(message: cl.Message) -> None:
    """Ingest any attached files, then let the Chief of Staff handle the request."""
    shared = services.current()
    owner = _owner()
    if message.command == documents_ui.COMMAND or message.content.strip() == "/documents":
        await documents_ui.show_documents(await shared.knowledge(), owner)
        return
    files = [element for element in message.elements if element.path]
    attached: tuple[str, ...] = ()
    if files:
        kb = await shared.knowledge()
        outcomes = await ingest_uploads(files, owner, kb, shared.settings.originals_dir)
        if not message.content.strip():
            return  # only files: reading them was the whole request
        attached = tuple(o.document_id for o in outcomes if o.ok and o.document_id)
    history = _history()
    renderer = TurnRenderer(
        cite=lambda passages, cited: citation_elements(
            passages, shared.settings.originals_dir, owner, cited
        )
    )
    try:
        chief = await shared.chief()
        scope = UserScope(owner, attached=attached)
        turn = chief.stream(message.content, history=list(history), deps=scope)
        async with aclosing(turn) as events:
            async for event in events:
                await renderer.handle(event)
    except asyncio.CancelledError:
        # The stop button cancels this task, and with it every operator, tool and generation.
        answer = await renderer.close(stopped=True)
        _remember(history, message.content, answer)
        raise
    except CadreError as exc:
        log.exception("The turn failed")
        renderer.error = f"Sorry, I could not answer: {exc}"
    _remember(history, message.content, await renderer.close())


def _remember(history: list[ChatMessage], request: str, answer: str) -> None:
    history.append(ChatMessage.user(request))
    if answer:
        history.append(ChatMessage.assistant(answer))
