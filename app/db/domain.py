"""Tables for the features beyond chat history: admin-made agents, documents, tasks, usage, keys.

Created by the initial migration so later features only add columns, never a first table.
The SQL-backed stores over them (a `DocumentCatalog` for `documents`, a `TaskStore` for
`tasks`, usage and API-key lookups) are not written yet: they belong with the protocols the
knowledge and agents features define, and should use `CadreDataLayer.reading()`/`writing()`
so they share its engine and SQLite write discipline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import JSONType, UTCDateTime, utcnow

DOCUMENT_STATUSES = ("queued", "processing", "ready", "failed")
"""Every state a document moves through during ingestion."""
TASK_STATUSES = ("running", "succeeded", "failed", "cancelled")
"""Every state of a delegation record."""


class AgentRecord(Base):
    """An operator an admin created; the same fields as `AgentSpec`."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text)
    instructions: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(255))
    """A `provider:name` model id; None uses the default chat model."""
    tools: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=text("'[]'"))
    knowledge_scope: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    limits: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, server_default=text("'{}'")
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DocumentRecord(Base):
    """An uploaded file and where its ingestion stands."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'processing', 'ready', 'failed')", name="status"),
        Index("ix_documents_owner_hash", "owner_id", "content_hash"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    thread_id: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("threads.id", ondelete="SET NULL")
    )
    """The conversation it was uploaded in, if any."""
    name: Mapped[str] = mapped_column(String(512))
    mime: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))
    """sha256 of the bytes, hex."""
    storage_key: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    """Why ingestion failed, in words a user can act on."""
    error_code: Mapped[str | None] = mapped_column(String(32))
    """Why ingestion failed, as a stable short code (`encrypted`, `too_large`, ...)."""
    kind: Mapped[str | None] = mapped_column(String(16))
    """The format detected from the content (`pdf`, `docx`, ...)."""
    pages: Mapped[int | None] = mapped_column(Integer)
    chunks: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskRecord(Base):
    """One delegation from the Chief of Staff to an operator."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'cancelled')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    thread_id: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("threads.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL")
    )
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    parent_run_id: Mapped[str | None] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(255))
    agent: Mapped[str] = mapped_column(String(64))
    input: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    error: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONType, default=dict, server_default=text("'{}'")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsageRecord(Base):
    """Tokens one model call used; kept when the thread is deleted."""

    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    thread_id: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("threads.id", ondelete="SET NULL")
    )
    run_id: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ApiKey(Base):
    """A key for the OpenAI-compatible API; only a hash of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    """The first characters of the key, shown in lists and used to look it up."""
    key_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=text("'[]'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
