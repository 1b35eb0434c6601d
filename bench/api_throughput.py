"""API throughput and dispatch latency of Pixelrun, against a bare FastAPI baseline measured in the same run.

What it measures (all on this machine, all traffic on 127.0.0.1):

1. baseline: a bare FastAPI app defined in this file (one POST endpoint that parses the
   same JSON body with pydantic and answers 201 with a small JSON), served by uvicorn in a
   child process exactly as `pixelrun serve` serves its app (one process,
   `uvicorn.run(app, host, port, log_level="info")`: auto loop/http, access log on).
2. pixelrun create-run: `POST /v1/models/alibaba/qwen-image-edit-2511/runs` against
   `pixelrun serve --workers 0` on each back end (SQLite in a temporary data dir, and a
   fresh PostgreSQL database that is dropped at the end). Requests/s, p50/p99 latency and
   the ratio of requests/s to the baseline's. Three loads (--loads), each against the
   same load on the baseline (which has a matching GET endpoint): `create` (every request
   creates a run), `get` (every request reads one queued run, created before the load, so
   its queue position is computed over every run queued by the create load) and `mixed`
   (each client creates a run and then polls it 10 times, like a client waiting for its
   result: ten reads per create).
   Load: --requests requests per target (after --warmup requests that are not counted)
   from --concurrency clients: asyncio tasks in this process, each on its own keep-alive
   HTTP/1.1 connection, sending pre-encoded requests (a minimal client: httpx costs ~5 ms
   of CPU per request, enough to make the load generator the bottleneck on two cores).
   Every target gets the same body bytes and the same load; latency is per request, from
   sending to the last byte of the response.
3. dispatch latency: before the load above, one `pixelrun worker` is started against the
   same store; once GET /v1/readiness is 200 (model loaded, worker registered),
   --dispatch-runs runs are created one at a time, each after the previous one finished.
   From the store's events: create -> `dispatching` (claim) and create -> `running`
   (inputs fetched and checked), i.e. event.created_at - run.created_at. The worker is
   stopped before the load so that it does not compete for the CPU (the server runs with
   PIXELRUN_MODEL_GRACE_SECONDS=-1 so that it queues creates with no worker). An idle
   worker wakes on LISTEN/NOTIFY on PostgreSQL and on a Unix datagram from the creating
   process on SQLite (store/local_wake.py), with polling (0.2 s) as the fallback.

Columns: `srv CPU` is the server process's CPU time over the wall time of the measured
load (100% = one core busy: the server is the bottleneck); `srv CPU ms/req` is that CPU
time per request, which other load on the machine moves much less than req/s does, and
`CPU x baseline` its ratio to the baseline's; `cli CPU` is the same as `srv CPU` for this
process, the load generator (near 100% means the client, not the server, limits the
numbers; with few cores the two share them). p99 over --dispatch-runs samples is close to
the maximum when there are few samples.

Usage:

    .venv/bin/python bench/api_throughput.py [--requests 2000] [--concurrency 16] [--warmup 200]
        [--dispatch-runs 30] [--backends sqlite,postgres] [--loads create,get,mixed] [--json out.json]

Every child process runs in its own session and is killed on exit (also on Ctrl-C or
SIGTERM); the PostgreSQL database and the temporary directories are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from bench_processes import Child, free_port, pixelrun_env, postgres_database, wait_http
from dispatch_latency import DispatchResult, measure_dispatch
from throughput_load import (
    CREATE_PATH,
    LOADS,
    READS_PER_CREATE,
    LoadResult,
    measure_load,
    request_body,
    request_plan,
)
from throughput_table import print_table

DEFAULT_PG_ADMIN_URL = os.environ.get(
    "PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKEND_NAMES = {"sqlite": "sqlite", "postgres": "postgresql", "postgresql": "postgresql", "pg": "postgresql"}


# ---------------------------------------------------------------------------
# The baseline app (served by this same file in a child process: --serve-baseline PORT).


class BaselineInput(BaseModel):
    prompt: str
    image_urls: list[str]
    image_size: str | None = None
    num_inference_steps: int = 28


class BaselineBody(BaseModel):
    input: BaselineInput


class BaselineOut(BaseModel):
    id: str
    status_code: str
    created_at: datetime


def baseline_app() -> FastAPI:
    # The models live at module level: FastAPI resolves the (string) annotations from module globals.
    app = FastAPI()

    # A plain `def` like Pixelrun's create_run, so both pay the same threadpool hop and the
    # ratio isolates what Pixelrun does on top of parsing and answering.
    @app.post("/v1/models/{model_id:path}/runs", status_code=201)
    def create(model_id: str, body: BaselineBody) -> BaselineOut:
        return BaselineOut(id=str(uuid.uuid4()), status_code="queued", created_at=datetime.now().astimezone())

    @app.get("/v1/runs/{run_id}")
    def read(run_id: str) -> BaselineOut:
        return BaselineOut(id=run_id, status_code="queued", created_at=datetime.now().astimezone())

    return app


def serve_baseline(port: int) -> None:
    import uvicorn

    # Same call as pixelrun.serve.serve, so the only difference is the app.
    uvicorn.run(baseline_app(), host="127.0.0.1", port=port, log_level="info")


# ---------------------------------------------------------------------------
# Back ends.


TARGETS = {
    "create": "pixelrun create-run",
    "get": "pixelrun GET /v1/runs/{id}",
    "mixed": f"pixelrun mixed 1 create : {READS_PER_CREATE} GET",
}


def bench_backend(
    backend: str, workdir: Path, body: bytes, args: argparse.Namespace
) -> tuple[list[LoadResult], DispatchResult | None]:
    data_dir = workdir / backend
    data_dir.mkdir()
    database: AbstractContextManager[str] = (
        postgres_database(args.postgres_url)
        if backend == "postgresql"
        else nullcontext(f"sqlite:///{data_dir / 'pixelrun.db'}")
    )
    with database as database_url:
        env = pixelrun_env(data_dir, database_url)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = Child(
            f"pixelrun serve ({backend})",
            [sys.executable, "-m", "pixelrun.cli", "serve", "--port", str(port), "--workers", "0"],
            env,
            data_dir / "serve.log",
        )
        worker: Child | None = None
        try:
            wait_http(base_url, "/v1/health", server, timeout=60)
            deadline = time.monotonic() + 30
            while server.key is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if server.key is None:
                raise RuntimeError(f"pixelrun serve printed no key:\n{server.log_tail()}")
            headers = {"Authorization": f"Bearer {server.key}"}

            dispatch: DispatchResult | None = None
            if args.dispatch_runs:
                log(f"[{backend}] starting a worker (loads the tiny model) ...")
                worker = Child(
                    f"pixelrun worker ({backend})",
                    [sys.executable, "-m", "pixelrun.cli", "worker", "--name", f"bench-{backend}"],
                    env,
                    data_dir / "worker.log",
                )
                wait_http(base_url, "/v1/readiness", worker, timeout=args.worker_timeout)
                log(f"[{backend}] dispatch latency over {args.dispatch_runs} runs ...")
                dispatch = measure_dispatch(backend, base_url, headers, database_url, body, args)
                # The worker would compete for the CPU and drain the queue during the load.
                worker.stop()
                worker = None

            loads: list[LoadResult] = []
            for kind in args.load_list:
                log(f"[{backend}] {kind} load: {args.warmup} warm-up + {args.requests} requests ...")
                run_id = None
                if kind == "get":
                    created = httpx.post(
                        base_url + CREATE_PATH,
                        content=body,
                        headers={**headers, "Content-Type": "application/json"},
                        timeout=30,
                    )
                    created.raise_for_status()
                    run_id = created.json()["id"]
                plan = request_plan(kind, port, headers, body, run_id)
                loads.append(measure_load(TARGETS[kind], kind, backend, port, plan, server.pid, args))
                if server.alive() is False:
                    raise RuntimeError(f"pixelrun serve died during the load:\n{server.log_tail()}")
            return loads, dispatch
        finally:
            if worker is not None:
                worker.stop()
            server.stop()


def bench_baseline(workdir: Path, body: bytes, args: argparse.Namespace) -> dict[str, LoadResult]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    child = Child(
        "baseline",
        [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(port)],
        dict(os.environ),
        workdir / "baseline.log",
    )
    try:
        wait_http(base_url, "/docs", child, timeout=60)
        results: dict[str, LoadResult] = {}
        for kind in args.load_list:
            log(f"[baseline] {kind} load: {args.warmup} warm-up + {args.requests} requests ...")
            plan = request_plan(kind, port, {}, body, str(uuid.uuid4()))
            results[kind] = measure_load(
                f"baseline (bare FastAPI) {kind}", kind, "-", port, plan, child.pid, args
            )
            results[kind].ratio_to_baseline = results[kind].cpu_ratio_to_baseline = 1.0
        return results
    finally:
        child.stop()


# ---------------------------------------------------------------------------
# Output.


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="measured requests per target (default 2000)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="concurrent clients, each on a keep-alive connection (default 16)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="requests sent before each measurement and not counted (default 200)",
    )
    parser.add_argument(
        "--dispatch-runs",
        type=int,
        default=30,
        help="runs created one at a time for the dispatch latency, per back end; 0 skips the "
        "worker and the dispatch part (default 30)",
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated back ends for Pixelrun: sqlite, postgres (default sqlite,postgres)",
    )
    parser.add_argument(
        "--loads",
        default=",".join(LOADS),
        help="comma-separated loads: create (POST only), get (GET /v1/runs/{id} of one queued run), "
        f"mixed (each client creates a run and polls it {READS_PER_CREATE} times) "
        f"(default {','.join(LOADS)})",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_PG_ADMIN_URL,
        help="admin URL of the PostgreSQL server; a fresh database is created there and dropped "
        f"at the end (default $PIXELRUN_TEST_POSTGRES_URL or {DEFAULT_PG_ADMIN_URL})",
    )
    parser.add_argument(
        "--json", type=Path, help="also write every number (and the settings) to this JSON file"
    )
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=180,
        help="seconds to wait for the worker to become ready (default 180)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=120,
        help="seconds to wait for one dispatch run to finish (default 120)",
    )
    parser.add_argument(
        "--serve-baseline",
        type=int,
        metavar="PORT",
        help="internal: serve only the baseline app on 127.0.0.1:PORT (the bench starts itself this way)",
    )
    args = parser.parse_args(argv)
    if args.serve_baseline is None:
        if args.requests < 1 or args.concurrency < 1 or args.warmup < 0 or args.dispatch_runs < 0:
            parser.error("--requests and --concurrency must be >= 1, --warmup and --dispatch-runs >= 0")
        try:
            args.backend_list = [
                BACKEND_NAMES[name.strip()] for name in args.backends.split(",") if name.strip()
            ]
        except KeyError as exc:
            parser.error(f"unknown back end {exc.args[0]!r}: use sqlite and/or postgres")
        args.load_list = [name.strip() for name in args.loads.split(",") if name.strip()]
        unknown = sorted(set(args.load_list) - set(LOADS))
        if unknown or not args.load_list:
            parser.error(f"unknown loads {unknown}: use {', '.join(LOADS)}")
    return args


def _terminate(signum: int, _frame: object) -> None:
    # Turn SIGTERM into an exception so that every `finally` (processes, database) runs.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    # Other processes on the machine skew every number here; the load average says how much.
    load_before = os.getloadavg()[0]
    body = request_body()
    loads: list[LoadResult] = []
    dispatches: list[DispatchResult] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="pixelrun-bench-") as directory:
            workdir = Path(directory)
            baselines = bench_baseline(workdir, body, args)
            loads.extend(baselines.values())
            for backend in args.backend_list:
                backend_loads, dispatch = bench_backend(backend, workdir, body, args)
                for load in backend_loads:
                    baseline = baselines[load.load]
                    load.ratio_to_baseline = load.requests_per_s / baseline.requests_per_s
                    if load.server_cpu_ms_per_request and baseline.server_cpu_ms_per_request:
                        load.cpu_ratio_to_baseline = (
                            load.server_cpu_ms_per_request / baseline.server_cpu_ms_per_request
                        )
                loads.extend(backend_loads)
                if dispatch is not None:
                    dispatches.append(dispatch)
    finally:
        Child.kill_all()
    load_after = os.getloadavg()[0]
    log(f"done in {time.monotonic() - started:.0f} s")
    print_table(loads, dispatches, args)
    print(
        f"machine: {os.cpu_count()} CPUs; 1-minute load average {load_before:.2f} at start, {load_after:.2f} at end"
    )
    if args.json:
        report = {
            "command": [sys.executable, *sys.argv],
            "settings": {
                "requests": args.requests,
                "concurrency": args.concurrency,
                "warmup": args.warmup,
                "dispatch_runs": args.dispatch_runs,
                "backends": args.backend_list,
                "loads": args.load_list,
            },
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_1min_start": load_before,
                "load_average_1min_end": load_after,
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "throughput": [asdict(load) for load in loads],
            "dispatch": [{**asdict(d), "summary": d.summary()} for d in dispatches],
        }
        args.json.write_text(json.dumps(report, indent=2, default=str))
    # Failed requests or runs are printed above; the exit status makes them impossible to miss.
    failed = any(load.errors for load in loads) or any(d.failed for d in dispatches)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
