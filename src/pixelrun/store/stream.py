"""The rows a run's event stream replays (table `run_stream_events`).

Writers append rows inside the transaction that makes the change (a status change, a
log line, denoising steps) and, on PostgreSQL, `NOTIFY pixelrun_stream, '<run_id>'`
in that transaction, so a listener hears about a row only once it is visible. SQLite
has no notifications between processes: readers poll (`rows_after`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, or_, select

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store.database import pg_notify, read_tx, write_tx
from pixelrun.store.raw_statement import RawStatement
from pixelrun.store.records import LogRecord
from pixelrun.store.tables import run_logs, run_stream_events

CHANNEL = "pixelrun_stream"


@dataclass(frozen=True)
class StreamRow:
    id: int
    run_id: str
    kind: str  # status | progress | log | done
    status: RunStatus | None
    step: int | None
    steps: int | None
    log: LogRecord | None
    created_at: datetime


def _notify(conn: Connection, run_id: str) -> None:
    pg_notify(conn, CHANNEL, run_id)


def append_status_in_tx(conn: Connection, run_id: str, status: RunStatus, at: datetime) -> None:
    """A status row (and a `done` row when terminal), in the caller's transaction."""
    row = {"run_id": run_id, "kind": "status", "status": status.value, "created_at": at}
    if status.is_terminal:
        done = {"run_id": run_id, "kind": "done", "status": status.value, "created_at": at}
        conn.execute(_INSERT_STREAM_ROW, [row, done])
    else:
        _INSERT_STATUS_ROW_RAW.execute(conn, row)
    _notify(conn, run_id)


# Built once: building a statement per call cost more CPU than running it (hot path).
_INSERT_STREAM_ROW = insert(run_stream_events)
# The create path's status row, on the DBAPI cursor (store/raw_statement.py).
_INSERT_STATUS_ROW_RAW = RawStatement(
    _INSERT_STREAM_ROW, column_keys=("run_id", "kind", "status", "created_at")
)


def append_log_in_tx(conn: Connection, run_id: str, log_id: int, at: datetime) -> None:
    conn.execute(insert(run_stream_events).values(run_id=run_id, kind="log", log_id=log_id, created_at=at))
    _notify(conn, run_id)


class StreamRepo:
    """`store.stream`: progress rows from workers, reads for the API's stream hub."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_progress(self, run_id: str, steps_done: Sequence[tuple[int, int]]) -> None:
        """One row per denoising step `(step, steps)`, in one transaction."""
        if not steps_done:
            return
        now = utc_now()
        with write_tx(self._engine) as conn:
            conn.execute(
                insert(run_stream_events),
                [
                    {"run_id": run_id, "kind": "progress", "step": step, "steps": steps, "created_at": now}
                    for step, steps in steps_done
                ],
            )
            _notify(conn, run_id)

    def last_id(self, run_id: str) -> int:
        """The id of the run's latest row before its `done` row, if any (0 when none)."""
        t = run_stream_events
        with read_tx(self._engine) as conn:
            done_id = conn.execute(
                select(t.c.id).where(t.c.run_id == run_id, t.c.kind == "done")
            ).scalar_one_or_none()
            query = select(func.max(t.c.id)).where(t.c.run_id == run_id, t.c.kind != "done")
            if done_id is not None:
                query = query.where(t.c.id < done_id)
            value = conn.execute(query).scalar_one_or_none()
        return int(value or 0)

    def done_id(self, run_id: str) -> int | None:
        """The id of the run's `done` row, if it is terminal."""
        with read_tx(self._engine) as conn:
            return conn.execute(
                select(run_stream_events.c.id).where(
                    run_stream_events.c.run_id == run_id, run_stream_events.c.kind == "done"
                )
            ).scalar_one_or_none()

    def rows_after(self, cursors: Mapping[str, int], limit: int = 5000) -> list[StreamRow]:
        """Rows of the given runs with an id above each run's cursor, in id order."""
        if not cursors:
            return []
        t = run_stream_events
        done = run_stream_events.alias("done")
        # A stream ends with `done`: rows written after it (a last log line) are for /logs only.
        after_done = (
            select(done.c.id)
            .where(done.c.run_id == t.c.run_id, done.c.kind == "done", done.c.id < t.c.id)
            .exists()
        )
        conditions = [(t.c.run_id == run_id) & (t.c.id > after) for run_id, after in cursors.items()]
        query = (
            select(
                t,
                run_logs.c.level,
                run_logs.c.message,
                run_logs.c.meta,
                run_logs.c.created_at.label("log_at"),
            )
            .outerjoin(run_logs, run_logs.c.id == t.c.log_id)
            .where(or_(*conditions), ~after_done)
            .order_by(t.c.id)
            .limit(limit)
        )
        with read_tx(self._engine) as conn:
            return [_row(r) for r in conn.execute(query).mappings()]

    def listen_url(self) -> str | None:
        """A libpq URL to LISTEN on (PostgreSQL), else None."""
        if self._engine.dialect.name != "postgresql":
            return None
        return self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _row(r: Mapping) -> StreamRow:
    log = None
    if r["kind"] == "log" and r["log_id"] is not None and r["message"] is not None:
        log = LogRecord(
            id=r["log_id"],
            run_id=r["run_id"],
            level=r["level"],
            message=r["message"],
            created_at=r["log_at"],
            meta=r["meta"],
        )
    return StreamRow(
        id=r["id"],
        run_id=r["run_id"],
        kind=r["kind"],
        status=RunStatus(r["status"]) if r["status"] else None,
        step=r["step"],
        steps=r["steps"],
        log=log,
        created_at=r["created_at"],
    )
