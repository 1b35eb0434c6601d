"""Runs bench/api_throughput.py in a tiny mode so that it cannot rot (SQLite only, a few runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_throughput.py"


def test_api_throughput_bench_runs_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            # 200 requests: enough server CPU for /proc's 10 ms ticks to measure a ratio.
            *("--requests", "200", "--warmup", "5", "--concurrency", "4"),
            *("--dispatch-runs", "2", "--backends", "sqlite", "--loads", "create,mixed", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    for row in (
        "baseline (bare FastAPI)",
        "pixelrun create-run",
        "pixelrun mixed 1 create : 10 GET",
        "dispatch: create -> dispatching",
        "dispatch: create -> running",
    ):
        assert row in completed.stdout, completed.stdout
    report = json.loads(out.read_text())
    baseline, _baseline_mixed, pixelrun, mixed = report["throughput"]
    assert baseline["ok"] == pixelrun["ok"] == mixed["ok"] == 200
    assert pixelrun["backend"] == "sqlite" and pixelrun["ratio_to_baseline"] > 0
    assert mixed["load"] == "mixed" and mixed["cpu_ratio_to_baseline"] > 0
    summary = report["dispatch"][0]["summary"]
    assert summary["create_to_running"]["n"] == 2
    assert 0 <= summary["create_to_dispatching"]["p50_ms"] <= summary["create_to_running"]["p50_ms"]
