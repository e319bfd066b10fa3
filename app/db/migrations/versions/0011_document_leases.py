"""Documents: the ingestion that is reading an unfinished document (`ingestion_id`, also on its
staged chunks), the server process running it (`lease_holder`) and until when its claim holds
(`lease_until`), so a starting process only recovers ingestions whose process is gone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("ingestion_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_holder", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Double(), nullable=True))
    op.create_index("ix_documents_status_lease", "documents", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_documents_status_lease", "documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_holder")
        batch.drop_column("ingestion_id")
