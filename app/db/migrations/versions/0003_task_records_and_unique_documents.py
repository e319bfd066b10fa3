"""Tasks take the shape of `agents.tasks.Task`; one document record per (owner, content hash).

The 0001 `tasks` table (run-centred, statuses running/succeeded/...) never held data: no
store wrote to it. It is dropped and created again; downgrade does the reverse, empty too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(255)
_UID = sa.String(36)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def _fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=f"fk_tasks_{column}_{ref_table}", ondelete=ondelete
    )


def upgrade() -> None:
    op.drop_table("tasks")  # its indexes go with it
    op.create_table(
        "tasks",
        sa.Column("id", _UID, nullable=False),
        sa.Column("thread_id", _ID),
        sa.Column("user_id", _UID),
        sa.Column("turn_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), server_default="", nullable=False),
        sa.Column("priority", sa.String(8), server_default="normal", nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("result", sa.Text()),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double()),
        sa.Column("finished_at", sa.Double()),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        # op.f: the name is final. A bare name gets the metadata's "ck_<table>_" prefix a
        # second time (what 0001 did: ck_tasks_ck_tasks_status).
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_tasks_status"),
        ),
        sa.CheckConstraint("priority IN ('high', 'normal', 'low')", name=op.f("ck_tasks_priority")),
        _fk("thread_id", "threads.id", "CASCADE"),
        _fk("user_id", "users.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    op.create_index("ix_tasks_thread_id", "tasks", ["thread_id"])
    op.create_index("ix_tasks_run_id", "tasks", ["run_id"])
    op.create_index("ix_tasks_turn_created", "tasks", ["turn_id", "created_at"])

    # Keep the newest record of any duplicated (owner, hash) so the constraint can be added.
    op.execute(
        "DELETE FROM documents WHERE EXISTS (SELECT 1 FROM documents AS newer"
        " WHERE newer.owner_id = documents.owner_id"
        " AND newer.content_hash = documents.content_hash"
        " AND (newer.updated_at > documents.updated_at"
        " OR (newer.updated_at = documents.updated_at AND newer.id > documents.id)))"
    )
    op.drop_index("ix_documents_owner_hash", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.create_unique_constraint("uq_documents_owner_hash", ["owner_id", "content_hash"])


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_constraint("uq_documents_owner_hash", type_="unique")
    op.create_index("ix_documents_owner_hash", "documents", ["owner_id", "content_hash"])

    op.drop_table("tasks")
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
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'cancelled')", name="ck_tasks_status"
        ),
        _fk("thread_id", "threads.id", "CASCADE"),
        _fk("user_id", "users.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    op.create_index("ix_tasks_thread_id", "tasks", ["thread_id"])
    op.create_index("ix_tasks_run_id", "tasks", ["run_id"])
