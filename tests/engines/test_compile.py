"""`PIXELRUN_COMPILE=1` on the CPU with the tiny weights: inductor compiles the transformer blocks.

One focused test (compiling is the slow part: 45-130 s on 2 CPU cores): the compiled
engine stays within tolerance of eager, and after the warm-up neither new output sizes
nor the cache levels, the Lightning variant or a user LoRA make dynamo compile again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import QwenImageTransformer2DModel
from safetensors.torch import save_file

from pixelrun.engines.engine import LoraFile
from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.compilation import TINY_WARMUP_SIZES
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.lightning import random_lora_state_dict, save_tiny_lightning_lora

from .conftest import noise_image, pixels

#: Compiled vs eager, in 8-bit pixel levels: inductor reorders float sums (fp32 here).
MAX_LEVELS = 3
MEAN_LEVELS = 0.25
#: Output sizes never seen in the warm-up.
NEW_SIZES = ("272x256", "256x352", "384x288")


@pytest.mark.compile
@pytest.mark.timeout(900)
def test_compiled_engine_matches_eager_and_never_recompiles_after_warm_up(
    tiny_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "transformer").symlink_to(tiny_dir / "transformer")
    lightning = save_tiny_lightning_lora(tmp_path)
    transformer = QwenImageTransformer2DModel.from_pretrained(tiny_dir, subfolder="transformer")
    save_file(random_lora_state_dict(transformer, seed=9, std=0.3), str(tmp_path / "user.safetensors"))
    user_lora = LoraFile(tmp_path / "user.safetensors", "f" * 64, "user.safetensors")

    engine = QwenImageEditEngine.load(tiny_dir, device="cpu", lightning_lora=lightning)
    images = [noise_image(80, 64, 1)]

    def run(size: str, **overrides: object) -> np.ndarray:
        loras = overrides.pop("loras", ())
        lightning_run = bool(overrides.pop("lightning", False))
        params = {
            "prompt": "make it blue",
            "num_inference_steps": 2,
            "guidance_scale": 1.0,
            "seed": 4,
            "acceleration": "none",
            "enable_safety_checker": False,
            "image_size": size,
            **overrides,
        }
        result = engine.edit(
            EditParameters.model_validate(params), images, loras=loras, lightning=lightning_run
        )
        return pixels(result.images[0]).astype(int)

    cases = {
        **{size: {} for size in NEW_SIZES},
        "regular": {"acceleration": "regular", "num_inference_steps": 6},
        "lightning": {"lightning": True},
        "lora": {"loras": [(user_lora, 1.0)]},
    }
    size_of = {name: (name if "x" in name else NEW_SIZES[0]) for name in cases}
    eager = {name: run(size_of[name], **dict(case)) for name, case in cases.items()}

    engine.compile()
    engine.warm_up(TINY_WARMUP_SIZES)
    torch._dynamo.config.error_on_recompile = True
    try:
        compiled = {name: run(size_of[name], **dict(case)) for name, case in cases.items()}
    finally:
        torch._dynamo.config.error_on_recompile = False
    for name in cases:
        difference = np.abs(compiled[name] - eager[name])
        assert difference.max() <= MAX_LEVELS and difference.mean() <= MEAN_LEVELS, name
    assert np.array_equal(compiled["lora"], eager["lora"])  # user LoRAs run eager
