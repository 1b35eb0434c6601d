"""Schemathesis, every check, against the OpenAPI document a real `pixelrun serve` serves.

Run as the CLI (`st run`) so that every phase runs (examples, coverage, fuzzing,
stateful) as a user would run it; a fixed seed and a bounded number of examples keep
it reproducible: ~330 s on a quiet machine, mostly waiting (`Prefer: wait=N`, the edits
route's sync timeout, event streams), not computing. One schemathesis worker: with four,
Python 3.11's `ast.parse` crashed inside schemathesis (not thread-safe there; "AST
constructor recursion depth mismatch"). The server runs no worker: runs stay
queued, so answers do not depend on how fast random inputs fail (see schemathesis.toml).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.server import Server

from .conftest import start_server

HERE = Path(__file__).parent
SEED = 42
MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
def target(module_data: Path) -> Iterator[Server]:
    # A short sync timeout, so POST /v1/images/edits answers 504 instead of holding on.
    server = start_server(
        module_data / "data",
        f"sqlite:///{module_data / 'pixelrun.db'}",
        workers=0,
        PIXELRUN_SYNC_TIMEOUT_SECONDS="0.2",
        # Creates are accepted with no worker (they queue) instead of 503 MODEL_UNAVAILABLE.
        PIXELRUN_MODEL_GRACE_SECONDS="-1",
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(600)
def test_schemathesis_finds_nothing(target: Server, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMATHESIS_")}
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{target.base_url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {target.key}",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--report-dir",
        str(tmp_path / "report"),
        "--workers",
        "1",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=540, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    assert " passed" in output and "failures" not in output.split("SUMMARY")[-1], output[-4000:]
