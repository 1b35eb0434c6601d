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
import atexit
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from throughput_load import (
    CREATE_PATH,
    LOADS,
    READS_PER_CREATE,
    LoadResult,
    measure_load,
    percentile,
    request_body,
    request_plan,
)

KEY_LINE = re.compile(r"^\s+(px_\S+)\s*$")
DEFAULT_PG_ADMIN_URL = os.environ.get(
    "PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKEND_NAMES = {"sqlite": "sqlite", "postgres": "postgresql", "postgresql": "postgresql", "pg": "postgresql"}
TERMINAL = {"succeeded", "failed", "canceled"}


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
# Child processes.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """A child process in its own session (so its whole group can be killed); output goes to a log file."""

    live: ClassVar[list[Child]] = []

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.key: str | None = None
        self._log = log_path.open("a")
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        Child.live.append(self)
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        # stdout is read (not sent to the log directly) because `serve` prints the first key there.
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._log.write(line)
            match = KEY_LINE.match(line)
            if match and self.key is None:
                self.key = match.group(1)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Anything left in the group (also after a clean exit of the leader) is killed.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self in Child.live:
            Child.live.remove(self)
        self._log.close()

    @classmethod
    def kill_all(cls) -> None:
        for child in list(cls.live):
            with suppress(Exception):
                child.stop(timeout=5)


atexit.register(Child.kill_all)


def wait_http(
    base_url: str, path: str, child: Child, timeout: float, headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        try:
            response = httpx.get(base_url + path, headers=headers, timeout=5)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{base_url}{path} not 200 after {timeout} s ({last}):\n{child.log_tail()}")


def pixelrun_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PIXELRUN_DATA_DIR": str(data_dir),
            "PIXELRUN_DATABASE_URL": database_url,
            "PIXELRUN_WEIGHTS": "tiny",
            "PIXELRUN_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # The load runs with no worker (it would compete for the CPU): queue the creates
            # instead of refusing them with 503 MODEL_UNAVAILABLE.
            "PIXELRUN_MODEL_GRACE_SECONDS": "-1",
        }
    )
    return env


# ---------------------------------------------------------------------------
# Dispatch latency.


@dataclass
class DispatchResult:
    backend: str
    runs: int
    failed: dict[str, int] = field(default_factory=dict)
    to_dispatching_ms: list[float] = field(default_factory=list)
    to_running_ms: list[float] = field(default_factory=list)
    # Wall time from the POST to the run being seen terminal, for context (includes the tiny inference).
    to_terminal_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            name: {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99), "n": len(values)}
            for name, values in (
                ("create_to_dispatching", self.to_dispatching_ms),
                ("create_to_running", self.to_running_ms),
                ("create_to_terminal_wall", self.to_terminal_ms),
            )
        }


def measure_dispatch(
    backend: str,
    base_url: str,
    headers: dict[str, str],
    database_url: str,
    body: bytes,
    args: argparse.Namespace,
) -> DispatchResult:
    from pixelrun.store import Store

    result = DispatchResult(backend=backend, runs=args.dispatch_runs)
    store = Store(database_url)
    try:
        with httpx.Client(
            base_url=base_url, headers={**headers, "Content-Type": "application/json"}
        ) as client:
            for _ in range(args.dispatch_runs):
                posted = time.perf_counter()
                response = client.post(CREATE_PATH, content=body, timeout=30)
                if response.status_code != 201:
                    raise RuntimeError(f"create run: {response.status_code} {response.text[:500]}")
                run_id = response.json()["id"]
                deadline = time.monotonic() + args.run_timeout
                while True:
                    run = store.get_run(run_id)
                    assert run is not None
                    if run.status.value in TERMINAL:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"run {run_id} still {run.status.value} after {args.run_timeout} s"
                        )
                    # Polling the store, not the API, so the server is idle while the worker works.
                    time.sleep(0.02)
                result.to_terminal_ms.append((time.perf_counter() - posted) * 1000)
                if run.status.value != "succeeded":
                    label = f"{run.status.value}:{run.failure_code}"
                    result.failed[label] = result.failed.get(label, 0) + 1
                first: dict[str, datetime] = {}
                for event in store.list_events(run_id):
                    first.setdefault(event.to_status.value, event.created_at)
                if "dispatching" in first:
                    result.to_dispatching_ms.append(
                        (first["dispatching"] - run.created_at).total_seconds() * 1000
                    )
                if "running" in first:
                    result.to_running_ms.append((first["running"] - run.created_at).total_seconds() * 1000)
    finally:
        store.close()
    return result


# ---------------------------------------------------------------------------
# Back ends.


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database for the bench, dropped at the end; yields its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql")
    admin_dsn = admin.render_as_string(hide_password=False)
    name = f"pixelrun_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def print_table(loads: list[LoadResult], dispatches: list[DispatchResult], args: argparse.Namespace) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"API throughput: {args.requests} requests x {args.concurrency} clients per target "
        f"(+{args.warmup} warm-up); dispatch: {args.dispatch_runs} sequential runs, one idle worker",
        box=box.MARKDOWN,
        title_justify="left",
    )
    for name, justify in (
        ("measurement", "left"),
        ("backend", "left"),
        ("n", "right"),
        ("errors", "right"),
        ("req/s", "right"),
        ("x baseline", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("srv CPU ms/req", "right"),
        ("CPU x baseline", "right"),
        ("srv CPU", "right"),
        ("cli CPU", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for load in loads:
        table.add_row(
            load.target,
            load.backend,
            str(load.requests),
            str(sum(load.errors.values())),
            f"{load.requests_per_s:.0f}",
            "-" if load.ratio_to_baseline is None else f"{load.ratio_to_baseline:.2f}",
            _ms(load.p50_ms),
            _ms(load.p99_ms),
            "-" if load.server_cpu_ms_per_request is None else f"{load.server_cpu_ms_per_request:.2f}",
            "-" if load.cpu_ratio_to_baseline is None else f"{load.cpu_ratio_to_baseline:.2f}",
            _pct(load.server_cpu),
            _pct(load.client_cpu),
        )
    for dispatch in dispatches:
        failed = str(sum(dispatch.failed.values()))
        for label, values in (
            ("dispatch: create -> dispatching", dispatch.to_dispatching_ms),
            ("dispatch: create -> running", dispatch.to_running_ms),
        ):
            table.add_row(
                label,
                dispatch.backend,
                str(len(values)),
                failed,
                "-",
                "-",
                _ms(percentile(values, 50)),
                _ms(percentile(values, 99)),
                "-",
                "-",
                "-",
                "-",
            )
    # A fixed width so that the table is not wrapped when stdout is a pipe or a file.
    Console(width=200, no_color=True, highlight=False).print(table)
    for load in loads:
        for label, count in load.errors.items():
            print(
                f"errors: {load.target} [{load.backend}] {label} x{count}: {load.error_samples.get(label, '')}"
            )
        if load.p50_first_tenth_ms is not None and load.p50_last_tenth_ms is not None:
            print(
                f"drift: {load.target} [{load.backend}] p50 of first tenth {load.p50_first_tenth_ms:.1f} ms, "
                f"last tenth {load.p50_last_tenth_ms:.1f} ms"
            )
    for dispatch in dispatches:
        for label, count in dispatch.failed.items():
            print(f"dispatch runs not succeeded [{dispatch.backend}]: {label} x{count}")


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
