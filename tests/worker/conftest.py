from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.storage import LocalFileStorage, UrlSigner
from pixelrun.store import Store
from pixelrun.worker.executor import ExecutorConfig, RunExecutor
from pixelrun.worker.inputs import InputLimits

WORKER_ID = "wrk_test"


def data_uri(width: int = 48, height: int = 40, color: tuple[int, int, int] = (20, 140, 90)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def small_input(**overrides: object) -> dict:
    return {
        "prompt": "make it blue",
        "image_urls": [data_uri()],
        "image_size": "256x256",
        "num_inference_steps": 2,
        "seed": 1,
        **overrides,
    }


@pytest.fixture
def storage(tmp_path: Path) -> LocalFileStorage:
    return LocalFileStorage(tmp_path / "files", "http://127.0.0.1:9", UrlSigner(b"k" * 32))


@pytest.fixture
def stopping() -> threading.Event:
    return threading.Event()


@pytest.fixture
def executor(
    store: Store, guarded_engine: QwenImageEditEngine, storage: LocalFileStorage, stopping: threading.Event
) -> RunExecutor:
    config = ExecutorConfig(
        worker_id=WORKER_ID,
        lease_seconds=30,
        heartbeat_seconds=0.1,
        run_timeout_seconds=60,
        limits=InputLimits(max_bytes=1_000_000, max_pixels=4_000_000),
    )
    client = OutboundClient(NetworkPolicy(), connect_timeout=1, total_timeout=2)
    return RunExecutor(store, guarded_engine, storage, client, config, stopping)


def claim(store: Store) -> object:
    run = store.queue.claim(WORKER_ID, [MODEL_ID], 30)
    assert run is not None
    return run


@pytest.fixture(scope="session")
def guarded_engine(
    engine: QwenImageEditEngine, tmp_path_factory: pytest.TempPathFactory
) -> QwenImageEditEngine:
    """The tiny engine with the tiny NSFW checker (which calls ordinary images `normal`)."""
    from pixelrun.safety import NsfwClassifier, save_tiny_classifier

    checker = NsfwClassifier.load(save_tiny_classifier(tmp_path_factory.mktemp("safety") / "nsfw"))
    return QwenImageEditEngine(
        engine.pipeline, reference_areas=engine.reference_areas, safety_checker=checker
    )
