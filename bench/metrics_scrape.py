"""What a `GET /metrics` scrape costs as history grows (docs/operations.md#metrics-get-metrics).

For each size N (0 first: the baseline, measured in the same run): a fresh database,
migrated, filled by bulk SQL with N finished runs (succeeded with an output `timing`,
failed with a failure code, canceled; spread over 30 days, two models), Q queued runs and
callback deliveries with attempts for one run in ten; then the `/metrics` totals are
recounted from those rows (timed: what migration 0015's backfill does on an existing
store; bulk SQL bypasses the store's own counting). Then --restarts times: a fresh API app on
the store (a process restart: a new collector), its first scrape, then --scrapes more;
p50 and p99 of the latter, and each figure's ratio to N = 0.

    .venv/bin/python bench/metrics_scrape.py [--sizes 0,100000] [--queued 1000] [--backend postgres|sqlite]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.store import Store
from pixelrun.store.metric_totals import rebuild_totals_in_tx
from pixelrun.store.tables import callback_attempts, callback_deliveries, owners, runs

MODELS = ("alibaba/qwen-image-edit-2511", "alibaba/qwen-image-edit-2511-lightning")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 5000
BASE_URL = "http://bench.test"


@contextmanager
def database(backend: str, root: Path, name: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{root / name}.db"
        return
    db = f"pixelrun_bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    try:
        yield make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=db).render_as_string(False)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _run_row(owner_id: str, index: int, now: datetime, rng: random.Random, status: str) -> dict[str, Any]:
    created = now - timedelta(seconds=rng.uniform(60, 30 * 86400))
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "owner_id": owner_id,
        "model_id": MODELS[index % len(MODELS)],
        "status": status,
        "input": {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]},
        "created_at": created,
        "attempt": 0 if status == "queued" else 1,
        "max_attempts": 3,
        "output": None,
        "failure_code": None,
        "dispatched_at": None,
        "started_at": None,
        "completed_at": None,
    }
    if status == "queued":
        return row
    total = rng.uniform(0.5, 90)
    row.update(
        dispatched_at=created + timedelta(seconds=0.1),
        started_at=created + timedelta(seconds=0.2),
        completed_at=created + timedelta(seconds=total),
    )
    if status == "succeeded":
        row["output"] = {
            "images": [{"url": "https://example.com/out.png"}],
            "timing": {
                "queue_ms": 100,
                "fetch_ms": rng.randint(5, 500),
                "inference_ms": int(total * 900),
                "safety_ms": 3,
                "store_ms": rng.randint(5, 200),
                "total_ms": int(total * 1000),
            },
            "model_data": {"transformer_forwards": 40},
        }
    elif status == "failed":
        row["failure_code"] = rng.choice(["inference_failed", "input_fetch_failed", "worker_lost"])
    return row


def fill(store: Store, finished: int, queued: int) -> None:
    """Bulk inserts, in chunks: N finished runs, Q queued ones, deliveries and attempts."""
    rng = random.Random(finished)
    now = datetime.now(UTC)
    owner_id = "own_bench"
    with store.engine.begin() as conn:
        conn.execute(insert(owners).values(id=owner_id, name="bench", created_at=now))
    statuses = ["succeeded"] * 8 + ["failed", "canceled"]
    done = 0
    while done < finished + queued:
        size = min(CHUNK, finished + queued - done)
        rows = [
            _run_row(owner_id, done + i, now, rng, "queued" if done + i >= finished else rng.choice(statuses))
            for i in range(size)
        ]
        deliveries, attempts = [], []
        for row in rows:
            if row["status"] != "queued" and rng.random() < 0.1:
                delivery = {
                    "id": str(uuid.uuid4()),
                    "run_id": row["id"],
                    "owner_id": owner_id,
                    "callback_url": "https://example.com/hook",
                    "status": "succeeded",
                    "attempt_count": 1,
                    "max_attempts": 3,
                    "request_id": uuid.uuid4().hex,
                    "webhook_id": uuid.uuid4().hex,
                    "created_at": row["completed_at"],
                    "completed_at": row["completed_at"],
                }
                deliveries.append(delivery)
                attempts.append(
                    {
                        "delivery_id": delivery["id"],
                        "attempt_number": 1,
                        "status_code": 200,
                        "response_time_ms": 20,
                        "created_at": row["completed_at"],
                    }
                )
        with store.engine.begin() as conn:
            conn.execute(insert(runs), rows)
            if deliveries:
                conn.execute(insert(callback_deliveries), deliveries)
                conn.execute(insert(callback_attempts), attempts)
        done += size


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, root: Path, restarts: int, scrapes: int) -> tuple[float, float, float]:
    """(median first scrape ms, p50 ms, p99 ms) over `restarts` fresh apps."""
    store = Store(url)
    firsts: list[float] = []
    steady: list[float] = []
    try:
        for restart in range(restarts):
            settings = Settings(
                data_dir=root / f"data-{restart}",
                public_base_url=BASE_URL,
                signing_secret="s" * 32,
                retention_hours=0,
            )
            with TestClient(create_app(settings, store), base_url=BASE_URL) as client:
                # The app's own first-request costs are not the scrape's.
                assert client.get("/v1/health").status_code == 200
                for index in range(scrapes + 1):
                    started = time.perf_counter()
                    response = client.get("/metrics")
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, response.text
                    (firsts if index == 0 else steady).append(elapsed)
    finally:
        store.close()
    return statistics.median(firsts), percentile(steady, 0.5), percentile(steady, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="0,100000", help="finished runs per store; 0 is the baseline")
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if sizes[0] != 0:
        sizes.insert(0, 0)
    print(
        f"backend {args.backend}, {args.queued} queued runs, {args.restarts} restarts x {args.scrapes} scrapes"
    )
    print(
        f"{'finished runs':>14} {'fill s':>7} {'backfill s':>10} {'first ms':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>9}"
    )
    baseline = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for size in sizes:
            with database(args.backend, root, f"n{size}") as url:
                store = Store(url)
                try:
                    store.migrate()
                    started = time.perf_counter()
                    fill(store, size, args.queued)
                    filled = time.perf_counter() - started
                    started = time.perf_counter()
                    with store.engine.begin() as conn:
                        rebuild_totals_in_tx(conn)
                    migrated = time.perf_counter() - started
                finally:
                    store.close()
                first, p50, p99 = measure(url, root, args.restarts, args.scrapes)
                baseline = baseline or p50
                print(
                    f"{size:>14,} {filled:>7.1f} {migrated:>10.2f} {first:>9.1f} {p50:>8.1f} {p99:>8.1f}"
                    f" {p50 / baseline:>8.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
