"""What the unserved-models pass adds to an API process's housekeeping round, by table size.

Each API process runs a housekeeping round every 5 s (pixelrun.maintenance): lease
reaping, `Cancel-After` deadlines, the key and preview purges, and the pass that fails
the queued runs of models without a live worker (docs/weights.md#runs-no-worker-takes).
This fills a database with `--runs` finished runs (two models), `--queued` queued runs of
the model a live worker serves, then times, on the same database:

- baseline: the round without the new pass (reap, deadlines, purges);
- pass: the new pass in the steady state (a served model with a queue, nothing to fail);
- fail: failing `--fail` queued runs of an unserved model (per run: event and outbox).

Rows for a small table and for the full one show whether the pass grows with the table.

Usage:

    .venv/bin/python bench/unserved_pass.py [--runs 1000000] [--queued 1000] [--fail 2000]
        [--backend sqlite|postgres|both] [--json out.json]

PostgreSQL: PIXELRUN_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
where a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from pixelrun.maintenance import UnservedModels
from pixelrun.maintenance.housekeeping import (
    expire_deadlines,
    purge_idempotency_keys,
    purge_previews,
    reap_leases,
)
from pixelrun.store import Store

SERVED = "alibaba/qwen-image-edit-2511"
UNSERVED = "alibaba/qwen-image-edit-2511-lightning"
PG_URL = os.environ.get("PIXELRUN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REPEATS = 15


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    import psycopg

    name = f"pixelrun_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(store: Store, owner_id: str, start: int, count: int, status: str, model: str | None) -> None:
    """`count` runs in one INSERT ... SELECT over a generated series (ids `start`..)."""
    if count <= 0:
        return
    model_sql = f"'{model}'" if model else f"CASE WHEN n % 2 = 0 THEN '{SERVED}' ELSE '{UNSERVED}' END"
    if store.is_postgres:
        series = f"generate_series({start}, {start + count - 1}) AS s(n)"
        created = "now() - (n || ' seconds')::interval"
        source = f"FROM {series}"
        cte = ""
    else:
        cte = (
            f"WITH RECURSIVE s(n) AS (SELECT {start} UNION ALL SELECT n + 1 FROM s "
            f"WHERE n < {start + count - 1}) "
        )
        created = "datetime('now', '-' || n || ' seconds')"
        source = "FROM s"
    completed = "NULL" if status == "queued" else created
    with store.engine.begin() as conn:
        conn.execute(
            text(
                f"{cte}INSERT INTO runs (id, owner_id, model_id, status, input, created_at, completed_at, "
                "cost, attempt, max_attempts, graceful_requeues, cancel_requested, cost_micros) "
                f"SELECT 'run_' || n, '{owner_id}', {model_sql}, '{status}', '{{}}', {created}, {completed}, "
                f"'0.031457', 1, 3, 0, false, 31457 {source}"
            )
        )


def timed(one: Callable[[], object], repeats: int = REPEATS) -> float:
    one()  # warm: statement caches, pages
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        one()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def baseline_round(store: Store) -> None:
    reap_leases(store)
    expire_deadlines(store)
    purge_idempotency_keys(store)
    purge_previews(store)


def measure(backend: str, runs: int, queued: int, fail: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with database(backend) as url:
        store = Store(url)
        try:
            store.migrate()
            owner = store.owners.ensure("bench")
            store.workers.register("wrk_bench", "bench", [SERVED], "cpu", status="ready")
            fill(store, owner.id, 0, queued, "queued", SERVED)
            filled = queued
            for size in sorted({min(10_000, runs), runs}):
                fill(store, owner.id, filled, size - (filled - queued), "succeeded", None)
                filled = queued + size
                with store.engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
                # Filling a big table takes longer than a heartbeat stays fresh.
                store.workers.heartbeat("wrk_bench", "ready")
                watcher = UnservedModels(store, grace_seconds=0)
                base = timed(lambda: baseline_round(store))
                new = timed(watcher.fail_queued_runs)
                assert store.unserved.queued_models() == ([SERVED] if queued else [])  # nothing failed
                rows.append(
                    {
                        "backend": backend,
                        "runs": size + queued,
                        "what": "steady",
                        "baseline_ms": base,
                        "pass_ms": new,
                    }
                )
            fill(store, owner.id, filled, fail, "queued", UNSERVED)
            store.workers.heartbeat("wrk_bench", "ready")
            watcher = UnservedModels(store, grace_seconds=0)
            started = time.perf_counter()
            failed = 0
            while batch := watcher.fail_queued_runs():
                failed += len(batch)
            total_ms = (time.perf_counter() - started) * 1000
            assert failed == fail, (failed, fail)
            assert store.unserved.queued_models() == ([SERVED] if queued else [])
            rows.append(
                {
                    "backend": backend,
                    "runs": filled + fail,
                    "what": f"fail {fail}",
                    "baseline_ms": None,
                    "pass_ms": total_ms,
                    "per_run_ms": total_ms / fail if fail else 0.0,
                }
            )
        finally:
            store.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--queued", type=int, default=1_000)
    parser.add_argument("--fail", type=int, default=2_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows = [row for backend in backends for row in measure(backend, args.runs, args.queued, args.fail)]
    print(
        f"{'backend':<9} {'runs in table':>13} {'case':<11} {'round w/o pass ms':>18} {'pass ms':>9} {'per run ms':>10}"
    )
    for row in rows:
        base = "" if row["baseline_ms"] is None else f"{row['baseline_ms']:.2f}"
        per_run = f"{row['per_run_ms']:.3f}" if "per_run_ms" in row else ""
        print(
            f"{row['backend']:<9} {row['runs']:>13,} {row['what']:<11} {base:>18} "
            f"{row['pass_ms']:>9.2f} {per_run:>10}"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
