"""End-to-end speed of the engine (`QwenImageEditEngine.edit`), per configuration, with a time split.

For every combination of acceleration level × reference images × output size it runs one
warm-up call (not timed) and `--repeats` timed calls of the engine's real code path, and
prints one table: seconds per CFG step, end-to-end seconds, text encoder / VAE /
transformer time, achieved transformer TFLOP/s, % of a matmul peak measured in the same
run, peak GPU memory, and the ratio to the FLOP lower bound (bench/flops.py's logic:
transformer FLOPs of the passes that ran / measured peak).

    python bench/gpu_engine.py                      # CUDA: full-size random bf16 weights
    python bench/gpu_engine.py --scale tiny         # tiny weights on the CPU, seconds
    python bench/gpu_engine.py --levels none --sizes 1024 --references 1 --json out.json

`--scale full` builds the real component configs (src/pixelrun/engines/qwen_image_edit/
configs) with random bf16 weights created directly on the GPU: nothing is downloaded and
nothing passes through CPU memory. Speed does not depend on the weights' values, so the
numbers are those of the real checkpoint, with two differences that come from the
tokenizer (the real one is not available offline; a byte-level one is used):

- the text encoder sees the chat template's system prefix as ~300 byte tokens instead of
  64 BPE tokens, so its time is somewhat overstated;
- the pipeline drops the prefix before the transformer; the bench sets the drop index to
  the prefix's byte-level length, so the transformer sees the image tokens, the prompt and
  the template's suffix as with the real model, the prompt's text a few tokens longer
  (bytes instead of BPE pieces). The token counts are in the table.

Time split: hooks on the components (forward of the text encoder and transformer,
`vae.encode`/`vae.decode`) record CUDA events (perf_counter on the CPU), so timing adds no
synchronisation to the run. "s/step" is the denoising loop (first transformer call to the
last step's end) divided by the steps. Skipped passes of the cache levels still count in
the transformer's time; only full passes count FLOPs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import torch

from gpu_engine_build import build, match_template_prefix, random_lightning_lora
from gpu_engine_flops import ForwardFlops, matmul_peak_tflops
from gpu_engine_measure import GUIDANCE_SCALE, MIN_SIDE, measure, parameters, reference_images
from gpu_engine_report import GIB, Row, format_table, summarise
from gpu_engine_timing import Clock, ComponentTimer
from pixelrun.engines.qwen_image_edit import Acceleration
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.loading import check_quantization, quiet_library_progress_bars

#: Tokens of the template's system prefix under the real BPE tokenizer (the pipeline's drop index).
REAL_PREFIX_TOKENS = 64


# --------------------------------------------------------------------------- main


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=("full", "tiny"), help="default: full on CUDA, else tiny")
    parser.add_argument("--device", help="default: cuda for full, cpu for tiny")
    parser.add_argument("--steps", type=int, help="denoising steps (default 40 full / 4 tiny)")
    parser.add_argument("--warmup-steps", type=int, help="steps of the untimed call (default min(steps, 5))")
    parser.add_argument("--repeats", type=int, help="timed calls per configuration (default 1 full / 3 tiny)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="square output sides (default 1024 512 / 256 128)"
    )
    parser.add_argument("--references", type=int, nargs="+", default=[1, 2], choices=(1, 2, 3, 4))
    parser.add_argument(
        "--levels",
        nargs="+",
        default=[a.value for a in Acceleration],
        choices=[a.value for a in Acceleration],
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default 1 for tiny on a CPU)")
    parser.add_argument("--json", type=Path, help="also write every number here")
    # Experiment switches for the changes in bench/NOTES.md; off by default = the product's setup.
    parser.add_argument(
        "--attention-backend", help="diffusers attention backend for the transformer, e.g. _native_cudnn"
    )
    parser.add_argument("--cpu-offload", action="store_true", help="diffusers model CPU offload (CUDA only)")
    parser.add_argument(
        "--group-offload",
        action="store_true",
        help="diffusers group offloading with CUDA streams (CUDA only)",
    )
    parser.add_argument(
        "--quantize",
        choices=("none", "int8wo", "fp8"),
        default="none",
        help="torchao transformer quantization",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="regional torch.compile + warm-up (compile time reported apart)",
    )
    parser.add_argument(
        "--lightning-steps",
        type=int,
        nargs="*",
        default=[],
        help="also run the Lightning variant (random rank-64 LoRA of the real targets, no CFG) at these steps",
    )
    parser.add_argument(
        "--no-base", action="store_true", help="skip the base (CFG) rows: only the Lightning rows"
    )
    parser.add_argument("--label", default="", help="a name for this configuration, kept in the JSON")
    args = parser.parse_args(argv)

    if args.scale is None:
        args.scale = "full" if torch.cuda.is_available() else "tiny"
    if args.device is None:
        args.device = "cuda" if args.scale == "full" else "cpu"
    full = args.scale == "full"
    args.steps = args.steps or (40 if full else 4)
    args.warmup_steps = args.warmup_steps or min(args.steps, 5)
    args.repeats = args.repeats or (1 if full else 3)
    if args.threads is None and not full and args.device == "cpu":
        # Tiny tensors gain nothing from threads, and OpenMP threads slow ~10× on a busy shared CPU.
        args.threads = 1
    args.sizes = args.sizes or ([1024, 512] if full else [256, 128])
    if any(size % 16 or size < (MIN_SIDE if full else 64) for size in args.sizes):
        parser.error(f"sizes must be multiples of 16, at least {MIN_SIDE} at full scale (the API's limit)")
    if (args.cpu_offload or args.group_offload) and not args.device.startswith("cuda"):
        parser.error("--cpu-offload and --group-offload need a CUDA device")
    if args.cpu_offload and args.group_offload:
        parser.error("choose one of --cpu-offload and --group-offload")
    if args.quantize != "none":
        check_quantization(args.quantize, torch.device(args.device))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    quiet_library_progress_bars()
    device = torch.device(args.device)
    clock = Clock(device)
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    pipeline, areas = build(args, device)
    clock.sync()
    build_s = time.perf_counter() - started
    drop_index = match_template_prefix(pipeline)
    dtype = pipeline.transformer.dtype
    weights_gib = torch.cuda.memory_allocated(device) / GIB if clock.cuda else None

    scratch = tempfile.TemporaryDirectory()
    lightning_lora = (
        random_lightning_lora(pipeline, args.scale, Path(scratch.name)) if args.lightning_steps else None
    )
    engine = QwenImageEditEngine(
        pipeline, reference_areas=areas, safety_checker=None, lightning_lora=lightning_lora
    )
    compile_s = None
    if args.compile:
        started = time.perf_counter()
        engine.compile()
        engine.warm_up([(max(size, MIN_SIDE), max(size, MIN_SIDE)) for size in args.sizes])
        clock.sync()
        compile_s = time.perf_counter() - started
        print(f"compiled and warmed up in {compile_s:.1f} s", flush=True)
    timer = ComponentTimer(pipeline, clock)
    flops = ForwardFlops(pipeline.transformer.config)
    if args.scale == "full":
        flops.check_against_flops_bench()  # a few seconds on the meta device
    peak_before, matmul_n = matmul_peak_tflops(device, dtype, clock)

    device_name = torch.cuda.get_device_name(device) if clock.cuda else platform.processor() or "cpu"
    print(
        f"scale {args.scale} on {device} ({device_name}), {dtype}, {args.steps} steps, CFG {GUIDANCE_SCALE}, "
        f"{args.repeats} timed call(s) per row after a {args.warmup_steps}-step warm-up, "
        f"{torch.get_num_threads()} CPU thread(s)"
    )
    print(
        f"built in {build_s:.1f} s"
        + (f", weights {weights_gib:.1f} GiB on the GPU" if weights_gib is not None else "")
        + f"; reference areas {areas[0]}/{areas[1]} px; template prefix dropped: {drop_index} tokens "
        f"(byte-level; the real tokenizer: {REAL_PREFIX_TOKENS})",
        flush=True,
    )

    rows: list[Row] = []
    try:
        for size in args.sizes:
            for count in args.references:
                images = reference_images(count, size)
                runs = [] if args.no_base else [(level, args.steps, "base") for level in args.levels]
                runs += [("none", steps, "lightning") for steps in args.lightning_steps]
                for level, steps, variant in runs:
                    lightning = variant == "lightning"
                    guidance = 1.0 if lightning else GUIDANCE_SCALE
                    warm = time.perf_counter()
                    engine.edit(
                        parameters(level, size, min(steps, args.warmup_steps), guidance),
                        images,
                        lightning=lightning,
                    )
                    clock.sync()
                    row = Row(level, count, size, steps, warmup_s=time.perf_counter() - warm, variant=variant)
                    request = parameters(level, size, steps, guidance)
                    for _ in range(args.repeats):
                        row.measurements.append(measure(engine, timer, flops, request, images, lightning))
                    rows.append(row)
                    print(
                        f"  {variant} {level} × {count} ref × {size}², {steps} steps: "
                        f"{row.measurements[-1].end_to_end_s:.2f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        timer.close()
        scratch.cleanup()

    # Measured again at the end: a GPU that heats up clocks down; the higher value is the yardstick.
    peak_after, _ = matmul_peak_tflops(device, dtype, clock)
    peak = max(peak_before, peak_after)
    for row in rows:
        row.summary = summarise(row, peak)

    print()
    print(format_table(rows))
    print()
    print(
        f"peak: {peak:.3g} TFLOP/s, {dtype} matmul {matmul_n}³ measured in this run "
        f"(start {peak_before:.3g}, end {peak_after:.3g}). LB s = transformer FLOPs of the full passes "
        "that ran / peak (bench/flops.py); ×LB = e2e s / LB s. img+txt tok: image tokens (output + "
        "references) + text tokens of the conditional/negative branch; vs none: e2e speed-up."
    )

    if args.json:
        report = {
            "label": args.label,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": args.scale,
            "device": str(device),
            "device_name": device_name,
            "dtype": str(dtype),
            "torch": torch.__version__,
            "steps": args.steps,
            "warmup_steps": args.warmup_steps,
            "repeats": args.repeats,
            "cpu_threads": torch.get_num_threads(),
            "guidance_scale": GUIDANCE_SCALE,
            "reference_areas": list(areas),
            "template_drop_index": drop_index,
            "attention_backend": args.attention_backend,
            "cpu_offload": args.cpu_offload,
            "group_offload": args.group_offload,
            "quantize": args.quantize,
            "compile": args.compile,
            "compile_s": compile_s,
            "lightning_steps": args.lightning_steps,
            "build_s": build_s,
            "weights_gib": weights_gib,
            "matmul_peak_tflops": {"used": peak, "start": peak_before, "end": peak_after, "n": matmul_n},
            "rows": [
                {
                    "level": r.level,
                    "variant": r.variant,
                    "references": r.references,
                    "size": r.size,
                    "steps": r.steps,
                    "warmup_s": r.warmup_s,
                    **r.summary,
                    "measurements": [asdict(m) for m in r.measurements],
                }
                for r in rows
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
