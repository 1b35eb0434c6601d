"""Runs bench/fair_queue.py on a small size, on both back ends, so that it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "fair_queue.py"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_fair_queue_bench_prints_the_table(backend: str, request: pytest.FixtureRequest) -> None:
    extra = []
    if backend == "postgres":
        request.getfixturevalue("postgres_databases")  # skips when PostgreSQL is switched off
        extra = ["--postgres", PG_ADMIN_URL]
    completed = subprocess.run(
        # This checkout against itself: the table's both columns and its ratios.
        [
            sys.executable,
            str(BENCH),
            "--queued",
            "12",
            "--reads",
            "3",
            "--baseline-src",
            str(ROOT / "src"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in completed.stdout.splitlines()
    }
    # Owner B's run is claimed next, whatever owner A has queued.
    assert rows["claims before B's run"][:2] == ["0", "0"]
    assert rows["B's queue_position"][:2] == ["1", "1"]
    assert rows["newest A run's queue_position"][:2] == ["12", "12"]
