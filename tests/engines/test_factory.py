"""Resolving `--weights tiny` when several workers start at once on one data dir."""

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
    import pytest

    from pixelrun.engines.qwen_image_edit import LIGHTNING_MODEL_ID, MODEL_ID
    from pixelrun.engines.qwen_image_edit.factory import lightning_lora_for
    from pixelrun.worker.served_models import served_models

    both = Settings(data_dir=tmp_path, weights="tiny")
    assert served_models(both) == [MODEL_ID, LIGHTNING_MODEL_ID]
    lora = lightning_lora_for(both)
    assert lora is not None and lora.parent == both.tiny_weights_dir and lora.stat().st_size > 0
    assert lightning_lora_for(both) == lora  # generated once
    assert lightning_lora_for(Settings(data_dir=tmp_path, weights="tiny", models=MODEL_ID)) is None
    with pytest.raises(ValueError, match="acme/other not served by this engine"):
        served_models(Settings(data_dir=tmp_path, models="acme/other"))
