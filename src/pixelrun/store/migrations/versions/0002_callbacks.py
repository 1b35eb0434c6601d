"""Callbacks: signing secrets, the delivery outbox and its attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "callback_secrets",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_callback_secrets_owner_id_owners"),
        sa.PrimaryKeyConstraint("id", name="pk_callback_secrets"),
    )
    op.create_index("ix_callback_secrets_owner_id", "callback_secrets", ["owner_id"])
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempt_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=True),
        sa.Column("payload", _json(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("webhook_timestamp", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("completed_at", _ts(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claim_expires_at", _ts(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_callback_deliveries_run_id_runs"),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_callback_deliveries_owner_id_owners"),
        sa.PrimaryKeyConstraint("id", name="pk_callback_deliveries"),
    )
    op.create_index("ix_callback_deliveries_run_id", "callback_deliveries", ["run_id"])
    op.create_index(
        "ix_callback_deliveries_status_next", "callback_deliveries", ["status", "next_attempt_at"]
    )
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_time_ms", sa.Integer(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["callback_deliveries.id"],
            name="fk_callback_attempts_delivery_id_callback_deliveries",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_callback_attempts"),
    )
    op.create_index("ix_callback_attempts_delivery_id", "callback_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_callback_attempts_delivery_id", table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index("ix_callback_deliveries_status_next", table_name="callback_deliveries")
    op.drop_index("ix_callback_deliveries_run_id", table_name="callback_deliveries")
    op.drop_table("callback_deliveries")
    op.drop_index("ix_callback_secrets_owner_id", table_name="callback_secrets")
    op.drop_table("callback_secrets")
