"""The owner's run list in keyset order: index (owner_id, created_at, id).

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-05

`GET /v1/runs` pages by (created_at, id) per owner (store/runs.py page_query). The index
on (owner_id, created_at) left the id out, so a cursor page could not start at its place
in the index; the new index serves the first page and a page at any depth with about
`limit` index entries (docs/operations.md#scale) and replaces the old one, its prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_runs_owner_created_id", "runs", ["owner_id", "created_at", "id"])
    op.drop_index("ix_runs_owner_created", table_name="runs")


def downgrade() -> None:
    op.create_index("ix_runs_owner_created", "runs", ["owner_id", "created_at"])
    op.drop_index("ix_runs_owner_created_id", table_name="runs")
