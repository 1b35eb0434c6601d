"""Runs bench/scale.py at a tiny size on both back ends so that it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
PG_ADMIN_URL = os.environ.get("PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_scale_bench_fills_measures_and_prints_the_table(backend: str, tmp_path: Path) -> None:
    if backend == "postgres" and os.environ.get("PIXELRUN_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("PIXELRUN_TEST_SKIP_POSTGRES=1")
    out = tmp_path / "scale.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--backend", backend, "--runs", "200", "--queued", "20", "--steps", "4"),
            *("--samples", "5", "--warmup", "1", "--retention-samples", "2", "--depth", "60"),
            *("--postgres-url", PG_ADMIN_URL, "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    for row in ("| create |", "| GET /v1/runs deep page", "| worker claim |", "| retention pass |"):
        assert row in completed.stdout, completed.stdout
    report = json.loads(out.read_text())
    empty, filled = report["empty"], report["filled"]
    # Every measurement has its samples on both sides (a claim that found no run is not counted).
    for route in ("create", "GET /v1/runs first page", "/metrics", "worker claim"):
        assert len(empty[route]) == len(filled[route]) == 5, route
    # Half of the 200 finished runs are the bench owner's: the filled page is 60 runs deep.
    assert filled["deep page depth"] == [60.0]
    assert report["fill_seconds"]["runs"] >= 0
