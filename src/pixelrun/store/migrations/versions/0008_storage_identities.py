"""Storage identities: which file storage the processes sharing this store use.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

One row per storage (a local directory's own id, or s3://bucket/prefix), refreshed by
every process that uses it; readiness fails while processes report different ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "storage_identities",
        sa.Column("identity", sa.String(300), nullable=False),
        sa.Column("description", sa.String(600), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("identity"),
    )


def downgrade() -> None:
    op.drop_table("storage_identities")
