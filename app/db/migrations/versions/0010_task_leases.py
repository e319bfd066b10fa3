"""Tasks: which server process runs a requested task (`runner`) and until when its claim holds
(`lease_until`), so several processes can share one database.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("runner", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Double(), nullable=True))
    op.create_index("ix_tasks_status_lease", "tasks", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status_lease", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("runner")
