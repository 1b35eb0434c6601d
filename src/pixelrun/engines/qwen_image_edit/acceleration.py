"""Acceleration levels, built on diffusers' own TaylorSeer cache hooks.

- `none`: no hooks; the pipeline runs exactly as plain diffusers.
- `regular`: TaylorSeer (lite): every transformer block is computed in full on the
  first 3 steps and then on every 2nd step; in between, the model output (`proj_out`)
  is extrapolated to first order from the last two full computations and the blocks
  are skipped. CFG keeps its own cache for the conditional and negative branches.
- `high`: the same, with a full computation only every 4th step after the first 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import TaylorSeerCacheConfig
from diffusers.models.transformers.transformer_qwenimage import QwenImageTransformer2DModel

from .schema import Acceleration


@dataclass(frozen=True)
class CachePlan:
    """When full transformer passes happen (step indices are 0-based)."""

    warmup_steps: int
    interval: int
    max_order: int

    def full_steps(self, steps: int) -> list[int]:
        # Mirrors TaylorSeerCacheHook's schedule so that docs and tests can predict it.
        return [
            s
            for s in range(steps)
            if s < self.warmup_steps or (s - self.warmup_steps - 1) % self.interval == 0
        ]


PLANS: dict[Acceleration, CachePlan | None] = {
    Acceleration.NONE: None,
    Acceleration.REGULAR: CachePlan(warmup_steps=3, interval=2, max_order=1),
    Acceleration.HIGH: CachePlan(warmup_steps=3, interval=4, max_order=1),
}


def cache_config(level: Acceleration, dtype: torch.dtype) -> TaylorSeerCacheConfig | None:
    plan = PLANS[level]
    if plan is None:
        return None
    return TaylorSeerCacheConfig(
        cache_interval=plan.interval,
        disable_cache_before_step=plan.warmup_steps,
        max_order=plan.max_order,
        # Factors in the model's dtype: bf16 factors would perturb fp32 runs.
        taylor_factors_dtype=dtype,
        use_lite_mode=True,
    )


class AccelerationSwitch:
    """Keeps the transformer's cache hooks in step with the level a request asks for.

    The state lives on the transformer itself (diffusers keeps the active cache config),
    so several engines sharing one pipeline never disagree about it.
    """

    def __init__(self, transformer: QwenImageTransformer2DModel) -> None:
        self._transformer = transformer

    def apply(self, level: Acceleration) -> None:
        wanted = cache_config(level, self._transformer.dtype)
        current = getattr(self._transformer, "_cache_config", None)
        if current == wanted:
            return
        if self._transformer.is_cache_enabled:
            self._transformer.disable_cache()
        if wanted is not None:
            self._transformer.enable_cache(wanted)

    def reset_state(self) -> None:
        # The pipeline resets cache state only when a call completes; an aborted
        # call must not leak its Taylor factors into the next request.
        if self._transformer.is_cache_enabled:
            self._transformer._reset_stateful_cache()
