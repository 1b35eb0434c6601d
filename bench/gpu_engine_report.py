"""Result records of gpu_engine.py: one timed call (Measurement), one configuration (Row), the
summary of a row's calls against the measured peak, the printed table and the JSON file.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GIB = 1024**3


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


def add_ratios_to_none(rows: list[Row]) -> None:
    """Each row's end-to-end time over the base `none` row's with the same references and size
    (regular/high: the cache levels' cost; Lightning: its cost against a full CFG request)."""
    baseline = {
        (r.references, r.size): r.summary["end_to_end_s"]
        for r in rows
        if r.level == "none" and r.variant == "base" and r.summary
    }
    for row in rows:
        none_s = baseline.get((row.references, row.size))
        row.summary["end_to_end_ratio_to_none"] = row.summary["end_to_end_s"] / none_s if none_s else None


class JsonReport:
    """The run's JSON, rewritten after every phase and row (write, then rename): a run that is
    cut short keeps on disk what it measured so far, with `complete: false`."""

    def __init__(self, path: Path | None, header: dict[str, Any]) -> None:
        self.path = path
        self.fields = dict(header)

    def write(self, rows: list[Row], phases: list[dict[str, Any]], complete: bool) -> None:
        if self.path is None:
            return
        report = {
            **self.fields,
            "complete": complete,
            "phases": phases,
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_suffix(".partial")
        staging.write_text(json.dumps(report, indent=2))
        staging.replace(self.path)


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
    for row in rows:
        s = row.summary
        text = "/".join(str(t) for t in s["text_tokens"])
        ratio = s.get("end_to_end_ratio_to_none")
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
            "n/a" if ratio is None else f"{1 / ratio:.2f}×",
            row.variant,
        )
        lines.append(" ".join(f"{cell:{spec}}" for cell, (_, spec) in zip(cells, COLUMNS, strict=True)))
    return "\n".join(lines)
