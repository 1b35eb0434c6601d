"""Writing the rows a run's event stream replays (table `run_stream_events`); reading
them is `store.history`.

Writers append rows inside the transaction that makes the change (a status change, a
log line, denoising steps) and, on PostgreSQL, `NOTIFY pixelrun_stream, '<run_id>'`
in that transaction, so a listener hears about a row only once it is visible. SQLite
has no notifications between processes: readers poll (`rows_after`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from pixelrun.runs import RunStatus
from pixelrun.store.db.database import pg_notify
from pixelrun.store.db.raw_statement import RawStatement
from pixelrun.store.records import StreamKind
from pixelrun.store.tables import run_stream_events

CHANNEL = "pixelrun_stream"


def notify_stream(conn: Connection, run_id: str) -> None:
    pg_notify(conn, CHANNEL, run_id)


def append_status_in_tx(conn: Connection, run_id: str, status: RunStatus, at: datetime) -> None:
    """A status row (and a `done` row when terminal), in the caller's transaction."""
    row = {"run_id": run_id, "kind": StreamKind.STATUS.value, "status": status.value, "created_at": at}
    if status.is_terminal:
        done = {"run_id": run_id, "kind": StreamKind.DONE.value, "status": status.value, "created_at": at}
        conn.execute(_INSERT_STREAM_ROW, [row, done])
    else:
        _INSERT_STATUS_ROW_RAW.execute(conn, row)
    notify_stream(conn, run_id)


# Built once: building a statement per call cost more CPU than running it (hot path).
_INSERT_STREAM_ROW = insert(run_stream_events)
# The create path's status row, on the DBAPI cursor (store/raw_statement.py).
_INSERT_STATUS_ROW_RAW = RawStatement(
    _INSERT_STREAM_ROW, column_keys=("run_id", "kind", "status", "created_at")
)


def append_log_in_tx(conn: Connection, run_id: str, log_id: int, at: datetime) -> None:
    conn.execute(
        insert(run_stream_events).values(
            run_id=run_id, kind=StreamKind.LOG.value, log_id=log_id, created_at=at
        )
    )
    notify_stream(conn, run_id)
