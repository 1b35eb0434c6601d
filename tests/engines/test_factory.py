"""The Qwen engine factory: resolving `--weights tiny` when several workers start at once on one
data dir, and the Lightning LoRA for the served models."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.factory import resolve_safety_weights, resolve_weights
from pixelrun.safety import NsfwClassifier


def test_concurrent_first_starts_generate_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, weights="tiny")
    seen: list[tuple[Path, int, Path, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        try:
            barrier.wait()
            weights = Path(resolve_weights(settings))
            safety = Path(resolve_safety_weights(settings))
            # The inode shows whether someone replaced the directory after we got it.
            seen.append(
                (weights, os.stat(weights).st_ino, safety, os.stat(safety / "model.safetensors").st_ino)
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and len(seen) == 3
    assert len(set(seen)) == 1
    weights, inode, safety, _ = seen[0]
    assert os.stat(weights).st_ino == inode
    assert not list((tmp_path / "weights").glob(".tiny-*"))  # no staging directories left behind
    # Model loading is not thread-safe in diffusers/transformers (workers are processes).
    QwenImageEditEngine.load(weights, device="cpu")
    NsfwClassifier.load(safety)


def test_tiny_weights_come_with_a_tiny_lightning_lora_when_the_lightning_model_is_served(
    tmp_path: Path,
) -> None:
    from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID, MODEL_ID
    from pixelrun.engines.qwen_image_edit.factory import lightning_lora_for
    from pixelrun.worker.served_models import served_models

    both = Settings(data_dir=tmp_path, weights="tiny")
    assert served_models(both) == [MODEL_ID, LIGHTNING_MODEL_ID]
    lora = lightning_lora_for(both, served_models(both))
    assert lora is not None and lora.parent == both.tiny_weights_dir and lora.stat().st_size > 0
    assert lightning_lora_for(both, served_models(both)) == lora  # generated once
    assert lightning_lora_for(both, [MODEL_ID]) is None


def test_the_registry_loads_the_engine_for_the_served_models(tmp_path: Path) -> None:
    from pixelrun.engines.engine import Engine
    from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID, MODEL_ID
    from pixelrun.engines.qwen_image_edit.compilation import TINY_WARMUP_SIZES
    from pixelrun.engines.registry import MODELS

    settings = Settings(data_dir=tmp_path, weights="tiny", device="cpu", load_safety_checker=False)
    assert MODELS[MODEL_ID].load_engine is MODELS[LIGHTNING_MODEL_ID].load_engine  # one engine for both
    engine = MODELS[MODEL_ID].load_engine(settings, [MODEL_ID])
    assert isinstance(engine, QwenImageEditEngine) and isinstance(engine, Engine)
    assert not engine.serves_lightning and engine.safety_checker is None
    assert engine.warmup_sizes == TINY_WARMUP_SIZES
