"""Live previews from the latents, without the VAE (docs/api.md#previews).

A preview is a fixed linear map of the latent channels to RGB at one pixel per latent
cell (1/8 of the output's side), the way ComfyUI previews. The factors for the 16
channels are ComfyUI's for Wan 2.1's VAE (`comfy/latent_formats.py`, class `Wan21`,
`latent_rgb_factors` and `latent_rgb_factors_bias`): Qwen-Image uses that VAE's latent
space, and ComfyUI previews its Qwen-Image models with that latent format. They apply to
the normalised latents the denoiser works on ((z − mean) / std, as diffusers' pipeline
holds them between steps) and give RGB in [−1, 1]. Another channel count (the tiny test
weights have 4) gets a grey level: the mean of the channels.

What is previewed is the current estimate of the final image, not the noisy latents:
for the flow-matching Euler steps of this pipeline, x₀ = x − σ·v, where the velocity v
comes from the last two steps' latents, v = (x_{i+1} − x_i) / (σ_{i+1} − σ_i). After the
first step (no earlier latents seen) the latents themselves are shown.

Cost on the engine's thread: a handful of small kernels on the latents and an
asynchronous copy of the 8-bit image to the host; the receiver waits for the device and
builds the PIL image on its own thread (`Preview.render`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from pixelrun.engines.engine import PREVIEW_MAX_SIDE, Preview, PreviewRequest

log = logging.getLogger(__name__)

#: ComfyUI's `Wan21.latent_rgb_factors`: row c is the (R, G, B) weight of latent channel c.
WAN21_RGB_FACTORS: tuple[tuple[float, float, float], ...] = (
    (-0.1299, -0.1692, 0.2932),
    (0.0671, 0.0406, 0.0442),
    (0.3568, 0.2548, 0.1747),
    (0.0372, 0.2344, 0.1420),
    (0.0313, 0.0189, -0.0328),
    (0.0296, -0.0956, -0.0665),
    (-0.3477, -0.4059, -0.2925),
    (0.0166, 0.1902, 0.1975),
    (-0.0412, 0.0267, -0.1364),
    (-0.1293, 0.0740, 0.1636),
    (0.0680, 0.3019, 0.1128),
    (0.0032, 0.0581, 0.0639),
    (-0.1251, 0.0927, 0.1699),
    (0.0060, -0.0633, 0.0005),
    (0.3477, 0.2275, 0.2950),
    (0.1984, 0.0913, 0.1861),
)
#: ComfyUI's `Wan21.latent_rgb_factors_bias`.
WAN21_RGB_BIAS: tuple[float, float, float] = (-0.1835, -0.0868, -0.3360)


def rgb_projection(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(factors `channels`×3, bias 3) for a latent space of `channels` channels."""
    if channels == len(WAN21_RGB_FACTORS):
        return torch.tensor(WAN21_RGB_FACTORS), torch.tensor(WAN21_RGB_BIAS)
    return torch.full((channels, 3), 1.0 / channels), torch.zeros(3)


def _device_key(device: torch.device | str) -> str:
    """`cuda` and `cuda:0` are one device (one cached copy of the projection)."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return str(device)


@functools.cache
def _projection_on(channels: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    # Copied to the device once per process: a copy from host memory at every preview
    # would make the engine's thread wait for the device.
    factors, bias = rgb_projection(channels)
    return factors.to(device), bias.to(device).view(1, 3, 1, 1)


def unpack_latents(packed: torch.Tensor, height: int, width: int, vae_scale_factor: int) -> torch.Tensor:
    """The pipeline's packed latents (B, h/2·w/2, C·4) as (B, C, h, w), as diffusers unpacks them."""
    batch, _, packed_channels = packed.shape
    h = 2 * (height // (vae_scale_factor * 2))
    w = 2 * (width // (vae_scale_factor * 2))
    grid = packed.view(batch, h // 2, w // 2, packed_channels // 4, 2, 2)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(batch, packed_channels // 4, h, w)


class LatentPreviewer:
    """Turns the latents after a step into a `Preview` of the run's first image."""

    def __init__(
        self,
        request: PreviewRequest,
        *,
        height: int,
        width: int,
        vae_scale_factor: int,
        channels: int,
        device: torch.device | str | None = None,
    ) -> None:
        """`device`: where the latents will be; the projection is put there now, before the
        denoising loop queues work that a copy would wait for."""
        if device is not None:
            _projection_on(channels, _device_key(device))
        self.request = request
        self.height = height
        self.width = width
        self.vae_scale_factor = vae_scale_factor
        self.channels = channels
        self._previous: tuple[int, torch.Tensor] | None = None
        self.failed = False

    def after_step(self, pipeline: Any, step: int, steps: int, latents: torch.Tensor) -> None:
        """Called with the latents after `step` (1-based); never raises (a failure ends the
        run's previews, not the run)."""
        if self.failed:
            return
        try:
            if self.request.wants(step, steps):
                render = self._capture(latents, pipeline, step)
                self.request.deliver(Preview(step, steps, render))
            # The latents are replaced, not changed in place, at every step: holding a
            # reference until the next step costs no copy.
            self._previous = (step, latents) if self.request.wants(step + 1, steps) else None
        except Exception:
            self.failed = True
            self._previous = None
            log.warning("previews of this run stopped: computing one failed", exc_info=True)

    def _sigmas(self, pipeline: Any, device: torch.device) -> tuple[Any, Any] | None:
        """(σ before, σ after) the step just taken, from a flow-matching scheduler; None for
        another kind. σs the scheduler keeps on the device stay there as 0-d tensors: reading
        one into Python would wait for the device to finish the step."""
        scheduler = getattr(pipeline, "scheduler", None)
        sigmas = getattr(scheduler, "sigmas", None)
        index = getattr(scheduler, "step_index", None)
        if not isinstance(sigmas, torch.Tensor) or index is None or not 0 < index < len(sigmas):
            return None
        if sigmas.device == device:
            return sigmas[index - 1].float(), sigmas[index].float()
        if sigmas.device.type == "cpu":
            return float(sigmas[index - 1]), float(sigmas[index])
        return None

    @torch.no_grad()
    def _capture(self, latents: torch.Tensor, pipeline: Any, step: int) -> Callable[[], Image.Image]:
        current = latents[:1].float()
        estimate = current
        sigmas = self._sigmas(pipeline, current.device)
        if sigmas is not None and self._previous is not None and self._previous[0] == step - 1:
            before, after = sigmas
            change = after - before  # < 0: σ falls at every step of these schedules
            if isinstance(change, torch.Tensor) or change != 0:
                velocity = (current - self._previous[1][:1].float()) / change
                estimate = current - after * velocity
        grid = unpack_latents(estimate, self.height, self.width, self.vae_scale_factor)
        factors, bias = _projection_on(self.channels, _device_key(grid.device))
        rgb = torch.einsum("bchw,cr->brhw", grid, factors) + bias
        long_side = max(rgb.shape[-2:])
        if long_side > PREVIEW_MAX_SIDE:
            scale = PREVIEW_MAX_SIDE / long_side
            size = (max(1, round(rgb.shape[-2] * scale)), max(1, round(rgb.shape[-1] * scale)))
            rgb = F.interpolate(rgb, size=size, mode="area")
        pixels = ((rgb[0] + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
        if pixels.device.type != "cuda":
            host = pixels.cpu()
            return lambda: Image.fromarray(host.numpy(), "RGB")
        # Pinned memory makes the copy asynchronous: the engine's thread does not wait for it.
        host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
        host.copy_(pixels, non_blocking=True)
        done = torch.cuda.Event()
        done.record()

        def render() -> Image.Image:
            done.synchronize()
            return Image.fromarray(host.numpy(), "RGB")

        return render
