"""A stored thread back into the conversation the model sees when a chat is resumed."""

from __future__ import annotations

from typing import Any

from chainlit.types import ThreadDict

from agents.models.base import ChatMessage
from agents.roster import CHIEF_OF_STAFF
from app.chat.markdown import as_written
from knowledge.chunking import visible_name

ANSWER = "answer"
"""`metadata["cadre"]` of the message that carries a turn's answer (set by the renderer)."""


def is_answer(step: dict[str, Any]) -> bool:
    """Whether a stored step is the answer of a turn (not a notice, a list or a file report)."""
    if step.get("type") != "assistant_message":
        return False
    metadata = step.get("metadata") or {}
    if "cadre" in metadata:
        return bool(metadata["cadre"] == ANSWER)
    # Threads saved before answers were marked: the answer was the Chief of Staff's message.
    return bool(step.get("name") == CHIEF_OF_STAFF.name)


def history_from_thread(thread: ThreadDict) -> list[ChatMessage]:
    """The conversation stored in a thread: each user message and each answer, in order."""
    turns: list[ChatMessage] = []
    steps = sorted(thread.get("steps") or [], key=lambda step: step.get("createdAt") or "")
    for step in steps:
        text = step.get("output") or ""
        if not text:
            continue
        if step["type"] == "user_message":
            turns.append(ChatMessage.user(text))
        elif is_answer(dict(step)):
            turns.append(ChatMessage.assistant(as_written(text)))
    return turns


def attached_names(thread: ThreadDict) -> set[str]:
    """The names of the files the person attached to the thread's messages, as stored."""
    asked = {step["id"] for step in thread.get("steps") or [] if step["type"] == "user_message"}
    return {
        visible_name(element["name"])[0]
        for element in thread.get("elements") or []
        if element.get("forId") in asked and element.get("name")
    }
