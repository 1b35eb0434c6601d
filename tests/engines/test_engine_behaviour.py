"""Determinism, round trip, cancellation, acceleration and safety of the engine."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.engine import EditCanceled, QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.tiny_weights import TINY_REFERENCE_AREAS, build_tiny_pipeline
from pixelrun.safety import NsfwClassifier, save_tiny_classifier

from .conftest import noise_image, pixels

SMALL = {"image_size": "256x256", "num_inference_steps": 3, "enable_safety_checker": False}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_same_seed_same_bytes_other_seed_other_image(engine: QwenImageEditEngine) -> None:
    images = [noise_image(80, 60, 3)]
    first = engine.edit(EditParameters(prompt="a", seed=7, **SMALL), images)
    again = engine.edit(EditParameters(prompt="a", seed=7, **SMALL), images)
    other = engine.edit(EditParameters(prompt="a", seed=8, **SMALL), images)
    assert png(first.images[0]) == png(again.images[0])
    assert not np.array_equal(pixels(first.images[0]), pixels(other.images[0]))


def test_random_seed_is_reported_and_reproduces(engine: QwenImageEditEngine) -> None:
    images = [noise_image(80, 60, 3)]
    drawn = engine.edit(EditParameters(prompt="a", **SMALL), images)
    assert 0 <= drawn.seed < 2**32
    replay = engine.edit(EditParameters(prompt="a", seed=drawn.seed, **SMALL), images)
    assert png(drawn.images[0]) == png(replay.images[0])


def test_saved_checkpoint_loads_back_identical(tiny_dir: Path, engine: QwenImageEditEngine) -> None:
    in_memory = QwenImageEditEngine(build_tiny_pipeline(seed=0), reference_areas=TINY_REFERENCE_AREAS)
    images = [noise_image(90, 70, 5), noise_image(50, 100, 6)]
    params = EditParameters(prompt="swap them", seed=11, guidance_scale=3.0, **SMALL)
    loaded = engine.edit(params, images)
    built = in_memory.edit(params, images)
    assert png(loaded.images[0]) == png(built.images[0])
    for name in ("transformer", "vae", "text_encoder"):
        a = dict(getattr(engine.pipeline, name).state_dict())
        b = dict(getattr(in_memory.pipeline, name).state_dict())
        assert a.keys() == b.keys()
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_progress_reports_every_step(engine: QwenImageEditEngine) -> None:
    seen: list[tuple[int, int]] = []
    engine.edit(
        EditParameters(prompt="a", seed=1, **SMALL),
        [noise_image(40, 40, 1)],
        on_step=lambda s, n: seen.append((s, n)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("acceleration", ["none", "regular"])
def test_cancel_at_step_k_then_next_call_is_clean(engine: QwenImageEditEngine, acceleration: str) -> None:
    images = [noise_image(64, 48, 9)]
    params = EditParameters(
        prompt="a",
        seed=5,
        image_size="256x256",
        num_inference_steps=8,
        acceleration=acceleration,
        enable_safety_checker=False,
    )
    reference = engine.edit(params, images)
    with pytest.raises(EditCanceled) as raised:
        engine.edit(params, images, on_step=lambda step, _steps: step < 5)
    assert (raised.value.step, raised.value.steps) == (5, 8)
    after = engine.edit(params, images)
    assert png(after.images[0]) == png(reference.images[0])


def test_acceleration_levels_cut_full_transformer_passes(engine: QwenImageEditEngine) -> None:
    images = [noise_image(64, 64, 2)]
    counts: dict[str, int] = {}
    outputs: dict[str, np.ndarray] = {}
    for level in ("none", "regular", "high", "none"):
        params = EditParameters(
            prompt="a",
            seed=3,
            image_size="256x256",
            num_inference_steps=28,
            acceleration=level,
            enable_safety_checker=False,
        )
        result = engine.edit(params, images)
        if level in counts:  # `none` again after the cached levels: hooks fully removed
            assert result.transformer_forwards == counts[level]
            assert np.array_equal(pixels(result.images[0]), outputs[level])
        counts[level] = result.transformer_forwards
        outputs[level] = pixels(result.images[0])
    assert counts["none"] == 56  # 28 steps × (cond + negative)
    assert counts["regular"] <= 0.6 * counts["none"]
    assert counts["high"] <= 0.35 * counts["none"]
    assert not np.array_equal(outputs["regular"], outputs["none"])


@pytest.mark.parametrize(("bias", "flagged"), [(8.0, True), (-4.0, False)])
def test_safety_checker_blacks_out_flagged_images(
    engine: QwenImageEditEngine, tmp_path: Path, bias: float, flagged: bool
) -> None:
    checker = NsfwClassifier.load(save_tiny_classifier(tmp_path / "safety", nsfw_bias=bias))
    guarded = QwenImageEditEngine(
        engine.pipeline, reference_areas=engine.reference_areas, safety_checker=checker
    )
    params = EditParameters(prompt="a", seed=1, num_images=2, image_size="256x256", num_inference_steps=2)
    result = guarded.edit(params, [noise_image(40, 40, 1)])
    assert result.nsfw_flags == [flagged, flagged]
    for image in result.images:
        assert image.size == (256, 256)
        assert bool(pixels(image).max() == 0) is flagged
    unchecked = guarded.edit(
        params.model_copy(update={"enable_safety_checker": False}), [noise_image(40, 40, 1)]
    )
    assert unchecked.nsfw_flags is None
    assert all(pixels(image).max() > 0 for image in unchecked.images)


def test_extreme_aspect_ratios_are_refused_before_the_pipeline(engine: QwenImageEditEngine) -> None:
    from pixelrun.engines.qwen_image_edit.engine import UnsupportedImage

    limit = engine.max_aspect_ratio
    assert limit == 16  # tiny condition area 64² / 16²; real weights: 199 (the processor's limit)
    engine.check_images([noise_image(16 * 20, 20, 1)])  # exactly at the limit: fine
    with pytest.raises(UnsupportedImage) as raised:
        engine.edit(
            EditParameters(prompt="a", **SMALL), [noise_image(40, 40, 1), noise_image(17 * 20, 20, 2)]
        )
    assert raised.value.index == 1 and "17:1" in raised.value.reason and "at most 16:1" in raised.value.reason


def test_attention_backend_is_applied_and_keeps_the_result(
    tiny_dir: Path, engine: QwenImageEditEngine
) -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName

    math = QwenImageEditEngine.load(tiny_dir, device="cpu", attention_backend="_native_math")
    processor = math.pipeline.transformer.transformer_blocks[0].attn.processor
    assert processor._attention_backend == AttentionBackendName._NATIVE_MATH
    params = EditParameters(prompt="a", seed=2, acceleration="none", **SMALL)
    images = [noise_image(64, 64, 4)]
    got = pixels(math.edit(params, images).images[0]).astype(int)
    want = pixels(engine.edit(params, images).images[0]).astype(int)
    assert np.abs(got - want).max() <= 1  # same math, another kernel: equal up to rounding
