"""Runs bench/encode.py on small images so that it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "encode.py"


def test_encode_bench_prints_the_table() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--size", "64", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    rows = [
        line.split() for line in completed.stdout.splitlines() if line.split()[:1] in (["noisy"], ["smooth"])
    ]
    assert {(row[0], row[1]) for row in rows} >= {("noisy", "png"), ("noisy", "webp"), ("smooth", "jpeg")}
