"""Retention of everything that grows: markers and indexes for batched, indexed deletes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

`runs.stream_pruned_at` is set when a run's stream rows were deleted (an hour after it
ended, docs/operations.md#retention); with `completed_at` it indexes the runs still to
prune, so a pass never scans history. The other indexes back the range deletes of
retention: old callback attempts, worker rows with no heartbeat for a day, and rate-limit
windows of keys no longer used.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("stream_pruned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_runs_stream_pruned_completed", "runs", ["stream_pruned_at", "completed_at"])
    op.create_index("ix_callback_attempts_created_at", "callback_attempts", ["created_at"])
    op.create_index("ix_workers_heartbeat_at", "workers", ["heartbeat_at"])
    op.create_index("ix_rate_limit_windows_window_start", "rate_limit_windows", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_windows_window_start", table_name="rate_limit_windows")
    op.drop_index("ix_workers_heartbeat_at", table_name="workers")
    op.drop_index("ix_callback_attempts_created_at", table_name="callback_attempts")
    op.drop_index("ix_runs_stream_pruned_completed", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("stream_pruned_at")
