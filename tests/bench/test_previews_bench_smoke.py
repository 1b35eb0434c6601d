"""Runs bench/previews.py on a small size so that it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "previews.py"


def test_previews_bench_prints_the_table() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "256", "--repeat", "1", "--steps", "2", "--calls", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    (row,) = [line.split() for line in completed.stdout.splitlines() if line.startswith("256²")]
    assert row[1] == "32x32" and row[-1].endswith("%")
