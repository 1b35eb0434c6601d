"""The run_events table: one row for every status change of a run, creation included."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from pixelrun.runs import RunStatus
from pixelrun.store.database import read_tx
from pixelrun.store.records import EventRecord
from pixelrun.store.stream import append_status_in_tx
from pixelrun.store.tables import run_events


def record_event(
    conn: Connection,
    run_id: str,
    from_status: RunStatus | None,
    to_status: RunStatus,
    attempt: int,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Insert an event row; called inside the transaction that changes the status."""
    conn.execute(
        _INSERT_EVENT,
        {
            "run_id": run_id,
            "from_status": from_status.value if from_status is not None else None,
            "to_status": to_status.value,
            "attempt": attempt,
            "created_at": at,
            "detail": detail,
        },
    )
    append_status_in_tx(conn, run_id, to_status, at)


# Built once: building a statement per call cost more CPU than running it (hot path).
_INSERT_EVENT = insert(run_events)


def list_events(engine: Engine, run_id: str) -> list[EventRecord]:
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(run_events).where(run_events.c.run_id == run_id).order_by(run_events.c.id)
        ).mappings()
        return [EventRecord.from_row(r) for r in rows]
