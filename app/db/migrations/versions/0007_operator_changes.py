"""The audit log of operator changes: who changed which operator, when, and what.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "operator_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changes", _json(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("actor_id", sa.String(36)),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name="fk_operator_changes_actor_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operator_changes"),
    )
    op.create_index("ix_operator_changes_operator", "operator_changes", ["operator"])
    op.create_index("ix_operator_changes_created_at", "operator_changes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_operator_changes_created_at", "operator_changes")
    op.drop_index("ix_operator_changes_operator", "operator_changes")
    op.drop_table("operator_changes")
