"""Chainlit's camelCase dicts (StepDict, ElementDict, ThreadDict) to and from our rows."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from app.db.errors import PersistenceError
from app.db.models import Element, Feedback, Step, Thread, User

if TYPE_CHECKING:
    from chainlit.element import ElementDict
    from chainlit.step import StepDict
    from chainlit.types import ThreadDict
    from chainlit.user import PersistedUser

# StepDict key -> steps column. Every key Chainlit 2.12's Step/Message.to_dict() emits.
STEP_COLUMNS: dict[str, str] = {
    "id": "id",
    "threadId": "thread_id",
    "parentId": "parent_id",
    "name": "name",
    "type": "type",
    "command": "command",
    "modes": "modes",
    "streaming": "streaming",
    "waitForAnswer": "wait_for_answer",
    "isError": "is_error",
    "metadata": "metadata",
    "tags": "tags",
    "input": "input",
    "output": "output",
    "createdAt": "created_at",
    "start": "start",
    "end": "end",
    "generation": "generation",
    "showInput": "show_input",
    "defaultOpen": "default_open",
    "autoCollapse": "auto_collapse",
    "language": "language",
}
# Part of a StepDict on the way out only: feedback lives in its own table.
_STEP_READ_ONLY = frozenset({"feedback"})

# ElementDict key -> elements column ("path" is a temporary local file: never stored).
ELEMENT_COLUMNS: dict[str, str] = {
    "id": "id",
    "threadId": "thread_id",
    "forId": "for_id",
    "type": "type",
    "name": "name",
    "display": "display",
    "url": "url",
    "chainlitKey": "chainlit_key",
    "objectKey": "object_key",
    "size": "size",
    "page": "page",
    "language": "language",
    "mime": "mime",
    "props": "props",
    "autoPlay": "auto_play",
    "playerConfig": "player_config",
}


def iso(moment: datetime) -> str:
    """Chainlit's timestamp format: naive UTC ISO text with a trailing Z."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def step_values(step: StepDict) -> dict[str, Any]:
    """Column values for a step row; keys with None are left out so they never overwrite."""
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in dict(step).items():
        if value is None or key in _STEP_READ_ONLY:
            continue
        column = STEP_COLUMNS.get(key)
        if column is None:
            extra[key] = value  # a key newer than this schema: keep it, don't drop it
        else:
            values[column] = value
    if extra:
        _check_json(extra, "step")
        values["extra"] = extra
    if "name" not in values:
        values["name"] = ""
    return values


def step_dict(row: Step, feedback: dict[str, Any] | None = None) -> StepDict:
    """The StepDict the UI and `on_chat_resume` expect, JSON fields as Python objects."""
    out: dict[str, Any] = dict(row.extra or {})
    for key, column in STEP_COLUMNS.items():
        attr = "metadata_" if column == "metadata" else column
        out[key] = getattr(row, attr)
    out["metadata"] = out["metadata"] or {}
    if feedback is not None:
        out["feedback"] = feedback
    return cast("StepDict", out)


def element_values(element: ElementDict) -> dict[str, Any]:
    """Column values for an element row."""
    given: dict[str, Any] = dict(element)
    values = {
        column: given[key] for key, column in ELEMENT_COLUMNS.items() if given.get(key) is not None
    }
    values.setdefault("props", {})
    values.setdefault("name", "")
    return values


def element_dict(row: Element, url: str | None) -> ElementDict:
    """The ElementDict Chainlit sends to the UI, with a fresh read URL."""
    out: dict[str, Any] = {key: getattr(row, column) for key, column in ELEMENT_COLUMNS.items()}
    out["url"] = url
    out["props"] = row.props or {}
    return cast("ElementDict", out)


def thread_dict(
    row: Thread,
    user_identifier: str | None,
    steps: list[StepDict],
    elements: list[ElementDict],
    *,
    created_at: datetime | None = None,
) -> ThreadDict:
    """A ThreadDict; `created_at` overrides the row's (the sidebar groups by last activity)."""
    return {
        "id": row.id,
        "createdAt": iso(created_at or row.created_at),
        "name": row.name,
        "userId": row.user_id,
        "userIdentifier": user_identifier,
        "tags": row.tags,
        "metadata": row.metadata_ or {},
        "steps": steps,
        "elements": elements,
    }


def persisted_user(row: User) -> PersistedUser:
    """Chainlit's user; role and disabled flag come from their columns into the metadata."""
    from chainlit.user import PersistedUser

    metadata = {**(row.metadata_ or {}), "role": row.role, "disabled": row.disabled}
    return PersistedUser(
        id=row.id,
        identifier=row.identifier,
        display_name=row.display_name,
        metadata=metadata,
        createdAt=iso(row.created_at),
    )


def feedback_dict(row: Feedback | None) -> dict[str, Any] | None:
    """The `feedback` entry of a StepDict."""
    if row is None:
        return None
    return {"id": row.id, "forId": row.for_id, "value": row.value, "comment": row.comment}


def encode_cursor(updated_at: datetime, thread_id: str) -> str:
    """An opaque cursor naming a position in (updated_at desc, id desc) order."""
    raw = json.dumps([updated_at.astimezone(UTC).isoformat(), thread_id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position an `encode_cursor` string names; PersistenceError when it is not one."""
    try:
        stamp, thread_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        moment = datetime.fromisoformat(stamp)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise PersistenceError(
            f"invalid thread list cursor {cursor!r}: pass back a pageInfo.endCursor unchanged"
        ) from exc
    if moment.tzinfo is None or not isinstance(thread_id, str):
        raise PersistenceError(f"invalid thread list cursor {cursor!r}")
    return moment, thread_id


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise PersistenceError(f"{what} has a value that is not JSON: {exc}") from exc
