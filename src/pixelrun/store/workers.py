"""The workers table: which worker serves which models, and whether it is alive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from pixelrun.runs import utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.records import WorkerRecord, WorkerStatus
from pixelrun.store.tables import workers

WORKER_STATUSES: frozenset[str] = frozenset(
    {"starting", "loading", "ready", "busy", "stopping", "stopped", "failed"}
)
SERVING_STATUSES: tuple[str, ...] = ("ready", "busy")
#: Statuses of a worker that serves, or soon will (it is loading its model).
LIVE_STATUSES: tuple[str, ...] = ("starting", "loading", "ready", "busy")
DEFAULT_FRESH_WITHIN_SECONDS = 30.0


def _check_status(status: str) -> None:
    if status not in WORKER_STATUSES:
        raise ValueError(f"unknown worker status {status!r}; expected one of {sorted(WORKER_STATUSES)}")


class WorkersRepo:
    """`store.workers`: which worker serves which models, and whether it is alive."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def register(
        self,
        worker_id: str,
        name: str,
        model_ids: list[str],
        device: str,
        info: dict[str, Any] | None = None,
        status: WorkerStatus = "starting",
    ) -> WorkerRecord:
        """Insert the worker, or reset it when the id is already known (a restart)."""
        _check_status(status)
        now = utc_now()
        values: dict[str, Any] = {
            "name": name,
            "model_ids": list(model_ids),
            "device": device,
            "status": status,
            "info": info,
            "started_at": now,
            "heartbeat_at": now,
            "failure_reason": None,
            "failure_message": None,
        }
        with write_tx(self._engine) as conn:
            exists = conn.execute(
                select(workers.c.id).where(workers.c.id == worker_id).with_for_update()
            ).first()
            if exists:
                conn.execute(update(workers).where(workers.c.id == worker_id).values(**values))
            else:
                conn.execute(insert(workers).values(id=worker_id, **values))
            row = conn.execute(select(workers).where(workers.c.id == worker_id)).mappings().one()
            return WorkerRecord.from_row(row)

    def heartbeat(self, worker_id: str, status: WorkerStatus, info: dict[str, Any] | None = None) -> bool:
        """Record that the worker is alive in `status`; `info` replaces the stored info when given."""
        _check_status(status)
        values: dict[str, Any] = {"status": status, "heartbeat_at": utc_now()}
        if info is not None:
            values["info"] = info
        with write_tx(self._engine) as conn:
            result = conn.execute(update(workers).where(workers.c.id == worker_id).values(**values))
        return result.rowcount == 1

    def mark_stopped(self, worker_id: str) -> bool:
        with write_tx(self._engine) as conn:
            result = conn.execute(
                update(workers)
                .where(workers.c.id == worker_id)
                .values(status="stopped", heartbeat_at=utc_now())
            )
        return result.rowcount == 1

    def get(self, worker_id: str) -> WorkerRecord | None:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(workers).where(workers.c.id == worker_id)).mappings().first()
        return WorkerRecord.from_row(row) if row else None

    def ready(
        self, model_id: str | None = None, fresh_within_seconds: float = DEFAULT_FRESH_WITHIN_SECONDS
    ) -> list[WorkerRecord]:
        """Workers that can take a run now: ready or busy, with a recent heartbeat."""
        since = utc_now() - timedelta(seconds=fresh_within_seconds)
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(workers)
                .where(workers.c.status.in_(SERVING_STATUSES), workers.c.heartbeat_at >= since)
                .order_by(workers.c.started_at, workers.c.id)
            ).mappings()
            records = [WorkerRecord.from_row(r) for r in rows]
        # The model filter runs here, not in SQL, to keep one query for both back ends' JSON.
        if model_id is not None:
            records = [w for w in records if model_id in w.model_ids]
        return records
