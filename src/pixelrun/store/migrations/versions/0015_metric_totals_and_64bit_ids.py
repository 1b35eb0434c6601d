"""64-bit ids.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-05

Every auto-increment id becomes 64-bit (docs/operations.md#64-bit-ids): `run_events`,
`run_logs`, `run_stream_events` and `callback_attempts`, and the columns that hold their
ids (`run_stream_events.log_id`, `run_previews.id`). With ~40 stream rows per run, a 32-bit
id ran out after ~50 million runs.

PostgreSQL: `ALTER COLUMN ... TYPE BIGINT` (a table rewrite, under an exclusive lock) and
`ALTER SEQUENCE ... AS BIGINT`: a `serial` sequence is `AS integer` and stops at 2**31 - 1
whatever the column's type. SQLite: nothing to do, an INTEGER PRIMARY KEY is the 64-bit
rowid and INTEGER columns hold 64-bit values.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0013"
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
    if op.get_bind().dialect.name == "postgresql":
        for table in _SERIAL:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE BIGINT")
            op.execute(f"ALTER SEQUENCE {_sequence(table)} AS BIGINT")
        for table, column in _REFERENCES:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE BIGINT")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _REFERENCES:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE INTEGER")
        for table in _SERIAL:
            op.execute(f"ALTER SEQUENCE {_sequence(table)} AS INTEGER")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE INTEGER")
