"""Bulk fill of a Pixelrun store for bench/scale.py: N finished runs with their child rows
and Q queued runs, written by INSERT ... SELECT over a generated series (generate_series on
PostgreSQL, a recursive CTE on SQLite), so that no row passes through Python.

Table and column names come from `pixelrun.store.tables` (the store's own metadata); the
values mimic what the real code writes (a finished run has 4 status events, a stream row
per status change, per denoising step and per log line plus a `done` row, 2 log lines; one
run in five has a callback URL: a delivery, and an attempt while retention keeps it; one
asset per 20 runs while retention keeps it). The store is filled as after months of
operation with the janitor running: runs older than the retention window already have
their files marked expired.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import Connection, Engine, delete, insert, inspect, text
from sqlalchemy.schema import CreateIndex

from pixelrun.store import tables as t
from pixelrun.store.metric_totals import rebuild_totals_in_tx

MODEL_ID = "alibaba/qwen-image-edit-2511"
LOG_LINES = 2
STATUS_ROWS = 4  # queued, dispatching, running, terminal
OTHER_OWNERS = 9


@dataclass
class FillPlan:
    runs: int
    queued: int
    owner_id: str  # the bench's owner: every other run is theirs (the rest over OTHER_OWNERS owners)
    steps: int = 28
    retention: timedelta = timedelta(days=30)
    history: timedelta = timedelta(days=60)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def stream_rows_per_run(self) -> int:
        return STATUS_ROWS + self.steps + LOG_LINES + 1


class Sql:
    """The few expressions that differ between the two back ends."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def series(self, n: int) -> str:
        if self.pg:
            return f"WITH g(i) AS (SELECT generate_series(0, {n - 1})::bigint)"
        return f"WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < {n})"

    def hex(self, expr: str, width: int) -> str:
        if self.pg:
            return f"lpad(to_hex(({expr})::bigint), {width}, '0')"
        return f"printf('%0{width}x', {expr})"

    def ts(self, micros: str) -> str:
        """A UTCDateTime value from integer microseconds since the epoch."""
        if self.pg:
            return f"to_timestamp(({micros})::float8 / 1000000)"
        # The text SQLAlchemy writes for a naive UTC datetime on SQLite.
        return (
            f"(strftime('%Y-%m-%d %H:%M:%S', ({micros}) / 1000000, 'unixepoch') || '.' || "
            f"printf('%06d', ({micros}) % 1000000))"
        )

    def json(self, expr: str) -> str:
        return f"CAST({expr} AS jsonb)" if self.pg else expr

    def run_id(self, micros: str, index: str, variant: str = "8000") -> str:
        """A UUIDv7-shaped id whose order is the order of `micros` (then `index`)."""
        ms = self.hex(f"({micros}) / 1000", 12)
        return (
            f"(substr({ms}, 1, 8) || '-' || substr({ms}, 9, 4) || '-7' || {self.hex(f'({index}) % 4096', 3)}"
            f" || '-{variant}-' || {self.hex(index, 12)})"
        )


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _owner_expr(plan: FillPlan, index: str) -> str:
    return (
        f"(CASE WHEN ({index}) % 2 = 0 THEN '{plan.owner_id}' "
        f"ELSE 'scale-owner-' || (({index}) / 2 % {OTHER_OWNERS}) END)"
    )


def fill(engine: Engine, plan: FillPlan, log: object = print, jobs: int = 2) -> dict[str, float]:
    """Fill the store; returns seconds per statement (and `total`). On PostgreSQL, `jobs`
    statements of a stage run at once, each on its own connection."""
    sql = Sql(engine.dialect.name)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with engine.begin() as conn:
        existing = {row.id for row in conn.execute(t.owners.select())}
        missing = [f"scale-owner-{k}" for k in range(OTHER_OWNERS) if f"scale-owner-{k}" not in existing]
        if missing:
            conn.execute(
                insert(t.owners),
                [{"id": name, "name": name, "created_at": plan.now} for name in missing],
            )
        superuser = sql.pg and bool(
            conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()
        )
    jobs = max(1, jobs) if sql.pg else 1  # SQLite has one writer

    def run(name: str, statement: object) -> None:
        begun = time.perf_counter()
        with engine.begin() as conn:
            if superuser:
                # Foreign keys are right by construction; their per-row triggers would double the time.
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            if sql.pg:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            conn.execute(text(statement) if isinstance(statement, str) else statement)  # type: ignore[arg-type]
        timings[name] = time.perf_counter() - begun
        log(f"  filled {name} in {timings[name]:.1f} s")  # type: ignore[operator]

    dropped = _drop_secondary_indexes(engine) if sql.pg else []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for stage in _statements(sql, plan, jobs):
            for future in [pool.submit(run, name, statement) for name, statement in stage]:
                future.result()
        begun = time.perf_counter()
        indexes = [pool.submit(run, f"index {ix.name}", CreateIndex(ix)) for ix in dropped]  # type: ignore[attr-defined]
        for future in indexes:
            future.result()
    if dropped:
        timings["indexes"] = time.perf_counter() - begun
    begun = time.perf_counter()
    with engine.begin() as conn:
        # `/metrics` counts from aggregate rows each status change keeps; bulk SQL wrote none.
        rebuild_totals_in_tx(conn)
    timings["metric totals"] = time.perf_counter() - begun
    begun = time.perf_counter()
    with engine.begin() as conn:
        _number_queue(conn)
    timings["queue tickets"] = time.perf_counter() - begun
    begun = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # What autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) does after a day of writes.
        conn.exec_driver_sql("ANALYZE")
    timings["analyze"] = time.perf_counter() - begun
    timings["total"] = time.perf_counter() - started
    return timings


def _drop_secondary_indexes(engine: Engine) -> list[object]:
    """Drop the big child tables' non-unique indexes (rebuilt after the fill: faster)."""
    dropped = []
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in (t.runs, t.run_events, t.run_logs, t.run_stream_events, t.callback_attempts):
            present = {ix["name"] for ix in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name in present and not index.unique:
                    conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
                    dropped.append(index)
    return dropped


Stage = list[tuple[str, str]]


def _statements(sql: Sql, plan: FillPlan, parts: int) -> list[Stage]:
    """Stages of statements: a stage's statements are independent of each other (they may
    run at once); each stage needs the ones before it."""
    n, q, steps = plan.runs, plan.queued, plan.steps
    start = _us(plan.now - plan.history)
    end = _us(plan.now - timedelta(hours=1))
    spacing = max((end - start) // max(n, 1), 1)
    cutoff = _us(plan.now - plan.retention)
    # The first run whose files retention still keeps (completed = created + 12 s).
    kept_from = max(0, min(n, (cutoff - start) // spacing + 1))
    created = f"({start} + r * {spacing})"
    completed = f"({created} + 12000000)"
    rid = sql.run_id(created, "r")
    status = "(CASE WHEN r % 100 < 90 THEN 'succeeded' WHEN r % 100 < 97 THEN 'failed' ELSE 'canceled' END)"
    key_item = (
        '\'{"type": "image", "content_type": "image/png", "width": 1024, "height": 1024, '
        '"file_size": 1480213, \''
    )
    output = (
        f"(CASE WHEN r % 100 >= 90 THEN NULL WHEN r < {kept_from} THEN "
        f'\'{{"outputs": [\' || {key_item} || \'"url": null, "expired": true}}], "seed": \' || r || \'}}\' '
        f"ELSE '{{\"outputs\": [' || {key_item} || '\"key\": \"runs/' || {rid} || '/0.png\"}}], \"seed\": ' || r || '}}' END)"
    )
    input_json = (
        '\'{"prompt": "make the sky purple, keep the people", "image_urls": '
        '["https://images.example.com/in/\' || r || \'.jpg"], "num_inference_steps": ' + str(steps) + "}'"
    )
    line = (
        '[{"item": "output_image", "quantity": 1.048576, "unit": "megapixel", "unit_price": "0.03", '
        '"amount": "0.031457"}]'
    )
    # The ledger column: micro-dollars since migration 0014, cents before.
    cost_column, cost_amount = ("cost_micros", 31457) if "cost_micros" in t.runs.c else ("cost_cents", 4)
    breakdown = f"CASE WHEN r % 100 < 90 THEN '{line}' ELSE '[]' END"
    # Every finished run ended over an hour ago: as after months of the janitor, each is marked
    # stream-pruned, so that the first pass here does not delete 35 rows a run. Their stream
    # rows are written anyway: a larger stream table than retention leaves, a harder case.
    pruned_column, pruned_value = (
        (", stream_pruned_at", f", {sql.ts(f'{completed} + 3600000000')}")
        if "stream_pruned_at" in t.runs.c
        else ("", "")
    )
    finished_runs = f"""
        {sql.series(n)}, s(r) AS (SELECT i FROM g)
        INSERT INTO {t.runs.name} (id, owner_id, model_id, status, input, output, callback_url,
            created_at, dispatched_at, started_at, completed_at, cost, cost_breakdown, {cost_column},
            failure_code, failure_message, failure_stage, attempt, max_attempts, worker_id,
            files_expired_at{pruned_column})
        SELECT {rid}, {_owner_expr(plan, "r")}, '{MODEL_ID}', {status}, {sql.json(input_json)},
            {sql.json(output)},
            CASE WHEN r % 5 = 0 THEN 'https://hooks.example.com/pixelrun' END,
            {sql.ts(created)}, {sql.ts(f"{created} + 1000000")}, {sql.ts(f"{created} + 2000000")},
            {sql.ts(completed)},
            CASE WHEN r % 100 < 90 THEN '0.031457' ELSE '0.000000' END,
            {sql.json(breakdown)},
            CASE WHEN r % 100 < 90 THEN {cost_amount} ELSE 0 END,
            CASE WHEN r % 100 BETWEEN 90 AND 96 THEN 'inference_failed' END,
            CASE WHEN r % 100 BETWEEN 90 AND 96 THEN 'the engine raised an error' END,
            CASE WHEN r % 100 BETWEEN 90 AND 96 THEN 'inference' END,
            1, 3, 'scale-worker',
            CASE WHEN r < {kept_from} THEN {sql.ts(f"{completed} + {int(plan.retention.total_seconds()) * 1_000_000}")} END
            {pruned_value}
        FROM s"""
    per = STATUS_ROWS
    ev_r, ev_k = f"(i / {per})", f"(i % {per})"
    ev_status = f"(CASE {ev_k} WHEN 0 THEN 'queued' WHEN 1 THEN 'dispatching' WHEN 2 THEN 'running' ELSE {status.replace('r %', f'{ev_r} %')} END)"
    ev_from = (
        f"(CASE {ev_k} WHEN 0 THEN NULL WHEN 1 THEN 'queued' WHEN 2 THEN 'dispatching' ELSE 'running' END)"
    )
    ev_created = f"({start} + {ev_r} * {spacing})"
    events = f"""
        {sql.series(n * per)}
        INSERT INTO {t.run_events.name} (run_id, from_status, to_status, attempt, created_at)
        SELECT {sql.run_id(ev_created, ev_r)}, {ev_from}, {ev_status},
            CASE WHEN {ev_k} = 0 THEN 0 ELSE 1 END,
            {sql.ts(f"{ev_created} + {ev_k} * 1000000 + CASE WHEN {ev_k} = 3 THEN 9000000 ELSE 0 END")}
        FROM g"""
    lg_r, lg_k = f"(i / {LOG_LINES})", f"(i % {LOG_LINES})"
    lg_created = f"({start} + {lg_r} * {spacing})"
    logs = f"""
        {sql.series(n * LOG_LINES)}
        INSERT INTO {t.run_logs.name} (run_id, level, message, created_at)
        SELECT {sql.run_id(lg_created, lg_r)}, 'info',
            CASE WHEN {lg_k} = 0 THEN 'inputs fetched: 1 image, 1024x1024' ELSE 'denoised {steps} steps in 9.4 s' END,
            {sql.ts(f"{lg_created} + 2000000 + {lg_k} * 9000000")}
        FROM g"""
    per_stream = plan.stream_rows_per_run
    st_r, st_k = f"(i / {per_stream})", f"(i % {per_stream})"
    st_created = f"({start} + {st_r} * {spacing})"
    log_base = f"(SELECT COALESCE(MAX(id), 0) FROM {t.run_logs.name}) - {n * LOG_LINES}"
    # Row k: 0-2 status (queued, dispatching, running), 3..2+steps progress, then the log
    # lines, then the terminal status and `done`.
    first_log = 3 + steps
    stream = f"""
        {sql.series(n * per_stream)}, base(b) AS (SELECT {log_base})
        INSERT INTO {t.run_stream_events.name} (run_id, kind, status, step, steps, log_id, created_at)
        SELECT {sql.run_id(st_created, st_r)},
            CASE WHEN {st_k} < 3 OR {st_k} = {per_stream - 2} THEN 'status'
                 WHEN {st_k} < {first_log} THEN 'progress'
                 WHEN {st_k} < {first_log + LOG_LINES} THEN 'log' ELSE 'done' END,
            CASE {st_k} WHEN 0 THEN 'queued' WHEN 1 THEN 'dispatching' WHEN 2 THEN 'running'
                 WHEN {per_stream - 2} THEN {status.replace("r %", f"{st_r} %")} END,
            CASE WHEN {st_k} >= 3 AND {st_k} < {first_log} THEN {st_k} - 2 END,
            CASE WHEN {st_k} >= 3 AND {st_k} < {first_log} THEN {steps} END,
            CASE WHEN {st_k} >= {first_log} AND {st_k} < {first_log + LOG_LINES}
                 THEN b + {st_r} * {LOG_LINES} + {st_k} - {first_log} + 1 END,
            {sql.ts(f"{st_created} + {st_k} * 300000")}
        FROM g, base"""
    dl_created = completed
    delivery_id = sql.run_id(created, "r", "9000")
    deliveries = f"""
        {sql.series(n)}, s(r) AS (SELECT i FROM g WHERE i % 5 = 0)
        INSERT INTO {t.callback_deliveries.name} (id, run_id, owner_id, callback_url, status,
            attempt_count, max_attempts, body, request_id, webhook_id, webhook_timestamp,
            created_at, completed_at)
        SELECT {delivery_id}, {rid}, {_owner_expr(plan, "r")}, 'https://hooks.example.com/pixelrun',
            'succeeded', 1, 8,
            '{{"id": "' || {rid} || '", "status_code": "succeeded", "model_id": "{MODEL_ID}", "outputs": []}}',
            'req_' || r, 'msg_' || r, {cutoff // 1_000_000},
            {sql.ts(dl_created)}, {sql.ts(f"{dl_created} + 200000")}
        FROM s"""
    attempts = f"""
        {sql.series(n)}, s(r) AS (SELECT i FROM g WHERE i % 5 = 0 AND i >= {kept_from})
        INSERT INTO {t.callback_attempts.name} (delivery_id, attempt_number, status_code,
            response_time_ms, created_at)
        SELECT {delivery_id}, 1, 200, 120, {sql.ts(f"{dl_created} + 100000")}
        FROM s"""
    assets = f"""
        {sql.series(n)}, s(r) AS (SELECT i FROM g WHERE i % 20 = 0 AND i >= {kept_from})
        INSERT INTO {t.assets.name} (id, owner_id, name, mime_type, size_bytes, storage_key,
            status, width, height, created_at, upload_expires_at, confirmed_at)
        SELECT {sql.run_id(created, "r", "a000")}, {_owner_expr(plan, "r")}, 'photo-' || r || '.jpg',
            'image/jpeg', 2400000, 'assets/' || {sql.run_id(created, "r", "a000")},
            'ready', 2048, 1536, {sql.ts(created)}, {sql.ts(f"{created} + 3600000000")},
            {sql.ts(f"{created} + 5000000")}
        FROM s"""
    stages: list[Stage] = []
    if n and sql.pg:
        steps_rows, log_rows, end_rows = _pg_children(plan, parts)
        stages = [
            [("runs", finished_runs)],
            [*steps_rows, ("callback_deliveries", deliveries), ("assets", assets)],
            [*log_rows, ("callback_attempts", attempts)],
            end_rows,
        ]
    elif n:
        stages = [
            [(name, statement)]
            for name, statement in (
                ("runs", finished_runs),
                ("run_events", events),
                ("run_logs", logs),
                ("run_stream_events", stream),
                ("callback_deliveries", deliveries),
                ("callback_attempts", attempts),
                ("assets", assets),
            )
        ]
    if q:
        queued_runs, *queued_children = _queued(sql, plan, input_json)
        stages += [[queued_runs], queued_children]
    return stages


def _pg_children(plan: FillPlan, parts: int) -> tuple[Stage, Stage, Stage]:
    """Events, logs and stream rows on PostgreSQL, from the runs just written: reading each
    run's id once (instead of building it per child row) makes 35 M stream rows minutes
    faster. A run's stream rows are written in three stages so that their ids follow the
    run's order: statuses and steps (with events and logs), then its log lines, then the
    end. Each stream statement is cut into `parts` by creation time, to run at once."""
    steps = plan.steps
    first, last = plan.now - plan.history, plan.now
    cuts = [first + (last - first) * i / parts for i in range(parts + 1)]
    cuts[0], cuts[-1] = first - timedelta(days=1), last + timedelta(days=1)
    ranges = [
        f"r.created_at >= to_timestamp({_us(a) / 1e6:.6f}) AND r.created_at < to_timestamp({_us(b) / 1e6:.6f})"
        for a, b in pairwise(cuts)
    ]
    filled = (
        f"{t.runs.name} r CROSS JOIN LATERAL generate_series(0, {{n}}) AS k "
        f"WHERE r.worker_id = 'scale-worker' AND {{part}}"
    )
    step = "interval '300 milliseconds'"
    events = f"""
        INSERT INTO {t.run_events.name} (run_id, from_status, to_status, attempt, created_at)
        SELECT r.id, (ARRAY[NULL, 'queued', 'dispatching', 'running'])[k + 1],
            CASE k WHEN 0 THEN 'queued' WHEN 1 THEN 'dispatching' WHEN 2 THEN 'running' ELSE r.status END,
            CASE WHEN k = 0 THEN 0 ELSE 1 END,
            CASE WHEN k = 3 THEN r.completed_at ELSE r.created_at + k * interval '1 second' END
        FROM {filled.format(n=STATUS_ROWS - 1, part="true")}"""
    logs = f"""
        INSERT INTO {t.run_logs.name} (run_id, level, message, created_at)
        SELECT r.id, 'info',
            CASE WHEN k = 0 THEN 'inputs fetched: 1 image, 1024x1024' ELSE 'denoised {steps} steps in 9.4 s' END,
            r.started_at + k * interval '9 seconds'
        FROM {filled.format(n=LOG_LINES - 1, part="true")}"""
    stream_steps = f"""
        INSERT INTO {t.run_stream_events.name} (run_id, kind, status, step, steps, created_at)
        SELECT r.id, CASE WHEN k < 3 THEN 'status' ELSE 'progress' END,
            CASE k WHEN 0 THEN 'queued' WHEN 1 THEN 'dispatching' WHEN 2 THEN 'running' END,
            CASE WHEN k >= 3 THEN k - 2 END, CASE WHEN k >= 3 THEN {steps} END,
            r.created_at + k * {step}
        FROM {filled.format(n=steps + 2, part="{part}")}"""
    stream_logs = f"""
        INSERT INTO {t.run_stream_events.name} (run_id, kind, log_id, created_at)
        SELECT l.run_id, 'log', l.id, l.created_at
        FROM {t.run_logs.name} l JOIN {t.runs.name} r ON r.id = l.run_id
        WHERE r.worker_id = 'scale-worker' AND {{part}}"""
    stream_end = f"""
        INSERT INTO {t.run_stream_events.name} (run_id, kind, status, created_at)
        SELECT r.id, CASE WHEN k = 0 THEN 'status' ELSE 'done' END, CASE WHEN k = 0 THEN r.status END,
            r.completed_at
        FROM {filled.format(n=1, part="{part}")}"""

    def cut(name: str, statement: str) -> Stage:
        return [(f"{name} {i + 1}/{parts}", statement.format(part=part)) for i, part in enumerate(ranges)]

    return (
        [
            ("run_events", events),
            ("run_logs", logs),
            *cut("run_stream_events (statuses, steps)", stream_steps),
        ],
        cut("run_stream_events (logs)", stream_logs),
        cut("run_stream_events (end)", stream_end),
    )


def _number_queue(conn: Connection) -> None:
    """The fair queue's tickets and per-owner rows (docs/queue.md) for every queued run, as
    migration 0020 numbers an existing queue: oldest first per model and owner."""
    conn.execute(delete(t.owner_queues))
    conn.exec_driver_sql(
        f"""UPDATE {t.runs.name} SET queue_ticket = n.ticket FROM (
            SELECT id, ROW_NUMBER() OVER (PARTITION BY model_id, owner_id ORDER BY created_at, id) AS ticket
            FROM {t.runs.name} WHERE status = 'queued') AS n
        WHERE {t.runs.name}.id = n.id"""
    )
    conn.exec_driver_sql(
        f"""INSERT INTO {t.owner_queues.name} (model_id, owner_id, queued_count, next_round, turn, last_ticket)
        SELECT model_id, owner_id, COUNT(*), 0, ROW_NUMBER() OVER (ORDER BY model_id, owner_id) - 1, COUNT(*)
        FROM {t.runs.name} WHERE status = 'queued' GROUP BY model_id, owner_id"""
    )


def _queued(sql: Sql, plan: FillPlan, input_json: str) -> list[tuple[str, str]]:
    q = plan.queued
    # Queued in the last hour, before anything the bench creates; ids apart from the finished runs'.
    start = _us(plan.now - timedelta(hours=1))
    spacing = max(3_600_000_000 // q, 1) - 1
    created = f"({start} + r * {spacing})"
    index = f"(r + {plan.runs})"
    rid = sql.run_id(created, index)
    runs = f"""
        {sql.series(q)}, s(r) AS (SELECT i FROM g)
        INSERT INTO {t.runs.name} (id, owner_id, model_id, status, input, created_at, attempt, max_attempts)
        SELECT {rid}, {_owner_expr(plan, "r")}, '{MODEL_ID}', 'queued', {sql.json(input_json)},
            {sql.ts(created)}, 0, 3
        FROM s"""
    events = f"""
        {sql.series(q)}, s(r) AS (SELECT i FROM g)
        INSERT INTO {t.run_events.name} (run_id, from_status, to_status, attempt, created_at)
        SELECT {rid}, NULL, 'queued', 0, {sql.ts(created)} FROM s"""
    stream = f"""
        {sql.series(q)}, s(r) AS (SELECT i FROM g)
        INSERT INTO {t.run_stream_events.name} (run_id, kind, status, created_at)
        SELECT {rid}, 'status', 'queued', {sql.ts(created)} FROM s"""
    return [("queued runs", runs), ("queued run_events", events), ("queued run_stream_events", stream)]
