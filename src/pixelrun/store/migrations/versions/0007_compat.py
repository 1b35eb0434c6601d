"""Compatibility: Replicate predictions and webhooks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

`runs.callback_format` says which body the callback URL receives: NULL for the run
callback (docs/callbacks.md), "prediction" for a Replicate webhook (docs/compatibility.md#replicate-predictions).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("callback_format", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("callback_format")
