"""Malformed and extreme input images through whole runs: each run ends cleanly, the worker survives."""

from __future__ import annotations

import base64
import io
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.runs import RunStatus
from pixelrun.storage import LocalFileStorage
from pixelrun.store import NewRun, Store
from pixelrun.worker.executor import RunExecutor

from .conftest import claim


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size, with almost no data (a decompression bomb)."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))


def noise(fmt: str) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    return encoded(Image.fromarray(pixels), fmt)


def animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), index) for index in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


CORPUS: dict[str, tuple[bytes, bool]] = {
    # name: (bytes, should the run succeed?)
    "truncated_png": (noise("PNG")[:300], False),
    "truncated_jpeg": (noise("JPEG")[:400], False),
    "random_bytes": (np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes(), False),
    "empty": (b"", False),
    "png_header_bomb": (png_claiming(100_000, 100_000), False),
    "over_pixel_cap": (encoded(Image.new("1", (2100, 2000)), "PNG"), False),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', False),
    "ico": (encoded(Image.new("RGB", (16, 16)), "ICO"), False),
    "animated_gif": (animated_gif(), True),
    "cmyk_jpeg": (encoded(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), True),
    "png16": (encoded(Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000), "PNG"), True),
    "rgba": (encoded(Image.new("RGBA", (9, 9), (255, 0, 0, 0)), "PNG"), True),
    "tiny_1x1": (encoded(Image.new("RGB", (1, 1)), "PNG"), True),
    "aspect_8_to_1": (encoded(Image.new("RGB", (400, 50)), "PNG"), True),
    "extreme_aspect": (encoded(Image.new("RGB", (2000, 2)), "PNG"), False),
}


@pytest.fixture
def fuzz_executor(
    sqlite_store: Store, guarded_engine: QwenImageEditEngine, storage: LocalFileStorage
) -> RunExecutor:
    import threading

    from pixelrun.net import NetworkPolicy, OutboundClient
    from pixelrun.worker.executor import ExecutorConfig
    from pixelrun.worker.inputs import InputLimits

    config = ExecutorConfig("wrk_test", 30, 0.1, 60, InputLimits(max_bytes=2_000_000, max_pixels=4_000_000))
    return RunExecutor(
        sqlite_store, guarded_engine, storage, OutboundClient(NetworkPolicy()), config, threading.Event()
    )


def test_every_corpus_image_ends_its_run_cleanly(sqlite_store: Store, fuzz_executor: RunExecutor) -> None:
    owner = sqlite_store.owners.ensure("fuzz")
    good = "data:image/png;base64," + base64.b64encode(encoded(Image.new("RGB", (30, 20)), "PNG")).decode()
    outcomes = {}
    for name, (data, should_succeed) in CORPUS.items():
        uri = "data:image/png;base64," + base64.b64encode(data).decode()
        run_input = {
            "prompt": "x",
            "image_urls": [good, uri],
            "image_size": "256x256",
            "num_inference_steps": 1,
        }
        run_id = sqlite_store.runs.create(NewRun(owner.id, MODEL_ID, run_input)).run.id
        started = time.monotonic()
        fuzz_executor.execute(claim(sqlite_store))
        run = sqlite_store.runs.get(run_id)
        assert time.monotonic() - started < 20, name
        outcomes[name] = run.status
        if should_succeed:
            assert run.status is RunStatus.SUCCEEDED, (name, run.failure_message)
        else:
            assert run.status is RunStatus.FAILED, name
            assert run.failure_stage == "input_fetch", (name, run.failure_message)
            assert run.failure_message.startswith("image_urls[1]: "), (name, run.failure_message)
    assert len(outcomes) == len(CORPUS)
