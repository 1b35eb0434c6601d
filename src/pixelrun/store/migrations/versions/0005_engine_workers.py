"""Engine workers: served models, load failures.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

A worker that cannot load its model registers itself as `failed` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("failure_reason", sa.String(40), nullable=True))
        batch.add_column(sa.Column("failure_message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("failure_message")
        batch.drop_column("failure_reason")
