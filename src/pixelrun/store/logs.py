"""Structured log lines of a run (GET /v1/runs/{id}/logs)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Engine, insert, select

from pixelrun.runs import utc_now
from pixelrun.store.database import read_tx, write_tx
from pixelrun.store.records import LogRecord
from pixelrun.store.stream import append_log_in_tx
from pixelrun.store.tables import run_logs

LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS: frozenset[str] = frozenset({"debug", "info", "warning", "error"})


def add_log(
    engine: Engine, run_id: str, level: LogLevel, message: str, meta: dict[str, Any] | None = None
) -> None:
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {sorted(LOG_LEVELS)}")
    now = utc_now()
    with write_tx(engine) as conn:
        result = conn.execute(
            insert(run_logs).values(run_id=run_id, level=level, message=message, created_at=now, meta=meta)
        )
        append_log_in_tx(conn, run_id, result.inserted_primary_key[0], now)


def list_logs(engine: Engine, run_id: str) -> list[LogRecord]:
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(run_logs).where(run_logs.c.run_id == run_id).order_by(run_logs.c.id)
        ).mappings()
        return [LogRecord.from_row(r) for r in rows]
