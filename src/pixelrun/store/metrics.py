"""Reads for `/metrics`: queue figures, and rows added since a point in time.

Counters are derived from rows (runs created, runs finished, callback attempts) that
the API folds in incrementally (`pixelrun.api.metrics`); these queries return the rows
of one time window in keyset pages, so that no scrape reads more than it must.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store.db.database import read_tx
from pixelrun.store.records import ActiveRuns, CallbackAttempt, CreatedRun, FinishedRun, WorkerRecord
from pixelrun.store.tables import callback_attempts, callback_deliveries, runs, workers

PAGE_SIZE = 2000
_ACTIVE = [RunStatus.QUEUED.value, RunStatus.DISPATCHING.value, RunStatus.RUNNING.value]


def _after(
    time_column: Any, id_column: Any, since: datetime | None, last: tuple[datetime, Any] | None
) -> Any:
    """Rows at or after `since`, then strictly after the last (time, id) of the previous page."""
    if last is not None:
        at, key = last
        return or_(time_column > at, and_(time_column == at, id_column > key))
    if since is not None:
        return time_column >= since
    return time_column.is_not(None)


class MetricsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def active_runs(self) -> list[ActiveRuns]:
        """Non-terminal runs per model and status, with the oldest creation time (indexed)."""
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(runs.c.model_id, runs.c.status, func.count(), func.min(runs.c.created_at))
                .where(runs.c.status.in_(_ACTIVE))
                .group_by(runs.c.model_id, runs.c.status)
            ).all()
        # min() keeps the column's type, so the oldest time comes back as an aware datetime.
        return [ActiveRuns(model_id, status, int(count), oldest) for model_id, status, count, oldest in rows]

    def created_page(self, since: datetime | None, last: tuple[datetime, str] | None) -> list[CreatedRun]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.model_id, runs.c.created_at)
                .where(_after(runs.c.created_at, runs.c.id, since, last))
                .order_by(runs.c.created_at, runs.c.id)
                .limit(PAGE_SIZE)
            ).all()
        return [CreatedRun(*row) for row in rows]

    def finished_page(self, since: datetime | None, last: tuple[datetime, str] | None) -> list[FinishedRun]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(
                    runs.c.id,
                    runs.c.model_id,
                    runs.c.status,
                    runs.c.failure_code,
                    runs.c.created_at,
                    runs.c.dispatched_at,
                    runs.c.completed_at,
                    runs.c.output,
                )
                .where(_after(runs.c.completed_at, runs.c.id, since, last))
                .order_by(runs.c.completed_at, runs.c.id)
                .limit(PAGE_SIZE)
            ).all()
        return [FinishedRun(*row) for row in rows]

    def attempts_page(
        self, since: datetime | None, last: tuple[datetime, int] | None
    ) -> list[CallbackAttempt]:
        a, d = callback_attempts.c, callback_deliveries.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(a.id, a.attempt_number, a.status_code, a.created_at, d.status, d.attempt_count)
                .join(callback_deliveries, d.id == a.delivery_id)
                .where(_after(a.created_at, a.id, since, last))
                .order_by(a.created_at, a.id)
                .limit(PAGE_SIZE)
            ).all()
        attempts = []
        for attempt_id, number, code, at, delivery_status, attempt_count in rows:
            if code is not None and 200 <= code < 300:
                outcome = "succeeded"
            elif delivery_status == "failed" and number == attempt_count:
                outcome = "failed"
            else:
                outcome = "retried"
            attempts.append(CallbackAttempt(attempt_id, number, code, at, outcome))
        return attempts

    def recent_workers(self, within_seconds: float) -> list[WorkerRecord]:
        """Workers heard from in the last `within_seconds` (stopped ones included)."""
        since = utc_now() - timedelta(seconds=within_seconds)
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(workers).where(workers.c.heartbeat_at >= since).order_by(workers.c.id)
            ).mappings()
            return [WorkerRecord.from_row(row) for row in rows]
