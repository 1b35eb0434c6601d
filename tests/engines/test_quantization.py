"""Memory modes that can be checked on the CPU: int8 weight-only quantization, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.loading import choose_placement, load_pipeline, module_bytes
from pixelrun.weights.unavailable import WeightsUnavailable

from .conftest import noise_image, pixels

#: int8 weight-only vs fp32 on the tiny weights, in 8-bit pixel levels (2 steps, 256²);
#: measured: mean 0.017, max 1.
MAX_LEVELS = 2
MEAN_LEVELS = 0.1


def test_int8_weight_only_runs_close_to_full_precision_with_a_smaller_transformer(
    tiny_dir: Path, engine: QwenImageEditEngine, tiny_areas: None
) -> None:
    pipeline = load_pipeline(tiny_dir, choose_placement("cpu", quantize="int8wo"))
    quantized = QwenImageEditEngine(pipeline, reference_areas=engine.reference_areas)
    params = EditParameters(
        prompt="make it blue",
        num_inference_steps=2,
        guidance_scale=1.0,
        image_size="256x256",
        seed=3,
        acceleration="none",
        enable_safety_checker=False,
    )
    images = [noise_image(80, 64, 2)]
    full = pixels(engine.edit(params, images).images[0]).astype(int)
    low = pixels(quantized.edit(params, images).images[0]).astype(int)
    difference = np.abs(full - low)
    assert 0 < difference.mean() <= MEAN_LEVELS and difference.max() <= MAX_LEVELS

    linear = pipeline.transformer.transformer_blocks[0].attn.to_q
    assert "Int8" in type(linear.weight).__name__
    # fp32 → int8 weights (plus per-row scales) for every linear layer of the transformer.
    ratio = module_bytes(pipeline.transformer) / module_bytes(engine.pipeline.transformer)
    assert ratio < 0.35, ratio  # measured 0.284: 0.25 for the weights, the rest scales, biases, norms


def test_modes_that_cannot_work_here_are_refused_before_loading() -> None:
    with pytest.raises(ValueError, match=r"compute capability 8\.9"):
        choose_placement("cpu", quantize="fp8")
    with pytest.raises(ValueError, match="group offloading streams weights to a CUDA device"):
        choose_placement("cpu", group_offload=True)
    with pytest.raises(ValueError, match="none, int8wo or fp8"):
        choose_placement("cpu", quantize="int4")
    if not torch.cuda.is_available():
        with pytest.raises(WeightsUnavailable, match="no CUDA device"):
            choose_placement("cuda", group_offload=True)
