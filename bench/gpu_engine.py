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

Rows run per reference count in bench/gpu_plan.py's order: the first level (the headline),
then the Lightning rows, then the other levels. Each phase (import, build, lightning-lora,
compile, flop-check, matmul-peak, then warm-up and measure of every row) is printed as it
ends and kept in `--json`, which is rewritten after every phase and row: a run cut short
keeps what it measured (`"complete": false`). bench/gpu_run.sh runs this script per chunk.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from gpu_engine_build import build, match_template_prefix, random_lightning_lora
from gpu_engine_flops import ForwardFlops, matmul_peak_tflops
from gpu_engine_measure import GUIDANCE_SCALE, MIN_SIDE, measure, parameters, reference_images
from gpu_engine_report import GIB, JsonReport, Row, add_ratios_to_none, format_table, summarise
from gpu_engine_timing import Clock, ComponentTimer, Phases
from gpu_plan import row_label, run_order
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
    parser.add_argument(
        "--launched-at",
        type=float,
        help="time.time() when the driver started this process: records the 'import' phase",
    )
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
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch sees no CUDA device (use --scale tiny on a CPU)")
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

    rows: list[Row] = []
    peak = 0.0
    report = JsonReport(args.json, header(args, device))

    def write_partial() -> None:
        report.write(summarised(rows, peak), phases.records, complete=False)

    def add_row(row: Row) -> None:
        rows.append(row)
        write_partial()

    phases = Phases(clock, on_record=write_partial)
    if args.launched_at is not None:
        # From the moment the driver launched this process: Python's start and the imports.
        phases.add("import", time.time() - args.launched_at)

    with phases.timed("build"):
        pipeline, areas = build(args, device)
    drop_index = match_template_prefix(pipeline)
    dtype = pipeline.transformer.dtype
    weights_gib = torch.cuda.memory_allocated(device) / GIB if clock.cuda else None
    report.fields.update(
        dtype=str(dtype), reference_areas=list(areas), template_drop_index=drop_index, weights_gib=weights_gib
    )

    scratch = tempfile.TemporaryDirectory()
    started = time.perf_counter()
    lightning_lora = (
        random_lightning_lora(pipeline, args.scale, Path(scratch.name)) if args.lightning_steps else None
    )
    # The engine loads the Lightning adapter into the transformer (PEFT): part of that phase.
    engine = QwenImageEditEngine(
        pipeline, reference_areas=areas, safety_checker=None, lightning_lora=lightning_lora
    )
    if lightning_lora is not None:
        clock.sync()
        phases.add("lightning-lora", time.perf_counter() - started)
    if args.compile:
        with phases.timed("compile"):
            engine.compile()
            engine.warm_up([(max(size, MIN_SIDE), max(size, MIN_SIDE)) for size in args.sizes])
        report.fields["compile_s"] = phases.records[-1]["s"]
    timer = ComponentTimer(pipeline, clock)
    with phases.timed("flop-check"):
        flops = ForwardFlops(pipeline.transformer.config)
        if args.scale == "full":
            flops.check_against_flops_bench()  # a few seconds on the meta device
    with phases.timed("matmul-peak"):
        peak_before, matmul_n = matmul_peak_tflops(device, dtype, clock)
    peak = peak_before
    report.fields["matmul_peak_tflops"] = {"used": peak, "start": peak_before, "end": None, "n": matmul_n}

    print(
        f"scale {args.scale} on {device} ({report.fields['device_name']}), {dtype}, {args.steps} steps, "
        f"CFG {GUIDANCE_SCALE}, {args.repeats} timed call(s) per row after a {args.warmup_steps}-step "
        f"warm-up, {torch.get_num_threads()} CPU thread(s)"
    )
    print(
        (f"weights {weights_gib:.1f} GiB on the GPU; " if weights_gib is not None else "")
        + f"reference areas {areas[0]}/{areas[1]} px; template prefix dropped: {drop_index} tokens "
        f"(byte-level; the real tokenizer: {REAL_PREFIX_TOKENS})",
        flush=True,
    )

    try:
        run_rows(args, engine, timer, flops, phases, on_row=add_row)
    finally:
        timer.close()
        scratch.cleanup()

    # Measured again at the end: a GPU that heats up clocks down; the higher value is the yardstick.
    with phases.timed("matmul-peak-end"):
        peak_after, _ = matmul_peak_tflops(device, dtype, clock)
    peak = max(peak_before, peak_after)
    report.fields["matmul_peak_tflops"] = {
        "used": peak,
        "start": peak_before,
        "end": peak_after,
        "n": matmul_n,
    }
    summarised(rows, peak)

    print()
    print(format_table(rows))
    print()
    print(
        f"peak: {peak:.3g} TFLOP/s, {dtype} matmul {matmul_n}³ measured in this run "
        f"(start {peak_before:.3g}, end {peak_after:.3g}). LB s = transformer FLOPs of the full passes "
        "that ran / peak (bench/flops.py); ×LB = e2e s / LB s. img+txt tok: image tokens (output + "
        "references) + text tokens of the conditional/negative branch; vs none: e2e speed-up."
    )
    report.write(rows, phases.records, complete=True)
    if args.json:
        print(f"wrote {args.json}")
    return 0


def run_rows(
    args: argparse.Namespace,
    engine: QwenImageEditEngine,
    timer: ComponentTimer,
    flops: ForwardFlops,
    phases: Phases,
    on_row: Callable[[Row], None],
) -> None:
    """Each row: one untimed warm-up call, then `--repeats` timed calls; `on_row` after each."""
    for size in args.sizes:
        for count in args.references:
            images = reference_images(count, size)
            levels = () if args.no_base else tuple(args.levels)
            for variant, level, steps in run_order(levels, args.steps, tuple(args.lightning_steps)):
                lightning = variant == "lightning"
                guidance = 1.0 if lightning else GUIDANCE_SCALE
                label = row_label(variant, level, count, steps)
                if len(args.sizes) > 1:
                    label = f"{size}² {label}"
                with phases.timed(f"warm-up {label}"):
                    warm_up = parameters(level, size, min(steps, args.warmup_steps), guidance)
                    engine.edit(warm_up, images, lightning=lightning)
                row = Row(level, count, size, steps, warmup_s=phases.records[-1]["s"], variant=variant)
                request = parameters(level, size, steps, guidance)
                with phases.timed(f"measure {label}"):
                    for _ in range(args.repeats):
                        row.measurements.append(measure(engine, timer, flops, request, images, lightning))
                on_row(row)  # on disk before the line below says the row is done
                last = row.measurements[-1]
                memory = (
                    "" if last.peak_memory_bytes is None else f", peak {last.peak_memory_bytes / GIB:.1f} GiB"
                )
                print(
                    f"  {label}, {size}², {steps} steps: {last.end_to_end_s:.2f} s end to end, "
                    f"{last.seconds_per_step:.3f} s/step{memory}",
                    file=sys.stderr,
                    flush=True,
                )


def summarised(rows: list[Row], peak: float) -> list[Row]:
    """The rows with their summaries against `peak` (partial reports use the first peak)."""
    if peak > 0:
        for row in rows:
            row.summary = summarise(row, peak)
        add_ratios_to_none(rows)
    return rows


def header(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """The JSON's fields known before the build; the run adds the rest as it learns them."""
    cuda = device.type == "cuda"
    return {
        "label": args.label,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "torch": torch.__version__,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "repeats": args.repeats,
        "cpu_threads": torch.get_num_threads(),
        "guidance_scale": GUIDANCE_SCALE,
        "attention_backend": args.attention_backend,
        "cpu_offload": args.cpu_offload,
        "group_offload": args.group_offload,
        "quantize": args.quantize,
        "compile": args.compile,
        "compile_s": None,
        "lightning_steps": args.lightning_steps,
    }


if __name__ == "__main__":
    sys.exit(main())
