from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelrun.engines.qwen_image_edit.tiny_weights import TINY_REFERENCE_AREAS


@pytest.fixture
def tiny_areas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give direct pipeline calls the same reference areas the engine uses for tiny weights."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as module

    monkeypatch.setattr(module, "CONDITION_IMAGE_SIZE", TINY_REFERENCE_AREAS[0])
    monkeypatch.setattr(module, "VAE_IMAGE_SIZE", TINY_REFERENCE_AREAS[1])


def noise_image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))
