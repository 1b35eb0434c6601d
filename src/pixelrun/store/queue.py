"""The queue: claim, lease, heartbeat, finish, requeue and reap.

Every write a worker makes after its claim is fenced by (run_id, attempt, worker_id)
and a leased status (dispatching or running). `attempt` grows by one on every claim, so
once a run was reaped, re-claimed, canceled or finished, the old holder's writes match
no row and are dropped: they return False and write nothing.

Attempts and graceful shutdown: `attempt` is never decremented (it is the fencing
token and must stay unique per claim). A graceful requeue instead increments
`graceful_requeues`, and attempts are exhausted when `attempt - graceful_requeues`
reaches `max_attempts`; so only claims that ended with a lost worker count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from pixelrun.runs import LEASED_STATUSES, FailureStage, RunStatus, WebhookEvent, utc_now
from pixelrun.store import fair_queue
from pixelrun.store.db.database import write_tx
from pixelrun.store.db.notify import DEFAULT_POLL_INTERVAL_SECONDS, QueueWaiter, notify_in_tx, notify_queued
from pixelrun.store.deadlines import cancel_expired_queued
from pixelrun.store.errors import IllegalTransition
from pixelrun.store.events import record_event
from pixelrun.store.outbox import enqueue_if_callback
from pixelrun.store.records import LeaseState, RunRecord
from pixelrun.store.runs_tx import ZERO_COST, fetch_run
from pixelrun.store.tables import owners, runs
from pixelrun.store.webhook_events import enqueue_webhook_event

_LEASED = [s.value for s in LEASED_STATUSES]
WORKER_LOST = "worker_lost"


def _lock_owned(conn: Connection, run_id: str, attempt: int, worker_id: str) -> RunRecord | None:
    """The run, locked, if this (attempt, worker) still holds it; else None."""
    row = (
        conn.execute(
            select(runs)
            .where(
                runs.c.id == run_id,
                runs.c.attempt == attempt,
                runs.c.worker_id == worker_id,
                runs.c.status.in_(_LEASED),
            )
            .with_for_update()
        )
        .mappings()
        .first()
    )
    return RunRecord.from_row(row) if row else None


def _back_to_queue_values() -> dict[str, Any]:
    return {
        "status": RunStatus.QUEUED.value,
        "worker_id": None,
        "lease_expires_at": None,
        "dispatched_at": None,
        "started_at": None,
        "progress_step": None,
        "progress_steps": None,
    }


class QueueRepo:
    """`store.queue`: what workers do with runs (the module docstring), and their wake-ups."""

    def __init__(self, engine: Engine, listen_url: str | None = None) -> None:
        self._engine = engine
        self._listen_url = listen_url

    def notify(self, model_id: str) -> None:
        """Wake idle workers of `model_id` (db/notify.py)."""
        notify_queued(self._engine, model_id)

    def waiter(
        self, model_ids: list[str] | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS
    ) -> QueueWaiter:
        """Something a worker blocks on until a run may be waiting for it."""
        return QueueWaiter(self._engine, model_ids, poll_interval, listen_url=self._listen_url)

    def claim(
        self,
        worker_id: str,
        model_ids: list[str] | tuple[str, ...],
        lease_seconds: float,
        max_active_per_owner: int | None = None,
    ) -> RunRecord | None:
        """Move the next queued run of one of `model_ids` to dispatching for this worker: the
        oldest run of the owner whose turn it is (docs/queue.md). With `max_active_per_owner`,
        owners with that many runs in progress wait."""
        if not model_ids:
            return None
        now = utc_now()
        with write_tx(self._engine) as conn:
            # A queued run past its `Cancel-After` deadline never starts: canceled here instead.
            cancel_expired_queued(conn, model_ids, now)
            # SKIP LOCKED lets concurrent claimers pass over each other on PostgreSQL; SQLite
            # renders no FOR UPDATE, and BEGIN IMMEDIATE makes this transaction the only writer.
            row = fair_queue.pick(conn, list(model_ids), now, max_active_per_owner)
            if row is None:
                return None
            attempt = row.attempt + 1
            result = conn.execute(
                update(runs)
                .where(runs.c.id == row.id, runs.c.status == RunStatus.QUEUED.value)
                .values(
                    status=RunStatus.DISPATCHING.value,
                    worker_id=worker_id,
                    attempt=attempt,
                    dispatched_at=now,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                )
            )
            if result.rowcount != 1:
                return None  # cannot happen while the row is locked; never claim what we did not update
            fair_queue.claimed(conn, row.model_id, row.owner_id)
            claimed = fetch_run(conn, row.id)
            record_event(
                conn,
                row.id,
                RunStatus.QUEUED,
                RunStatus.DISPATCHING,
                attempt,
                now,
                {"worker_id": worker_id},
                run=claimed,
            )
            return claimed

    def mark_running(self, run_id: str, attempt: int, worker_id: str) -> bool:
        """dispatching → running (sets started_at). True if already running for this attempt."""
        now = utc_now()
        with write_tx(self._engine) as conn:
            run = _lock_owned(conn, run_id, attempt, worker_id)
            if run is None:
                return False
            if run.status is RunStatus.RUNNING:
                return True
            conn.execute(
                update(runs).where(runs.c.id == run_id).values(status=RunStatus.RUNNING.value, started_at=now)
            )
            record_event(conn, run_id, run.status, RunStatus.RUNNING, attempt, now, run=run)
            enqueue_webhook_event(
                conn, run_id, run.owner_id, run.callback_url, run.callback_events, WebhookEvent.START, now
            )
            return True

    def heartbeat(
        self,
        run_id: str,
        attempt: int,
        worker_id: str,
        lease_seconds: float,
        step: int | None = None,
        steps: int | None = None,
    ) -> LeaseState:
        """Renew the lease and store progress; tells the worker whether to go on."""
        now = utc_now()
        with write_tx(self._engine) as conn:
            run = _lock_owned(conn, run_id, attempt, worker_id)
            if run is not None:
                values: dict[str, Any] = {"lease_expires_at": now + timedelta(seconds=lease_seconds)}
                if steps is not None:
                    values["progress_steps"] = steps
                if step is not None:
                    values["progress_step"] = step
                conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
                return LeaseState(owned=True, canceled=False, status=run.status)
            status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar_one_or_none()
        current = RunStatus(status) if status is not None else None
        return LeaseState(owned=False, canceled=current is RunStatus.CANCELED, status=current)

    def finish(
        self,
        run_id: str,
        attempt: int,
        worker_id: str,
        status: RunStatus | str,
        output: dict[str, Any] | None = None,
        cost: str | None = None,
        cost_breakdown: list[dict[str, Any]] | None = None,
        cost_micros: int = 0,
        failure_code: str | None = None,
        failure_message: str | None = None,
        failure_stage: FailureStage | str | None = None,
    ) -> bool:
        """Make the run terminal, in one transaction with its event and the owner's debit.

        Only a succeeded run is billed: output and cost are kept and `cost_micros` is added to
        the owner's `spent_micros`. Failed and canceled runs keep no output and cost
        "0.000000" with an empty breakdown (docs/api.md#create-run-request). Returns False, writing nothing, when
        fenced out.
        """
        new = RunStatus(status)
        if not new.is_terminal:
            raise IllegalTransition(f"finish needs a terminal status, got {new.value!r}")
        succeeded = new is RunStatus.SUCCEEDED
        now = utc_now()
        with write_tx(self._engine) as conn:
            run = _lock_owned(conn, run_id, attempt, worker_id)
            if run is None:
                return False
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=new.value,
                    completed_at=now,
                    output=output if succeeded else None,
                    cost=cost if succeeded else ZERO_COST,
                    cost_breakdown=cost_breakdown if succeeded else [],
                    cost_micros=cost_micros if succeeded else 0,
                    failure_code=None if succeeded else failure_code,
                    failure_message=None if succeeded else failure_message,
                    failure_stage=None
                    if succeeded or failure_stage is None
                    else FailureStage(failure_stage).value,
                    progress_step=None,
                    progress_steps=None,
                    lease_expires_at=None,
                )
            )
            if succeeded and cost_micros:
                conn.execute(
                    update(owners)
                    .where(owners.c.id == run.owner_id)
                    .values(spent_micros=owners.c.spent_micros + cost_micros)
                )
            detail = None if succeeded else {"failure_code": failure_code}
            record_event(conn, run_id, run.status, new, attempt, now, detail, run=run)
            if succeeded:
                enqueue_webhook_event(
                    conn,
                    run_id,
                    run.owner_id,
                    run.callback_url,
                    run.callback_events,
                    WebhookEvent.OUTPUT,
                    now,
                )
            enqueue_if_callback(conn, run_id, run.owner_id, run.callback_url, now, run.callback_events)
            return True

    def requeue(self, run_id: str, attempt: int, worker_id: str, reason: str) -> bool:
        """Give a claimed run back (graceful shutdown); the attempt does not count (module doc)."""
        now = utc_now()
        with write_tx(self._engine) as conn:
            run = _lock_owned(conn, run_id, attempt, worker_id)
            if run is None:
                return False
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(graceful_requeues=runs.c.graceful_requeues + 1, **_back_to_queue_values())
            )
            record_event(
                conn,
                run_id,
                run.status,
                RunStatus.QUEUED,
                attempt,
                now,
                {"reason": reason, "worker_id": worker_id},
                run=run,
            )
            fair_queue.requeued(conn, run.model_id, run.owner_id, now)
            notify_in_tx(conn, run.model_id)
            return True

    def reap_expired(self, now: datetime | None = None) -> list[str]:
        """Requeue (or fail, when out of attempts) leased runs whose lease expired; their ids."""
        now = now or utc_now()
        reaped: list[str] = []
        back: list[tuple[str, str]] = []
        with write_tx(self._engine) as conn:
            rows = (
                conn.execute(
                    select(runs)
                    .where(runs.c.status.in_(_LEASED), runs.c.lease_expires_at < now)
                    .order_by(runs.c.created_at, runs.c.id)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .all()
            )
            for row in rows:
                run = RunRecord.from_row(row)
                detail = {"reason": "lease_expired", "worker_id": run.worker_id}
                if run.attempt - run.graceful_requeues >= run.max_attempts:
                    values: dict[str, Any] = {
                        "status": RunStatus.FAILED.value,
                        "completed_at": now,
                        "failure_code": WORKER_LOST,
                        "failure_message": (
                            f"the worker stopped renewing its lease; gave up after {run.max_attempts} attempt(s)"
                        ),
                        "failure_stage": FailureStage.INTERNAL.value,
                        "cost": ZERO_COST,
                        "cost_breakdown": [],
                        "lease_expires_at": None,
                        "progress_step": None,
                        "progress_steps": None,
                    }
                    new = RunStatus.FAILED
                else:
                    values = _back_to_queue_values()
                    new = RunStatus.QUEUED
                conn.execute(
                    update(runs).where(runs.c.id == run.id, runs.c.attempt == run.attempt).values(**values)
                )
                record_event(conn, run.id, run.status, new, run.attempt, now, detail, run=run)
                if new is RunStatus.QUEUED:
                    back.append((run.model_id, run.owner_id))
                    notify_in_tx(conn, run.model_id)
                else:
                    enqueue_if_callback(
                        conn, run.id, run.owner_id, run.callback_url, now, run.callback_events
                    )
                reaped.append(run.id)
            # In one order, after the runs (fair_queue.left_queue says why).
            for model_id, owner_id in sorted(back):
                fair_queue.requeued(conn, model_id, owner_id, now)
        return reaped
