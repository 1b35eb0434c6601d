"""The work side of gpu_engine.py's numbers: FLOPs of a transformer forward for the exact shapes
of a call (bench/flops.py's method) and a matmul peak measured in the same run.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import QwenImageTransformer2DModel
from torch.utils.flop_counter import FlopCounterMode

import flops as flops_bench  # bench/flops.py: bench/ is on sys.path when this runs as a script
from gpu_engine_timing import Clock


class ForwardFlops:
    """FLOPs of one transformer forward for the exact shapes of a call.

    The same method as bench/flops.py (the model on the `meta` device under
    FlopCounterMode), generalised to any config and to the real img_shapes: references
    are resized to the VAE area whatever the output size, which flops.count cannot express.
    """

    def __init__(self, config: Any) -> None:
        with torch.device("meta"):
            self.model = QwenImageTransformer2DModel.from_config(config)
        self._cache: dict[tuple[Any, ...], float] = {}

    def check_against_flops_bench(self) -> float:
        """Same number as bench/flops.py for its own case (real config, 1024², 1 reference, 213 tokens)."""
        expected, _, _ = flops_bench.count(1024, 1, 213)
        got = self(((1, 64, 64), (1, 64, 64)), 213)
        if abs(got - expected) > 1e-6 * expected:
            raise RuntimeError(f"FLOP count differs from bench/flops.py: {got:.4g} vs {expected:.4g}")
        return got

    def __call__(self, img_shapes: tuple[tuple[int, int, int], ...], text_tokens: int) -> float:
        key = (img_shapes, text_tokens)
        if key not in self._cache:
            config = self.model.config
            image_tokens = sum(f * h * w for f, h, w in img_shapes)
            with torch.device("meta"):
                hidden = torch.empty(1, image_tokens, config.in_channels)
                text = torch.empty(1, text_tokens, config.joint_attention_dim)
                timestep = torch.empty(1)
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                self.model(
                    hidden_states=hidden,
                    encoder_hidden_states=text,
                    encoder_hidden_states_mask=None,
                    timestep=timestep,
                    img_shapes=[list(img_shapes)],
                    return_dict=False,
                )
            self._cache[key] = float(counter.get_total_flops())
        return self._cache[key]


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype, clock: Clock) -> tuple[float, int]:
    """Best of three timed loops of one large square matmul: the yardstick for '% of peak'."""
    n, iterations = (8192, 50) if device.type == "cuda" else (1024, 5)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=generator)
    out = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):  # cuBLAS heuristics, clocks up
        torch.matmul(a, b, out=out)
    best = 0.0
    for _ in range(3):
        clock.sync()
        start = clock.mark()
        for _ in range(iterations):
            torch.matmul(a, b, out=out)
        end = clock.mark()
        clock.sync()
        best = max(best, 2 * n**3 * iterations / clock.seconds(start, end) / 1e12)
    del a, b, out
    return best, n
