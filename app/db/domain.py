"""Tables for the features beyond chat history: admin-made agents, documents, tasks, usage, keys.

Created by the initial migration so later features only add columns, never a first table.
The `DocumentCatalog` over `documents` and the `TaskStore` over `tasks` are in `app/stores.py`;
usage and API-key lookups are not written yet. Stores use `CadreDataLayer.reading()`/`writing()`
so they share its engine and SQLite write discipline.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import JSONType, UTCDateTime, utcnow

DOCUMENT_STATUSES = ("queued", "processing", "ready", "failed")
"""Every state a document moves through during ingestion."""
TASK_STATUSES = ("pending", "running", "done", "failed", "cancelled")
"""Every state of a delegation record (those of `agents.tasks.Task`)."""
TASK_PRIORITIES = ("urgent", "high", "normal", "low")
"""How pressing a task is (the generation queue serves the most pressing first)."""
TASK_ORIGINS = ("delegated", "requested")
"""A delegation inside a turn, or work a person asked to run in the background."""


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
    examples: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=text("'[]'"))
    """Sample requests; the semantic router matches new requests against them."""
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


class OperatorChange(Base):
    """One change to an operator, for the audit log: who, when, what."""

    __tablename__ = "operator_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operator: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    """`created`, `updated`, `enabled`, `disabled` or `deleted`."""
    changes: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, server_default=text("'{}'")
    )
    """Each changed field with its value before and after: `{"model": [old, new]}`."""
    actor_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(255))
    """The identifier of who made the change, kept when the user is deleted."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DocumentRow(Base):
    """An uploaded file and where its ingestion stands."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'processing', 'ready', 'failed')", name="status"),
        # One record per file per user: the same bytes uploaded again update it.
        UniqueConstraint("owner_id", "content_hash", name="uq_documents_owner_hash"),
        Index("ix_documents_status_lease", "status", "lease_until"),
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
    ingestion_id: Mapped[str | None] = mapped_column(String(64))
    """While queued or processing: the ingestion reading it (its staged chunks carry the id)."""
    lease_holder: Mapped[str | None] = mapped_column(String(128))
    """While queued or processing: the server process running the ingestion."""
    lease_until: Mapped[float | None] = mapped_column(Double)
    """Unix seconds until which the holder's claim is valid; it renews it while it reads the
    file, and another process recovers the record (failed, "interrupted") only after it."""


class TaskRecord(Base):
    """One delegation from the Chief of Staff to an operator, or a task a person asked to run
    in the background: an `agents.tasks.Task`.

    Times are unix seconds, as the `Task` keeps them, so a record reads back exactly.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed', 'cancelled')", name="status"
        ),
        CheckConstraint("priority IN ('urgent', 'high', 'normal', 'low')", name="priority"),
        CheckConstraint("origin IN ('delegated', 'requested')", name="origin"),
        Index("ix_tasks_turn_created", "turn_id", "created_at"),
        Index("ix_tasks_user_created", "user_id", "created_at"),
        Index("ix_tasks_status_lease", "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    thread_id: Mapped[str | None] = mapped_column(
        String(255), ForeignKey("threads.id", ondelete="CASCADE"), index=True
    )
    """The conversation the task was delegated in."""
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL")
    )
    """Whose request it serves."""
    turn_id: Mapped[str] = mapped_column(String(64))
    """Run id of the Chief of Staff run (the user turn)."""
    operator: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    instructions: Mapped[str] = mapped_column(Text, default="", server_default="")
    priority: Mapped[str] = mapped_column(String(8), default="normal", server_default="normal")
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    result: Mapped[str | None] = mapped_column(Text)
    """The operator's answer, or for a failed task the reason."""
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    """The operator's run; None while pending."""
    created_at: Mapped[float] = mapped_column(Double, default=time.time)
    started_at: Mapped[float | None] = mapped_column(Double)
    finished_at: Mapped[float | None] = mapped_column(Double)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    origin: Mapped[str] = mapped_column(String(16), default="delegated", server_default="delegated")
    """`delegated` (a record of a turn) or `requested` (runs in the background)."""
    runner: Mapped[str | None] = mapped_column(String(128))
    """The server process that holds a requested task (waiting in its line or running);
    None when no process holds it."""
    lease_until: Mapped[float | None] = mapped_column(Double)
    """Unix seconds until which `runner`'s hold is valid; the process renews it while it
    lives, so a past time means the process is gone and the task may be taken over."""


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
    cost: Mapped[float | None] = mapped_column(Double)
    """US dollars at the price of the day; `None` when the model has no known price."""
    duration_s: Mapped[float | None] = mapped_column(Double)
    """How long the call took, queueing included."""
    outcome: Mapped[str] = mapped_column(String(16), default="ok", server_default="ok")
    """`ok`, `failed` or `cancelled`."""
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


class Site(Base):
    """A web site whose pages may embed the chat widget, with its visitors' limits."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    origin: Mapped[str] = mapped_column(String(255), unique=True)
    """`scheme://host[:port]`, lower case: the only origin whose pages get widget tokens."""
    name: Mapped[str] = mapped_column(String(255))
    operators: Mapped[list[str]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'")
    )
    """The operators its visitors may use; empty: the Chief of Staff alone."""
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    """Messages one visitor may send per minute."""
    daily_tokens: Mapped[int] = mapped_column(Integer, default=20000, server_default="20000")
    """Model tokens one visitor may use per day (UTC)."""
    secret: Mapped[str] = mapped_column(String(128))
    """Signs visitor ids for the site's backend (HMAC-SHA256); shown by `cadre sites add`."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
