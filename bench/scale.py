"""What each route costs as history grows: the same measurements on an empty store and on a
store filled with N finished runs (and their child rows) plus Q queued runs, in one run.

Per back end (a fresh PostgreSQL database, dropped at the end, or a SQLite file):

1. empty store: one owner and key; `pixelrun serve --workers 0` on loopback (no worker);
   measured in this order, one request at a time on one keep-alive connection:
   the first `/metrics` scrape after the server started; create (POST a run; these become
   the newest queued runs); `GET /v1/runs/{id}` of the newest queued run (the run
   farthest back in the queue, whose position the read computes); `GET /v1/runs` first
   page and a page `--depth` runs deep (its cursor taken from the database); `/metrics`; a worker claim
   (`store.queue.claim`, in this process, as a worker calls it); one retention pass
   (`maintenance.Janitor.run_once`, in this process; the first pass is its own row).
2. the server is stopped; the store is filled by bulk SQL (bench/scale_fill.py: N finished
   runs over 60 days, half of them the bench owner's, the rest over 9 other owners, then Q
   queued runs in the last hour); ANALYZE.
3. the same measurements on the filled store with a freshly started server (so the first
   `/metrics` row is the first scrape after a restart), and the ratio of each p50 and p99
   to the empty store's.

The depth page needs the owner to have `--depth` + 50 runs; with fewer it goes as deep as
there are runs (the column says how deep). Claims take queued runs (samples of them), so
the filled store needs Q >= --samples for the claim to see a queue of Q.

Usage:

    .venv/bin/python bench/scale.py --backend postgres --runs 100000 --queued 10000 [--samples 200]
        [--steps 28] [--depth 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from sqlalchemy import create_engine, func, select

from bench_processes import Child, free_port, pixelrun_env, postgres_database, wait_http
from pixelrun.config import Settings
from pixelrun.maintenance import Janitor
from pixelrun.storage.factory import storage_from_settings
from pixelrun.store import Store
from pixelrun.store.db.cursor import encode_cursor
from pixelrun.store.tables import runs
from scale_fill import MODEL_ID, FillPlan, fill
from throughput_load import CREATE_PATH, percentile, request_body

DEFAULT_PG_ADMIN_URL = os.environ.get(
    "PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PAGE = 50
ROUTES = [
    "/metrics (first scrape after start)",
    "create",
    "GET /v1/runs/{id} (newest queued)",
    "GET /v1/runs first page",
    "GET /v1/runs deep page",
    "/metrics",
    "worker claim",
    "retention pass (first)",
    "retention pass",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Client:
    """One keep-alive HTTP/1.1 connection; http.client costs far less CPU per request than httpx."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.auth = {"Authorization": f"Bearer {key}"}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        headers = dict(self.auth)
        if body is not None:
            headers["Content-Type"] = "application/json"
        began = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - began
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:500]!r}")
        return response.status, data, elapsed

    def close(self) -> None:
        self.conn.close()


def timed(samples: int, warmup: int, one: Callable[[], float | None]) -> list[float]:
    """Seconds of each of `samples` calls after `warmup` uncounted ones (None: not counted)."""
    for _ in range(warmup):
        one()
    out = []
    for _ in range(samples):
        seconds = one()
        if seconds is not None:
            out.append(seconds)
    return out


def deep_cursor(store: Store, owner_id: str, depth: int) -> tuple[str | None, int]:
    """The cursor that starts a page `depth` runs deep into the owner's list (or as deep as it goes)."""
    with store.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(runs).where(runs.c.owner_id == owner_id)
        ).scalar_one()
        depth = max(1, min(depth, count - PAGE))
        row = conn.execute(
            select(runs.c.created_at, runs.c.id)
            .where(runs.c.owner_id == owner_id)
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
            .offset(depth - 1)
            .limit(1)
        ).first()
    if row is None:
        return None, 0
    return encode_cursor(row.created_at, row.id), depth


def measure(
    phase: str,
    store: Store,
    janitor: Janitor,
    owner_id: str,
    key: str,
    env: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    data_dir = Path(env["PIXELRUN_DATA_DIR"])
    log(f"[{phase}] first retention pass ...")
    began = time.perf_counter()
    janitor.run_once()
    results["retention pass (first)"] = [time.perf_counter() - began]

    port = free_port()
    server = Child(
        f"pixelrun serve ({phase})",
        [sys.executable, "-m", "pixelrun.cli", "serve", "--port", str(port), "--workers", "0"],
        env,
        data_dir / f"serve-{phase}.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{port}", "/v1/health", server, timeout=120)
        client = Client(port, key)
        log(f"[{phase}] measuring routes ({args.samples} samples each) ...")
        results["/metrics (first scrape after start)"] = [client.request("GET", "/metrics")[2]]
        body = request_body()
        created: list[str] = []

        def create() -> float:
            _, data, seconds = client.request("POST", CREATE_PATH, body)
            created.append(json.loads(data)["id"])
            return seconds

        results["create"] = timed(args.samples, args.warmup, create)
        newest = created[-1]
        results["GET /v1/runs/{id} (newest queued)"] = timed(
            args.samples, args.warmup, lambda: client.request("GET", f"/v1/runs/{newest}")[2]
        )
        results["GET /v1/runs first page"] = timed(
            args.samples, args.warmup, lambda: client.request("GET", f"/v1/runs?limit={PAGE}")[2]
        )
        cursor, depth = deep_cursor(store, owner_id, args.depth)
        results["deep page depth"] = [float(depth)]
        results["GET /v1/runs deep page"] = timed(
            args.samples, args.warmup, lambda: client.request("GET", f"/v1/runs?limit={PAGE}&pq={cursor}")[2]
        )
        results["/metrics"] = timed(args.samples, args.warmup, lambda: client.request("GET", "/metrics")[2])
        client.close()
    finally:
        server.stop()

    worker_id = f"scale-claimer-{uuid.uuid4().hex[:8]}"

    def claim() -> float | None:
        began = time.perf_counter()
        run = store.queue.claim(worker_id, [MODEL_ID], 600)
        return time.perf_counter() - began if run is not None else None

    results["worker claim"] = timed(args.samples, 0, claim)

    def retention_pass() -> float:
        began = time.perf_counter()
        janitor.run_once()
        return time.perf_counter() - began

    results["retention pass"] = timed(args.retention_samples, 0, retention_pass)
    return results


def bench(backend: str, workdir: Path, args: argparse.Namespace) -> dict[str, object]:
    data_dir = workdir / backend
    data_dir.mkdir()
    database: AbstractContextManager[str] = (
        postgres_database(args.postgres_url)
        if backend == "postgresql"
        else nullcontext(f"sqlite:///{data_dir / 'pixelrun.db'}")
    )
    with database as url:
        env = pixelrun_env(data_dir, url)
        store = Store(url)
        store.migrate()
        owner = store.owners.ensure("scale-bench")
        _, key = store.keys.create(owner.id, "scale bench")
        settings = Settings(data_dir=data_dir, database_url=url)
        storage = storage_from_settings(settings, store.shared_settings)
        # One janitor for both phases, with a long interval: its lease keeps the server's own
        # janitor out of the measurements.
        janitor = Janitor(store, storage, settings.retention_hours, interval_seconds=3600)
        try:
            empty = measure("empty", store, janitor, owner.id, key, env, args)
            log(f"[{backend}] filling {args.runs} finished + {args.queued} queued runs ...")
            fill_engine = create_engine(url)
            try:
                plan = FillPlan(runs=args.runs, queued=args.queued, owner_id=owner.id, steps=args.steps)
                fill_seconds = fill(fill_engine, plan, log, jobs=args.fill_jobs)
            finally:
                fill_engine.dispose()
            filled = measure("filled", store, janitor, owner.id, key, env, args)
        finally:
            store.close()
    return {"backend": backend, "empty": empty, "filled": filled, "fill_seconds": fill_seconds}


def summary(values: list[float]) -> tuple[float | None, float | None]:
    return percentile(values, 50), percentile(values, 99)


def print_table(report: dict[str, object], args: argparse.Namespace) -> None:
    empty: dict[str, list[float]] = report["empty"]  # type: ignore[assignment]
    filled: dict[str, list[float]] = report["filled"]  # type: ignore[assignment]
    print()
    print(
        f"{report['backend']}: N={args.runs} finished, Q={args.queued} queued, {args.samples} samples; "
        f"fill {report['fill_seconds']['total']:.0f} s"  # type: ignore[index]
    )
    print(
        "| measurement | empty p50 ms | empty p99 ms | filled p50 ms | filled p99 ms | ratio p50 | ratio p99 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for route in ROUTES:
        e50, e99 = summary(empty[route])
        f50, f99 = summary(filled[route])
        name = route
        if route == "GET /v1/runs deep page":
            name = f"{route} ({int(empty['deep page depth'][0])} / {int(filled['deep page depth'][0])} deep)"

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.1f}"

        def ratio(a: float | None, b: float | None) -> str:
            return "-" if not a or b is None else f"{b / a:.2f}x"

        print(
            f"| {name} | {ms(e50)} | {ms(e99)} | {ms(f50)} | {ms(f99)} | {ratio(e50, f50)} | {ratio(e99, f99)} |"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--runs", type=int, default=100_000, help="finished runs to fill (default 100000)")
    parser.add_argument("--queued", type=int, default=10_000, help="queued runs to fill (default 10000)")
    parser.add_argument("--samples", type=int, default=200, help="measured calls per route (default 200)")
    parser.add_argument(
        "--warmup", type=int, default=20, help="uncounted calls before each route (default 20)"
    )
    parser.add_argument("--retention-samples", type=int, default=20, help="retention passes (default 20)")
    parser.add_argument(
        "--steps", type=int, default=28, help="denoising steps per run: stream rows (default 28)"
    )
    parser.add_argument(
        "--fill-jobs", type=int, default=2, help="PostgreSQL: fill statements run at once (default 2)"
    )
    parser.add_argument("--depth", type=int, default=10_000, help="runs before the deep page (default 10000)")
    parser.add_argument(
        "--postgres-url", default=DEFAULT_PG_ADMIN_URL, help="admin URL of the PostgreSQL server"
    )
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    args = parser.parse_args(argv)
    if args.runs < 0 or args.queued < 0 or args.samples < 1:
        parser.error("--runs and --queued must be >= 0, --samples >= 1")
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    load_before = os.getloadavg()[0]
    backend = "postgresql" if args.backend == "postgres" else "sqlite"
    try:
        with tempfile.TemporaryDirectory(prefix="pixelrun-scale-") as directory:
            report = bench(backend, Path(directory), args)
    finally:
        Child.kill_all()
    print_table(report, args)
    print(
        f"machine: {os.cpu_count()} CPUs; 1-minute load average {load_before:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"settings": vars(args) | {"json": str(args.json)}, **report}, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
