"""Fleet-wide counters and histograms of `/metrics`, kept as aggregate rows (table
`metric_totals`, docs/operations.md#where-the-figures-come-from-and-why).

Why aggregate rows: a scrape must cost the same with a million runs as with none, and
every API replica must answer the same totals for the whole fleet, the first scrape after
a restart included. So the figures are not counted in a process, nor folded from history
at scrape time: the transaction that makes a run terminal (`record_event`, the one place
every status change goes through) and the one that records a callback attempt add their
observations to these rows, by upsert (`n = n + excluded.n`). A scrape reads the rows: its
cost depends on the number of label sets, and the figures are exactly what the rows say,
since they commit or roll back with the change they count.

A row is one (metric, model, status, label, bucket, shard): `n` is a counter's value, or
the number of observations in a histogram bucket (not cumulative), and `total` the sum of
those observations. `shard` spreads the rows of one label set over `SHARDS` rows (by run
or delivery id), so that concurrent finishes of one model rarely wait on one row lock; a
scrape sums the shards. The upserts of a transaction are made last, just before its
commit, in one key order (`add_in_tx`).

`runs created` is not kept here: it is the finished count plus the runs still queued,
dispatching or running (read in the same snapshot), which costs the create path nothing.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from pixelrun.runs import RunStatus
from pixelrun.store.db.database import before_commit
from pixelrun.store.tables import callback_attempts, callback_deliveries, metric_totals, runs

#: Histogram bucket upper bounds, seconds; the last is +Inf.
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"),
)  # fmt: skip
#: Stage histogram label → key of the run output's `timing` (milliseconds).
STAGES: dict[str, str] = {
    "queue_wait": "queue_ms",
    "input_fetch": "fetch_ms",
    "inference": "inference_ms",
    "safety": "safety_ms",
    "encode_store": "store_ms",
    "total": "total_ms",
}
SHARDS = 4
_TERMINAL = [status.value for status in RunStatus if status.is_terminal]

# The `metric` column.
FINISHED = "finished"  # model, status, label = failure_code or ""
DURATION = "duration"  # histogram: model, status
STAGE = "stage"  # histogram: model, label = stage
PASSES = "passes"  # model
ATTEMPTS = "attempts"  # status = outcome, label = attempt number


class Key(NamedTuple):
    metric: str
    model: str = ""
    status: str = ""
    label: str = ""
    bucket: int = 0


#: Observations to add: key → (n, total).
Additions = dict[Key, tuple[int, float]]


def bucket_of(seconds: float) -> int:
    return next(index for index, bound in enumerate(DURATION_BUCKETS) if seconds <= bound)


def _observe(additions: Additions, key: Key, n: int = 1, value: float = 0.0) -> None:
    old_n, old_total = additions.get(key, (0, 0.0))
    additions[key] = (old_n + n, old_total + value)


def _histogram(
    additions: Additions, metric: str, model: str, status: str, label: str, seconds: float
) -> None:
    if math.isnan(seconds):
        return
    seconds = max(seconds, 0.0)
    _observe(additions, Key(metric, model, status, label, bucket_of(seconds)), 1, seconds)


def finished_run(
    additions: Additions,
    model: str,
    status: str,
    failure_code: str | None,
    created_at: datetime,
    completed_at: datetime,
    output: Mapping[str, Any] | None,
) -> None:
    """What a terminal run adds: its status, its duration, and for a succeeded run its
    stage timings and transformer passes."""
    _observe(additions, Key(FINISHED, model, status, failure_code or ""))
    _histogram(additions, DURATION, model, status, "", (completed_at - created_at).total_seconds())
    if status != RunStatus.SUCCEEDED.value or not output:
        return
    timing = output.get("timing") or {}
    for stage, key in STAGES.items():
        value = timing.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            _histogram(additions, STAGE, model, "", stage, value / 1000)
    passes = (output.get("model_data") or {}).get("transformer_forwards")
    if isinstance(passes, int) and not isinstance(passes, bool):
        _observe(additions, Key(PASSES, model), passes)


def attempt_outcome(status_code: int | None, delivery_failed_on_it: bool) -> str:
    """`succeeded` (2xx), `failed` (the delivery's last attempt failed), else `retried`."""
    if status_code is not None and 200 <= status_code < 300:
        return "succeeded"
    return "failed" if delivery_failed_on_it else "retried"


def shard_of(key: str) -> int:
    return zlib.crc32(key.encode()) % SHARDS


def add_in_tx(conn: Connection, additions: Additions, shard: int) -> None:
    """Add `additions` in the open transaction.

    Inside `write_tx` they are gathered and upserted last, just before the commit, in one
    key order: a transaction that ends several runs (reaping, deadlines) takes its row
    locks in the same order as any other, so two never deadlock, and holds them only for
    the commit."""
    pending: dict[tuple[Key, int], tuple[int, float]] | None = before_commit(
        conn, "metric_totals", dict, lambda gathered: _upsert_rows(conn, gathered)
    )
    if pending is None:
        _upsert_rows(conn, {(key, shard): value for key, value in additions.items()})
        return
    for key, (n, total) in additions.items():
        old_n, old_total = pending.get((key, shard), (0, 0.0))
        pending[(key, shard)] = (old_n + n, old_total + total)


def _upsert_rows(conn: Connection, rows: dict[tuple[Key, int], tuple[int, float]]) -> None:
    if not rows:
        return
    params = [
        {**key._asdict(), "shard": shard, "n": n, "total": total}
        for (key, shard), (n, total) in sorted(rows.items())
    ]
    conn.execute(_UPSERTS[conn.dialect.name], params)


def count_terminal_in_tx(conn: Connection, run_id: str) -> None:
    """Add the run that this transaction made terminal (read back: its final row)."""
    row = conn.execute(_TERMINAL_ROW, {"run_id": run_id}).one()
    additions: Additions = {}
    finished_run(
        additions, row.model_id, row.status, row.failure_code, row.created_at, row.completed_at, row.output
    )
    add_in_tx(conn, additions, shard_of(run_id))


def count_attempt_in_tx(conn: Connection, delivery_id: str, outcome: str, attempt_number: int) -> None:
    additions: Additions = {Key(ATTEMPTS, "", outcome, str(attempt_number)): (1, 0.0)}
    add_in_tx(conn, additions, shard_of(delivery_id))


def rebuild_totals_in_tx(conn: Connection) -> None:
    """Recount every total from the rows (migration 0015's backfill; a store filled by bulk
    SQL): one streamed pass over the terminal runs (a server-side cursor on PostgreSQL, so
    memory stays flat), and the callback attempts grouped."""
    additions: Additions = {}
    terminal = conn.execute(
        select(
            runs.c.model_id,
            runs.c.status,
            runs.c.failure_code,
            runs.c.created_at,
            runs.c.completed_at,
            runs.c.output,
        )
        .where(runs.c.status.in_(_TERMINAL), runs.c.completed_at.is_not(None))
        .execution_options(stream_results=True, yield_per=5000)
    )
    for row in terminal:
        finished_run(
            additions,
            row.model_id,
            row.status,
            row.failure_code,
            row.created_at,
            row.completed_at,
            row.output,
        )
    a, d = callback_attempts.c, callback_deliveries.c
    attempts = conn.execute(
        select(a.attempt_number, a.status_code, d.status, d.attempt_count, func.count())
        .join(callback_deliveries, d.id == a.delivery_id)
        .group_by(a.attempt_number, a.status_code, d.status, d.attempt_count)
    )
    for number, code, delivery_status, attempt_count, count in attempts:
        outcome = attempt_outcome(code, delivery_status == "failed" and number == attempt_count)
        _observe(additions, Key(ATTEMPTS, "", outcome, str(number)), int(count))
    conn.execute(delete(metric_totals))
    _upsert_rows(conn, {(key, 0): value for key, value in additions.items()})


class TotalRow(NamedTuple):
    key: Key
    n: int
    total: float


def read_totals(conn: Connection) -> list[TotalRow]:
    """Every label set's figures, shards summed: as many rows as label sets × buckets."""
    return [
        TotalRow(Key(metric, model, status, label, bucket), int(n), float(total or 0.0))
        for metric, model, status, label, bucket, n, total in conn.execute(_READ_TOTALS)
    ]


_TERMINAL_ROW = select(
    runs.c.model_id, runs.c.status, runs.c.failure_code, runs.c.created_at, runs.c.completed_at, runs.c.output
).where(runs.c.id == bindparam("run_id"))
_KEY_COLUMNS = ("metric", "model", "status", "label", "bucket", "shard")


def _upsert(dialect_insert: Any) -> Any:
    statement = dialect_insert(metric_totals)
    return statement.on_conflict_do_update(
        index_elements=list(_KEY_COLUMNS),
        set_={
            "n": metric_totals.c.n + statement.excluded.n,
            "total": metric_totals.c.total + statement.excluded.total,
        },
    )


# Built once (hot path): one statement per back end, executed with every row's parameters.
_UPSERTS = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}
_c = metric_totals.c
_READ_TOTALS = select(
    _c.metric, _c.model, _c.status, _c.label, _c.bucket, func.sum(_c.n), func.sum(_c.total)
).group_by(_c.metric, _c.model, _c.status, _c.label, _c.bucket)
