"""Non-model time per run at 1 MP output: S3 storage (moto's server) vs local storage.

What it measures, per run, the storage work a run adds besides the model (all on this
machine; the S3 server is moto's standalone server in a child process on 127.0.0.1,
reached over HTTP by boto3 exactly as in production):

- put: the worker stores the output (a 1024x1024 PNG of noise, so it does not compress to
  nothing: ~3 MB) with `FileStorage.put` (local: temp file, fsync, rename; S3: one PUT);
- presign: the API makes the output URL (`url_for`; local: HMAC; S3: SigV4 presigned GET);
- read back: the client downloads the file from that URL (local: through the API's
  `/v1/files/...` route served by uvicorn in a thread; S3: straight from the bucket).

The local back end is the baseline, measured in the same run; the table gives the median
and p90 per step and the ratio of each median to the local one. Encoding the PNG is the
same on both back ends and is shown once for scale.

Usage:

    .venv/bin/python bench/storage.py [--runs 30] [--json out.json]

Uses AWS_ENDPOINT_URL_S3 when set (a real bucket: also set PIXELRUN_BENCH_BUCKET);
otherwise starts moto's server and removes it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from PIL import Image

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.media import encode_image
from pixelrun.storage import FileStorage, LocalFileStorage, UrlSigner, storage_from_settings
from pixelrun.store import Store

SIDE = 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def s3_endpoint() -> Iterator[str]:
    """A bucket to write to: the configured one, or a fresh one on a moto server started here."""
    if os.environ.get("AWS_ENDPOINT_URL_S3") and os.environ.get("PIXELRUN_BENCH_BUCKET"):
        yield os.environ["PIXELRUN_BENCH_BUCKET"]
        return
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        import boto3

        bucket = f"pixelrun-bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        yield bucket
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def api_server(settings: Settings, storage: FileStorage) -> Iterator[str]:
    """The real app (for its /v1/files route) under uvicorn in a thread, on a loopback port."""
    store = Store(settings.resolved_database_url)
    store.migrate()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store, storage), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def measure(storage: FileStorage, data: bytes, runs: int, client: httpx.Client) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"put": [], "presign": [], "read back": [], "total": []}
    for index in range(runs):
        key = f"runs/bench{index:04d}/0.png"
        started = time.perf_counter()
        storage.put(key, data, "image/png")
        put_done = time.perf_counter()
        url = storage.url_for(key, 3600)
        presign_done = time.perf_counter()
        response = client.get(url)
        read_done = time.perf_counter()
        assert response.status_code == 200 and len(response.content) == len(data), response.status_code
        times["put"].append(put_done - started)
        times["presign"].append(presign_done - put_done)
        times["read back"].append(read_done - presign_done)
        times["total"].append(read_done - started)
    return times


def _timed(function: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    pixels = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    data = encode_image(image, "png")
    encode = _timed(lambda: encode_image(image, "png"), max(3, args.runs // 5))

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, httpx.Client(timeout=30) as client:
        base = Settings(
            data_dir=Path(tmp), signing_secret="b" * 32, background_tasks=False, retention_hours=0
        )
        local = LocalFileStorage(Path(tmp) / "files", "http://placeholder", UrlSigner(b"b" * 32))
        with api_server(base, local) as url:
            local = LocalFileStorage(Path(tmp) / "files", url, UrlSigner(b"b" * 32))
            measure(local, data, 2, client)  # warm-up
            results["local"] = measure(local, data, args.runs, client)
        with s3_endpoint() as bucket:
            s3 = storage_from_settings(base.model_copy(update={"storage_url": f"s3://{bucket}/bench"}))
            measure(s3, data, 2, client)
            results["s3"] = measure(s3, data, args.runs, client)

    def ms(values: list[float], q: float) -> float:
        return 1000 * (statistics.quantiles(values, n=10)[8] if q == 0.9 else statistics.median(values))

    print(
        f"\nNon-model storage time per run, one {SIDE}x{SIDE} PNG output ({len(data) / 1e6:.2f} MB), {args.runs} runs"
    )
    print(f"PNG encode (same on both, for scale): median {ms(encode, 0.5):.1f} ms\n")
    header = (
        f"{'step':<10} {'local p50':>10} {'local p90':>10} {'S3 p50':>10} {'S3 p90':>10} {'S3 / local':>11}"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, dict[str, float]] = {}
    for step in ("put", "presign", "read back", "total"):
        local_p50, s3_p50 = ms(results["local"][step], 0.5), ms(results["s3"][step], 0.5)
        ratio = s3_p50 / local_p50 if local_p50 else float("inf")
        summary[step] = {
            "local_p50_ms": local_p50,
            "local_p90_ms": ms(results["local"][step], 0.9),
            "s3_p50_ms": s3_p50,
            "s3_p90_ms": ms(results["s3"][step], 0.9),
            "ratio": ratio,
        }
        row = summary[step]
        print(
            f"{step:<10} {local_p50:>8.2f}ms {row['local_p90_ms']:>8.2f}ms "
            f"{s3_p50:>8.2f}ms {row['s3_p90_ms']:>8.2f}ms {ratio:>10.1f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"bytes": len(data), "runs": args.runs, "steps": summary}, indent=2))


if __name__ == "__main__":
    main()
