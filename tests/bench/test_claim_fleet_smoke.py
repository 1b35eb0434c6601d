"""Runs bench/claim_fleet.py with a few loops so that it cannot rot (PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "claim_fleet.py"
PG_ADMIN_URL = os.environ.get("PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.mark.postgres
def test_claim_fleet_claims_every_run_once(tmp_path: Path) -> None:
    if os.environ.get("PIXELRUN_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("PIXELRUN_TEST_SKIP_POSTGRES=1")
    out = tmp_path / "fleet.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--loops", "6", "--runs", "60", "--baseline-runs", "5", "--heartbeats", "1"),
            *("--postgres-url", PG_ADMIN_URL, "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    assert "| loops | runs | claims |" in completed.stdout
    baseline, fleet = json.loads(out.read_text())
    assert (baseline["loops"], baseline["claims"]) == (1, 5)
    assert (fleet["loops"], fleet["claims"], fleet["claimed_twice"], fleet["not_succeeded"]) == (6, 60, 0, 0)
    assert fleet["errors"] == [] and fleet["claim_p50_ms"] > 0
