"""`store.retention`: what the retention janitor reads and deletes, and the lease that lets
one API replica at a time run it (docs/operations.md#retention).

Every delete is batched (at most `limit` rows per transaction, so a first pass over a large
history never holds one long transaction) and reaches its rows through an index: the runs
still to prune through `(stream_pruned_at, completed_at)` and `(files_expired_at,
completed_at)`, their child rows through `run_id`, the rest through a time column.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from pixelrun.runs import TERMINAL_STATUSES, utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.records import RunFiles
from pixelrun.store.tables import (
    callback_attempts,
    callback_deliveries,
    maintenance_leases,
    rate_limit_windows,
    run_logs,
    run_previews,
    run_stream_events,
    runs,
    workers,
)

_TERMINAL = [status.value for status in TERMINAL_STATUSES]


class RetentionRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def try_lease(self, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
        """Take (or renew) the named lease for `seconds`; False while another holder has it."""
        now = now or utc_now()
        expires = now + timedelta(seconds=seconds)
        with write_tx(self._engine) as conn:
            taken = conn.execute(
                update(maintenance_leases)
                .where(
                    maintenance_leases.c.name == name,
                    or_(maintenance_leases.c.expires_at < now, maintenance_leases.c.holder == holder),
                )
                .values(holder=holder, expires_at=expires)
            ).rowcount
        if taken:
            return True
        try:
            with write_tx(self._engine) as conn:
                conn.execute(insert(maintenance_leases).values(name=name, holder=holder, expires_at=expires))
        except IntegrityError:
            return False  # the row exists and is held by someone else
        return True

    def release_lease(self, name: str, holder: str) -> None:
        with write_tx(self._engine) as conn:
            conn.execute(
                delete(maintenance_leases).where(
                    maintenance_leases.c.name == name, maintenance_leases.c.holder == holder
                )
            )

    def prune_streams(self, completed_before: datetime, limit: int = 500) -> int:
        """Delete the stream rows (and any preview images) of up to `limit` runs that ended
        before the cutoff and mark them; how many runs. The run's record, status events and
        logs stay; its stream then answers the run and `done` (docs/api.md)."""
        query = (
            select(runs.c.id)
            .where(
                runs.c.stream_pruned_at.is_(None),
                runs.c.completed_at < completed_before,
                runs.c.status.in_(_TERMINAL),
            )
            .order_by(runs.c.completed_at)
            .limit(limit)
        )
        with write_tx(self._engine) as conn:
            run_ids = list(conn.execute(query).scalars())
            if not run_ids:
                return 0
            conn.execute(delete(run_previews).where(run_previews.c.run_id.in_(run_ids)))
            conn.execute(delete(run_stream_events).where(run_stream_events.c.run_id.in_(run_ids)))
            conn.execute(update(runs).where(runs.c.id.in_(run_ids)).values(stream_pruned_at=utc_now()))
        return len(run_ids)

    def runs_with_files(self, completed_before: datetime, limit: int = 100) -> list[RunFiles]:
        """Terminal runs completed before the cutoff whose files have not been deleted yet."""
        query = (
            select(runs.c.id, runs.c.output)
            .where(
                and_(
                    runs.c.files_expired_at.is_(None),
                    runs.c.completed_at < completed_before,
                    runs.c.status.in_(_TERMINAL),
                )
            )
            .order_by(runs.c.completed_at)
            .limit(limit)
        )
        with read_tx(self._engine) as conn:
            return [RunFiles(row.id, row.output) for row in conn.execute(query)]

    def mark_files_expired(self, run_id: str, output: dict[str, Any] | None) -> None:
        """Record that the run's files are gone, with its output rewritten to say so, and
        delete what the run kept for its retention window alone: its log lines, any stream
        rows left, its webhook-event deliveries, and the bodies of its finished deliveries
        (each delivery's row, status and attempt count stay)."""
        with write_tx(self._engine) as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.files_expired_at.is_(None))
                .values(output=output, files_expired_at=utc_now())
            )
            conn.execute(delete(run_previews).where(run_previews.c.run_id == run_id))
            conn.execute(delete(run_stream_events).where(run_stream_events.c.run_id == run_id))
            conn.execute(delete(run_logs).where(run_logs.c.run_id == run_id))
            _prune_deliveries(conn, run_id)

    def delete_callback_attempts(self, created_before: datetime, limit: int = 5000) -> int:
        return self._delete_batched(
            callback_attempts, callback_attempts.c.id, callback_attempts.c.created_at < created_before, limit
        )

    def delete_dead_workers(self, heartbeat_before: datetime, limit: int = 5000) -> int:
        """Worker rows with no heartbeat since the cutoff: stopped, failed, or killed without
        a word (a live worker beats every few seconds)."""
        return self._delete_batched(workers, workers.c.id, workers.c.heartbeat_at < heartbeat_before, limit)

    def delete_rate_windows(self, started_before: int) -> int:
        """Rate-limit windows that started before the cutoff (Unix seconds): a key's old
        windows go when its next one opens, these are the last windows of keys gone quiet.
        At most one row per key: one statement."""
        with write_tx(self._engine) as conn:
            return int(
                conn.execute(
                    delete(rate_limit_windows).where(rate_limit_windows.c.window_start < started_before)
                ).rowcount
                or 0
            )

    def _delete_batched(self, table: Table, key: Any, condition: ColumnElement[bool], limit: int) -> int:
        total = 0
        while True:
            with write_tx(self._engine) as conn:
                ids = select(key).where(condition).limit(limit).scalar_subquery()
                deleted = int(conn.execute(delete(table).where(key.in_(ids))).rowcount or 0)
            total += deleted
            if deleted < limit:
                return total


def _prune_deliveries(conn: Connection, run_id: str) -> None:
    d = callback_deliveries
    finished = and_(d.c.run_id == run_id, d.c.completed_at.is_not(None))
    events = select(d.c.id).where(finished, d.c.event.is_not(None))
    conn.execute(delete(callback_attempts).where(callback_attempts.c.delivery_id.in_(events)))
    conn.execute(delete(d).where(finished, d.c.event.is_not(None)))
    conn.execute(update(d).where(finished, d.c.body.is_not(None)).values(payload=None, body=None))
