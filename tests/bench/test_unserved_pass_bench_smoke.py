"""Runs bench/unserved_pass.py on a small table so that it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "unserved_pass.py"
SKIP_POSTGRES = os.environ.get("PIXELRUN_TEST_SKIP_POSTGRES") == "1"


def test_unserved_pass_bench_runs_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = dict(os.environ)
    if "PIXELRUN_TEST_POSTGRES_URL" in env:
        env["PIXELRUN_BENCH_POSTGRES_URL"] = env["PIXELRUN_TEST_POSTGRES_URL"]
    backends = ["sqlite"] if SKIP_POSTGRES else ["sqlite", "postgres"]
    args = ["--runs", "2000", "--queued", "20", "--fail", "30", "--json", str(out)]
    completed = subprocess.run(
        [sys.executable, str(BENCH), *args, "--backend", "sqlite" if SKIP_POSTGRES else "both"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-4000:]
    assert "round w/o pass ms" in completed.stdout
    rows = json.loads(out.read_text())["rows"]
    assert {(row["backend"], row["what"]) for row in rows} == {
        (backend, what) for backend in backends for what in ("steady", "fail 30")
    }
    assert all(row["pass_ms"] > 0 for row in rows)
