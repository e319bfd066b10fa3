"""Users and the chat history Chainlit reads and writes: threads, steps, elements, feedback.

Step and element columns are a superset of the keys Chainlit 2.12 puts in `Step.to_dict()`,
`Message.to_dict()` and `Element.to_dict()`; re-diff them on every Chainlit upgrade (the data
layer keeps keys it does not know in `extra` rather than dropping them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import JSONType, UTCDateTime, utcnow

ROLES = ("admin", "member")
"""Every role a user can have."""

_ID = String(255)  # Chainlit ids are UUID strings; the slack costs nothing


class User(Base):
    """A person who can log in, with a password, through single sign-on, or both."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'member')", name="role"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    """The login name (or the SSO subject/email); what Chainlit calls `identifier`."""
    display_name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member", server_default="member")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """None for users who only log in through single sign-on."""
    auth_provider: Mapped[str | None] = mapped_column(String(64))
    """How the user first arrived: `password`, an OIDC provider id, `jwt`, ..."""
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped to revoke every token issued before; tokens carry the version they were made at."""
    sessions_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Tokens issued before this instant are refused."""
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONType, default=dict, server_default=text("'{}'")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Thread(Base):
    """One conversation; its owner never changes once set."""

    __tablename__ = "threads"
    __table_args__ = (Index("ix_threads_user_recent", "user_id", "updated_at", "id"),)

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE")
    )
    """None only for the instant between a first step and Chainlit naming the owner."""
    name: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONType, default=dict, server_default=text("'{}'")
    )
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Step(Base):
    """A message or a step (tool call, delegation, run) inside a thread."""

    __tablename__ = "steps"
    __table_args__ = (Index("ix_steps_thread_order", "thread_id", "created_at", "inserted_at"),)

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    thread_id: Mapped[str] = mapped_column(_ID, ForeignKey("threads.id", ondelete="CASCADE"))
    # No foreign key: Chainlit may persist a child before its parent.
    parent_id: Mapped[str | None] = mapped_column(_ID)
    name: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(64))
    command: Mapped[str | None] = mapped_column(String(255))
    modes: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    streaming: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    wait_for_answer: Mapped[bool | None] = mapped_column(Boolean)
    is_error: Mapped[bool | None] = mapped_column(Boolean)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    # Chainlit's own ISO strings ("2026-01-01T00:00:00.000000Z"), kept verbatim for the UI.
    created_at: Mapped[str | None] = mapped_column(String(40))
    start: Mapped[str | None] = mapped_column(String(40))
    end: Mapped[str | None] = mapped_column(String(40))
    generation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    show_input: Mapped[bool | str | None] = mapped_column(JSONType)
    """A bool or a language name ("json"); JSON keeps which one it was."""
    default_open: Mapped[bool | None] = mapped_column(Boolean)
    auto_collapse: Mapped[bool | None] = mapped_column(Boolean)
    language: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """Keys a newer Chainlit sends that have no column yet; merged back on read."""
    inserted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Element(Base):
    """A file or rich element attached to a message; bytes live in the storage client."""

    __tablename__ = "elements"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    thread_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("threads.id", ondelete="CASCADE"), index=True
    )
    # No foreign key: an element can be persisted before the message it belongs to.
    for_id: Mapped[str | None] = mapped_column(_ID, index=True)
    type: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text, default="")
    display: Mapped[str | None] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    chainlit_key: Mapped[str | None] = mapped_column(String(255))
    object_key: Mapped[str | None] = mapped_column(String(1024), unique=True)
    size: Mapped[str | None] = mapped_column(String(16))
    page: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(64))
    mime: Mapped[str | None] = mapped_column(String(255))
    # Never NULL: Chainlit's own get_element() crashed on json.loads(None).
    props: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, server_default=text("'{}'")
    )
    auto_play: Mapped[bool | None] = mapped_column(Boolean)
    player_config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    content_length: Mapped[int | None] = mapped_column(Integer)
    """Bytes stored for this element, when it has any."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Base):
    """A thumbs up (1) or down (0), with an optional comment, on one step."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("value IN (0, 1)", name="value"),
        UniqueConstraint("for_id", "user_id", name="uq_feedback_for_user"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    for_id: Mapped[str] = mapped_column(_ID, ForeignKey("steps.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("threads.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    value: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
