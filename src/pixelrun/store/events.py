"""Writing the run_events table: one row for every status change of a run, creation
included, in the transaction that makes the change; reading it is `store.history`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, insert

from pixelrun.runs import RunStatus
from pixelrun.store.db.database import after_commit, pg_notify
from pixelrun.store.db.raw_statement import RawStatement
from pixelrun.store.metric_totals import count_terminal_in_tx
from pixelrun.store.records import RunRecord, StreamKind
from pixelrun.store.stream import CHANNEL as STREAM_CHANNEL
from pixelrun.store.stream import append_status_in_tx
from pixelrun.store.tables import run_events, run_stream_events

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
    from_value = from_status.value if from_status is not None else None
    if conn.dialect.name == "postgresql" and not to_status.is_terminal:
        # The event row and the stream's status row in one statement: one round trip less.
        _INSERT_EVENT_AND_STATUS_ROW_RAW.execute(
            conn,
            {
                "p_run_id": run_id,
                "p_from_status": from_value,
                "p_to_status": to_status.value,
                "p_attempt": attempt,
                "p_created_at": at,
                "p_detail": detail,
            },
        )
        pg_notify(conn, STREAM_CHANNEL, run_id)
    else:
        _INSERT_EVENT_RAW.execute(
            conn,
            {
                "run_id": run_id,
                "from_status": from_value,
                "to_status": to_status.value,
                "attempt": attempt,
                "created_at": at,
                "detail": detail,
            },
        )
        append_status_in_tx(conn, run_id, to_status, at)
    if to_status.is_terminal:
        # Every run becomes terminal through here, once: the `/metrics` totals count it
        # in the same transaction (store/metric_totals.py).
        count_terminal_in_tx(conn, run_id)
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
_INSERT_EVENT_RAW = RawStatement(
    insert(run_events), column_keys=("run_id", "from_status", "to_status", "attempt", "created_at", "detail")
)


def _param(name: str) -> BindParameter[Any]:
    # Prefixed: a bind parameter named like an inserted column is reserved by SQLAlchemy.
    return bindparam(f"p_{name}", type_=run_events.c[name].type)


# PostgreSQL only (a data-modifying CTE): the event row and the stream's `status` row.
_INSERT_EVENT_AND_STATUS_ROW = (
    insert(run_stream_events)
    .values(
        run_id=_param("run_id"),
        kind=StreamKind.STATUS.value,
        status=_param("to_status"),
        created_at=_param("created_at"),
    )
    .add_cte(
        insert(run_events)
        .values(
            run_id=_param("run_id"),
            from_status=_param("from_status"),
            to_status=_param("to_status"),
            attempt=_param("attempt"),
            created_at=_param("created_at"),
            detail=_param("detail"),
        )
        .cte("event")
    )
)
_INSERT_EVENT_AND_STATUS_ROW_RAW = RawStatement(_INSERT_EVENT_AND_STATUS_ROW)
