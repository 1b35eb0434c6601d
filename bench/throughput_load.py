"""Load generation for `api_throughput.py`: raw keep-alive HTTP/1.1 clients on asyncio, the
create / get / mixed request plans, and server CPU accounting from /proc.

A module of its own so the bench script keeps to orchestration and reporting.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CREATE_PATH = "/v1/models/alibaba/qwen-image-edit-2511/runs"


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------
# Load generation.


def request_body() -> bytes:
    """The create-run body, encoded once so that every target gets the same bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 80, 40)).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    body = {"input": {"prompt": "x", "image_urls": [uri], "image_size": "256x256", "num_inference_steps": 1}}
    return json.dumps(body).encode()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


@dataclass
class LoadResult:
    target: str
    load: str
    backend: str
    requests: int
    ok: int
    errors: dict[str, int]
    error_samples: dict[str, str]
    seconds: float
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_cpu: float | None
    # Server CPU time per request: unlike req/s, barely moved by other processes on the machine.
    server_cpu_ms_per_request: float | None
    client_cpu: float
    # p50 of the first and last tenth of the requests (in send order), to see drift as the table grows.
    p50_first_tenth_ms: float | None = None
    p50_last_tenth_ms: float | None = None
    ratio_to_baseline: float | None = None
    cpu_ratio_to_baseline: float | None = None


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client connection for one pre-encoded request.

    httpx was measured here at ~5 ms of client CPU per request against ~0.1 ms for this,
    and on two cores the load generator shares the CPU with the server: with httpx the
    client, not the server, set the numbers. Responses must carry Content-Length (FastAPI's
    JSON responses do); anything else counts as an error.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        try:
            self.writer.write(raw)
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length: int | None = None
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length is None:
                raise ValueError(f"response without Content-Length: {head[:300]!r}")
            body = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def encode_request(port: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [
        f"POST {CREATE_PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def encode_get(port: int, headers: dict[str, str], run_id: str) -> bytes:
    lines = [
        f"GET /v1/runs/{run_id} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# The loads: "create" (every request creates a run), "get" (every request reads one run,
# created before the load) and "mixed" (each client creates a run, then polls it
# READS_PER_CREATE times, like a client waiting for its result).
READS_PER_CREATE = 10
LOADS = ("create", "get", "mixed")


def request_plan(
    kind: str, port: int, headers: dict[str, str], body: bytes, run_id: str | None
) -> Callable[[int, str | None], tuple[bytes, int]]:
    """For the n-th request of one client (and the run it created last): (raw request, expected status)."""
    create = (encode_request(port, headers, body), 201)
    if kind == "create":
        return lambda _n, _last: create
    if kind == "get":
        assert run_id is not None
        get = (encode_get(port, headers, run_id), 200)
        return lambda _n, _last: get
    reads: dict[str, bytes] = {}

    def mixed(n: int, last: str | None) -> tuple[bytes, int]:
        if n % (READS_PER_CREATE + 1) == 0 or last is None:
            return create
        raw = reads.get(last)
        if raw is None:
            reads.clear()
            raw = reads[last] = encode_get(port, headers, last)
        return raw, 200

    return mixed


async def _drive(
    port: int, plan: Callable[[int, str | None], tuple[bytes, int]], total: int, concurrency: int
) -> tuple[list[tuple[int, float]], Counter[str], dict[str, str], float]:
    """`total` requests from `concurrency` connections; returns (index, seconds) per request, error counts and samples, wall time."""
    timings: list[tuple[int, float]] = []
    errors: Counter[str] = Counter()
    samples: dict[str, str] = {}
    counter = iter(range(total))

    async def one_client() -> None:
        connection = RawConnection("127.0.0.1", port)
        sent = 0
        last_id: str | None = None
        try:
            for index in counter:  # a shared iterator: the load stops by itself after `total`
                raw, expect = plan(sent, last_id)
                sent += 1
                started = time.perf_counter()
                try:
                    status, text = await connection.request(raw, timeout=60)
                    elapsed = time.perf_counter() - started
                    if status == 201:
                        last_id = json.loads(text)["id"]
                    if status != expect:
                        label = f"HTTP {status}"
                        errors[label] += 1
                        samples.setdefault(label, text[:500].decode(errors="replace"))
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    elapsed = time.perf_counter() - started
                    label = type(exc).__name__
                    errors[label] += 1
                    samples.setdefault(label, repr(exc)[:500])
                timings.append((index, elapsed))
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return timings, errors, samples, wall


def run_async(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        import uvloop  # the client's own overhead matters on few cores; uvloop makes it smaller
    except ImportError:
        return asyncio.run(factory())
    return uvloop.run(factory())


def measure_load(
    target: str,
    kind: str,
    backend: str,
    port: int,
    plan: Callable[[int, str | None], tuple[bytes, int]],
    server_pid: int,
    args: argparse.Namespace,
) -> LoadResult:
    if args.warmup:
        run_async(lambda: _drive(port, plan, args.warmup, args.concurrency))
    server_cpu_before = cpu_seconds(server_pid)
    client_cpu_before = time.process_time()
    timings, errors, samples, wall = run_async(lambda: _drive(port, plan, args.requests, args.concurrency))
    client_cpu = (time.process_time() - client_cpu_before) / wall
    server_cpu_after = cpu_seconds(server_pid)
    server_cpu_total = (
        server_cpu_after - server_cpu_before
        if server_cpu_before is not None and server_cpu_after is not None
        else None
    )
    latencies = [seconds * 1000 for _, seconds in timings]
    by_index = [seconds * 1000 for _, seconds in sorted(timings)]
    tenth = max(1, len(by_index) // 10)
    return LoadResult(
        target=target,
        load=kind,
        backend=backend,
        requests=len(timings),
        ok=len(timings) - sum(errors.values()),
        errors=dict(errors),
        error_samples=samples,
        seconds=wall,
        requests_per_s=len(timings) / wall,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies) if latencies else None,
        server_cpu=None if server_cpu_total is None else server_cpu_total / wall,
        server_cpu_ms_per_request=None
        if server_cpu_total is None
        else server_cpu_total * 1000 / len(timings),
        client_cpu=client_cpu,
        p50_first_tenth_ms=percentile(by_index[:tenth], 50),
        p50_last_tenth_ms=percentile(by_index[-tenth:], 50),
    )
