"""Figures a worker publishes about itself in `workers.info`, for `/metrics`."""

from __future__ import annotations

from typing import Any


def gpu_memory(device: str) -> dict[str, int]:
    """GPU memory held by tensors now and at peak; empty on a CPU (no such figure there)."""
    if not device.startswith("cuda"):
        return {}
    import torch

    return {
        "gpu_memory_allocated_bytes": int(torch.cuda.memory_allocated(device)),
        "gpu_memory_peak_bytes": int(torch.cuda.max_memory_allocated(device)),
    }


def engine_figures(engine: Any, load_seconds: float) -> dict[str, float]:
    """Load time, and compile warm-up time when the engine compiled itself."""
    figures = {"model_load_seconds": round(load_seconds, 3)}
    warmup = getattr(engine, "compile_warmup_seconds", None)
    if isinstance(warmup, int | float):
        figures["compile_warmup_seconds"] = round(float(warmup), 3)
    return figures
