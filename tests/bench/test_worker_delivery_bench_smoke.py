"""Runs bench/worker_delivery.py on small images so that it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "worker_delivery.py"


def test_worker_delivery_bench_prints_both_modes(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--size", "256", "--runs", "2", "--formats", "jpeg", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    assert "| jpeg | inline |" in completed.stdout and "| jpeg | delivered |" in completed.stdout
    rows = json.loads(out.read_text())
    assert [(row["format"], row["mode"], row["runs"]) for row in rows] == [
        ("jpeg", "inline", 2),
        ("jpeg", "delivered", 2),
    ]
    assert all(row["model_ms"] > 0 and row["file_kb"] > 0 for row in rows)
