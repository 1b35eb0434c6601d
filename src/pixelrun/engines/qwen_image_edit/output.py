"""What a run of this model reports: its `RunResult` and the output's `model_data`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pixelrun.engines.engine import RunResult

from .schema import EditParameters

if TYPE_CHECKING:
    from .engine import EditResult


def model_data(request: EditParameters, result: EditResult) -> dict[str, Any]:
    flags = result.nsfw_flags
    return {
        "prompt": request.prompt,
        "has_nsfw_concepts": flags if flags is not None else [False] * len(result.images),
        "acceleration": result.acceleration.value,
        "num_inference_steps": result.steps,
        "guidance_scale": request.guidance_scale,
        "width": result.width,
        "height": result.height,
        "transformer_forwards": result.transformer_forwards,
        "loras": [lora.model_dump() for lora in request.loras],
    }


def run_result(request: EditParameters, result: EditResult) -> RunResult:
    return RunResult(
        images=result.images,
        seed=result.seed,
        nsfw_flags=result.nsfw_flags,
        inference_ms=result.timings_ms["inference_ms"],
        safety_ms=result.timings_ms["safety_ms"],
        model_data=model_data(request, result),
        summary=f"{result.transformer_forwards} transformer passes",
    )
