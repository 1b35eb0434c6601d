"""The worker's non-model time at 1 MP: outputs delivered inline vs on their own thread.

Runs go through the real worker path (store claim, input fetch from an uploaded asset,
the tiny engine, safety checker, encode, local storage, finish) one after the other, as
an idle-free worker does. Two ways to deliver outputs, measured in the same run:

- inline (the baseline, as before): encode + store + finish, then claim the next run;
- delivered (what the worker does now): the computed run goes to the delivery thread
  (worker/delivery.py) and the worker claims and computes the next run meanwhile.

Per run, "model" is the run's `timing.inference_ms + safety_ms`; "non-model (per run)" is
the issue's figure, `worker_ms - inference_ms - safety_ms`, the time a run spends outside
the model; "between model passes" is what a GPU would idle per run: (wall time of the
whole series - the sum of model time) / runs. Compute is pinned to ONE torch thread, so
that the other core stands for the CPU a GPU box leaves free while its GPU computes
(encoding on a CPU core beside a GPU, not competing with it).

Input: a noisy 1 MP PNG (the worst case for input decode); output 1024x1024, two
denoising steps of the tiny model. The tiny model's images are smoother than noise;
`--outputs noisy` replaces each computed image by uniform noise of the same size before it
is delivered (the worst case for every encoder; pre-generated, so it costs no time).

    .venv/bin/python bench/worker_delivery.py [--runs 6] [--formats png,webp,jpeg] [--outputs model|noisy]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.engines.qwen_image_edit.factory import build_engine
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.runs import RunStatus, utc_now
from pixelrun.storage import LocalFileStorage, UrlSigner
from pixelrun.store import NewRun, Store
from pixelrun.worker.delivery import OutputDelivery
from pixelrun.worker.executor import ExecutorConfig, RunExecutor
from pixelrun.worker.inputs import InputLimits
from pixelrun.worker.served_models import served_models

WORKER_ID = "wrk_bench"
TARGET_MS = 60


def noisy_png(side: int = 1024) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class NoisyOutputs:
    """Bench instrument: the engine, with each result image replaced by uniform noise."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._noise: dict[tuple[int, int], Image.Image] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _noisy(self, size: tuple[int, int]) -> Image.Image:
        if size not in self._noise:
            pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            self._noise[size] = Image.fromarray(pixels)
        return self._noise[size]

    def run(self, *args: Any, **kwargs: Any) -> Any:
        result = self._engine.run(*args, **kwargs)
        return dataclasses.replace(result, images=[self._noisy(image.size) for image in result.images])


def upload_asset(store: Store, storage: LocalFileStorage, owner_id: str, data: bytes, side: int) -> str:
    asset_id = store.assets.new_id()
    key = f"assets/{asset_id}/input.png"
    storage.put(key, data, "image/png")
    store.assets.create(
        asset_id, owner_id, "input.png", "image/png", len(data), key, utc_now() + timedelta(hours=1)
    )
    store.assets.confirm(asset_id, owner_id, side, side)
    return f"asset://{asset_id}"


def run_series(
    store: Store,
    executor: RunExecutor,
    owner_id: str,
    image_url: str,
    fmt: str,
    runs: int,
    pipelined: bool,
    side: int = 1024,
) -> dict[str, Any]:
    body = {
        "prompt": "make it blue",
        "image_urls": [image_url],
        "image_size": f"{side}x{side}",
        "num_inference_steps": 2,
        "output_format": fmt,
        "seed": 1,
    }
    ids = [store.runs.create(NewRun(owner_id, MODEL_ID, body, None, None, None)).run.id for _ in range(runs)]
    delivery = OutputDelivery() if pipelined else None
    started = time.perf_counter()
    try:
        while (run := store.queue.claim(WORKER_ID, [MODEL_ID], 60)) is not None:
            executor.execute(run, delivery)
    finally:
        if delivery is not None:
            delivery.close()
    wall_ms = (time.perf_counter() - started) * 1000
    records = [store.runs.get(run_id) for run_id in ids]
    failed = [record.id for record in records if record is None or record.status is not RunStatus.SUCCEEDED]
    if failed:
        raise RuntimeError(f"runs did not succeed: {failed}")
    timings = [record.output["timing"] for record in records]  # type: ignore[union-attr]
    model = [t["inference_ms"] + t["safety_ms"] for t in timings]
    return {
        "format": fmt,
        "mode": "delivered" if pipelined else "inline",
        "runs": runs,
        "model_ms": statistics.median(model),
        "non_model_per_run_ms": statistics.median(
            t["worker_ms"] - t["inference_ms"] - t["safety_ms"] for t in timings
        ),
        "store_ms": statistics.median(t["store_ms"] for t in timings),
        "fetch_ms": statistics.median(t["fetch_ms"] for t in timings),
        "between_model_ms": (wall_ms - sum(model)) / runs,
        "file_kb": records[0].output["outputs"][0]["file_size"] / 1024,  # type: ignore[union-attr]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=6, help="runs per format and mode (after one warm-up run)"
    )
    parser.add_argument("--formats", default="png,webp,jpeg")
    parser.add_argument("--size", type=int, default=1024, help="side of the square input and output")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--outputs", choices=("model", "noisy"), default="model", help="what is encoded (see above)"
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    workdir = Path(tempfile.mkdtemp(prefix="pixelrun-bench-delivery-"))
    settings = Settings(data_dir=workdir, weights="tiny", device="cpu")
    print("loading the tiny engine ...", file=sys.stderr)
    engine = build_engine(settings, served_models(settings))
    if args.outputs == "noisy":
        engine = NoisyOutputs(engine)
    store = Store(f"sqlite:///{workdir / 'pixelrun.db'}")
    store.migrate()
    owner = store.owners.ensure("bench")
    storage = LocalFileStorage(workdir / "files", "http://127.0.0.1:9", UrlSigner(b"k" * 32))
    image_url = upload_asset(store, storage, owner.id, noisy_png(args.size), args.size)
    config = ExecutorConfig(
        worker_id=WORKER_ID,
        lease_seconds=60,
        heartbeat_seconds=1,
        run_timeout_seconds=600,
        limits=InputLimits(max_bytes=50_000_000, max_pixels=40_000_000),
    )
    client = OutboundClient(NetworkPolicy(), connect_timeout=1, total_timeout=2)
    executor = RunExecutor(store, engine, storage, client, config, threading.Event())

    rows = []
    for fmt in args.formats.split(","):
        run_series(store, executor, owner.id, image_url, fmt, 1, False, args.size)  # warm-up
        for pipelined in (False, True):
            print(f"{fmt}: {'delivered' if pipelined else 'inline'} x {args.runs} ...", file=sys.stderr)
            rows.append(
                run_series(store, executor, owner.id, image_url, fmt, args.runs, pipelined, args.size)
            )
    store.close()

    print(
        f"\nnoisy {args.size}x{args.size} input, {args.outputs} outputs, {args.runs} runs per row (medians); "
        f"target at 1024x1024: <= {TARGET_MS} ms\n"
    )
    header = "| format | delivery | model ms | fetch ms | encode+store ms | non-model per run ms | between model passes ms | file KB |"
    print(header)
    print("| --- " * 8 + "|")
    for row in rows:
        print(
            f"| {row['format']} | {row['mode']} | {row['model_ms']:.0f} | {row['fetch_ms']:.0f} | {row['store_ms']:.0f} "
            f"| {row['non_model_per_run_ms']:.0f} | {row['between_model_ms']:.0f} | {row['file_kb']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
