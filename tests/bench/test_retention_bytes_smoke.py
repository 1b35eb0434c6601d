"""Runs bench/retention_bytes.py with a few runs so that it cannot rot (PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "retention_bytes.py"


@pytest.mark.postgres
def test_retention_bench_prints_bytes_per_run_that_shrink(tmp_path: Path, postgres_databases: object) -> None:
    out = tmp_path / "result.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--runs", "5", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    assert "| **total** |" in completed.stdout
    result = json.loads(out.read_text())
    per_run = result["per_run"]
    # Stream rows go after the stream window, logs after the retention window; runs stay.
    assert per_run["fresh"]["run_stream_events"] > 0 and per_run["after 1 h"]["run_stream_events"] == 0
    assert per_run["after 1 h"]["run_logs"] > 0 and per_run["after 30 days"]["run_logs"] == 0
    assert per_run["after 30 days"]["runs"] > 0 and per_run["after 30 days"]["run_events"] > 0
