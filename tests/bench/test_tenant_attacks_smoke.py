"""Runs bench/tenant_attacks.py with a few small bodies so that it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tenant_attacks.py"


def test_tenant_attacks_bench_runs_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--bodies",
            "3",
            "--mib",
            "2",
            "--uploads",
            "2",
            "--upload-mib",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    assert "RSS peak" in completed.stdout
    phases = {phase["name"]: phase for phase in json.loads(out.read_text())["phases"]}
    assert phases["bad-key"]["statuses"] == {"401": 3}
    assert phases["good-key"]["statuses"] == {"422": 3}
    assert phases["uploads"]["statuses"] == {"200": 2}
    assert all(phase["rss_peak_mib"] > 0 for phase in phases.values())
