"""Initial schema: users, chat history (threads, steps, elements, feedback) and domain tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when a model does.
_ID = sa.String(255)
_UID = sa.String(36)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _fk(column: str, target: str, table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=f"fk_{table}_{column}_{ref_table}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _UID, nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255)),
        sa.Column("role", sa.String(16), server_default="member", nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("auth_provider", sa.String(64)),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("token_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sessions_revoked_at", _ts()),
        sa.Column("metadata", _json(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("last_login_at", _ts()),
        sa.CheckConstraint("role IN ('admin', 'member')", name="ck_users_role"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("identifier", name="uq_users_identifier"),
    )
    op.create_table(
        "threads",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _UID),
        sa.Column("name", sa.Text()),
        sa.Column("metadata", _json(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("tags", _json()),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        _fk("user_id", "users.id", "threads", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_threads"),
    )
    op.create_index("ix_threads_user_recent", "threads", ["user_id", "updated_at", "id"])
    op.create_table(
        "steps",
        sa.Column("id", _ID, nullable=False),
        sa.Column("thread_id", _ID, nullable=False),
        sa.Column("parent_id", _ID),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("command", sa.String(255)),
        sa.Column("modes", _json()),
        sa.Column("streaming", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("wait_for_answer", sa.Boolean()),
        sa.Column("is_error", sa.Boolean()),
        sa.Column("metadata", _json()),
        sa.Column("tags", _json()),
        sa.Column("input", sa.Text()),
        sa.Column("output", sa.Text()),
        sa.Column("created_at", sa.String(40)),
        sa.Column("start", sa.String(40)),
        sa.Column("end", sa.String(40)),
        sa.Column("generation", _json()),
        sa.Column("show_input", _json()),
        sa.Column("default_open", sa.Boolean()),
        sa.Column("auto_collapse", sa.Boolean()),
        sa.Column("language", sa.String(64)),
        sa.Column("extra", _json()),
        sa.Column("inserted_at", _ts(), nullable=False),
        _fk("thread_id", "threads.id", "steps", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
    )
    op.create_index("ix_steps_thread_order", "steps", ["thread_id", "created_at", "inserted_at"])
    op.create_table(
        "elements",
        sa.Column("id", _ID, nullable=False),
        sa.Column("thread_id", _ID, nullable=False),
        sa.Column("for_id", _ID),
        sa.Column("type", sa.String(32)),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("display", sa.String(16)),
        sa.Column("url", sa.Text()),
        sa.Column("chainlit_key", sa.String(255)),
        sa.Column("object_key", sa.String(1024)),
        sa.Column("size", sa.String(16)),
        sa.Column("page", sa.Integer()),
        sa.Column("language", sa.String(64)),
        sa.Column("mime", sa.String(255)),
        sa.Column("props", _json(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("auto_play", sa.Boolean()),
        sa.Column("player_config", _json()),
        sa.Column("content_length", sa.Integer()),
        sa.Column("created_at", _ts(), nullable=False),
        _fk("thread_id", "threads.id", "elements", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_elements"),
        sa.UniqueConstraint("object_key", name="uq_elements_object_key"),
    )
    op.create_index("ix_elements_thread_id", "elements", ["thread_id"])
    op.create_index("ix_elements_for_id", "elements", ["for_id"])
    op.create_table(
        "feedback",
        sa.Column("id", _ID, nullable=False),
        sa.Column("for_id", _ID, nullable=False),
        sa.Column("thread_id", _ID, nullable=False),
        sa.Column("user_id", _UID, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.CheckConstraint("value IN (0, 1)", name="ck_feedback_value"),
        _fk("for_id", "steps.id", "feedback", "CASCADE"),
        _fk("thread_id", "threads.id", "feedback", "CASCADE"),
        _fk("user_id", "users.id", "feedback", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("for_id", "user_id", name="uq_feedback_for_user"),
    )
    op.create_index("ix_feedback_thread_id", "feedback", ["thread_id"])

    op.create_table(
        "agents",
        sa.Column("id", _UID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("model", sa.String(255)),
        sa.Column("tools", _json(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("knowledge_scope", _json()),
        sa.Column("limits", _json(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_by", _UID),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        _fk("created_by", "users.id", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("name", name="uq_agents_name"),
    )
    op.create_table(
        "documents",
        sa.Column("id", _UID, nullable=False),
        sa.Column("owner_id", _UID, nullable=False),
        sa.Column("thread_id", _ID),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("mime", sa.String(255)),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(1024)),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("pages", sa.Integer()),
        sa.Column("chunks", sa.Integer()),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts()),
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'ready', 'failed')", name="ck_documents_status"
        ),
        _fk("owner_id", "users.id", "documents", "CASCADE"),
        _fk("thread_id", "threads.id", "documents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_owner_hash", "documents", ["owner_id", "content_hash"])
    op.create_table(
        "tasks",
        sa.Column("id", _UID, nullable=False),
        sa.Column("thread_id", _ID),
        sa.Column("user_id", _UID),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("parent_run_id", sa.String(64)),
        sa.Column("step_id", _ID),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("output", sa.Text()),
        sa.Column("status", sa.String(16), server_default="running", nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("metadata", _json(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts()),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'cancelled')", name="ck_tasks_status"
        ),
        _fk("thread_id", "threads.id", "tasks", "CASCADE"),
        _fk("user_id", "users.id", "tasks", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    op.create_index("ix_tasks_thread_id", "tasks", ["thread_id"])
    op.create_index("ix_tasks_run_id", "tasks", ["run_id"])
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", _UID),
        sa.Column("thread_id", _ID),
        sa.Column("run_id", sa.String(64)),
        sa.Column("agent", sa.String(64)),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _fk("user_id", "users.id", "usage", "SET NULL"),
        _fk("thread_id", "threads.id", "usage", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_usage"),
    )
    op.create_index("ix_usage_user_id", "usage", ["user_id"])
    op.create_index("ix_usage_created_at", "usage", ["created_at"])
    op.create_table(
        "api_keys",
        sa.Column("id", _UID, nullable=False),
        sa.Column("user_id", _UID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False),
        sa.Column("scopes", _json(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("last_used_at", _ts()),
        sa.Column("expires_at", _ts()),
        sa.Column("revoked_at", _ts()),
        _fk("user_id", "users.id", "api_keys", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])


def downgrade() -> None:
    # Children before parents, so foreign keys never dangle on either backend.
    for table in (
        "api_keys",
        "usage",
        "tasks",
        "documents",
        "agents",
        "feedback",
        "elements",
        "steps",
        "threads",
        "users",
    ):
        op.drop_table(table)
