"""Tasks: priority `urgent`, and `origin` (a turn's delegation, or work a person requested).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PRIORITIES = "priority IN ('urgent', 'high', 'normal', 'low')"
_OLD_PRIORITIES = "priority IN ('high', 'normal', 'low')"


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table to change a check constraint.
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint(op.f("ck_tasks_priority"), type_="check")
        batch.create_check_constraint(op.f("ck_tasks_priority"), sa.text(_PRIORITIES))
        batch.add_column(
            sa.Column("origin", sa.String(16), server_default="delegated", nullable=False)
        )
        batch.create_check_constraint(
            op.f("ck_tasks_origin"), sa.text("origin IN ('delegated', 'requested')")
        )
    op.create_index("ix_tasks_user_created", "tasks", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_user_created", "tasks")
    op.execute("DELETE FROM tasks WHERE origin = 'requested'")
    op.execute("UPDATE tasks SET priority = 'high' WHERE priority = 'urgent'")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint(op.f("ck_tasks_origin"), type_="check")
        batch.drop_column("origin")
        batch.drop_constraint(op.f("ck_tasks_priority"), type_="check")
        batch.create_check_constraint(op.f("ck_tasks_priority"), sa.text(_OLD_PRIORITIES))
