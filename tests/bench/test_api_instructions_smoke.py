"""bench/api_instructions.py's workload runs (the callgrind measurement itself takes minutes:
it is run by hand, docs/operations.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_instructions.py"


def test_the_measured_workload_creates_and_polls() -> None:
    for kind in ("create", "get"):
        result = subprocess.run(
            [sys.executable, str(BENCH), "--workload", kind, "--requests", "3"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
