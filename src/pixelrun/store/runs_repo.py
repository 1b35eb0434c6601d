"""Runs as the API sees them: create (with the credit check), read, list, cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, update

from pixelrun.runs import RunStatus, new_run_id, price_outputs, utc_now
from pixelrun.store.cursor import decode_cursor, encode_cursor
from pixelrun.store.database import read_tx, write_tx
from pixelrun.store.errors import InsufficientCredit, OwnerNotFound, RunNotFound
from pixelrun.store.events import record_event
from pixelrun.store.notify import notify_in_tx
from pixelrun.store.outbox import enqueue_if_callback
from pixelrun.store.raw_statement import RawStatement
from pixelrun.store.records import RunRecord
from pixelrun.store.tables import owners, runs

# What an unbilled (failed or canceled) run costs, in the wire format.
ZERO_COST = price_outputs([]).cost_str


def create_run(
    engine: Engine,
    owner_id: str,
    model_id: str,
    input: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    callback_url: str | None = None,
    client_ref: str | None = None,
    max_attempts: int = 3,
    estimated_cents: int = 0,
    deadline_at: datetime | None = None,
    callback_format: str | None = None,
) -> RunRecord:
    """Insert a queued run and its creation event in one transaction, then wake a worker.

    Raises `InsufficientCredit` when the owner has a budget and `budget - spent` is
    below `estimated_cents`. Only money already spent counts (queued runs reserve nothing).
    """
    new_run = NewRun(
        owner_id,
        model_id,
        input,
        metadata,
        callback_url,
        client_ref,
        max_attempts,
        deadline_at,
        callback_format,
    )
    with write_tx(engine) as conn:
        return insert_run(conn, new_run, estimated_cents)


@dataclass(frozen=True)
class NewRun:
    """What a create stores; the id and the creation time are given by `insert_run`."""

    owner_id: str
    model_id: str
    input: dict[str, Any]
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    client_ref: str | None = None
    max_attempts: int = 3
    deadline_at: datetime | None = None
    callback_format: str | None = None


def insert_run(
    conn: Connection,
    new_run: NewRun,
    estimated_cents: int = 0,
    run_id: str | None = None,
    now: datetime | None = None,
) -> RunRecord:
    """`create_run` inside an open write transaction (the idempotent create shares it)."""
    if new_run.max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = now or utc_now()
    run_id = run_id or new_run_id()
    owner_id = new_run.owner_id
    owner = _OWNER_CREDIT_RAW.first(conn, {"owner_id": owner_id})
    if owner is None:
        raise OwnerNotFound(owner_id)
    if owner[0] is not None:  # budget_cents
        # Only owners with a budget need the row lock: FOR UPDATE orders this check
        # after a concurrent debit on PostgreSQL (SQLite's BEGIN IMMEDIATE already
        # serialises writers). Without a budget, creates of one owner never queue up.
        owner = conn.execute(_OWNER_CREDIT.with_for_update(), {"owner_id": owner_id}).one()
        available = (owner.budget_cents or 0) - owner.spent_cents
        if owner.budget_cents is not None and available < estimated_cents:
            raise InsufficientCredit(owner_id, available, estimated_cents)
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
        "cost_cents": 0,
        "cancel_requested": False,
        "deadline_at": new_run.deadline_at,
        "callback_format": new_run.callback_format,
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
_OWNER_CREDIT = select(owners.c.budget_cents, owners.c.spent_cents).where(
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
    "cost_cents",
    "cancel_requested",
    "deadline_at",
    "callback_format",
)
_INSERT_RUN_RAW = RawStatement(_INSERT_RUN, column_keys=_INSERT_RUN_KEYS)
_QUEUE_POSITION = (
    select(func.count())
    .select_from(runs)
    .where(
        runs.c.status == RunStatus.QUEUED.value,
        runs.c.model_id == bindparam("model_id"),
        or_(
            runs.c.created_at < bindparam("created_at", type_=runs.c.created_at.type),
            and_(runs.c.created_at == bindparam("created_at"), runs.c.id <= bindparam("run_id")),
        ),
    )
)
_QUEUE_POSITION_RAW = RawStatement(_QUEUE_POSITION)


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


def get_run(engine: Engine, run_id: str, owner_id: str | None = None) -> RunRecord | None:
    """The run, or None; with `owner_id`, another owner's run is None too."""
    try:
        with read_tx(engine) as conn:
            return fetch_run(conn, run_id, owner_id)
    except RunNotFound:
        return None


def list_runs(
    engine: Engine,
    owner_id: str,
    limit: int = 50,
    cursor: str | None = None,
    status: RunStatus | str | None = None,
    model_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> tuple[list[RunRecord], str | None]:
    """The owner's runs, newest first, and the cursor of the next page (None on the last)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = select(runs).where(runs.c.owner_id == owner_id)
    if status is not None:
        query = query.where(runs.c.status == RunStatus(status).value)
    if model_id is not None:
        query = query.where(runs.c.model_id == model_id)
    if created_after is not None:
        query = query.where(runs.c.created_at > created_after)
    if created_before is not None:
        query = query.where(runs.c.created_at < created_before)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor)
        query = query.where(
            or_(
                runs.c.created_at < created_at,
                and_(runs.c.created_at == created_at, runs.c.id < last_id),
            )
        )
    query = query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit + 1)
    with read_tx(engine) as conn:
        records = [RunRecord.from_row(r) for r in conn.execute(query).mappings()]
    if len(records) <= limit:
        return records, None
    page = records[:limit]
    return page, encode_cursor(page[-1].created_at, page[-1].id)


def queue_position(engine: Engine, run: RunRecord) -> int | None:
    """1-based place of a queued run among the queued runs of its model (claim order)."""
    if run.status is not RunStatus.QUEUED:
        return None
    with read_tx(engine) as conn:
        return queue_position_in_tx(conn, run)


def queue_position_in_tx(conn: Connection, run: RunRecord) -> int | None:
    """`queue_position` inside an open transaction."""
    if run.status is not RunStatus.QUEUED:
        return None
    params = {"model_id": run.model_id, "created_at": run.created_at, "run_id": run.id}
    row = _QUEUE_POSITION_RAW.first(conn, params)
    assert row is not None  # a count always has a row
    position = int(row[0])
    # Zero means it left the queue since `run` was read.
    return position or None


def cancel_run(engine: Engine, run_id: str, owner_id: str) -> tuple[RunRecord, bool]:
    """Cancel a run of this owner: (the run, whether this call changed it).

    A non-terminal run becomes `canceled` at once; its worker learns it from the next
    heartbeat (no longer owned, status canceled) and any later result is fenced out.
    Raises `RunNotFound` for an unknown run or another owner's.
    """
    now = utc_now()
    with write_tx(engine) as conn:
        run = fetch_run(conn, run_id, owner_id, lock=True)
        if run.is_terminal:
            return run, False
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                status=RunStatus.CANCELED.value,
                completed_at=now,
                cancel_requested=True,
                cost=ZERO_COST,
                cost_breakdown=[],
                lease_expires_at=None,
                progress_step=None,
                progress_steps=None,
            )
        )
        record_event(
            conn,
            run_id,
            run.status,
            RunStatus.CANCELED,
            run.attempt,
            now,
            {"reason": "user_request"},
            run=run,
        )
        enqueue_if_callback(conn, run_id, run.owner_id, run.callback_url, now)
        return fetch_run(conn, run_id), True
