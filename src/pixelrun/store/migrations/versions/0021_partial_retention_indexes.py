"""Retention finds its work through partial indexes: only the runs and uploads still to prune.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05

The two-column indexes (`files_expired_at`, `completed_at`) and (`stream_pruned_at`,
`completed_at`) were not used: with most rows on the "done" side the planner expected
thousands of matches, took a sequential scan of `runs` and sorted it (65 ms at 200,000 runs,
250 ms at a million on PostgreSQL, every pass). An index on `completed_at` holding only the
runs whose files or stream rows are still there is small (the retention window's runs, the
last hour's) and read in order from the cutoff down (docs/operations.md#retention). The
same for uploads never confirmed: a partial index of the pending assets.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARTIAL = {
    "ix_runs_files_to_expire": "files_expired_at IS NULL",
    "ix_runs_streams_to_prune": "stream_pruned_at IS NULL",
}


def upgrade() -> None:
    op.drop_index("ix_runs_files_expired_completed", table_name="runs")
    op.drop_index("ix_runs_stream_pruned_completed", table_name="runs")
    for name, where in _PARTIAL.items():
        op.create_index(
            name, "runs", ["completed_at"], sqlite_where=sa.text(where), postgresql_where=sa.text(where)
        )
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_assets_pending_expires",
        "assets",
        ["upload_expires_at"],
        sqlite_where=pending,
        postgresql_where=pending,
    )


def downgrade() -> None:
    op.drop_index("ix_assets_pending_expires", table_name="assets")
    for name in _PARTIAL:
        op.drop_index(name, table_name="runs")
    op.create_index("ix_runs_stream_pruned_completed", "runs", ["stream_pruned_at", "completed_at"])
    op.create_index("ix_runs_files_expired_completed", "runs", ["files_expired_at", "completed_at"])
