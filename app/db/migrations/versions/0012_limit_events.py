"""Limit events: failed logins and widget messages counted in the database, so every server
process sharing it counts the same sliding windows (`app/db/limits.py`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_limit_events"),
    )
    op.create_index("ix_limit_events_kind_key_at", "limit_events", ["kind", "key", "at"])
    op.create_index("ix_limit_events_kind_at", "limit_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_limit_events_kind_at", "limit_events")
    op.drop_index("ix_limit_events_kind_key_at", "limit_events")
    op.drop_table("limit_events")
