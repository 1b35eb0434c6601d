"""64-bit ids; aggregate rows for `/metrics`.

Revision ID: 0015
Revises: 0017
Create Date: 2026-12-05

Every auto-increment id becomes 64-bit (docs/operations.md#64-bit-ids): `run_events`,
`run_logs`, `run_stream_events` and `callback_attempts`, and the columns that hold their
ids (`run_stream_events.log_id`, `run_previews.id`). With ~40 stream rows per run, a 32-bit
id ran out after ~50 million runs.

PostgreSQL: `ALTER COLUMN ... TYPE BIGINT` (a table rewrite, under an exclusive lock) and
`ALTER SEQUENCE ... AS BIGINT`: a `serial` sequence is `AS integer` and stops at 2**31 - 1
whatever the column's type. SQLite: nothing to do, an INTEGER PRIMARY KEY is the 64-bit
rowid and INTEGER columns hold 64-bit values.

`metric_totals` holds the counters and histograms of `/metrics` (store/metric_totals.py),
so that a scrape no longer reads the history; this migration fills it once from the runs
and callback attempts already there, by the rules the store applies to each new one
(`rebuild_totals_in_tx`: it reads only columns this revision has). The scrape's read of
the workers heard from lately uses `ix_workers_heartbeat_at` (0017).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pixelrun.store.metric_totals import rebuild_totals_in_tx

revision: str = "0015"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables whose `id` a sequence numbers.
_SERIAL = ("run_events", "run_logs", "run_stream_events", "callback_attempts")
#: (table, column) holding one of those ids without a sequence of its own.
_REFERENCES = (("run_stream_events", "log_id"), ("run_previews", "id"))


def _sequence(table: str) -> str:
    name = op.get_bind().execute(sa.text(f"SELECT pg_get_serial_sequence('{table}', 'id')")).scalar_one()
    assert name, f"{table}.id has no sequence"
    return str(name)


def upgrade() -> None:
    op.create_table(
        "metric_totals",
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "metric", "model", "status", "label", "bucket", "shard", name="pk_metric_totals"
        ),
    )
    rebuild_totals_in_tx(op.get_bind())
    if op.get_bind().dialect.name == "postgresql":
        for table in _SERIAL:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE BIGINT")
            op.execute(f"ALTER SEQUENCE {_sequence(table)} AS BIGINT")
        for table, column in _REFERENCES:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE BIGINT")


def downgrade() -> None:
    op.drop_table("metric_totals")
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _REFERENCES:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE INTEGER")
        for table in _SERIAL:
            op.execute(f"ALTER SEQUENCE {_sequence(table)} AS INTEGER")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE INTEGER")
