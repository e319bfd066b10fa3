"""Chainlit handlers: the chat a person has with the Chief of Staff.

A thin adapter over the channel-neutral turn (app/turns.py): it says who is asking (from
the Chainlit session), reads attached files, shows the turn's events, and keeps the
conversation in `cl.user_session`. Chainlit loads this file by path (see app/server.py),
so it imports our packages by absolute name.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing

import chainlit as cl
from chainlit.types import ThreadDict

from agents.errors import CadreError
from agents.models.base import ChatMessage
from agents.scrub import scrub_error
from app import services
from app.auth import hooks as _login_hooks  # noqa: F401 (registers login callbacks)
from app.auth.sites import VisitorLimitError
from app.auth.user_limits import UserLimitError
from app.chat import collections, documents, key_link, operators, performance, tasks
from app.chat.citations import citation_elements
from app.chat.history import attached_names, history_from_thread
from app.chat.model_picker import offer_models, picked_model
from app.chat.render import TurnRenderer
from app.chat.roles import require_role
from app.chat.uploads import ingest_uploads
from app.db.chainlit_data import CadreDataLayer
from app.db.chainlit_data.calls import settle_writes
from app.turns import Caller, TurnRequest, Turns
from knowledge.catalog import DocumentStatus

log = logging.getLogger(__name__)

HISTORY = "history"
EARLIER = "earlier_documents"
"""Ids of the documents attached to this conversation's earlier messages."""
_APOLOGY = "Sorry, something went wrong on our side; it has been logged."


def _history() -> list[ChatMessage]:
    history: list[ChatMessage] | None = cl.user_session.get(HISTORY)
    if history is None:
        history = []
        cl.user_session.set(HISTORY, history)
    return history


def _earlier() -> list[str]:
    earlier: list[str] | None = cl.user_session.get(EARLIER)
    if earlier is None:
        earlier = []
        cl.user_session.set(EARLIER, earlier)
    return earlier


def _caller() -> Caller:
    """Who this chat works for: the signed-in person, in this conversation."""
    session = cl.context.session
    user = session.user
    user_id = getattr(user, "id", None)
    if not user_id:
        raise CadreError("Sign in again: this session has no stored user.")
    role = (getattr(user, "metadata", None) or {}).get("role", "member")
    return Caller(user_id=str(user_id), thread_id=session.thread_id, role=str(role))


@cl.data_layer
def data_layer() -> CadreDataLayer:
    """Threads, steps, elements and feedback live in Cadre's own database."""
    return services.current().data_layer


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    """Suggestions shown on an empty chat (and, for admins, the new-operator wizard)."""
    admin = user is not None and await operators.is_admin(user.identifier)
    return [
        *([operators.STARTER] if admin else []),
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
    await _offer_commands()
    await _offer_models()


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    """Continue an earlier chat: its turns become the model's context again, and the files
    attached to it stay what a follow-up is checked against first."""
    cl.user_session.set(HISTORY, history_from_thread(thread))
    cl.user_session.set(EARLIER, await _thread_documents(thread))
    await _offer_commands()
    await _offer_models()


async def _thread_documents(thread: ThreadDict) -> list[str]:
    """The ready documents of the person's whose names were attached in `thread`."""
    names = attached_names(thread)
    if not names:
        return []
    try:
        kb = await services.current().knowledge()
        records = await kb.list_documents(_caller().user_id)
    except CadreError:
        log.warning("could not list the documents of a resumed thread", exc_info=True)
        return []
    return [r.document_id for r in records if r.name in names and r.status == DocumentStatus.READY]


async def _offer_commands() -> None:
    tasks.connect(services.current())  # results show live in open chats
    admin = await operators.is_admin()
    keys = key_link.COMMANDS if key_link.for_visitor(cl.context.session.user) else []
    await cl.context.emitter.set_commands(
        documents.COMMANDS
        + tasks.COMMANDS
        + performance.COMMANDS
        + keys
        + (operators.ADMIN_COMMANDS + collections.ADMIN_COMMANDS if admin else [])
    )


async def _offer_models() -> None:
    user = cl.context.session.user
    if (getattr(user, "metadata", None) or {}).get("site"):
        return  # a widget visitor: the site's turns run on the deployment's model
    shared = services.current()
    await offer_models(shared.catalog, shared.chat_model.id)


@cl.action_callback(documents.DELETE_ACTION)
@require_role("member")
async def on_delete_document(action: cl.Action) -> None:
    """Delete one of the signed-in person's documents."""
    kb = await services.current().knowledge()
    reply = await documents.delete_document(kb, _caller().user_id, action)
    await cl.Message(content=reply, author="Cadre").send()


@cl.action_callback(tasks.CANCEL_ACTION)
@require_role("member")
async def on_cancel_task(action: cl.Action) -> None:
    """Cancel one of the signed-in person's tasks."""
    reply = await tasks.cancel_or_retry(services.current(), _caller(), action)
    await cl.Message(content=reply, author="Cadre").send()


@cl.action_callback(tasks.RETRY_ACTION)
@require_role("member")
async def on_retry_task(action: cl.Action) -> None:
    """Run one of the signed-in person's failed or cancelled tasks again."""
    reply = await tasks.cancel_or_retry(services.current(), _caller(), action)
    await cl.Message(content=reply, author="Cadre").send()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    """A command, files to read, or a request for the Chief of Staff."""
    try:
        await _handle(message)
    finally:
        # The person is told the turn ended (Chainlit's task_end) only once what it showed
        # is stored: a crash right after must not lose an answer they have read.
        await settle_writes(cl.context.session.id)


async def _handle(message: cl.Message) -> None:
    try:
        caller = _caller()
        if documents.is_command(message):
            await documents.show_documents(await services.current().knowledge(), caller.user_id)
            return
        if key_link.is_command(message):
            await key_link.show_link(cl.context.session.user)
            return
        if (period := performance.period_asked(message)) is not None:
            await performance.show_stats(caller.user_id, period)
            return
        if collections.is_command(message):
            await collections.run_command()
            return
        if command := operators.command_of(message):
            await operators.run_command(command, caller)
            return
        if command := tasks.command_of(message):
            if command == tasks.TASK:
                await tasks.create_task(services.current(), caller, message.content)
            else:
                await tasks.show_board(services.current(), caller)
            return
        attached = await _read_attachments(message, caller)
    except CadreError as exc:
        log.warning("refused a message: %s", exc)
        await cl.Message(content=f"⚠️ {scrub_error(str(exc))}", author="Cadre").send()
        return
    except Exception:
        # Never a raw exception (server paths, ids) in front of the person; the log has it.
        log.exception("handling a message failed")
        await cl.Message(content=f"⚠️ {_APOLOGY}", author="Cadre").send()
        return
    conversation = _earlier()
    earlier = tuple(d for d in conversation if d not in attached)
    conversation.extend(d for d in attached if d not in conversation)
    if message.elements and not message.content.strip():
        return  # only files: reading them was the whole request
    await _answer(message.content, caller, attached, earlier)


async def _read_attachments(message: cl.Message, caller: Caller) -> tuple[str, ...]:
    """Ingest the message's files; the ids of those read."""
    files = [element for element in message.elements if element.path]
    if not files:
        return ()
    shared = services.current()
    outcomes = await ingest_uploads(
        files, caller.user_id, await shared.knowledge(), shared.settings.originals_dir
    )
    return tuple(o.document_id for o in outcomes if o.ok and o.document_id)


async def _answer(
    text: str, caller: Caller, attached: tuple[str, ...], earlier: tuple[str, ...]
) -> None:
    """Run the turn and show it; the exchange joins the history however the turn ends."""
    shared = services.current()
    history = _history()
    renderer = TurnRenderer(
        cite=lambda passages, cited: citation_elements(
            passages, shared.settings.originals_dir, caller.user_id, cited
        )
    )
    model = picked_model(shared.chat_model.id)
    request = TurnRequest(
        text, history=tuple(history), attached=attached, earlier=earlier, model=model
    )
    try:
        # Closed however this ends: a stop cancels every operator, tool and generation at once.
        async with aclosing(Turns(shared).stream(caller, request)) as events:
            async for event in events:
                await renderer.handle(event)
    except asyncio.CancelledError:
        # The stop button cancels this task, and with it every operator, tool and generation.
        _remember(history, text, await renderer.close(stopped=True))
        raise
    except (UserLimitError, VisitorLimitError) as exc:
        # A limit doing its job is not a failure: the person reads the sentence as it is.
        log.warning("refused a turn: %s", exc)
        renderer.error = scrub_error(str(exc))
    except CadreError as exc:
        log.exception("The turn failed")
        renderer.error = f"Sorry, I could not answer: {scrub_error(str(exc))}"
    except Exception:
        log.exception("The turn failed unexpectedly")
        renderer.error = _APOLOGY
    _remember(history, text, await renderer.close())


def _remember(history: list[ChatMessage], request: str, answer: str) -> None:
    history.append(ChatMessage.user(request))
    if answer:
        history.append(ChatMessage.assistant(answer))
