"""CPU cost of run event streams: many SSE clients on one API process while a run progresses,
against clients polling GET /v1/runs/{id} in the same run (the baseline).

What it does, per back end (SQLite in a temporary data dir; PostgreSQL in a fresh
database dropped at the end):

1. `pixelrun serve --workers 0` (the API process alone, so its CPU is measured apart from
   the model) and a run created while no worker is up, so that it waits in the queue.
2. streams: --streams clients open `GET /v1/runs/{id}/stream` on that run (raw asyncio
   HTTP/1.1 connections, a minimal client so that the load generator stays cheap); then
   `pixelrun worker` starts, claims the run and runs it (--steps denoising steps at
   256x256). Measured from the run's first status change (the worker's model load, while
   the streams idle, is reported apart as idle CPU) until every stream got `done`:
   the API process's CPU time (utime + stime from /proc), events delivered in total and
   per stream, CPU per delivered event, and the fan-out spread of each progress event
   (last stream to receive it minus first).
3. polling baseline: with the worker warm, another run of the same size; the same number
   of clients poll `GET /v1/runs/{id}` every --poll-interval s until it is terminal. CPU per
   response and CPU per observed change (a new status or progress step seen by a client:
   what a stream event carries); the ratio to the streams' CPU per event.

Other load on the machine moves wall times a lot and CPU times less; the load average
is printed. Usage:

    .venv/bin/python bench/sse_streams.py [--streams 200] [--steps 30] [--poll-interval 0.25]
        [--backends sqlite,postgres] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_processes import Child, free_port, pixelrun_env, postgres_database, wait_http
from throughput_load import cpu_seconds

MODEL = "alibaba/qwen-image-edit-2511"


@dataclass
class StreamsResult:
    backend: str
    streams: int
    steps: int
    events: int = 0
    events_per_stream_min: int = 0
    progress_per_stream_min: int = 0
    wall_s: float = 0.0
    api_cpu_s: float = 0.0
    spread_ms: list[float] = field(default_factory=list)
    idle_cpu_pct: float = 0.0  # API CPU while the streams wait on a queued run (model loading)

    @property
    def cpu_us_per_event(self) -> float:
        return self.api_cpu_s / max(self.events, 1) * 1e6


@dataclass
class PollResult:
    backend: str
    clients: int
    responses: int = 0
    changes: int = 0
    wall_s: float = 0.0
    api_cpu_s: float = 0.0

    @property
    def cpu_us_per_response(self) -> float:
        return self.api_cpu_s / max(self.responses, 1) * 1e6

    @property
    def cpu_us_per_change(self) -> float:
        return self.api_cpu_s / max(self.changes, 1) * 1e6


def image_uri() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def create_run(base_url: str, key: str, steps: int) -> str:
    body = {"input": {"prompt": "bench", "image_urls": [image_uri()], "image_size": "256x256",
                      "num_inference_steps": steps}}  # fmt: skip
    response = httpx.post(
        f"{base_url}/v1/models/{MODEL}/runs",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["id"])


async def open_stream(port: int, key: str, run_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        f"GET /v1/runs/{run_id}/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream answered {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # headers
    return reader, writer


async def follow(
    reader: asyncio.StreamReader, started: asyncio.Event, arrivals: dict[int, list[float]]
) -> tuple[int, int]:
    """Count events until `done` (chunked body lines read as they come); progress arrival times."""
    events = progress = 0
    event_name = ""
    while True:
        line = await reader.readline()
        if not line:
            return events, progress
        text = line.strip()
        if text.startswith(b"event: "):
            event_name = text[7:].decode()
            events += 1
            if events == 2:
                started.set()  # the run left the queue: the measured part begins
        elif text.startswith(b"data: ") and event_name == "progress":
            step = json.loads(text[6:])["step"]
            arrivals.setdefault(step, []).append(time.monotonic())
            progress += 1
        elif text.startswith(b"data: ") and event_name == "done":
            return events, progress


async def bench_streams(base_url: str, port: int, key: str, args: argparse.Namespace, api: Child,
                        start_worker: callable) -> StreamsResult:  # fmt: skip
    run_id = create_run(base_url, key, args.steps)
    connections = await asyncio.gather(*(open_stream(port, key, run_id) for _ in range(args.streams)))
    arrivals: dict[int, list[float]] = {}
    started = asyncio.Event()
    result = StreamsResult(backend="", streams=args.streams, steps=args.steps)
    tasks = [asyncio.create_task(follow(reader, started, arrivals)) for reader, _ in connections]
    idle_cpu0, idle_wall0 = cpu_seconds(api.pid) or 0.0, time.monotonic()
    await asyncio.to_thread(start_worker)
    await started.wait()
    cpu0, wall0 = cpu_seconds(api.pid) or 0.0, time.monotonic()
    result.idle_cpu_pct = (cpu0 - idle_cpu0) / (wall0 - idle_wall0) * 100
    counts = await asyncio.gather(*tasks)
    result.wall_s = time.monotonic() - wall0
    result.api_cpu_s = (cpu_seconds(api.pid) or 0.0) - cpu0
    for _, writer in connections:
        writer.close()
    # Minus each stream's first event (the queued snapshot, sent before the measured part).
    result.events = sum(events - 1 for events, _ in counts)
    result.events_per_stream_min = min(events for events, _ in counts)
    result.progress_per_stream_min = min(progress for _, progress in counts)
    result.spread_ms = [(max(times) - min(times)) * 1000 for times in arrivals.values()]
    return result


async def bench_polling(base_url: str, key: str, args: argparse.Namespace, api: Child) -> PollResult:
    run_id = create_run(base_url, key, args.steps)
    result = PollResult(backend="", clients=args.streams)
    limits = httpx.Limits(max_connections=args.streams, max_keepalive_connections=args.streams)

    async with httpx.AsyncClient(
        limits=limits, timeout=60, headers={"Authorization": f"Bearer {key}"}
    ) as http:

        async def poll() -> tuple[int, int]:
            responses, seen = 0, set()
            while True:
                run = (await http.get(f"{base_url}/v1/runs/{run_id}")).json()
                responses += 1
                seen.add((run["status_code"], (run.get("progress") or {}).get("step")))
                if run["status_code"] in ("succeeded", "failed", "canceled"):
                    return responses, len(seen)
                await asyncio.sleep(args.poll_interval)

        cpu0, wall0 = cpu_seconds(api.pid) or 0.0, time.monotonic()
        counts = await asyncio.gather(*(poll() for _ in range(args.streams)))
    result.wall_s = time.monotonic() - wall0
    result.api_cpu_s = (cpu_seconds(api.pid) or 0.0) - cpu0
    result.responses = sum(r for r, _ in counts)
    result.changes = sum(c for _, c in counts)
    return result


def bench_backend(backend: str, database_url: str, workdir: Path, args: argparse.Namespace) -> tuple:
    data_dir = workdir / backend
    data_dir.mkdir()
    env = pixelrun_env(data_dir, database_url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = Child("serve", [sys.executable, "-m", "pixelrun.cli", "serve", "--port", str(port), "--workers", "0"],
                env, data_dir / "serve.log")  # fmt: skip
    workers: list[Child] = []
    try:
        wait_http(base_url, "/v1/health", api, timeout=120)
        deadline = time.monotonic() + 30
        while api.key is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert api.key, api.log_tail()

        def start_worker() -> None:
            workers.append(Child("worker", [sys.executable, "-m", "pixelrun.cli", "worker"], env,
                                 data_dir / "worker.log"))  # fmt: skip

        streams = asyncio.run(bench_streams(base_url, port, api.key, args, api, start_worker))
        polling = asyncio.run(bench_polling(base_url, api.key, args, api))
        streams.backend = polling.backend = backend
        return streams, polling
    finally:
        for child in workers:
            child.stop()
        api.stop()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_table(results: list[tuple[StreamsResult, PollResult]], load: float) -> None:
    print(f"\nload average before: {load:.2f}  (cores: {os.cpu_count()})\n")
    header = (f"{'backend':8} {'mode':8} {'clients':>7} {'events/resp':>11} {'wall s':>7} {'API CPU s':>9} "
              f"{'µs CPU/event':>12} {'µs CPU/change':>13} {'x streams':>9}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for streams, polling in results:
        print(f"{streams.backend:8} {'SSE':8} {streams.streams:>7} {streams.events:>11} {streams.wall_s:>7.2f} "
              f"{streams.api_cpu_s:>9.2f} {streams.cpu_us_per_event:>12.0f} {streams.cpu_us_per_event:>13.0f} "
              f"{1.0:>9.2f}")  # fmt: skip
        ratio = polling.cpu_us_per_change / streams.cpu_us_per_event if streams.events else float("nan")
        print(f"{polling.backend:8} {'polling':8} {polling.clients:>7} {polling.responses:>11} "
              f"{polling.wall_s:>7.2f} {polling.api_cpu_s:>9.2f} {polling.cpu_us_per_response:>12.0f} "
              f"{polling.cpu_us_per_change:>13.0f} {ratio:>9.2f}")  # fmt: skip
    print()
    for streams, _ in results:
        print(f"{streams.backend}: every stream got >= {streams.events_per_stream_min} events, "
              f">= {streams.progress_per_stream_min}/{streams.steps} progress events; fan-out spread of a "
              f"progress event p50 {_pct(streams.spread_ms, 0.5):.1f} ms, "
              f"p99 {_pct(streams.spread_ms, 0.99):.1f} ms; API CPU while {streams.streams} streams wait "
              f"on a queued run: {streams.idle_cpu_pct:.1f}% of a core")  # fmt: skip
    print("\nSSE `µs CPU/event`: API CPU per event delivered to one client (status, progress, log, done).")
    print("polling `µs CPU/change`: API CPU per distinct (status, step) a polling client saw; `x streams`")
    print("is that over SSE's CPU per event (how many times more a change costs when polled).")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get("PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="pixelrun-sse-bench-") as directory, ExitStack() as stack:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{Path(directory) / 'bench.db'}"
            else:
                url = stack.enter_context(postgres_database(args.postgres_admin_url))
            print(f"{backend}: {args.streams} streams, {args.steps} steps…", file=sys.stderr, flush=True)
            results.append(bench_backend(backend, url, Path(directory), args))
    print_table(results, load)
    if args.json is not None:
        payload = [
            {"streams": asdict(s) | {"cpu_us_per_event": s.cpu_us_per_event},
             "polling": asdict(p) | {"cpu_us_per_change": p.cpu_us_per_change}}
            for s, p in results
        ]  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
