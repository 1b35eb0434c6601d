"""Live previews and Replicate webhook events.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-02

`run_previews` holds the small preview images of running runs (docs/api.md#previews),
one per `preview` row of `run_stream_events` (same id); housekeeping deletes them shortly
after their run ends. `runs.callback_events` names the webhook events a run's callback URL
receives (NULL: the terminal one only); `callback_deliveries.event` says which event a
delivery carries (NULL: the terminal one), docs/compatibility.md#replicate-predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_previews",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_previews_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_run_previews"),
    )
    op.create_index("ix_run_previews_created_at", "run_previews", ["created_at"])
    op.add_column("runs", sa.Column("callback_events", sa.String(64), nullable=True))
    op.add_column("callback_deliveries", sa.Column("event", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_deliveries") as batch:
        batch.drop_column("event")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("callback_events")
    op.drop_index("ix_run_previews_created_at", table_name="run_previews")
    op.drop_table("run_previews")
