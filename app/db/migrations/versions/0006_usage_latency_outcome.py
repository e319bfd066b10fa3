"""Each model call's latency and how it ended, for the operators' performance stats.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("duration_s", sa.Double(), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(16), nullable=False, server_default="ok"))


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("outcome")
        batch.drop_column("duration_s")
