"""Runs bench/gpu_engine.py at tiny scale on the CPU so that the GPU benchmark cannot rot.

Same code path as on a GPU (engine, timing hooks, FLOP counting, table, JSON); only the
weights and sizes are tiny. 4 steps, not 2: the cache levels compute steps 0–2 in full,
so with 2 steps `regular` would run as many passes as `none`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import product
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_engine.py"
LEVELS = ("none", "regular", "high")
REFERENCES = (1, 2)
SIZES = (256, 128)
ROW = re.compile(r"^(none|regular|high)\s+(\d)\s+(\d+)²\s", re.MULTILINE)


def test_gpu_engine_bench_runs_tiny_and_reports_every_configuration(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--scale", "tiny", "--device", "cpu", "--steps", "4", "--repeats", "1"),
            *("--sizes", *map(str, SIZES), "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]

    expected = set(product(LEVELS, REFERENCES, SIZES))
    printed = [(level, int(refs), int(size)) for level, refs, size in ROW.findall(completed.stdout)]
    assert sorted(printed) == sorted(expected), completed.stdout
    assert "peak:" in completed.stdout and "n/a" in completed.stdout  # CPU: no GPU memory figure

    report = json.loads(out.read_text())
    assert report["scale"] == "tiny" and report["steps"] == 4
    assert report["matmul_peak_tflops"]["used"] > 0
    rows = {(r["level"], r["references"], r["size"]): r for r in report["rows"]}
    assert set(rows) == expected
    for row in rows.values():
        assert row["transformer_forwards"] > 0
        assert row["end_to_end_s"] > 0 and row["seconds_per_step"] > 0 and row["transformer_s"] > 0
        assert row["vae_s"] > 0 and row["text_encoder_s"] > 0
        # Parts cannot exceed the whole (a little slack for clock granularity).
        assert row["text_encoder_s"] + row["vae_s"] + row["transformer_s"] <= row["end_to_end_s"] * 1.05
        assert row["transformer_tflop"] > 0 and row["percent_of_peak"] > 0
        assert row["lower_bound_s"] > 0 and row["ratio_to_lower_bound"] > 1
        assert row["peak_memory_gib"] is None
        (measurement,) = row["measurements"]
        # The bench's own count of full passes agrees with the engine's.
        assert measurement["full_passes_seen"] == measurement["transformer_forwards"]
        assert measurement["transformer_calls"] == 2 * 4  # true CFG: two calls per step
    for refs, size in product(REFERENCES, SIZES):
        none = rows[("none", refs, size)]
        assert none["transformer_forwards"] == 2 * 4
        assert rows[("regular", refs, size)]["transformer_forwards"] < none["transformer_forwards"]
        assert rows[("high", refs, size)]["transformer_forwards"] < none["transformer_forwards"]
    for level, size in product(LEVELS, SIZES):
        # A second reference lengthens the transformer's image sequence, so each pass costs more.
        one, two = rows[(level, 1, size)], rows[(level, 2, size)]
        assert two["image_tokens"] > one["image_tokens"]
        assert two["transformer_tflop"] / two["transformer_forwards"] > (
            one["transformer_tflop"] / one["transformer_forwards"]
        )


def test_gpu_engine_bench_runs_the_lightning_and_quantized_configurations_tiny(tmp_path: Path) -> None:
    out = tmp_path / "lightning.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--scale", "tiny", "--device", "cpu", "--steps", "4", "--repeats", "1", "--sizes", "128"),
            *("--references", "1", "--levels", "none", "--lightning-steps", "2", "4"),
            *("--quantize", "int8wo", "--label", "lightning-int8", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["label"] == "lightning-int8" and report["quantize"] == "int8wo" and report["date"]
    rows = [(r["variant"], r["steps"], r["transformer_forwards"]) for r in report["rows"]]
    # Lightning runs without CFG: one transformer pass per step.
    assert rows == [("base", 4, 8), ("lightning", 2, 2), ("lightning", 4, 4)]
    for row in report["rows"]:
        assert row["s_per_cfg_step"] == row["seconds_per_step"] > 0 and row["end_to_end_s"] > 0
    assert "lightning" in completed.stdout
