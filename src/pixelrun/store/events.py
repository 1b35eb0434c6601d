"""The run_events table: one row for every status change of a run, creation included."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from pixelrun.runs import RunStatus
from pixelrun.store.database import after_commit, read_tx
from pixelrun.store.records import EventRecord, RunRecord
from pixelrun.store.stream import append_status_in_tx
from pixelrun.store.tables import run_events

# One line per status change, in whichever process made it (API or worker), once committed.
status_log = logging.getLogger("pixelrun.runs.status")


def record_event(
    conn: Connection,
    run_id: str,
    from_status: RunStatus | None,
    to_status: RunStatus,
    attempt: int,
    at: datetime,
    detail: dict[str, Any] | None = None,
    run: RunRecord | None = None,
) -> None:
    """Insert an event row; called inside the transaction that changes the status.

    `run` (the run's row, before or after the change) adds owner, model and durations to
    the log line written when the transaction commits.
    """
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
    fields = _log_fields(run_id, from_status, to_status, attempt, at, detail, run)
    if not after_commit(conn, lambda: _log_transition(fields)):
        _log_transition(fields)  # not inside write_tx: no commit to wait for


def _log_fields(
    run_id: str,
    from_status: RunStatus | None,
    to_status: RunStatus,
    attempt: int,
    at: datetime,
    detail: dict[str, Any] | None,
    run: RunRecord | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "run_id": run_id,
        "from_status": from_status.value if from_status is not None else None,
        "to_status": to_status.value,
        "attempt": attempt,
    }
    if run is not None:
        fields["owner_id"] = run.owner_id
        fields["model"] = run.model_id
        if to_status is RunStatus.DISPATCHING:
            fields["queue_wait_s"] = round((at - run.created_at).total_seconds(), 3)
        if to_status.is_terminal:
            fields["total_s"] = round((at - run.created_at).total_seconds(), 3)
            if run.started_at is not None:
                fields["running_s"] = round((at - run.started_at).total_seconds(), 3)
    if detail:
        fields.update({key: value for key, value in detail.items() if key not in fields})
    return fields


def _log_transition(fields: dict[str, Any]) -> None:
    shown = " ".join(
        f"{key}={value}" for key, value in fields.items() if key not in ("run_id", "from_status", "to_status")
    )
    status_log.info(
        "run %s: %s -> %s %s",
        fields["run_id"],
        fields["from_status"] or "new",
        fields["to_status"],
        shown,
        extra=fields,
    )


# Built once: building a statement per call cost more CPU than running it (hot path).
_INSERT_EVENT = insert(run_events)


def list_events(engine: Engine, run_id: str) -> list[EventRecord]:
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(run_events).where(run_events.c.run_id == run_id).order_by(run_events.c.id)
        ).mappings()
        return [EventRecord.from_row(r) for r in rows]
