"""The owner's run list at depth: keyset pages in order, served by an index on both back ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from pixelrun.store import Owner, Store
from pixelrun.store.db.cursor import encode_cursor
from pixelrun.store.runs import page_query
from pixelrun.store.tables import owners, runs

from .conftest import MODEL

PER_OWNER = 1500
INDEX = "ix_runs_owner_created_id"


def _fill(store: Store, owner: Owner) -> list[tuple[datetime, str]]:
    """PER_OWNER runs for `owner` and as many for another; pairs share a created_at (ties)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    with store.engine.begin() as conn:
        conn.execute(insert(owners).values(id="other", name="other", created_at=start))
        for who in (owner.id, "other"):
            for i in range(PER_OWNER):
                rows.append(
                    {
                        # Random ids: within a tie, id order is not insertion order.
                        "id": str(uuid.uuid4()),
                        "owner_id": who,
                        "model_id": MODEL,
                        "status": "succeeded",
                        "input": {"prompt": "p"},
                        "created_at": start + timedelta(seconds=i // 2),
                        "max_attempts": 3,
                    }
                )
        conn.execute(insert(runs), rows)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    mine = [(row["created_at"], row["id"]) for row in rows if row["owner_id"] == owner.id]
    return sorted(mine, reverse=True)


def test_pages_walk_every_run_once_newest_first_ties_by_id(store: Store, owner: Owner) -> None:
    expected = [run_id for _, run_id in _fill(store, owner)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = store.runs.page(owner.id, limit=97, cursor=cursor)
        seen += [run.id for run in page]
        if cursor is None:
            break
    assert seen == expected


def _plan(store: Store, query: Any) -> str:
    with store.engine.connect() as conn:
        compiled = query.compile(conn)
        if store.is_postgres:
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
            return "\n".join(rows)
        params = tuple(compiled.params[name] for name in compiled.positiontup)
        return "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params))


@pytest.mark.parametrize("depth", [0, 1000])
def test_first_and_deep_pages_are_index_range_scans_without_a_sort(
    store: Store, owner: Owner, depth: int
) -> None:
    ordered = _fill(store, owner)
    cursor = encode_cursor(*ordered[depth - 1]) if depth else None
    plan = _plan(store, page_query(owner.id, 51, cursor))
    assert INDEX in plan, plan
    if store.is_postgres:
        assert "Index Scan Backward" in plan and "Sort" not in plan and "Seq Scan" not in plan, plan
        if cursor:
            # The cursor bounds the index range (Index Cond), not a filter over rows read from the top.
            index_cond = next(line for line in plan.splitlines() if "Index Cond" in line)
            assert "created_at <=" in index_cond, plan
    else:
        assert "TEMP B-TREE" not in plan, plan
        if cursor:
            assert "created_at<?" in plan.replace(" ", ""), plan
    # And the page is the right one.
    page, _ = store.runs.page(owner.id, limit=50, cursor=cursor)
    assert [run.id for run in page] == [run_id for _, run_id in ordered[depth : depth + 50]]
