"""Shared collections in the chat, for admins: `/collections` to make, fill, prune and delete.

A collection is a set of documents an admin curates (a handbook, the price lists) for
operators to search on behalf of whoever asks them (the wizard's "A shared collection").
Files go in through Chainlit's `AskFileMessage`, read with the same progress step as files
dropped into the chat. Every door (the command, each button) checks the admin role against
the database; a collection's id in a button is looked up again, never trusted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import chainlit as cl
from chainlit.config import config
from chainlit.types import CommandDict

from app import services
from app.auth.roles import Forbidden, restrict_action
from app.chat.documents import describe
from app.chat.markdown import literal
from app.chat.operators import ASK_TIMEOUT_S, is_admin
from app.chat.roles import require_role, session_identifier
from app.chat.uploads import ingest_uploads
from app.db.collections import (
    Collection,
    CollectionError,
    CollectionStore,
    check_collection_name,
)
from app.db.operators import OperatorStore

log = logging.getLogger(__name__)

COMMAND = "collections"
NEW_ACTION = "collection_new"
OPEN_ACTION = "collection_open"
ADD_ACTION = "collection_add"
REMOVE_ACTION = "collection_remove_document"
DELETE_ACTION = "collection_delete"
_CONFIRM_ACTION = "collection_confirm"
for _name in (NEW_ACTION, OPEN_ACTION, ADD_ACTION, REMOVE_ACTION, DELETE_ACTION):
    restrict_action(_name, "admin")  # refused with a 403 before Chainlit runs the callback
MAX_FILES = 20
"""Files one "Add files" accepts; more can be added again."""
_running: set[asyncio.Task[None]] = set()

ADMIN_COMMANDS: list[CommandDict] = [
    {
        "id": COMMAND,
        "icon": "library",
        "description": "Shared collections of documents that operators search (admins)",
        "button": False,
        "persistent": False,
        "selected": False,
    }
]


def is_command(message: cl.Message) -> bool:
    """Whether the message asks for the collections (the command, or `/collections` typed)."""
    return message.command == COMMAND or message.content.strip() == f"/{COMMAND}"


def _store() -> CollectionStore:
    return CollectionStore(services.current().data_layer)


async def _say(text: str, actions: list[cl.Action] | None = None) -> None:
    await cl.Message(content=text, author="Cadre", actions=actions or []).send()


async def run_command() -> None:
    """`/collections`: the list for an admin; a visible refusal for anyone else."""
    if not await is_admin():
        log.warning("refused /%s to %r: not an admin", COMMAND, session_identifier())
        await _say("⚠️ Only admins can manage shared collections.")
        return
    await show_collections()


async def show_collections() -> None:
    """Every collection: what it holds, which operators search it, and buttons to act."""
    collections = await _store().list()
    kb = await services.current().knowledge()
    operators = OperatorStore(services.current().data_layer)
    actions = [cl.Action(name=NEW_ACTION, payload={}, label="New collection", icon="plus")]
    if not collections:
        await _say(
            "**Shared collections**\n\nNone yet. A collection holds documents that operators "
            "search for whoever asks them (a handbook, price lists): make one, add files, then "
            "give an operator that collection in the wizard's *Knowledge* step.",
            actions,
        )
        return
    rows = ["| Collection | Documents | Searched by | About |", "|---|---|---|---|"]
    for collection in collections:
        records = await kb.list_documents(collection.id)
        ready = sum(record.status == "ready" for record in records)
        users = ", ".join(await operators.searching(collection.id)) or "no operator yet"
        rows.append(
            f"| {_cell(collection.name)} | {ready} ready of {len(records)} | {_cell(users)} "
            f"| {_cell(collection.description) or '—'} |"
        )
        actions.append(
            cl.Action(name=OPEN_ACTION, payload={"id": collection.id}, label=collection.name)
        )
    await _say("**Shared collections**\n\n" + "\n".join(rows), actions)


async def show_collection(collection: Collection) -> None:
    """One collection's documents, with buttons to add files, remove one, or delete it."""
    kb = await services.current().knowledge()
    records = await kb.list_documents(collection.id)
    lines = "\n".join(describe(record) for record in records) or "No documents yet."
    about = f"\n\n{literal(collection.description)}" if collection.description else ""
    payload = {"id": collection.id}
    actions = [
        cl.Action(name=ADD_ACTION, payload=payload, label=f"Add files to {collection.name}"),
        *(
            cl.Action(
                name=REMOVE_ACTION,
                payload={**payload, "document_id": record.document_id},
                label=f"Remove {record.name}",
                icon="trash-2",
            )
            for record in records
        ),
        cl.Action(name=DELETE_ACTION, payload=payload, label=f"Delete {collection.name}"),
    ]
    await _say(f"**{literal(collection.name)}** ({len(records)}){about}\n\n{lines}", actions)


# ---- making one --------------------------------------------------------------------------


async def _typed(text: str) -> str | None:
    reply = await cl.AskUserMessage(content=text, author="Cadre", timeout=ASK_TIMEOUT_S).send()
    return None if reply is None else str(reply.get("output", "")).strip()


async def create_collection(by: str) -> None:
    """Ask for a name (again, with the reason, until it is usable) and a description."""
    store = _store()
    text = "Name the new collection (for example *Employee handbook*), or type cancel."
    while True:
        typed = await _typed(text)
        if typed is None or typed.casefold() == "cancel":
            await _say("Cancelled; no collection was made.")
            return
        try:
            name = check_collection_name(typed)
        except CollectionError as exc:
            text = f"⚠️ {exc}\n\nName the new collection, or type cancel."
            continue
        if await store.find(name) is not None:
            text = f"⚠️ There is already a collection called {literal(name)}: pick another name."
            continue
        description = await _typed(
            f"What is in **{literal(name)}**? One sentence that helps admins pick it "
            "(or type skip)."
        )
        if description is None or description.casefold() == "cancel":
            await _say("Cancelled; no collection was made.")
            return
        try:
            collection = await store.create(
                name, "" if description.casefold() == "skip" else description, by=by
            )
        except CollectionError as exc:  # taken meanwhile, or a description too long
            text = f"⚠️ {exc}\n\nName the new collection, or type cancel."
            continue
        break
    log.info("collection %r made by %s", collection.name, by)
    await _say(f"✅ Made **{literal(collection.name)}**. Now add its files.")
    await add_files(collection)


async def add_files(collection: Collection) -> None:
    """Ask for files and read them into the collection, with the chat's progress step."""
    upload = config.features.spontaneous_file_upload
    files = await cl.AskFileMessage(
        content=f"Drop up to {MAX_FILES} files for **{literal(collection.name)}**.",
        accept=upload.accept if upload and upload.accept else ["*/*"],
        max_size_mb=upload.max_size_mb if upload and upload.max_size_mb else 100,
        max_files=MAX_FILES,
        timeout=ASK_TIMEOUT_S,
        author="Cadre",
    ).send()
    if not files:
        await _say(f"No files were added to **{literal(collection.name)}**.")
        return
    shared = services.current()
    outcomes = await ingest_uploads(
        files, collection.id, await shared.knowledge(), shared.settings.originals_dir
    )
    ready = sum(outcome.ok for outcome in outcomes)
    log.info("%d of %d files added to collection %r", ready, len(outcomes), collection.name)
    await show_collection(collection)


# ---- buttons -----------------------------------------------------------------------------


def _spawn(work: Any) -> None:
    # An action's HTTP request should not stay open while the admin answers questions.
    task = asyncio.create_task(work)
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _named(action: cl.Action) -> Collection | None:
    collection_id = (action.payload or {}).get("id")
    if not isinstance(collection_id, str) or not collection_id:
        raise Forbidden("that action names no collection")
    found = await _store().find(collection_id)
    if found is None:
        await _say("⚠️ That collection no longer exists.")
    return found


@cl.action_callback(NEW_ACTION)
@require_role("admin")
async def on_new(action: cl.Action) -> None:
    """The list's "New collection" button."""
    _spawn(create_collection(session_identifier() or "an admin"))


@cl.action_callback(OPEN_ACTION)
@require_role("admin")
async def on_open(action: cl.Action) -> None:
    """A collection's button in the list: its documents."""
    if collection := await _named(action):
        await show_collection(collection)


@cl.action_callback(ADD_ACTION)
@require_role("admin")
async def on_add(action: cl.Action) -> None:
    """Add files to a collection."""
    if collection := await _named(action):
        _spawn(add_files(collection))


@cl.action_callback(REMOVE_ACTION)
@require_role("admin")
async def on_remove(action: cl.Action) -> None:
    """Remove one document from a collection (its passages leave every answer)."""
    collection = await _named(action)
    document_id = (action.payload or {}).get("document_id")
    if collection is None or not isinstance(document_id, str) or not document_id:
        return
    kb = await services.current().knowledge()
    record = await kb.catalog.get(collection.id, document_id)
    if not await kb.delete_document(collection.id, document_id):
        await _say("That document is already gone.")
        return
    name = record.name if record else "The document"
    log.info("removed %s from collection %r", document_id, collection.name)
    await _say(f"Removed **{literal(name)}** from **{literal(collection.name)}**.")
    await show_collection(collection)


@cl.action_callback(DELETE_ACTION)
@require_role("admin")
async def on_delete(action: cl.Action) -> None:
    """Delete a collection and its documents, after asking; not while an operator uses it."""
    if collection := await _named(action):
        _spawn(_confirm_delete(collection, session_identifier() or ""))


async def _confirm_delete(collection: Collection, identifier: str) -> None:
    users = await OperatorStore(services.current().data_layer).searching(collection.id)
    if users:
        await _say(
            f"⚠️ **{literal(collection.name)}** is searched by {', '.join(users)}: give "
            "them other knowledge in `/operators` first, then delete it."
        )
        return
    picked = await cl.AskActionMessage(
        content=f"Delete **{literal(collection.name)}** and all its documents? "
        "This cannot be undone.",
        actions=[
            cl.Action(name=_CONFIRM_ACTION, payload={"yes": True}, label="Yes, delete it"),
            cl.Action(name=_CONFIRM_ACTION, payload={"yes": False}, label="Keep it"),
        ],
        author="Cadre",
        timeout=ASK_TIMEOUT_S,
    ).send()
    if not picked or (picked.get("payload") or {}).get("yes") is not True:
        await _say(f"Nothing changed: **{literal(collection.name)}** stays.")
        return
    if not await is_admin(identifier):  # the role may have been taken away meanwhile
        await _say("⚠️ Only admins can delete collections; nothing changed.")
        return
    kb = await services.current().knowledge()
    for record in await kb.list_documents(collection.id):
        await kb.delete_document(collection.id, record.document_id)
    await _store().delete(collection.id)
    log.info("collection %r deleted by %s", collection.name, identifier)
    await _say(f"Deleted **{literal(collection.name)}** and its documents.")
    await show_collections()


def _cell(text: str) -> str:
    return literal(" ".join(text.split())).replace("|", "\\|")
