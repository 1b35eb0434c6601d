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
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    QwenImageEditPlusPipeline,
    QwenImageTransformer2DModel,
)
from PIL import Image
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

import flops as flops_bench  # bench/flops.py: bench/ is on sys.path when this runs as a script
from pixelrun.engines.qwen_image_edit import Acceleration, CustomImageSize, EditParameters
from pixelrun.engines.qwen_image_edit.engine import EditResult, QwenImageEditEngine
from pixelrun.engines.qwen_image_edit.lightning import random_lora_state_dict
from pixelrun.engines.qwen_image_edit.loading import (
    MODEL_REFERENCE_AREAS,
    check_quantization,
    quantization_config,
    quiet_library_progress_bars,
)
from pixelrun.engines.qwen_image_edit.processor import ImageOnlyQwen2VLProcessor
from pixelrun.engines.qwen_image_edit.tiny_weights import (
    TINY_REFERENCE_AREAS,
    build_tiny_pipeline,
    build_tiny_tokenizer,
)

PROMPT = "Move this person to a Mars colony habitat"
#: The model's recipe: true CFG at 4.0 (the engine turns the empty negative prompt into " ").
GUIDANCE_SCALE = 4.0
#: Tokens of the template's system prefix under the real BPE tokenizer (the pipeline's drop index).
REAL_PREFIX_TOKENS = 64
GIB = 1024**3
#: The API's smallest output side; the tiny scale may go below it.
MIN_SIDE = 256


# --------------------------------------------------------------------------- building


def shipped_config(name: str) -> dict[str, Any]:
    """One of the real component configs shipped with the engine, without `_` keys."""
    text = resources.files("pixelrun.engines.qwen_image_edit").joinpath(f"configs/{name}.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def build_full_pipeline(
    device: torch.device, dtype: torch.dtype = torch.bfloat16
) -> QwenImageEditPlusPipeline:
    """The real architecture with random weights, every tensor created on `device` in `dtype`.

    Building under the device context with a bf16 default dtype allocates each parameter
    once, on the GPU, where the default init runs: 57.7 GB never exists in fp32 or on the CPU.
    (RoPE tables are built in explicit fp32 by both libraries and are not affected.)
    """
    tokenizer = build_tiny_tokenizer()
    encoder_config = shipped_config("text_encoder")
    # The byte-level tokenizer numbers its special tokens 256..263; the real vocabulary
    # (152064) contains those ids, so only the vision-token ids need to follow.
    for key, token in (
        ("image_token_id", "<|image_pad|>"),
        ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"),
        ("vision_end_token_id", "<|vision_end|>"),
    ):
        encoder_config[key] = tokenizer.convert_tokens_to_ids(token)
    with torch.device(device), default_dtype(dtype), torch.no_grad():
        transformer = QwenImageTransformer2DModel.from_config(shipped_config("transformer"))
        vae = AutoencoderKLQwenImage.from_config(shipped_config("vae"))
        text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**encoder_config))
    for module in (transformer, vae, text_encoder):
        module.eval()
        module.requires_grad_(False)
    processor = ImageOnlyQwen2VLProcessor(image_processor=Qwen2VLImageProcessorPil(), tokenizer=tokenizer)
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_config(shipped_config("scheduler")),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )


def match_template_prefix(pipeline: QwenImageEditPlusPipeline) -> int:
    """Drop the whole system prefix before the transformer, as the real tokenizer's 64 tokens do.

    Without this the byte-level tokenizer would leave ~240 system-prompt tokens in the
    transformer's text stream and inflate its attention; returns the new drop index.
    """
    prefix = pipeline.prompt_template_encode.split("{}")[0]
    length = len(pipeline.tokenizer(prefix)["input_ids"])
    pipeline.prompt_template_encode_start_idx = length
    return length


# --------------------------------------------------------------------------- timing


class Clock:
    """CUDA events on a GPU (no synchronisation while the run goes on), perf_counter on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"

    def mark(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def seconds(self, start: Any, end: Any) -> float:
        if self.cuda:
            return float(start.elapsed_time(end)) / 1000
        return float(end - start)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


@dataclass
class TransformerCall:
    start: Any
    end: Any = None
    image_tokens: int = 0
    text_tokens: int = 0
    img_shapes: tuple[tuple[int, int, int], ...] = ()
    full: bool = False


class ComponentTimer:
    """Hooks on the pipeline's components that mark where each one starts and ends.

    Lives in the bench only; `close()` removes every hook and wrapper again.
    """

    def __init__(self, pipeline: QwenImageEditPlusPipeline, clock: Clock) -> None:
        self.clock = clock
        self.pipeline = pipeline
        self.intervals: dict[str, list[tuple[Any, Any]]] = {
            "text_encoder": [],
            "vae_encode": [],
            "vae_decode": [],
        }
        self.calls: list[TransformerCall] = []
        self.step_marks: list[Any] = []
        self._open: dict[str, Any] = {}
        self._full_ticks = 0
        self._ticks_at_start = 0
        self._handles: list[Any] = []

        encoder = pipeline.text_encoder
        self._handles.append(encoder.register_forward_pre_hook(lambda *_: self._begin("text_encoder")))
        self._handles.append(encoder.register_forward_hook(lambda *_: self._finish("text_encoder")))

        transformer = pipeline.transformer
        self._handles.append(transformer.register_forward_pre_hook(self._transformer_begin, with_kwargs=True))
        self._handles.append(transformer.register_forward_hook(self._transformer_finish))
        # The engine's own rule for a full pass: the last block's feed-forward runs only then.
        last_mlp = transformer.transformer_blocks[-1].img_mlp
        self._handles.append(last_mlp.register_forward_pre_hook(self._tick))

        self._vae = pipeline.vae
        self._vae.encode = self._wrap("vae_encode", self._vae.encode)
        self._vae.decode = self._wrap("vae_decode", self._vae.decode)

    # -- hooks
    def _begin(self, name: str) -> None:
        self._open[name] = self.clock.mark()

    def _finish(self, name: str) -> None:
        self.intervals[name].append((self._open.pop(name), self.clock.mark()))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._begin(name)
            try:
                return method(*args, **kwargs)
            finally:
                self._finish(name)

        return timed

    def _tick(self, *_: Any) -> None:
        self._full_ticks += 1

    def _transformer_begin(self, _module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        call = TransformerCall(start=self.clock.mark())
        call.image_tokens = int(kwargs["hidden_states"].shape[1])
        call.text_tokens = int(kwargs["encoder_hidden_states"].shape[1])
        call.img_shapes = tuple(tuple(int(v) for v in shape) for shape in kwargs["img_shapes"][0])
        self._ticks_at_start = self._full_ticks
        self.calls.append(call)

    def _transformer_finish(self, *_: Any) -> None:
        call = self.calls[-1]
        call.end = self.clock.mark()
        call.full = self._full_ticks > self._ticks_at_start

    def on_step(self, _step: int, _steps: int) -> None:
        self.step_marks.append(self.clock.mark())

    # -- bookkeeping
    def reset(self) -> None:
        for marks in self.intervals.values():
            marks.clear()
        self.calls.clear()
        self.step_marks.clear()

    def total(self, name: str) -> float:
        return sum(self.clock.seconds(a, b) for a, b in self.intervals[name])

    def transformer_seconds(self) -> float:
        return sum(self.clock.seconds(c.start, c.end) for c in self.calls)

    def loop_seconds(self) -> float:
        if not self.calls or not self.step_marks:
            return 0.0
        return self.clock.seconds(self.calls[0].start, self.step_marks[-1])

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        # The wrappers are instance attributes; deleting them uncovers the class methods.
        del self._vae.encode
        del self._vae.decode


# --------------------------------------------------------------------------- FLOPs


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


# --------------------------------------------------------------------------- measuring


@dataclass
class Measurement:
    """One timed engine call."""

    end_to_end_s: float
    engine_inference_s: float
    seconds_per_step: float
    loop_s: float
    text_encoder_s: float
    vae_encode_s: float
    vae_decode_s: float
    transformer_s: float
    transformer_calls: int
    transformer_forwards: int
    full_passes_seen: int
    transformer_flop: float
    image_tokens: int
    text_tokens: list[int]
    peak_memory_bytes: int | None


@dataclass
class Row:
    level: str
    references: int
    size: int
    steps: int
    warmup_s: float
    #: "base" (true CFG at GUIDANCE_SCALE) or "lightning" (the Lightning LoRA and scheduler, no CFG).
    variant: str = "base"
    measurements: list[Measurement] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


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


def summarise(row: Row, peak_tflops: float) -> dict[str, Any]:
    def median(name: str) -> float:
        return statistics.median(getattr(m, name) for m in row.measurements)

    first = row.measurements[0]
    transformer_s = median("transformer_s")
    flop = first.transformer_flop  # same request, same passes: identical every repeat
    # Lower bound (bench/flops.py): the FLOPs of the passes that ran, at the measured peak.
    lower_bound_s = flop / (peak_tflops * 1e12)
    end_to_end = median("end_to_end_s")
    memory = [m.peak_memory_bytes for m in row.measurements if m.peak_memory_bytes is not None]
    return {
        "variant": row.variant,
        "seconds_per_step": median("seconds_per_step"),
        # The name docs/performance.md uses: one denoising step (both CFG branches when CFG is on).
        "s_per_cfg_step": median("seconds_per_step"),
        "end_to_end_s": end_to_end,
        "text_encoder_s": median("text_encoder_s"),
        "vae_s": median("vae_encode_s") + median("vae_decode_s"),
        "vae_encode_s": median("vae_encode_s"),
        "vae_decode_s": median("vae_decode_s"),
        "transformer_s": transformer_s,
        "other_s": end_to_end
        - median("text_encoder_s")
        - median("vae_encode_s")
        - median("vae_decode_s")
        - transformer_s,
        "transformer_forwards": first.transformer_forwards,
        "transformer_tflop": flop / 1e12,
        "transformer_tflops_per_s": flop / transformer_s / 1e12 if transformer_s > 0 else 0.0,
        "percent_of_peak": 100 * flop / transformer_s / 1e12 / peak_tflops if transformer_s > 0 else 0.0,
        "peak_memory_gib": max(memory) / GIB if memory else None,
        "lower_bound_s": lower_bound_s,
        "lower_bound_s_per_step": lower_bound_s / row.steps,
        "ratio_to_lower_bound": end_to_end / lower_bound_s if lower_bound_s > 0 else None,
        "step_ratio_to_lower_bound": median("seconds_per_step") / (lower_bound_s / row.steps)
        if lower_bound_s > 0
        else None,
        "image_tokens": first.image_tokens,
        "text_tokens": first.text_tokens,
    }


# --------------------------------------------------------------------------- output


COLUMNS = (
    ("level", "<8"),
    ("refs", ">4"),
    ("size", ">6"),
    ("img+txt tok", ">14"),
    ("fwd", ">4"),
    ("s/step", ">8"),
    ("e2e s", ">8"),
    ("text s", ">7"),
    ("vae s", ">7"),
    ("dit s", ">8"),
    ("TFLOP/s", ">8"),
    ("%peak", ">6"),
    ("mem GiB", ">7"),
    ("LB s", ">7"),
    ("×LB", ">6"),
    ("vs none", ">7"),
    ("variant", "<10"),
)


def format_table(rows: list[Row]) -> str:
    header = " ".join(f"{name:{spec}}" for name, spec in COLUMNS)
    lines = [header, "-" * len(header)]
    baseline = {
        (r.references, r.size): r.summary["end_to_end_s"]
        for r in rows
        if r.level == "none" and r.variant == "base"
    }
    for row in rows:
        s = row.summary
        text = "/".join(str(t) for t in s["text_tokens"])
        none_s = baseline.get((row.references, row.size))
        cells = (
            row.level,
            row.references,
            f"{row.size}²",
            f"{s['image_tokens']}+{text}",
            s["transformer_forwards"],
            f"{s['seconds_per_step']:.3f}",
            f"{s['end_to_end_s']:.2f}",
            f"{s['text_encoder_s']:.2f}",
            f"{s['vae_s']:.2f}",
            f"{s['transformer_s']:.2f}",
            f"{s['transformer_tflops_per_s']:.3g}",
            f"{s['percent_of_peak']:.1f}",
            "n/a" if s["peak_memory_gib"] is None else f"{s['peak_memory_gib']:.1f}",
            f"{s['lower_bound_s']:.2f}",
            "n/a" if s["ratio_to_lower_bound"] is None else f"{s['ratio_to_lower_bound']:.1f}",
            "n/a" if none_s is None else f"{none_s / s['end_to_end_s']:.2f}×",
            row.variant,
        )
        lines.append(" ".join(f"{cell:{spec}}" for cell, (_, spec) in zip(cells, COLUMNS, strict=True)))
    return "\n".join(lines)


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


def build(
    args: argparse.Namespace, device: torch.device
) -> tuple[QwenImageEditPlusPipeline, tuple[int, int]]:
    if args.scale == "full":
        if device.type != "cuda":
            # 57.7 GB of bf16 weights: a CPU run would not tell anything about GPU speed.
            raise SystemExit("--scale full needs a CUDA device (use --scale tiny on a CPU)")
        pipeline = build_full_pipeline(device)
        areas = MODEL_REFERENCE_AREAS
    else:
        pipeline = build_tiny_pipeline()
        areas = TINY_REFERENCE_AREAS
    if args.quantize != "none":
        from torchao.quantization import quantize_

        # The engine quantizes through diffusers' TorchAoConfig at load time; these random
        # weights are built in place, so the same torchao config is applied directly.
        quantize_(pipeline.transformer, quantization_config(args.quantize).quant_type)
    if args.cpu_offload:
        pipeline.enable_model_cpu_offload(device=device)
    elif args.group_offload:
        pipeline.enable_group_offload(
            onload_device=device,
            offload_device=torch.device("cpu"),
            offload_type="leaf_level",
            use_stream=True,
        )
    else:
        pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    if args.attention_backend:
        pipeline.transformer.set_attention_backend(args.attention_backend)
    return pipeline, areas


#: Layers the published Lightning LoRAs adapt in each block (their rank is 64 at bf16).
LIGHTNING_TARGETS = (
    "attn.to_q",
    "attn.to_k",
    "attn.to_v",
    "attn.to_out.0",
    "attn.add_q_proj",
    "attn.add_k_proj",
    "attn.add_v_proj",
    "attn.to_add_out",
    "img_mlp.net.0.proj",
    "img_mlp.net.2",
    "txt_mlp.net.0.proj",
    "txt_mlp.net.2",
    "img_mod.1",
    "txt_mod.1",
)


def random_lightning_lora(pipeline: QwenImageEditPlusPipeline, scale: str, directory: Path) -> Path:
    """A random LoRA shaped like the Lightning one (speed does not depend on its values)."""
    rank = 64 if scale == "full" else 4
    state = random_lora_state_dict(
        pipeline.transformer, seed=7, rank=rank, std=0.01, targets=LIGHTNING_TARGETS
    )
    dtype = pipeline.transformer.dtype
    path = directory / "lightning.safetensors"
    save_file({key: value.to(dtype) for key, value in state.items()}, str(path))
    return path


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
