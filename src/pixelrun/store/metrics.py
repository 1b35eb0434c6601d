"""Reads for `/metrics`: the aggregate rows and the live runs, never the history.

A scrape reads `metric_totals` (as many rows as label sets × buckets × shards, whatever the
number of runs, store/metric_totals.py) and the non-terminal runs through the index on
(status, model_id, created_at): both bounded by what is live, not by what happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine, func, select

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store.db.database import read_tx
from pixelrun.store.metric_totals import TotalRow, read_totals
from pixelrun.store.records import ActiveRuns, WorkerRecord
from pixelrun.store.tables import runs, workers

_ACTIVE = [RunStatus.QUEUED.value, RunStatus.DISPATCHING.value, RunStatus.RUNNING.value]


@dataclass(frozen=True)
class MetricsSnapshot:
    """The totals and the live runs as of one instant: a run counted in `active` is not yet
    in the totals and vice versa, so `runs created` (their sum) is exact and never falls back."""

    totals: list[TotalRow]
    active: list[ActiveRuns]


class MetricsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def snapshot(self) -> MetricsSnapshot:
        with self._snapshot_tx() as conn:
            active = _active_runs(conn)
            totals = read_totals(conn)
        return MetricsSnapshot(totals, active)

    @contextmanager
    def _snapshot_tx(self) -> Iterator[Connection]:
        if self._engine.dialect.name != "postgresql":
            # SQLite: a read transaction sees one snapshot from its first read on (WAL).
            with read_tx(self._engine) as conn:
                yield conn
            return
        # PostgreSQL's default READ COMMITTED takes a snapshot per statement: a run finishing
        # between the two reads would be counted twice (or not at all) in `runs created`.
        with self._engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def recent_workers(self, within_seconds: float) -> list[WorkerRecord]:
        """Workers heard from in the last `within_seconds` (stopped ones included; indexed)."""
        since = utc_now() - timedelta(seconds=within_seconds)
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(workers).where(workers.c.heartbeat_at >= since).order_by(workers.c.id)
            ).mappings()
            return [WorkerRecord.from_row(row) for row in rows]


def _active_runs(conn: Connection) -> list[ActiveRuns]:
    """Non-terminal runs per model and status, with the oldest creation time (indexed)."""
    rows = conn.execute(
        select(runs.c.model_id, runs.c.status, func.count(), func.min(runs.c.created_at))
        .where(runs.c.status.in_(_ACTIVE))
        .group_by(runs.c.model_id, runs.c.status)
    ).all()
    # min() keeps the column's type, so the oldest time comes back as an aware datetime.
    return [ActiveRuns(model_id, status, int(count), oldest) for model_id, status, count, oldest in rows]
