"""Full transformer passes and wall time per acceleration level, on the tiny weights (CPU).

Same request for every level (28 steps, true CFG 4.5, 256², one reference); the ratio
column is relative to `none`, measured in the same run. Usage:

    python bench/acceleration_passes.py [--steps 28] [--size 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.tiny_weights import save_tiny_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        engine = QwenImageEditEngine.load(save_tiny_checkpoint(Path(directory) / "tiny"), device="cpu")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8))
    rows = []
    baseline: np.ndarray | None = None
    for level in ("none", "regular", "high"):
        params = EditParameters(
            prompt="make it blue",
            seed=0,
            image_size=f"{args.size}x{args.size}",
            num_inference_steps=args.steps,
            acceleration=level,
            enable_safety_checker=False,
        )
        engine.edit(params, [image])  # warm-up
        times, passes = [], 0
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = engine.edit(params, [image])
            times.append(time.perf_counter() - started)
            passes = result.transformer_forwards
        pixels = np.asarray(result.images[0], dtype=np.float64)
        if baseline is None:
            baseline = pixels
        rows.append((level, passes, statistics.median(times), np.abs(pixels - baseline).mean()))

    none_passes, none_time = rows[0][1], rows[0][2]
    print(
        f"{'level':<8} {'passes':>6} {'ratio':>6} {'median s':>9} {'speed-up':>8} {'mean |Δpixel| vs none':>22}"
    )
    for level, passes, seconds, delta in rows:
        print(
            f"{level:<8} {passes:>6} {passes / none_passes:>6.2f} {seconds:>9.3f} "
            f"{none_time / seconds:>7.2f}× {delta:>22.2f}"
        )


if __name__ == "__main__":
    main()
