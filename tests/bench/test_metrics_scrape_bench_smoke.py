"""Runs bench/metrics_scrape.py on a small store (SQLite) so that it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "metrics_scrape.py"


def test_metrics_scrape_bench_prints_the_table() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--backend",
            "sqlite",
            "--sizes",
            "0,300",
            "--queued",
            "5",
            "--restarts",
            "1",
            "--scrapes",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    rows = [line.split() for line in completed.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["0", "300"]
    assert all(row[-1].endswith("x") for row in rows)
