"""`Cancel-After` deadlines (docs/operations.md#protecting-the-service): a run not terminal by its deadline is canceled.

Three places enforce it, so that no path lets a late run through:
- the claim cancels the queued runs past their deadline instead of starting them
  (`cancel_expired_queued`, called inside `store.queue.claim`'s transaction);
- the worker checks the deadline at every denoising step and finishes the run itself
  (`store.queue.finish` with `DEADLINE_EXCEEDED`);
- a sweep (`Deadlines.expire`, run by the API's reaper and idle workers) cancels whatever
  is left: queued runs of a model no worker serves, runs whose worker is stuck in a step.
A canceled run costs nothing and gets its callback, like any other cancellation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from pixelrun.runs import TERMINAL_STATUSES, RunStatus, utc_now
from pixelrun.store import fair_queue
from pixelrun.store.db.database import write_tx
from pixelrun.store.events import record_event
from pixelrun.store.outbox import enqueue_if_callback
from pixelrun.store.records import RunRecord
from pixelrun.store.runs_tx import ZERO_COST
from pixelrun.store.tables import runs

DEADLINE_EXCEEDED = "deadline_exceeded"
_TERMINAL = [status.value for status in TERMINAL_STATUSES]
# Runs handled per pass; the next pass takes the rest.
_BATCH = 100


def deadline_message(run: RunRecord) -> str:
    started = "before it started" if run.started_at is None else "while running"
    return f"canceled by its Cancel-After deadline {started}"


def cancel_for_deadline(conn: Connection, run: RunRecord, now: datetime, count_queue: bool = True) -> None:
    """Cancel a locked, non-terminal run whose deadline passed (inside a write transaction).
    `count_queue=False`: the caller updates the fair queue's counts for a batch itself."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run.id)
        .values(
            status=RunStatus.CANCELED.value,
            completed_at=now,
            failure_code=DEADLINE_EXCEEDED,
            failure_message=deadline_message(run),
            cost=ZERO_COST,
            cost_breakdown=[],
            cost_micros=0,
            lease_expires_at=None,
            progress_step=None,
            progress_steps=None,
        )
    )
    if count_queue and run.status is RunStatus.QUEUED:
        fair_queue.left_queue(conn, [(run.model_id, run.owner_id)])
    detail = {"reason": DEADLINE_EXCEEDED, "failure_code": DEADLINE_EXCEEDED}
    record_event(conn, run.id, run.status, RunStatus.CANCELED, run.attempt, now, detail, run=run)
    enqueue_if_callback(conn, run.id, run.owner_id, run.callback_url, now, run.callback_events)


def _cancel_batch(conn: Connection, expired: list[RunRecord], now: datetime) -> None:
    for run in expired:
        cancel_for_deadline(conn, run, now, count_queue=False)
    # Once for the batch, in one order (fair_queue.left_queue says why).
    fair_queue.left_queue(conn, [(r.model_id, r.owner_id) for r in expired if r.status is RunStatus.QUEUED])


def _expired(
    conn: Connection, now: datetime, statuses: Sequence[str] | None, model_ids: Sequence[str] | None
) -> list[RunRecord]:
    query = select(runs).where(runs.c.deadline_at.is_not(None), runs.c.deadline_at <= now)
    if statuses is None:
        query = query.where(runs.c.status.not_in(_TERMINAL))
    else:
        query = query.where(runs.c.status.in_(list(statuses)))
    if model_ids is not None:
        query = query.where(runs.c.model_id.in_(list(model_ids)))
    query = query.order_by(runs.c.deadline_at).limit(_BATCH).with_for_update(skip_locked=True)
    return [RunRecord.from_row(row) for row in conn.execute(query).mappings()]


def cancel_expired_queued(conn: Connection, model_ids: Sequence[str], now: datetime) -> list[str]:
    """Cancel the queued runs of `model_ids` past their deadline; their ids."""
    expired = _expired(conn, now, [RunStatus.QUEUED.value], model_ids)
    _cancel_batch(conn, expired, now)
    return [run.id for run in expired]


class Deadlines:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def expire(self, now: datetime | None = None) -> list[str]:
        """Cancel every non-terminal run past its deadline (one batch); their ids."""
        now = now or utc_now()
        with write_tx(self._engine) as conn:
            expired = _expired(conn, now, None, None)
            _cancel_batch(conn, expired, now)
        return [run.id for run in expired]
