"""Storage: assets (uploads), shared settings, janitor lease, expired files of runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("runs", sa.Column("files_expired_at", _ts(), nullable=True))
    op.create_index("ix_runs_files_expired_completed", "runs", ["files_expired_at", "completed_at"])
    op.create_table(
        "assets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(512), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("upload_expires_at", _ts(), nullable=False),
        sa.Column("confirmed_at", _ts(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_assets_owner_id_owners"),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
    )
    op.create_index("ix_assets_owner_created", "assets", ["owner_id", "created_at"])
    op.create_index("ix_assets_created", "assets", ["created_at"])
    op.create_table(
        "shared_settings",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_shared_settings"),
    )
    op.create_table(
        "maintenance_leases",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_maintenance_leases"),
    )


def downgrade() -> None:
    op.drop_table("maintenance_leases")
    op.drop_table("shared_settings")
    op.drop_index("ix_assets_created", table_name="assets")
    op.drop_index("ix_assets_owner_created", table_name="assets")
    op.drop_table("assets")
    op.drop_index("ix_runs_files_expired_completed", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("files_expired_at")
