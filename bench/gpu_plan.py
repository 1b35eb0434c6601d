"""What bench/gpu_run.sh runs: the GPU benchmark's chunks, the order of their rows and what each
phase is expected to cost on one H100, so that a run can be checked against its time budget
before it starts.

Standard library only: it runs before anything is installed, and on any machine for
`--dry-run`. The numbers below are ESTIMATES until a real run replaces them; each one says
where it comes from. Every run records the real time of each phase under the same names
(the `phases` of each chunk's JSON, the install in run.json), and bench/gpu_summary.py
prints estimate and measurement side by side, so the next run can be planned from
measured numbers (change the constants here when they disagree).
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- the cost model

#: bf16 matmul rate of the lent H100, 8192³ on random data (the workplace's device notes, 2026-11-13:
#: 798 TFLOP/s), rounded down; gpu_engine.py measures it again in every run.
MATMUL_PEAK_TFLOPS = 790.0
#: Share of that peak one transformer pass reaches in eager bf16 with PyTorch SDPA. bench/NOTES.md
#: expects 55-70 %; the estimate takes 50 %, the pessimistic side.
PASS_EFFICIENCY = 0.5
#: TFLOP of one transformer forward at 1024² per reference count (213 text tokens), counted by
#: bench/flops.py on the meta device; tests/bench/test_gpu_run.py checks them against it.
FORWARD_TFLOP = {1: 166.3, 2: 285.1}
#: A pass that the cache levels skip: embeddings, proj_out and the Taylor extrapolation only.
SKIPPED_PASS_S = 0.02
#: A rank-64 adapter on 14 layer kinds adds ~4 % of their FLOPs (docs/performance.md) plus ~1,700
#: small kernels per pass through PEFT's unfused layers.
LIGHTNING_PASS_FACTOR = 1.1
#: Per call outside the transformer: two text-encoder calls (~0.1 s) and the VAE (encode per
#: reference + decode, ~0.3-0.6 s), bench/NOTES.md's "roughly a second", rounded up.
CALL_FIXED_S = 1.0
CALL_PER_REFERENCE_S = 0.5
#: The first call of a process: CUDA kernels load, cuBLAS/cuDNN pick their algorithms.
FIRST_CALL_S = 15.0
#: pip install --no-deps --target of 7 wheels (~10 MB; diffusers ~1,000 files): 8-22 s measured on
#: the 2-core test machine, depending on the load of its other users.
INSTALL_S = 20.0
#: Python start and imports of torch, diffusers, transformers, peft: 7 s on the 2-core test
#: machine; a fresh GPU machine reads a cold disk.
IMPORT_S = 20.0
#: 28.9 B random bf16 parameters made on the GPU: 0.7 s of module construction (measured on the
#: meta device here), CUDA start-up, ~2,700 init kernels over 57.7 GB at ~3 TB/s.
BUILD_S = 30.0
#: ~590 M random LoRA values drawn on the GPU, a 1.2 GB safetensors round trip, PEFT injection
#: into 840 layers.
LIGHTNING_LORA_S = 20.0
#: FLOP counts on the meta device: the self-check against bench/flops.py plus the first shapes
#: (~4 s each on the 2-core test machine).
FLOP_CHECK_S = 10.0
FLOPS_PER_NEW_SHAPE_S = 4.0
#: 3 + 150 products of 8192³ (~1.1 TFLOP each) plus allocation.
MATMUL_PEAK_S = 3.0
#: Regional compile of the 60 blocks and the engine's warm-up calls: bench/NOTES.md's 1-3 min.
COMPILE_S = 180.0
#: torchao's quantize_ over the transformer's ~850 linear layers.
QUANTIZE_S = 30.0
#: Group offload: 57.7 GB to pinned CPU memory.
OFFLOAD_S = 60.0


@dataclass(frozen=True)
class Scale:
    name: str
    size: int
    steps: int


SCALES = {
    "full": Scale("full", size=1024, steps=40),
    # The same rows on the tiny random weights on a CPU, in seconds; 8 steps so that the cache
    # levels skip passes (their first 3 steps are full) and the timed loop has 8 steps.
    "tiny": Scale("tiny", size=128, steps=8),
}


@dataclass(frozen=True)
class Chunk:
    """One process of bench/gpu_engine.py: one build, then its rows."""

    name: str
    measures: str
    levels: tuple[str, ...] = ("none",)
    references: tuple[int, ...] = (1,)
    lightning_steps: tuple[int, ...] = ()
    repeats: int = 2
    #: Full-scale steps of the base rows (None: the scale's); the tiny scale always uses its own.
    steps: int | None = None
    warmup_steps: int = 5
    #: Further gpu_engine.py arguments (the experiment switches).
    switches: tuple[str, ...] = ()
    compile: bool = False
    #: Seconds the switches add to the build phase (quantization, offload).
    setup_s: float = 0.0
    #: A pass's cost relative to eager bf16 with SDPA, and seconds added to every call.
    pass_factor: float = 1.0
    call_extra_s: float = 0.0
    needs_torchao: bool = False


CHUNKS = {
    chunk.name: chunk
    for chunk in (
        Chunk(
            "quick",
            "s/CFG step (none), regular/high e2e vs none, Lightning 4/8 steps; 1024², 1 reference",
            levels=("none", "regular", "high"),
            lightning_steps=(4, 8),
        ),
        Chunk(
            "references-2",
            "the quick profile's rows with two references",
            levels=("none", "regular", "high"),
            references=(2,),
            lightning_steps=(4, 8),
            repeats=1,
        ),
        Chunk(
            "attention-cudnn",
            "none with cuDNN fused attention, 1 and 2 references",
            references=(1, 2),
            switches=("--attention-backend", "_native_cudnn"),
        ),
        Chunk(
            "attention-flash",
            "none with SDPA's flash kernel forced, 1 and 2 references",
            references=(1, 2),
            switches=("--attention-backend", "_native_flash"),
        ),
        Chunk(
            "compile",
            "regional torch.compile: none, regular, Lightning 8 steps (compile time apart)",
            levels=("none", "regular"),
            lightning_steps=(8,),
            repeats=1,
            compile=True,
        ),
        # Without compile, dynamic FP8 pays its quantise/scale kernels (bench/NOTES.md): ×1.3.
        Chunk(
            "fp8",
            "torchao FP8 transformer: none and Lightning 8 steps",
            lightning_steps=(8,),
            switches=("--quantize", "fp8"),
            setup_s=QUANTIZE_S,
            pass_factor=1.3,
            needs_torchao=True,
        ),
        # Weight-only int8 dequantises every weight on each call in eager mode: up to ×2.
        Chunk(
            "int8wo",
            "torchao int8 weight-only transformer: none",
            switches=("--quantize", "int8wo"),
            setup_s=QUANTIZE_S,
            pass_factor=2.0,
            needs_torchao=True,
        ),
        # 41 GB of transformer weights cross PCIe per pass (~25 GB/s pageable-to-device at worst):
        # ~1.6 s, 4× a pass; the text encoder's 16.6 GB twice per call adds ~1.5 s.
        Chunk(
            "group-offload",
            "group offloading with CUDA streams: none, 10 steps",
            steps=10,
            warmup_steps=2,
            repeats=1,
            switches=("--group-offload",),
            setup_s=OFFLOAD_S,
            pass_factor=4.0,
            call_extra_s=1.5,
        ),
    )
}


# --------------------------------------------------------------------------- rows and phases


def run_order(
    levels: tuple[str, ...], steps: int, lightning_steps: tuple[int, ...]
) -> list[tuple[str, str, int]]:
    """(variant, level, steps) of each row for one reference count, in the order they run.

    The first level (the headline, `none`) first, then the Lightning rows, which are cheap,
    then the other levels: a run cut short keeps the numbers that matter most.
    """
    base = [("base", level, steps) for level in levels]
    lightning = [("lightning", "none", count) for count in lightning_steps]
    return base[:1] + lightning + base[1:]


def row_label(variant: str, level: str, references: int, steps: int) -> str:
    """A row's name in phase names: the same at every scale (a chunk has one size, and its base
    rows one step count), so that a tiny run's phases match the full-scale estimates by name."""
    what = f"base {level}" if variant == "base" else f"{variant} {steps} steps"
    return f"{what}, {references} ref"


def full_steps(level: str, steps: int) -> int:
    """Steps with a full transformer pass; mirrors the engine's cache plans (3 full steps, then
    every 2nd for `regular`, every 4th for `high`; tests/bench checks it against the engine)."""
    interval = {"none": 1, "regular": 2, "high": 4}[level]
    if interval == 1:
        return steps
    return sum(1 for s in range(steps) if s < 3 or (s - 4) % interval == 0)


def call_seconds(chunk: Chunk, variant: str, level: str, references: int, steps: int) -> float:
    """One engine call at full scale: transformer passes plus the fixed part."""
    lightning = variant == "lightning"
    branches = 1 if lightning else 2  # true CFG: a conditional and a negative pass per step
    full = full_steps(level, steps) * branches
    skipped = steps * branches - full
    pass_s = FORWARD_TFLOP[references] / (MATMUL_PEAK_TFLOPS * PASS_EFFICIENCY)
    pass_s *= chunk.pass_factor * (LIGHTNING_PASS_FACTOR if lightning else 1.0)
    fixed = CALL_FIXED_S + CALL_PER_REFERENCE_S * references + chunk.call_extra_s
    return full * pass_s + skipped * SKIPPED_PASS_S + fixed


def chunk_steps(chunk: Chunk, scale: Scale) -> int:
    return chunk.steps if chunk.steps is not None and scale.name == "full" else scale.steps


def chunk_phases(chunk: Chunk) -> list[tuple[str, float]]:
    """(phase, estimated seconds at full scale), named as gpu_engine.py names them."""
    scale = SCALES["full"]
    steps = chunk_steps(chunk, scale)
    phases = [("import", IMPORT_S), ("build", BUILD_S + chunk.setup_s)]
    if chunk.lightning_steps:
        phases.append(("lightning-lora", LIGHTNING_LORA_S))
    if chunk.compile:
        phases.append(("compile", COMPILE_S))
    phases += [("flop-check", FLOP_CHECK_S), ("matmul-peak", MATMUL_PEAK_S)]
    first = True
    for references in chunk.references:
        new_shapes = 2  # the conditional and the negative prompt's text lengths
        for variant, level, count in run_order(chunk.levels, steps, chunk.lightning_steps):
            label = row_label(variant, level, references, count)
            warm = call_seconds(chunk, variant, level, references, min(count, chunk.warmup_steps))
            phases.append((f"warm-up {label}", warm + (FIRST_CALL_S if first else 0.0)))
            measure = chunk.repeats * call_seconds(chunk, variant, level, references, count)
            phases.append((f"measure {label}", measure + new_shapes * FLOPS_PER_NEW_SHAPE_S))
            first, new_shapes = False, 0
    phases.append(("matmul-peak-end", MATMUL_PEAK_S))
    return phases


def headline_s(chunk: Chunk) -> float:
    """Estimated seconds up to the end of the chunk's first row (its headline number)."""
    seconds = 0.0
    for name, estimate in chunk_phases(chunk):
        seconds += estimate
        if name.startswith("measure "):
            break
    return seconds


def engine_arguments(chunk: Chunk, scale: Scale) -> list[str]:
    """bench/gpu_engine.py's arguments for this chunk at this scale."""
    arguments = [
        *("--scale", scale.name, "--sizes", str(scale.size), "--steps", str(chunk_steps(chunk, scale))),
        *("--warmup-steps", str(chunk.warmup_steps), "--repeats", str(chunk.repeats)),
        *("--references", *map(str, chunk.references), "--levels", *chunk.levels),
    ]
    if chunk.lightning_steps:
        arguments += ["--lightning-steps", *map(str, chunk.lightning_steps)]
    if chunk.compile:
        arguments.append("--compile")
    return [*arguments, *chunk.switches]


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    chunks: tuple[Chunk, ...]
    install: bool

    @property
    def install_s(self) -> float:
        return INSTALL_S if self.install else 0.0

    def chunk_s(self, chunk: Chunk) -> float:
        return sum(seconds for _, seconds in chunk_phases(chunk))

    @property
    def total_s(self) -> float:
        return self.install_s + sum(self.chunk_s(chunk) for chunk in self.chunks)

    def estimates(self) -> dict[str, object]:
        """What run.json keeps of the plan, for comparing with the measured phases."""
        return {
            "install_s": self.install_s,
            "chunks": {
                c.name: {
                    "total_s": round(self.chunk_s(c), 1),
                    "phases": {name: round(seconds, 1) for name, seconds in chunk_phases(c)},
                }
                for c in self.chunks
            },
        }


def format_plan(plan: Plan, budget_s: float, scale: Scale, verbose: bool = True) -> str:
    lines = [
        f"plan: {', '.join(c.name for c in plan.chunks)} at {scale.name} scale; budget {budget_s:.0f} s "
        "(GPU_BUDGET_SECONDS)",
        "estimated seconds on one H100 at full scale: ESTIMATES from bench/gpu_plan.py's constants "
        "(where each comes from: docs/performance.md), not measurements",
    ]
    if scale.name != "full":
        lines.append(
            f"(this run is at {scale.name} scale on a CPU: it takes seconds, whatever the estimates)"
        )
    if plan.install:
        lines.append(f"  {'install (bench/wheels/, offline)':<60} {plan.install_s:6.0f}")
    for chunk in plan.chunks:
        lines.append(f"chunk {chunk.name}: {chunk.measures}")
        lines.append(
            f"  ({scale.size}², base rows {chunk_steps(chunk, scale)} steps with CFG; each row: a "
            f"{chunk.warmup_steps}-step warm-up, then {chunk.repeats} timed call(s))"
        )
        if verbose:
            lines += [f"  {name:<60} {seconds:6.0f}" for name, seconds in chunk_phases(chunk)]
        lines.append(f"  {'chunk ' + chunk.name + ' total':<60} {plan.chunk_s(chunk):6.0f}")
    spare = budget_s - plan.total_s
    verdict = f"fits, {spare:.0f} s to spare" if spare >= 0 else f"does NOT fit: {-spare:.0f} s over"
    lines.append(f"  {'total':<60} {plan.total_s:6.0f}   {verdict}")
    return "\n".join(lines)
