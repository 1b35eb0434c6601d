"""Runs bench/storage.py with a few runs so that it cannot rot (it starts its own moto server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "storage.py"


def test_storage_bench_runs_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--runs", "3", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    assert "S3 / local" in completed.stdout
    steps = json.loads(out.read_text())["steps"]
    assert set(steps) == {"put", "presign", "read back", "total"}
    assert all(row["local_p50_ms"] > 0 and row["s3_p50_ms"] > 0 for row in steps.values())
