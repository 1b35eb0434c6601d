"""The engine's output equals a direct diffusers call with the mapped arguments."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine

from .conftest import noise_image, pixels

PRESET_SIZES = {"square": (512, 512), "landscape_16_9": (1024, 576)}


def random_case(rng: random.Random) -> dict:
    cfg = rng.random() < 0.6
    size_kind = rng.choice(["preset", "custom", "custom"])
    if size_kind == "preset":
        image_size: object = "square"
    else:
        image_size = {"width": rng.randrange(256, 400), "height": rng.randrange(256, 400)}
    return {
        "prompt": rng.choice(["make it blue", "add a hat to the person in Picture 1", "名字"]),
        "negative_prompt": rng.choice(["", "blurry"]),
        "guidance_scale": rng.choice([2.0, 4.5, 7.0]) if cfg else 1.0,
        "num_images": rng.choice([1, 2]),
        "num_inference_steps": rng.choice([2, 3]),
        "seed": rng.randrange(0, 2**32),
        "image_size": image_size,
        "acceleration": "none",
        "enable_safety_checker": False,
        "_images": [
            (rng.randrange(48, 200), rng.randrange(48, 200), rng.randrange(1000))
            for _ in range(rng.randint(1, 3))
        ],
    }


def expected_call(engine: QwenImageEditEngine, case: dict, images: list) -> list:
    """The plain diffusers call, with the mapping written out independently of the engine."""
    if isinstance(case["image_size"], str):
        width, height = PRESET_SIZES[case["image_size"]]
    else:
        width = case["image_size"]["width"] // 16 * 16
        height = case["image_size"]["height"] // 16 * 16
    cfg = case["guidance_scale"] > 1
    return engine.pipeline(
        image=images,
        prompt=case["prompt"],
        negative_prompt=(case["negative_prompt"] or " ") if cfg else None,
        true_cfg_scale=case["guidance_scale"],
        num_images_per_prompt=case["num_images"],
        num_inference_steps=case["num_inference_steps"],
        height=height,
        width=width,
        generator=torch.Generator("cpu").manual_seed(case["seed"]),
    ).images


@pytest.mark.parametrize("case_seed", range(6))
def test_engine_equals_plain_pipeline(engine: QwenImageEditEngine, tiny_areas: None, case_seed: int) -> None:
    case = random_case(random.Random(case_seed))
    images = [noise_image(w, h, s) for w, h, s in case.pop("_images")]
    result = engine.edit(EditParameters.model_validate(case), images)
    expected = expected_call(engine, case, images)
    assert len(result.images) == len(expected) == case["num_images"]
    for got, want in zip(result.images, expected, strict=True):
        assert got.size == want.size == (result.width, result.height)
        assert np.array_equal(pixels(got), pixels(want))


def test_default_size_is_one_megapixel_at_last_image_aspect(engine: QwenImageEditEngine) -> None:
    images = [noise_image(64, 64, 1), noise_image(300, 150, 2)]
    params = EditParameters(
        prompt="x", num_inference_steps=1, guidance_scale=1.0, enable_safety_checker=False
    )
    result = engine.edit(params, images)
    assert (result.width, result.height) == (1440, 736)
    assert result.images[0].size == (1440, 736)
    assert 0.9e6 < result.width * result.height < 1.1e6


def test_cfg_runs_the_negative_branch_with_a_space_when_empty(engine: QwenImageEditEngine) -> None:
    images = [noise_image(64, 64, 1)]
    base = {"prompt": "x", "num_inference_steps": 2, "image_size": "256x256", "acceleration": "none"}
    with_cfg = engine.edit(EditParameters(**base, guidance_scale=4.0), images)
    without = engine.edit(EditParameters(**base, guidance_scale=1.0), images)
    assert with_cfg.transformer_forwards == 4
    assert without.transformer_forwards == 2
