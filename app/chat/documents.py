"""The person's documents in the chat: list them with their status, delete one.

Reached with the `documents` command (or by typing `/documents`). Deleting acts on the
signed-in person's documents only: the owner comes from the session, never from the button.
"""

from __future__ import annotations

import logging

import chainlit as cl
from chainlit.types import CommandDict

from app.chat.markdown import literal
from knowledge.base import KnowledgeBase
from knowledge.catalog import DocumentRecord, DocumentStatus

log = logging.getLogger(__name__)

COMMAND = "documents"
DELETE_ACTION = "delete_document"
COMMANDS: list[CommandDict] = [
    {
        "id": COMMAND,
        "icon": "files",
        "description": "List your documents and delete the ones you no longer need",
        "button": False,
        "persistent": False,
        "selected": False,
    }
]

_STATUS = {
    DocumentStatus.READY: "✅ ready",
    DocumentStatus.FAILED: "❌ failed",
    DocumentStatus.QUEUED: "⏳ waiting",
    DocumentStatus.PROCESSING: "⏳ reading",
}


def is_command(message: cl.Message) -> bool:
    """Whether the message asks for the document list (the command, or `/documents` typed)."""
    return message.command == COMMAND or message.content.strip() == f"/{COMMAND}"


def describe(record: DocumentRecord) -> str:
    """One line of the document list."""
    details = [_STATUS.get(record.status, record.status)]
    if record.pages:
        details.append(f"{record.pages} pages")
    if record.chunks:
        details.append(f"{record.chunks} passages")
    line = f"- **{literal(record.name)}** — {', '.join(details)}"
    return f"{line}: {literal(record.reason)}" if record.reason else line


async def show_documents(kb: KnowledgeBase, owner: str) -> None:
    """Post the list of the owner's documents with a delete button for each."""
    records = await kb.list_documents(owner)
    if not records:
        await cl.Message(
            content="You have no documents yet. Drop files into the chat to add some.",
            author="Cadre",
        ).send()
        return
    actions = [
        cl.Action(
            name=DELETE_ACTION,
            payload={"document_id": record.document_id},
            label=f"Delete {record.name}",
            icon="trash-2",
        )
        for record in records
    ]
    lines = "\n".join(describe(record) for record in records)
    await cl.Message(
        content=f"**Your documents** ({len(records)})\n\n{lines}", author="Cadre", actions=actions
    ).send()


async def delete_document(kb: KnowledgeBase, owner: str, action: cl.Action) -> str:
    """Delete the document a button names, if the owner has it; say what happened."""
    document_id = action.payload.get("document_id")
    if not isinstance(document_id, str) or not document_id:
        return "That button does not name a document."
    record = await kb.catalog.get(owner, document_id)
    if not await kb.delete_document(owner, document_id):
        return "That document is already gone."
    await action.remove()
    name = record.name if record else "The document"
    log.info("Deleted document %s of %s", document_id, owner)
    return f"Deleted **{literal(name)}**: its passages no longer appear in answers."
