"""Which models can be served: live workers per model, and why a model's workers failed.

A worker that cannot load its model marks itself `failed` with a reason (or the
`pixelrun serve` supervisor does it for a worker that died while loading); readiness,
the catalog and the create path read the summary here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from pixelrun.runs import utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.records import ModelAvailability, ModelFailure, WorkerRecord
from pixelrun.store.tables import workers
from pixelrun.store.workers import DEFAULT_FRESH_WITHIN_SECONDS, LIVE_STATUSES, SERVING_STATUSES

#: Failed rows read per summary: enough to find each model's latest one.
RECENT_FAILURES = 50


class AvailabilityRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def mark_failed(
        self,
        worker_id: str,
        reason: str,
        message: str,
        *,
        name: str | None = None,
        model_ids: list[str] | None = None,
        device: str = "unknown",
        info: dict[str, Any] | None = None,
    ) -> None:
        """The worker could not load its model. Inserts the row when the worker never
        registered (`name` and `model_ids` are then required)."""
        now = utc_now()
        values: dict[str, Any] = {
            "status": "failed",
            "failure_reason": reason,
            "failure_message": message,
            "heartbeat_at": now,
        }
        with write_tx(self._engine) as conn:
            updated = conn.execute(update(workers).where(workers.c.id == worker_id).values(**values)).rowcount
            if updated == 0:
                if name is None or model_ids is None:
                    raise ValueError(f"worker {worker_id} is not registered: name and model_ids are needed")
                conn.execute(
                    insert(workers).values(
                        id=worker_id,
                        name=name,
                        model_ids=list(model_ids),
                        device=device,
                        info=info,
                        started_at=now,
                        **values,
                    )
                )

    def live_counts(self, fresh_within_seconds: float = DEFAULT_FRESH_WITHIN_SECONDS) -> dict[str, int]:
        """Per model id, workers that serve it or are loading it, with a recent heartbeat."""
        since = utc_now() - timedelta(seconds=fresh_within_seconds)
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(workers.c.model_ids).where(
                    workers.c.status.in_(LIVE_STATUSES), workers.c.heartbeat_at >= since
                )
            ).all()
        counts: dict[str, int] = {}
        for (model_ids,) in rows:
            for model_id in model_ids:
                counts[model_id] = counts.get(model_id, 0) + 1
        return counts

    def summary(
        self, model_ids: list[str], fresh_within_seconds: float = DEFAULT_FRESH_WITHIN_SECONDS
    ) -> dict[str, ModelAvailability]:
        """Ready and loading workers per model, and each model's latest load failure."""
        since = utc_now() - timedelta(seconds=fresh_within_seconds)
        result = {model_id: ModelAvailability() for model_id in model_ids}
        with read_tx(self._engine) as conn:
            live = conn.execute(
                select(workers.c.model_ids, workers.c.status, workers.c.info).where(
                    workers.c.status.in_(LIVE_STATUSES), workers.c.heartbeat_at >= since
                )
            ).all()
            failed = (
                conn.execute(
                    select(workers)
                    .where(workers.c.status == "failed")
                    .order_by(workers.c.heartbeat_at.desc())
                    .limit(RECENT_FAILURES)
                )
                .mappings()
                .all()
            )
        for served, status, info in live:
            for model_id in served:
                if model_id in result:
                    if status in SERVING_STATUSES:
                        result[model_id].ready += 1
                    else:
                        result[model_id].loading += 1
                        if (info or {}).get("phase") == "warming up":
                            result[model_id].warming_up += 1
        for row in failed:
            record = WorkerRecord.from_row(row)
            for model_id in record.model_ids:
                entry = result.get(model_id)
                if entry is not None and entry.last_failure is None:
                    entry.last_failure = ModelFailure(
                        reason=record.failure_reason or "load_error",
                        message=record.failure_message or "",
                        worker_name=record.name,
                        failed_at=record.heartbeat_at,
                    )
        return result
