"""Resolving `--weights tiny` when several workers start at once on one data dir."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.safety import NsfwClassifier
from pixelrun.worker.engine_factory import resolve_safety_weights, resolve_weights


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
