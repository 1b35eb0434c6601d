"""Fuse the Lightning LoRA into the weights, or keep it as a separate adapter? Measured here.

One set of base weights serves both models, so the adapter must be on for Lightning runs
and off for base runs. Two ways:

- unfused (what the engine does): PEFT computes `W x + s·B(A x)` while the adapter is on,
  and exactly `W x` while it is off;
- fused: `W += s·B A` before a Lightning run, `W -= s·B A` after it (diffusers'
  `fuse_lora` / `unfuse_lora`): no extra matmuls per step, but each switch rewrites every
  targeted weight, and the subtraction does not give the old weights back bit for bit.

Prints per-call seconds for base / unfused / fused, the cost of one fuse + unfuse, and how
far the weights are from the originals after one fuse/unfuse round trip (on the tiny
weights, CPU, fp32: the same code path as on a GPU).

    python bench/lora_fuse.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from pixelrun.engines.qwen_image_edit import EditParameters
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.lightning import LIGHTNING_ADAPTER, save_tiny_lightning_lora
from pixelrun.engines.qwen_image_edit.tiny_weights import save_tiny_checkpoint


def timed(call, repeats: int) -> float:
    call()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)

    with tempfile.TemporaryDirectory() as scratch:
        weights = save_tiny_checkpoint(Path(scratch) / "tiny")
        lora = save_tiny_lightning_lora(weights)
        engine = QwenImageEditEngine.load(weights, device="cpu", lightning_lora=lora)
        transformer = engine.pipeline.transformer
        image = Image.new("RGB", (256, 192), (90, 120, 200))
        params = EditParameters(
            prompt="make it blue",
            num_inference_steps=arguments.steps,
            guidance_scale=1.0,
            image_size={"width": arguments.size, "height": arguments.size},
            seed=1,
            acceleration="none",
            enable_safety_checker=False,
        )
        base_s = timed(lambda: engine.edit(params, [image]), arguments.repeats)
        unfused_s = timed(lambda: engine.edit(params, [image], lightning=True), arguments.repeats)

        originals = {
            name: p.detach().clone() for name, p in transformer.named_parameters() if "base_layer" in name
        }

        def fuse_and_unfuse() -> None:
            transformer.enable_lora()
            transformer.set_adapters([LIGHTNING_ADAPTER], [1.0])
            engine.pipeline.fuse_lora(
                components=["transformer"], lora_scale=1.0, adapter_names=[LIGHTNING_ADAPTER]
            )
            engine.pipeline.unfuse_lora(components=["transformer"])
            transformer.disable_lora()

        switch_s = timed(fuse_and_unfuse, arguments.repeats)
        drift = max(
            (p.detach() - originals[name]).abs().max().item()
            for name, p in transformer.named_parameters()
            if name in originals
        )
        changed = sum(
            int(not torch.equal(p.detach(), originals[name]))
            for name, p in transformer.named_parameters()
            if name in originals
        )

        transformer.enable_lora()
        transformer.set_adapters([LIGHTNING_ADAPTER], [1.0])
        engine.pipeline.fuse_lora(
            components=["transformer"], lora_scale=1.0, adapter_names=[LIGHTNING_ADAPTER]
        )
        transformer.disable_lora()  # the fused weights carry the adapter now
        fused_s = timed(lambda: engine.edit(params, [image]), arguments.repeats)

    print(
        f"tiny weights, CPU ({arguments.threads} thread), {arguments.size}², {arguments.steps} steps, "
        f"median of {arguments.repeats}"
    )
    print(f"{'call':<32}{'s/call':>10}{'ratio to base':>16}")
    for label, seconds in (
        ("base (no adapter)", base_s),
        ("Lightning, adapter unfused", unfused_s),
        ("Lightning, fused into weights", fused_s),
        ("one fuse + unfuse (switch cost)", switch_s),
    ):
        print(f"{label:<32}{seconds:>10.4f}{seconds / base_s:>16.3f}")
    print(
        f"after one fuse/unfuse round trip: {changed} of {len(originals)} targeted weights differ "
        f"from the originals, max |Δ| = {drift:.3g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
