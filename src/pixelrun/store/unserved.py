"""`store.unserved`: queued runs of models no worker serves (docs/weights.md#runs-no-worker-takes).

Which models have queued runs, and failing those runs with `model_unavailable`: no
charge, an event, and the callback through the outbox like every terminal transition.
Both read the `(status, model_id, created_at)` index, so a pass costs a few index seeks
however many runs the table holds, and touches only the queued runs of the models it fails.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, bindparam, select, update

from pixelrun.runs import FailureStage, RunStatus, utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.events import record_event
from pixelrun.store.outbox import enqueue_if_callback
from pixelrun.store.records import RunRecord
from pixelrun.store.runs_tx import ZERO_COST
from pixelrun.store.tables import runs

MODEL_UNAVAILABLE = "model_unavailable"
#: Runs failed per transaction: short write transactions, even for a long queue.
BATCH = 500

_QUEUED = RunStatus.QUEUED.value
# The next model id with a queued run after `after`: one seek on the index per model (a
# "skip scan"), where DISTINCT would read every queued run.
_NEXT_QUEUED_MODEL = (
    select(runs.c.model_id)
    .where(runs.c.status == _QUEUED, runs.c.model_id > bindparam("after"))
    .order_by(runs.c.model_id)
    .limit(1)
)


class UnservedRuns:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def queued_models(self) -> list[str]:
        """The model ids that have at least one queued run, in order."""
        models: list[str] = []
        with read_tx(self._engine) as conn:
            after = ""
            while (model_id := conn.execute(_NEXT_QUEUED_MODEL, {"after": after}).scalar()) is not None:
                models.append(model_id)
                after = model_id
        return models

    def fail_queued(
        self, model_id: str, message: str, limit: int = BATCH, now: datetime | None = None
    ) -> list[str]:
        """Fail up to `limit` queued runs of `model_id` (oldest first) with `model_unavailable`;
        their ids. Runs a worker is claiming at that moment are skipped (row locks)."""
        now = now or utc_now()
        with write_tx(self._engine) as conn:
            rows = (
                conn.execute(
                    select(runs)
                    .where(runs.c.status == _QUEUED, runs.c.model_id == model_id)
                    .order_by(runs.c.created_at, runs.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .all()
            )
            if not rows:
                return []
            # One statement for the batch: the rows are locked, still queued.
            conn.execute(
                update(runs)
                .where(runs.c.id.in_([row["id"] for row in rows]), runs.c.status == _QUEUED)
                .values(
                    status=RunStatus.FAILED.value,
                    completed_at=now,
                    failure_code=MODEL_UNAVAILABLE,
                    failure_message=message,
                    failure_stage=FailureStage.INTERNAL.value,
                    # Never started, never billed (docs/api.md#billing).
                    cost=ZERO_COST,
                    cost_breakdown=[],
                    cost_micros=0,
                )
            )
            detail = {"reason": MODEL_UNAVAILABLE, "failure_code": MODEL_UNAVAILABLE}
            for row in rows:
                run = RunRecord.from_row(row)
                record_event(conn, run.id, run.status, RunStatus.FAILED, run.attempt, now, detail, run=run)
                enqueue_if_callback(conn, run.id, run.owner_id, run.callback_url, now, run.callback_events)
        return [row["id"] for row in rows]
