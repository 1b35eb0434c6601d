"""Operations: idempotency keys, rate-limit counters, deadlines.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Reserved slot in the revision chain, filled by the work it names; until then a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
