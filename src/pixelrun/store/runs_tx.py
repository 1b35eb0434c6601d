"""Statements on a run inside an open transaction, shared by the repositories that change
runs (`store.runs`, `store.queue`, `store.callbacks`, deadlines): insert with the credit
check, read, and the queue position."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from pixelrun.runs import RunStatus, new_run_id, price_outputs, utc_now
from pixelrun.store import fair_queue
from pixelrun.store.db.notify import notify_in_tx
from pixelrun.store.db.raw_statement import RawStatement
from pixelrun.store.errors import InsufficientCredit, OwnerNotFound, RunNotFound
from pixelrun.store.events import record_event
from pixelrun.store.records import NewRun, RunRecord
from pixelrun.store.tables import owners, runs

# What an unbilled (failed or canceled) run costs, in the wire format.
ZERO_COST = price_outputs([]).cost_str


def insert_run(
    conn: Connection,
    new_run: NewRun,
    estimated_micros: int = 0,
    run_id: str | None = None,
    now: datetime | None = None,
) -> RunRecord:
    """Insert a queued run and its creation event in the open write transaction; wake a worker
    at commit.

    Raises `InsufficientCredit` when the owner has a budget and `budget - spent` is
    below `estimated_micros`. Only money already spent counts (queued runs reserve nothing).
    """
    if new_run.max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = now or utc_now()
    run_id = run_id or new_run_id()
    owner_id = new_run.owner_id
    owner = _OWNER_CREDIT_RAW.first(conn, {"owner_id": owner_id})
    if owner is None:
        raise OwnerNotFound(owner_id)
    if owner[0] is not None:  # budget_micros
        # Only owners with a budget need the row lock: FOR UPDATE orders this check
        # after a concurrent debit on PostgreSQL (SQLite's BEGIN IMMEDIATE already
        # serialises writers). Without a budget, creates of one owner never queue up.
        owner = conn.execute(_OWNER_CREDIT.with_for_update(), {"owner_id": owner_id}).one()
        available = (owner.budget_micros or 0) - owner.spent_micros
        if owner.budget_micros is not None and available < estimated_micros:
            raise InsufficientCredit(owner_id, available, estimated_micros)
    values: dict[str, Any] = {
        "id": run_id,
        "owner_id": owner_id,
        "model_id": new_run.model_id,
        "status": RunStatus.QUEUED.value,
        "input": new_run.input,
        "metadata": new_run.metadata,
        "callback_url": new_run.callback_url,
        "client_ref": new_run.client_ref,
        "created_at": now,
        "attempt": 0,
        "max_attempts": new_run.max_attempts,
        "graceful_requeues": 0,
        "cost_micros": 0,
        "cancel_requested": False,
        "deadline_at": new_run.deadline_at,
        "callback_format": new_run.callback_format,
        "callback_events": new_run.callback_events,
        "queue_ticket": fair_queue.enqueue(conn, new_run.model_id, owner_id, now),
    }
    _INSERT_RUN_RAW.execute(conn, values)
    notify_in_tx(conn, new_run.model_id)
    # Built from what was inserted rather than read back: one query less per create.
    # The values are those a read would give (JSON columns round-trip unchanged).
    created = RunRecord.from_row({column.name: values.get(column.name) for column in runs.c})  # type: ignore[arg-type]
    record_event(conn, run_id, None, RunStatus.QUEUED, 0, now, run=created)
    return created


# Statements of the hot paths are built once: building one per call (coercing every
# clause) cost more CPU than running it on SQLite.
_OWNER_CREDIT = select(owners.c.budget_micros, owners.c.spent_micros).where(
    owners.c.id == bindparam("owner_id")
)
_OWNER_CREDIT_RAW = RawStatement(_OWNER_CREDIT)
_INSERT_RUN = insert(runs)
# The keys `insert_run` gives, in its order: the INSERT is compiled for exactly these.
_INSERT_RUN_KEYS = (
    "id",
    "owner_id",
    "model_id",
    "status",
    "input",
    "metadata",
    "callback_url",
    "client_ref",
    "created_at",
    "attempt",
    "max_attempts",
    "graceful_requeues",
    "cost_micros",
    "cancel_requested",
    "deadline_at",
    "callback_format",
    "callback_events",
    "queue_ticket",
)
_INSERT_RUN_RAW = RawStatement(_INSERT_RUN, column_keys=_INSERT_RUN_KEYS)


def fetch_run(conn: Connection, run_id: str, owner_id: str | None = None, lock: bool = False) -> RunRecord:
    """The run inside an open transaction; raises `RunNotFound`."""
    query = select(runs).where(runs.c.id == run_id)
    if owner_id is not None:
        query = query.where(runs.c.owner_id == owner_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise RunNotFound(run_id)
    return RunRecord.from_row(row)


def queue_position_in_tx(conn: Connection, run: RunRecord) -> int | None:
    """`queue_position` inside an open transaction (store/fair_queue.py computes it)."""
    if run.status is not RunStatus.QUEUED:
        return None
    row = {
        "status": run.status.value,
        "model_id": run.model_id,
        "owner_id": run.owner_id,
        "queue_ticket": run.queue_ticket,
    }
    return fair_queue.position(conn, row)
