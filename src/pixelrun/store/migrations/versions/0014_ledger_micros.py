"""The ledger in micro-dollars.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

Budgets, spent and each run's debit were whole cents, each run's cost rounded up to a
cent: owners paid more than their runs cost. They become micro-dollars (the wire cost's
sixth decimal place) in 64-bit integers, so an owner is debited exactly each run's `cost`
(docs/api.md#billing). Existing amounts are converted exactly (1 cent = 10 000 micro-dollars);
what earlier runs were over-charged stays spent, as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MICROS_PER_CENT = 10_000
_COLUMNS = {
    "owners": {"budget_cents": "budget_micros", "spent_cents": "spent_micros"},
    "runs": {"cost_cents": "cost_micros"},
}


def _rename(backwards: bool) -> None:
    # SQLite's INTEGER already holds 64 bits (store/tables.py declares it so there): a
    # rename in place is enough, where a batch copy would have to drop `owners` and `runs`,
    # which other tables reference. PostgreSQL widens to BIGINT (rewriting `runs` once).
    widen = op.get_bind().dialect.name != "sqlite"
    for table, columns in _COLUMNS.items():
        for cents, micros in columns.items():
            old, new = (micros, cents) if backwards else (cents, micros)
            op.alter_column(
                table,
                old,
                new_column_name=new,
                type_=(sa.Integer() if backwards else sa.BigInteger()) if widen else None,
                existing_nullable=cents == "budget_cents",
            )


def upgrade() -> None:
    _rename(backwards=False)
    op.execute(
        f"UPDATE owners SET budget_micros = budget_micros * {MICROS_PER_CENT}, "
        f"spent_micros = spent_micros * {MICROS_PER_CENT}"
    )
    # Only billed runs have a non-zero debit; the others need no write.
    op.execute(f"UPDATE runs SET cost_micros = cost_micros * {MICROS_PER_CENT} WHERE cost_micros <> 0")


def downgrade() -> None:
    # Back to whole cents, rounded up as the old ledger charged.
    op.execute(
        f"UPDATE owners SET budget_micros = budget_micros / {MICROS_PER_CENT}, "
        f"spent_micros = (spent_micros + {MICROS_PER_CENT - 1}) / {MICROS_PER_CENT}"
    )
    op.execute(
        f"UPDATE runs SET cost_micros = (cost_micros + {MICROS_PER_CENT - 1}) / {MICROS_PER_CENT} "
        "WHERE cost_micros <> 0"
    )
    _rename(backwards=True)
