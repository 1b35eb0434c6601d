"""bench/gpu_run.sh, the GPU benchmark's one command: its quick profile runs at tiny scale on the
CPU through the same code as on an H100 (driver, engine bench, JSON, summary), its plan fits
the budget by its own estimates, a set that does not fit is refused, a run that is cut short
keeps what it measured, and the cost model agrees with the engine and bench/flops.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import gpu_plan  # noqa: E402  (bench/ is not a package)
import gpu_run  # noqa: E402

QUICK_ROWS = [
    ("base", "none", 8),
    ("lightning", "none", 4),
    ("lightning", "none", 8),
    ("base", "regular", 8),
    ("base", "high", 8),
]


def gpu_run_sh(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BENCH / "gpu_run.sh"), *arguments],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHON": sys.executable, **(env or {})},
    )


def test_the_quick_profile_runs_at_tiny_scale_with_every_number_and_phase(tmp_path: Path) -> None:
    completed = gpu_run_sh("--scale", "tiny", env={"RESULTS_DIR": str(tmp_path)})
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]

    report = json.loads((tmp_path / "quick.json").read_text())
    assert report["complete"] and report["scale"] == "tiny" and report["repeats"] == 2
    rows = report["rows"]
    # The headline row first, the cheap Lightning rows next, then the cache levels.
    assert [(r["variant"], r["level"], r["steps"]) for r in rows] == QUICK_ROWS
    by_kind = {(r["variant"], r["level"], r["steps"]): r for r in rows}
    none = by_kind[("base", "none", 8)]
    assert none["transformer_forwards"] == 2 * 8  # true CFG, no pass skipped
    assert by_kind[("base", "regular", 8)]["transformer_forwards"] < none["transformer_forwards"]
    assert (
        by_kind[("base", "high", 8)]["transformer_forwards"]
        < by_kind[("base", "regular", 8)]["transformer_forwards"]
    )
    assert by_kind[("lightning", "none", 4)]["transformer_forwards"] == 4  # no CFG
    assert none["end_to_end_ratio_to_none"] == 1.0
    for row in rows:
        assert len(row["measurements"]) == 2 and row["s_per_cfg_step"] > 0 and row["end_to_end_s"] > 0
        assert row["end_to_end_ratio_to_none"] > 0 and row["peak_memory_gib"] is None  # CPU

    # Every phase the plan estimates was measured, under the same name, and nothing else.
    planned = [name for name, _ in gpu_plan.chunk_phases(gpu_plan.CHUNKS["quick"])]
    measured = [phase["name"] for phase in report["phases"]]
    assert measured == planned
    assert all(phase["s"] >= 0 for phase in report["phases"]) and report["phases"][0]["s"] > 0

    run = json.loads((tmp_path / "run.json").read_text())
    assert run["complete"] and run["scale"] == "tiny" and run["budget_s"] == 480
    assert [(c["name"], c["exit"], c["timed_out"]) for c in run["chunks"]] == [("quick", 0, False)]
    assert set(run["estimates"]["chunks"]["quick"]["phases"]) == set(planned)
    assert "phase measure base none, 1 ref" in (tmp_path / "quick.log").read_text()

    out = completed.stdout
    assert "fits" in out and "| quick | base | regular | 1 | 128² | 8 |" in out
    assert "| quick | measure base high, 1 ref | 25 |" in out  # estimate next to the measurement


def test_the_dry_run_prints_a_quick_profile_that_fits_480_seconds(tmp_path: Path) -> None:
    results = tmp_path / "results"
    completed = gpu_run_sh("--dry-run", env={"RESULTS_DIR": str(results)})
    assert completed.returncode == 0, completed.stderr
    assert "plan: quick at full scale; budget 480 s" in completed.stdout
    assert "install (bench/wheels/, offline)" in completed.stdout and "ESTIMATES" in completed.stdout
    printed = re.search(r"^\s+total\s+(\d+)\s+fits, (\d+) s to spare$", completed.stdout, re.MULTILINE)
    assert printed, completed.stdout
    total = gpu_plan.Plan((gpu_plan.CHUNKS["quick"],), install=True).total_s
    assert int(printed[1]) == round(total) <= 480 and int(printed[2]) == round(480 - total)
    assert not results.exists()  # nothing ran


def test_a_set_of_chunks_over_the_budget_is_refused_before_anything_runs(tmp_path: Path) -> None:
    results = tmp_path / "results"
    completed = gpu_run_sh("--dry-run", "quick", "references-2", env={"RESULTS_DIR": str(results)})
    assert completed.returncode == 2 and "does NOT fit" in completed.stdout
    assert "refused" in completed.stderr
    completed = gpu_run_sh("quick", env={"RESULTS_DIR": str(results), "GPU_BUDGET_SECONDS": "200"})
    assert completed.returncode == 2 and not results.exists()
    assert gpu_run_sh("no-such-chunk").returncode == 2


def test_every_chunk_fits_one_command_alone_and_runs_its_first_level_first() -> None:
    for chunk in gpu_plan.CHUNKS.values():
        plan = gpu_plan.Plan((chunk,), install=True)
        assert plan.total_s <= 480, (chunk.name, plan.total_s)
        measures = [name for name, _ in gpu_plan.chunk_phases(chunk) if name.startswith("measure ")]
        assert measures[0] == f"measure base {chunk.levels[0]}, {chunk.references[0]} ref"
        assert gpu_plan.headline_s(chunk) < plan.chunk_s(chunk)


def test_a_chunk_out_of_budget_is_interrupted(tmp_path: Path) -> None:
    # One second is spent before the bench has even imported torch.
    record = gpu_run.run_chunk(gpu_plan.CHUNKS["quick"], "tiny", tmp_path, None, timeout_s=1)
    assert record["timed_out"] and record["exit"] != 0 and record["wall_s"] < gpu_run.GRACE_S


def test_a_run_cut_short_keeps_the_rows_it_measured(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    # The quick profile's rows at 40 tiny steps: the rows after the first take seconds more,
    # so the interrupt below always lands mid-run.
    arguments = gpu_plan.engine_arguments(
        gpu_plan.CHUNKS["quick"], gpu_plan.Scale("tiny", size=128, steps=40)
    )
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "gpu_engine.py"), *arguments, "--repeats", "1", "--json", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("  base none, 1 ref"):  # printed once the first row is on disk
            break
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    process.communicate(timeout=60)
    assert process.returncode != 0 and time.monotonic() - started < 30
    report = json.loads(out.read_text())
    assert not report["complete"]
    assert 1 <= len(report["rows"]) < len(QUICK_ROWS)
    assert report["rows"][0]["level"] == "none" and report["rows"][0]["s_per_cfg_step"] > 0
    assert report["phases"][-1]["name"] != "matmul-peak-end"


def test_the_cost_model_uses_bench_flops_count() -> None:
    import flops

    # One reference only (4 s on the meta device); the two-reference figure comes from the same call.
    counted, _, _ = flops.count(1024, 1, 213)
    assert gpu_plan.FORWARD_TFLOP[1] == pytest.approx(counted / 1e12, abs=0.05)


def test_the_cost_model_skips_the_passes_the_engine_skips() -> None:
    from pixelrun.engines.qwen_image_edit import Acceleration
    from pixelrun.engines.qwen_image_edit.acceleration import PLANS

    for steps in (4, 5, 8, 40):
        assert gpu_plan.full_steps("none", steps) == steps
        for level in (Acceleration.REGULAR, Acceleration.HIGH):
            plan = PLANS[level]
            assert plan is not None
            assert gpu_plan.full_steps(level.value, steps) == len(plan.full_steps(steps))
