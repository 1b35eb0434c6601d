"""Fair queues: turns among owners, and each run's ticket in its owner's queue.

Revision ID: 0020
Revises: 0015
Create Date: 2026-12-05

`owner_queues` holds, per (model, owner), how many runs are queued, the round of the
owner's next claim and its turn within a round; `runs.queue_ticket` numbers an owner's runs
of a model 1, 2, 3... (docs/queue.md). Runs queued before this revision are numbered here,
oldest first, and their owners start in round 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owner_queues",
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("queued_count", sa.Integer(), nullable=False),
        sa.Column("next_round", sa.BigInteger(), nullable=False),
        sa.Column("turn", sa.BigInteger(), nullable=False),
        sa.Column("last_ticket", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_owner_queues_owner_id_owners"),
        sa.PrimaryKeyConstraint("model_id", "owner_id", name="pk_owner_queues"),
    )
    op.create_index("ix_owner_queues_model_round", "owner_queues", ["model_id", "next_round"])
    op.create_index(
        "ix_owner_queues_waiting",
        "owner_queues",
        ["model_id", "next_round", "turn"],
        sqlite_where=sa.text("queued_count > 0"),
        postgresql_where=sa.text("queued_count > 0"),
    )
    op.add_column("runs", sa.Column("queue_ticket", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_runs_owner_model_status_ticket", "runs", ["owner_id", "model_id", "status", "queue_ticket"]
    )
    _number_queued_runs()


def _number_queued_runs() -> None:
    """Tickets for the runs already queued (oldest first per model and owner), and their rows."""
    bind = op.get_bind()
    queued = bind.execute(
        sa.text(
            "SELECT id, model_id, owner_id FROM runs WHERE status = 'queued' "
            "ORDER BY model_id, owner_id, created_at, id"
        )
    ).all()
    counts: dict[tuple[str, str], int] = {}
    for run_id, model_id, owner_id in queued:
        ticket = counts[(model_id, owner_id)] = counts.get((model_id, owner_id), 0) + 1
        bind.execute(sa.text("UPDATE runs SET queue_ticket = :t WHERE id = :id"), {"t": ticket, "id": run_id})
    for turn, ((model_id, owner_id), count) in enumerate(sorted(counts.items())):
        bind.execute(
            sa.text(
                "INSERT INTO owner_queues (model_id, owner_id, queued_count, next_round, turn, last_ticket) "
                "VALUES (:m, :o, :n, 0, :turn, :n)"
            ),
            {"m": model_id, "o": owner_id, "n": count, "turn": turn},
        )


def downgrade() -> None:
    op.drop_index("ix_runs_owner_model_status_ticket", table_name="runs")
    # SQLite 3.35+ drops a column in place; batch mode would copy `runs`, which the foreign
    # keys of a populated store refuse.
    op.execute("ALTER TABLE runs DROP COLUMN queue_ticket")
    op.drop_index("ix_owner_queues_waiting", table_name="owner_queues")
    op.drop_index("ix_owner_queues_model_round", table_name="owner_queues")
    op.drop_table("owner_queues")
