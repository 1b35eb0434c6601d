"""Live previews from the latents (docs/api.md#previews): when they come, their size, and
outputs identical with and without them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pixelrun.engines.engine import PREVIEW_MAX_SIDE, Preview, PreviewRequest, preview_steps
from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.previews import (
    WAN21_RGB_BIAS,
    WAN21_RGB_FACTORS,
    LatentPreviewer,
    rgb_projection,
    unpack_latents,
)

from .conftest import noise_image


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def collecting(every: int) -> tuple[PreviewRequest, list[Preview]]:
    seen: list[Preview] = []
    return PreviewRequest(every, seen.append), seen


def test_preview_steps_leave_out_the_last_step() -> None:
    assert preview_steps(2, 8) == [2, 4, 6]
    assert preview_steps(1, 3) == [1, 2]
    assert preview_steps(3, 3) == []
    assert preview_steps(0, 8) == []
    with pytest.raises(ValueError, match="at least 1"):
        PreviewRequest(0, print)


@pytest.mark.parametrize("acceleration", ["none", "regular"])
def test_outputs_are_bit_for_bit_the_same_with_previews(
    engine: QwenImageEditEngine, acceleration: str
) -> None:
    images = [noise_image(80, 60, 4)]
    params = EditParameters(
        prompt="a",
        seed=21,
        image_size="320x256",
        num_inference_steps=8,
        guidance_scale=2.0,
        num_images=2,
        acceleration=acceleration,
        enable_safety_checker=False,
    )
    plain = engine.edit(params, images)
    request, seen = collecting(2)
    previewed = engine.edit(params, images, previews=request)
    assert [png(image) for image in previewed.images] == [png(image) for image in plain.images]
    assert [(p.step, p.steps) for p in seen] == [(2, 8), (4, 8), (6, 8)]
    for preview in seen:
        image = preview.render()
        # One pixel per latent cell: 1/8 of the output's sides.
        assert image.mode == "RGB" and image.size == (320 // 8, 256 // 8)
        assert max(image.size) <= PREVIEW_MAX_SIDE


def test_a_preview_is_at_most_256_px_on_its_long_side() -> None:
    # The largest output (2048 px) has 256 latent cells on its long side; a larger grid is
    # scaled down.
    for (width, height), expected in {(2048, 1024): (256, 128), (4096, 1024): (256, 64)}.items():
        seen: list[Preview] = []
        previewer = LatentPreviewer(
            PreviewRequest(1, seen.append), height=height, width=width, vae_scale_factor=8, channels=16
        )
        latents = torch.randn(1, (height // 16) * (width // 16), 64)
        previewer.after_step(object(), 1, 2, latents)  # no scheduler: the latents themselves
        assert seen[0].render().size == expected


def test_a_failing_preview_leaves_the_run_and_its_output_alone(
    engine: QwenImageEditEngine, caplog: pytest.LogCaptureFixture
) -> None:
    images = [noise_image(64, 64, 2)]
    params = EditParameters(
        prompt="a", seed=3, image_size="256x256", num_inference_steps=4, enable_safety_checker=False
    )
    plain = engine.edit(params, images)
    calls: list[int] = []

    def broken(preview: Preview) -> None:
        calls.append(preview.step)
        raise OSError("the receiver is gone")

    result = engine.edit(params, images, previews=PreviewRequest(1, broken))
    assert png(result.images[0]) == png(plain.images[0])
    assert calls == [1]  # the first failure ends the run's previews
    assert "previews of this run stopped" in caplog.text


def test_the_16_channel_projection_is_comfyuis_wan21_one() -> None:
    factors, bias = rgb_projection(16)
    assert factors.shape == (16, 3) and tuple(bias.tolist()) == pytest.approx(WAN21_RGB_BIAS)
    assert factors[6].tolist() == pytest.approx(WAN21_RGB_FACTORS[6])
    grey, zero = rgb_projection(4)
    assert torch.equal(grey, torch.full((4, 3), 0.25)) and torch.equal(zero, torch.zeros(3))


def test_unpacking_matches_diffusers() -> None:
    from diffusers import QwenImageEditPlusPipeline

    packed = torch.randn(2, (48 // 16) * (64 // 16), 16 * 4)
    ours = unpack_latents(packed, 48, 64, 8)
    theirs = QwenImageEditPlusPipeline._unpack_latents(packed, 48, 64, 8)
    assert torch.equal(ours, theirs[:, :, 0])


def test_the_estimate_of_the_final_image_removes_the_noise() -> None:
    """With the true velocity of a flow-matching step, the estimate is x₀ exactly."""

    class Scheduler:
        sigmas = torch.tensor([1.0, 0.6, 0.3, 0.0])
        step_index = 0

    class Pipeline:
        scheduler = Scheduler()

    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(1, 4, 64, generator=generator)
    noise = torch.randn(1, 4, 64, generator=generator)
    seen: list[Preview] = []
    previewer = LatentPreviewer(
        PreviewRequest(2, seen.append), height=32, width=32, vae_scale_factor=8, channels=16
    )
    for step in (1, 2):
        Scheduler.step_index = step
        sigma = float(Scheduler.sigmas[step])
        previewer.after_step(Pipeline(), step, 3, (1 - sigma) * x0 + sigma * noise)
    expected = LatentPreviewer(
        PreviewRequest(1, seen.append), height=32, width=32, vae_scale_factor=8, channels=16
    )
    Scheduler.step_index = 3  # σ 0: the latents are the image
    expected.after_step(Pipeline(), 1, 3, x0)  # (its σs differ, so no estimate is made)
    assert len(seen) == 2
    assert np.array_equal(np.asarray(seen[0].render()), np.asarray(seen[1].render()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_preview_never_waits_for_the_device() -> None:
    """On CUDA the engine's thread only queues work: PyTorch raises on any synchronizing
    call (a σ read into Python, a copy to pageable memory)."""

    class Scheduler:
        sigmas = torch.linspace(1.0, 0.0, 9, device="cuda")
        step_index = 2

    class Pipeline:
        scheduler = Scheduler()

    seen: list[Preview] = []
    previewer = LatentPreviewer(
        PreviewRequest(2, seen.append),
        height=1024,
        width=1024,
        vae_scale_factor=8,
        channels=16,
        device="cuda",
    )
    latents = torch.randn(1, 64 * 64, 64, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        previewer.after_step(Pipeline(), 1, 8, latents)
        previewer.after_step(Pipeline(), 2, 8, latents * 0.9)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert not previewer.failed and seen[0].render().size == (128, 128)
