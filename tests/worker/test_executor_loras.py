"""Runs with LoRAs and of the Lightning model through the executor, LoRAs served over loopback HTTP."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from diffusers import QwenImageTransformer2DModel
from safetensors.torch import save_file

from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID, MODEL_ID
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.lightning import random_lora_state_dict, save_tiny_lightning_lora
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.runs import RunStatus
from pixelrun.storage import LocalFileStorage
from pixelrun.store import NewRun, Owner, Store
from pixelrun.worker.executor import ExecutorConfig, RunExecutor
from pixelrun.worker.inputs import InputLimits
from pixelrun.worker.lora_files import LoraFiles

from .conftest import WORKER_ID, small_input


class LoraServer:
    """Serves `files` by name on a loopback port and counts the requests per path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests[self.path] += 1
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def lora_bytes(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    transformer = QwenImageTransformer2DModel.from_pretrained(tiny_dir, subfolder="transformer")
    directory = tmp_path_factory.mktemp("served")
    files = {}
    for name, seed in (("style.safetensors", 1), ("other.safetensors", 2)):
        save_file(random_lora_state_dict(transformer, seed=seed, std=0.3), str(directory / name))
        files[name] = (directory / name).read_bytes()
    # A LoRA for another architecture (SDXL text-encoder keys) and a file that is not safetensors.
    save_file(
        {"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 8)},
        str(directory / "f"),
    )
    files["foreign.safetensors"] = (directory / "f").read_bytes()
    files["corrupt.safetensors"] = b"PK\x03\x04 a zip, not a LoRA" * 8
    return files


@pytest.fixture
def server(lora_bytes: dict[str, bytes]) -> Iterator[LoraServer]:
    served = LoraServer(lora_bytes)
    yield served
    served.close()


@pytest.fixture(scope="module")
def lightning_engine(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> QwenImageEditEngine:
    directory = tmp_path_factory.mktemp("lightning")
    (directory / "transformer").symlink_to(tiny_dir / "transformer")
    return QwenImageEditEngine.load(
        tiny_dir, device="cpu", lightning_lora=save_tiny_lightning_lora(directory)
    )


@pytest.fixture
def lora_executor(
    store: Store, lightning_engine: QwenImageEditEngine, storage: LocalFileStorage, tmp_path: Path
) -> RunExecutor:
    client = OutboundClient(NetworkPolicy(allow_private=True), connect_timeout=1, total_timeout=5)
    config = ExecutorConfig(
        worker_id=WORKER_ID,
        lease_seconds=30,
        heartbeat_seconds=0.1,
        run_timeout_seconds=60,
        limits=InputLimits(max_bytes=1_000_000, max_pixels=4_000_000),
    )
    lora_files = LoraFiles(tmp_path / "loras", client, max_bytes=1_000_000)
    return RunExecutor(store, lightning_engine, storage, client, config, threading.Event(), lora_files)


def execute(store: Store, owner: Owner, executor: RunExecutor, model: str = MODEL_ID, **overrides: object):
    run_id = store.runs.create(NewRun(owner.id, model, small_input(**overrides), None, None, None)).run.id
    run = store.queue.claim(WORKER_ID, [model], 30)
    assert run is not None
    executor.execute(run)
    return store.runs.get(run_id)


def output_bytes(storage: LocalFileStorage, run: object) -> bytes:
    with storage.open(run.output["outputs"][0]["key"]) as file:
        return file.read()


def test_a_lora_run_changes_the_image_and_its_second_use_is_a_cache_hit(
    store: Store, owner: Owner, lora_executor: RunExecutor, storage: LocalFileStorage, server: LoraServer
) -> None:
    plain = execute(store, owner, lora_executor)
    lora = {"path": server.url("style.safetensors"), "scale": 1.5}
    first = execute(store, owner, lora_executor, loras=[lora])
    second = execute(store, owner, lora_executor, loras=[lora])
    after = execute(store, owner, lora_executor)
    assert all(run.status is RunStatus.SUCCEEDED for run in (plain, first, second, after))
    assert output_bytes(storage, first) != output_bytes(storage, plain)
    assert output_bytes(storage, second) == output_bytes(storage, first)
    assert output_bytes(storage, after) == output_bytes(storage, plain)
    assert server.requests["/style.safetensors"] == 1  # the second run found it on disk
    assert lora_executor.lora_files.downloads == 1
    assert first.output["model_data"]["loras"] == [lora]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("foreign.safetensors", "matches a layer of this model's transformer"),
        ("corrupt.safetensors", "not a readable .safetensors file"),
        ("missing.safetensors", "HTTP 404"),
    ],
)
def test_a_lora_that_cannot_be_used_fails_the_run_at_input_fetch_and_the_worker_carries_on(
    store: Store, owner: Owner, lora_executor: RunExecutor, server: LoraServer, name: str, problem: str
) -> None:
    good = {"path": server.url("other.safetensors")}
    failed = execute(store, owner, lora_executor, loras=[good, {"path": server.url(name), "scale": 2}])
    assert failed.status is RunStatus.FAILED
    assert (failed.failure_stage, failed.failure_code) == ("input_fetch", "input_fetch_failed")
    assert server.url(name) in failed.failure_message and problem in failed.failure_message
    assert execute(store, owner, lora_executor, loras=[good]).status is RunStatus.SUCCEEDED


def test_the_lightning_model_runs_with_its_defaults(
    store: Store, owner: Owner, lora_executor: RunExecutor, storage: LocalFileStorage
) -> None:
    inputs = small_input()
    del inputs["num_inference_steps"]
    run_id = store.runs.create(NewRun(owner.id, LIGHTNING_MODEL_ID, inputs, None, None, None)).run.id
    claimed = store.queue.claim(WORKER_ID, [MODEL_ID, LIGHTNING_MODEL_ID], 30)
    assert claimed is not None and claimed.id == run_id
    assert lora_executor.execute(claimed) is RunStatus.SUCCEEDED
    data = store.runs.get(run_id).output["model_data"]
    # 8 steps without CFG: one transformer pass per step.
    assert (data["num_inference_steps"], data["guidance_scale"], data["transformer_forwards"]) == (8, 1.0, 8)


def test_a_lora_asset_is_read_from_storage_and_another_owners_is_refused(
    store: Store,
    owner: Owner,
    lora_executor: RunExecutor,
    storage: LocalFileStorage,
    lora_bytes: dict[str, bytes],
) -> None:
    from datetime import timedelta

    from pixelrun.runs import asset_url, utc_now

    def lora_asset(who: Owner) -> str:
        asset_id = store.assets.new_id()
        key = f"assets/{asset_id}/asset.safetensors"
        data = lora_bytes["style.safetensors"]
        storage.put(key, data, "application/octet-stream")
        store.assets.create(
            asset_id,
            who.id,
            "style.safetensors",
            "application/octet-stream",
            len(data),
            key,
            utc_now() + timedelta(hours=1),
        )
        assert store.assets.confirm(asset_id, who.id, None, None) is not None
        return asset_url(asset_id)

    mine = lora_asset(owner)
    for _ in range(2):  # the second run finds the file in the cache, and checks the owner again
        assert execute(store, owner, lora_executor, loras=[{"path": mine}]).status is RunStatus.SUCCEEDED
    assert lora_executor.lora_files.downloads == 1
    theirs = lora_asset(store.owners.ensure("globex"))
    failed = execute(store, owner, lora_executor, loras=[{"path": theirs}])
    assert failed.status is RunStatus.FAILED and failed.failure_stage == "input_fetch"
    assert "loras[0]" in failed.failure_message and theirs.removeprefix("asset://") in failed.failure_message
