"""Measuring one engine call for gpu_engine.py: the request (prompt, CFG, size, steps,
acceleration level), random reference images, and the timed call, whose Measurement comes
from the timing hooks and the FLOP count of its full passes.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from gpu_engine_flops import ForwardFlops
from gpu_engine_report import Measurement
from gpu_engine_timing import ComponentTimer
from pixelrun.engines.qwen_image_edit import CustomImageSize, EditParameters
from pixelrun.engines.qwen_image_edit.engine import EditResult, QwenImageEditEngine

PROMPT = "Move this person to a Mars colony habitat"
#: The model's recipe: true CFG at 4.0 (the engine turns the empty negative prompt into " ").
GUIDANCE_SCALE = 4.0
#: The API's smallest output side; the tiny scale may go below it.
MIN_SIDE = 256


def reference_images(count: int, size: int) -> list[Image.Image]:
    rng = np.random.default_rng(count * 10_000 + size)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(count)]


def parameters(level: str, size: int, steps: int, guidance_scale: float = GUIDANCE_SCALE) -> EditParameters:
    request = EditParameters(
        prompt=PROMPT,
        seed=0,
        image_size=f"{max(size, MIN_SIDE)}x{max(size, MIN_SIDE)}",
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        acceleration=level,
        enable_safety_checker=False,
    )
    if size < MIN_SIDE:
        # Tiny scale only (checked in parse_arguments): below the API's limit, which the
        # pipeline itself does not have, so CPU runs stay short.
        request = request.model_copy(
            update={"image_size": CustomImageSize.model_construct(width=size, height=size)}
        )
    return request


def measure(
    engine: QwenImageEditEngine,
    timer: ComponentTimer,
    flops: ForwardFlops,
    request: EditParameters,
    images: list[Image.Image],
    lightning: bool = False,
) -> Measurement:
    clock = timer.clock
    clock.sync()
    timer.reset()
    if clock.cuda:
        torch.cuda.reset_peak_memory_stats(clock.device)
    started = time.perf_counter()
    result: EditResult = engine.edit(request, images, on_step=timer.on_step, lightning=lightning)
    clock.sync()
    end_to_end = time.perf_counter() - started
    full = [call for call in timer.calls if call.full]
    loop = timer.loop_seconds()
    return Measurement(
        end_to_end_s=end_to_end,
        engine_inference_s=result.timings_ms["inference_ms"] / 1000,
        seconds_per_step=loop / result.steps,
        loop_s=loop,
        text_encoder_s=timer.total("text_encoder"),
        vae_encode_s=timer.total("vae_encode"),
        vae_decode_s=timer.total("vae_decode"),
        transformer_s=timer.transformer_seconds(),
        transformer_calls=len(timer.calls),
        transformer_forwards=result.transformer_forwards,
        full_passes_seen=len(full),
        transformer_flop=sum(flops(call.img_shapes, call.text_tokens) for call in full),
        image_tokens=timer.calls[0].image_tokens if timer.calls else 0,
        # Conditional branch first, then the negative one (dict keeps first-seen order).
        text_tokens=list(dict.fromkeys(call.text_tokens for call in timer.calls)),
        peak_memory_bytes=torch.cuda.max_memory_allocated(clock.device) if clock.cuda else None,
    )
