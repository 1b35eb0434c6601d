"""`store.history`: what happened to a run: its status events, its log lines
(`GET /v1/runs/{id}/logs`), and the rows its event stream replays
(`GET /v1/runs/{id}/stream`, docs/api.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select

from pixelrun.runs import RunStatus, WebhookEvent, utc_now
from pixelrun.store.db.database import listen_url_for, read_tx, write_tx
from pixelrun.store.records import EventRecord, LogLevel, LogRecord, PreviewImage, StreamKind, StreamRow
from pixelrun.store.stream import append_log_in_tx, notify_stream
from pixelrun.store.tables import run_events, run_logs, run_previews, run_stream_events, runs
from pixelrun.store.webhook_events import enqueue_webhook_event

LOG_LEVELS: frozenset[str] = frozenset({"debug", "info", "warning", "error"})


class HistoryRepo:
    def __init__(self, engine: Engine, listen_url: str | None = None) -> None:
        self._engine = engine
        self._listen_url = listen_url

    def events(self, run_id: str) -> list[EventRecord]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(run_events).where(run_events.c.run_id == run_id).order_by(run_events.c.id)
            ).mappings()
            return [EventRecord.from_row(r) for r in rows]

    def add_log(
        self,
        run_id: str,
        level: LogLevel,
        message: str,
        meta: dict[str, Any] | None = None,
        *,
        webhook: bool = False,
    ) -> None:
        """`webhook`: the run's webhook asked for `logs` events (the caller knows from its run
        record): one is enqueued, throttled, while the run is running."""
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {level!r}; expected one of {sorted(LOG_LEVELS)}")
        now = utc_now()
        with write_tx(self._engine) as conn:
            result = conn.execute(
                insert(run_logs).values(
                    run_id=run_id, level=level, message=message, created_at=now, meta=meta
                )
            )
            append_log_in_tx(conn, run_id, result.inserted_primary_key[0], now)
            if webhook:
                _logs_event(conn, run_id, now)

    def logs(self, run_id: str) -> list[LogRecord]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(run_logs).where(run_logs.c.run_id == run_id).order_by(run_logs.c.id)
            ).mappings()
            return [LogRecord.from_row(r) for r in rows]

    def add_progress(self, run_id: str, steps_done: Sequence[tuple[int, int]]) -> None:
        """One row per denoising step `(step, steps)`, in one transaction."""
        if not steps_done:
            return
        now = utc_now()
        with write_tx(self._engine) as conn:
            conn.execute(
                insert(run_stream_events),
                [
                    {
                        "run_id": run_id,
                        "kind": StreamKind.PROGRESS.value,
                        "step": step,
                        "steps": steps,
                        "created_at": now,
                    }
                    for step, steps in steps_done
                ],
            )
            notify_stream(conn, run_id)

    def stream_last_id(self, run_id: str) -> int:
        """The id of the run's latest row before its `done` row, if any (0 when none)."""
        t = run_stream_events
        with read_tx(self._engine) as conn:
            done_id = conn.execute(
                select(t.c.id).where(t.c.run_id == run_id, t.c.kind == StreamKind.DONE.value)
            ).scalar_one_or_none()
            query = select(func.max(t.c.id)).where(t.c.run_id == run_id, t.c.kind != StreamKind.DONE.value)
            if done_id is not None:
                query = query.where(t.c.id < done_id)
            value = conn.execute(query).scalar_one_or_none()
        return int(value or 0)

    def stream_done_id(self, run_id: str) -> int | None:
        """The id of the run's `done` row, if it is terminal."""
        with read_tx(self._engine) as conn:
            return conn.execute(
                select(run_stream_events.c.id).where(
                    run_stream_events.c.run_id == run_id, run_stream_events.c.kind == StreamKind.DONE.value
                )
            ).scalar_one_or_none()

    def stream_rows_after(self, cursors: Mapping[str, int], limit: int = 5000) -> list[StreamRow]:
        """Rows of the given runs with an id above each run's cursor, in id order."""
        if not cursors:
            return []
        t = run_stream_events
        done = run_stream_events.alias("done")
        # A stream ends with `done`: rows written after it (a last log line) are for /logs only.
        after_done = (
            select(done.c.id)
            .where(done.c.run_id == t.c.run_id, done.c.kind == StreamKind.DONE.value, done.c.id < t.c.id)
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
                run_previews.c.media_type,
                run_previews.c.data.label("preview_data"),
            )
            .outerjoin(run_logs, run_logs.c.id == t.c.log_id)
            .outerjoin(run_previews, run_previews.c.id == t.c.id)
            .where(or_(*conditions), ~after_done)
            .order_by(t.c.id)
            .limit(limit)
        )
        with read_tx(self._engine) as conn:
            return [_row(r) for r in conn.execute(query).mappings()]

    def stream_listen_url(self) -> str | None:
        """A libpq URL to LISTEN on (PostgreSQL), else None."""
        if self._engine.dialect.name != "postgresql":
            return None
        return self._listen_url or listen_url_for(self._engine)


def _logs_event(conn: Connection, run_id: str, now: datetime) -> None:
    run = conn.execute(
        select(runs.c.owner_id, runs.c.status, runs.c.callback_url, runs.c.callback_events).where(
            runs.c.id == run_id
        )
    ).first()
    if run is None or run.status != RunStatus.RUNNING.value:
        return
    enqueue_webhook_event(
        conn, run_id, run.owner_id, run.callback_url, run.callback_events, WebhookEvent.LOGS, now
    )


def _row(r: Mapping) -> StreamRow:
    log = None
    kind = StreamKind(r["kind"])
    if kind is StreamKind.LOG and r["log_id"] is not None and r["message"] is not None:
        log = LogRecord(
            id=r["log_id"],
            run_id=r["run_id"],
            level=r["level"],
            message=r["message"],
            created_at=r["log_at"],
            meta=r["meta"],
        )
    preview = None
    if kind is StreamKind.PREVIEW and r["preview_data"] is not None:
        preview = PreviewImage(media_type=r["media_type"], data=bytes(r["preview_data"]))
    return StreamRow(
        id=r["id"],
        run_id=r["run_id"],
        kind=kind,
        status=RunStatus(r["status"]) if r["status"] else None,
        step=r["step"],
        steps=r["steps"],
        log=log,
        created_at=r["created_at"],
        preview=preview,
    )
