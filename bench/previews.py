"""What a live preview costs (docs/api.md#previews), on this machine's CPU.

Per output size, the median of --repeat previews of random latents of that size:
- `engine ms`: the part on the engine's thread (`LatentPreviewer.after_step`: x0 estimate,
  unpacking, the 16→3 projection, the copy of the 8-bit image to the host);
- `receiver ms`: the part on the worker's preview thread (the PIL image and its JPEG);
- the JPEG's size;
- then, measured in the same run as the baseline, the denoising step of the tiny weights
  at that size without previews and with a preview after every step: --calls calls of
  each, interleaved, the median of all their steps; and the part of the baseline step the
  preview's engine-thread time is (`engine/step`).

The tiny weights are a 2-layer model: their step is far shorter than the real model's,
so the last two columns bound the overhead from above. The real model's step on an H100
is printed next to it (the lower bound of docs/performance.md, a CFG step at 1024²), with
the share a preview every step would take of it even if its CPU figures ran on the
engine's thread in full.

    .venv/bin/python bench/previews.py [--sizes 512,1024] [--repeat 20] [--steps 8] [--calls 3]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pixelrun.engines.engine import Preview, PreviewRequest
from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.previews import LatentPreviewer
from pixelrun.engines.qwen_image_edit.tiny_weights import save_tiny_checkpoint
from pixelrun.media import encode_preview

#: docs/performance.md: 166.3 TFLOP per pass at 790 TFLOP/s, two passes per CFG step.
H100_CFG_STEP_S = 0.421
#: The Lightning variant runs one pass per step (guidance 1).
H100_ONE_PASS_STEP_S = H100_CFG_STEP_S / 2


class _Scheduler:
    sigmas = torch.linspace(1.0, 0.0, 41)
    step_index = 2


class _Pipeline:
    scheduler = _Scheduler()


def preview_costs(side: int, repeat: int) -> tuple[float, float, int, tuple[int, int]]:
    """(engine ms, receiver ms, JPEG bytes, preview size) for a side×side output."""
    packed = (side // 16) ** 2
    generator = torch.Generator().manual_seed(0)
    before = torch.randn(1, packed, 64, generator=generator)
    after = before * 0.97 + 0.03 * torch.randn(1, packed, 64, generator=generator)
    seen: list[Preview] = []
    previewer = LatentPreviewer(
        PreviewRequest(2, seen.append), height=side, width=side, vae_scale_factor=8, channels=16
    )
    engine_ms, receiver_ms, size = [], [], 0
    image_size = (0, 0)
    for _ in range(repeat + 1):  # the first is a warm-up
        previewer.after_step(_Pipeline(), 1, 40, before)  # kept as the step before
        started = time.perf_counter()
        previewer.after_step(_Pipeline(), 2, 40, after)
        engine_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        image = seen[-1].render()
        data = encode_preview(image)
        receiver_ms.append((time.perf_counter() - started) * 1000)
        size, image_size = len(data), image.size
    return statistics.median(engine_ms[1:]), statistics.median(receiver_ms[1:]), size, image_size


def step_ms(engine: QwenImageEditEngine, side: int, steps: int, previews: bool) -> list[float]:
    """The steps of one tiny-weights call (the times between step callbacks), in ms."""
    from PIL import Image

    stamps: list[float] = []
    request = PreviewRequest(1, lambda preview: encode_preview(preview.render())) if previews else None
    engine.edit(
        EditParameters(
            prompt="bench",
            seed=1,
            image_size={"width": side, "height": side},
            num_inference_steps=steps,
            guidance_scale=1.0,
            acceleration="none",
            enable_safety_checker=False,
        ),
        [Image.new("RGB", (64, 64), (120, 90, 60))],
        on_step=lambda _step, _steps: stamps.append(time.perf_counter()),
        previews=request,
    )
    return [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="512,1024", help="output sides, comma-separated")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--steps", type=int, default=8, help="steps of each tiny-weights call")
    parser.add_argument("--calls", type=int, default=3, help="tiny-weights calls with and without previews")
    args = parser.parse_args()
    sides = [int(side) for side in args.sizes.split(",")]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as directory:
        engine = QwenImageEditEngine.load(save_tiny_checkpoint(Path(directory) / "tiny"), device="cpu")
        print(
            f"CPU, 1 thread; previews: median of {args.repeat}; tiny steps: median of "
            f"{args.calls} calls × {args.steps - 1} steps each way\n"
        )
        header = (
            f"{'output':>9} {'preview':>8} {'engine ms':>9} {'receiver ms':>11} {'JPEG B':>7} "
            f"{'tiny step ms':>12} {'+ previews':>10} {'engine/step':>11} {'H100 step %':>11}"
        )
        print(header)
        print("-" * len(header))
        for side in sides:
            engine_ms, receiver_ms, size, image_size = preview_costs(side, args.repeat)
            plain_steps: list[float] = []
            previewed_steps: list[float] = []
            for _ in range(args.calls):
                plain_steps += step_ms(engine, side, args.steps, previews=False)
                previewed_steps += step_ms(engine, side, args.steps, previews=True)
            plain, previewed = statistics.median(plain_steps), statistics.median(previewed_steps)
            share = (engine_ms + receiver_ms) / (H100_ONE_PASS_STEP_S * 1000) * 100
            print(
                f"{side}²{'':>4} {image_size[0]}x{image_size[1]:<4} {engine_ms:>9.3f} {receiver_ms:>11.3f} "
                f"{size:>7} {plain:>12.1f} {previewed:>10.1f} {engine_ms / plain * 100:>10.2f}% {share:>10.2f}%"
            )
    print(
        f"\nH100 step %: engine + receiver ms, all counted against one pass of the real model "
        f"({H100_ONE_PASS_STEP_S:.3f} s, half the {H100_CFG_STEP_S} s CFG-step lower bound of "
        "docs/performance.md): a preview after every step stays under 1 % of a step."
    )


if __name__ == "__main__":
    main()
