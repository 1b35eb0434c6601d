"""Dispatch latency for api_throughput.py: runs created one at a time against an idle worker,
create -> `dispatching` and create -> `running` from the store's events.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from throughput_load import CREATE_PATH, percentile

TERMINAL = {"succeeded", "failed", "canceled"}


@dataclass
class DispatchResult:
    backend: str
    runs: int
    failed: dict[str, int] = field(default_factory=dict)
    to_dispatching_ms: list[float] = field(default_factory=list)
    to_running_ms: list[float] = field(default_factory=list)
    # Wall time from the POST to the run being seen terminal, for context (includes the tiny inference).
    to_terminal_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            name: {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99), "n": len(values)}
            for name, values in (
                ("create_to_dispatching", self.to_dispatching_ms),
                ("create_to_running", self.to_running_ms),
                ("create_to_terminal_wall", self.to_terminal_ms),
            )
        }


def measure_dispatch(
    backend: str,
    base_url: str,
    headers: dict[str, str],
    database_url: str,
    body: bytes,
    args: argparse.Namespace,
) -> DispatchResult:
    from pixelrun.store import Store

    result = DispatchResult(backend=backend, runs=args.dispatch_runs)
    store = Store(database_url)
    try:
        with httpx.Client(
            base_url=base_url, headers={**headers, "Content-Type": "application/json"}
        ) as client:
            for _ in range(args.dispatch_runs):
                posted = time.perf_counter()
                response = client.post(CREATE_PATH, content=body, timeout=30)
                if response.status_code != 201:
                    raise RuntimeError(f"create run: {response.status_code} {response.text[:500]}")
                run_id = response.json()["id"]
                deadline = time.monotonic() + args.run_timeout
                while True:
                    run = store.runs.get(run_id)
                    assert run is not None
                    if run.status.value in TERMINAL:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"run {run_id} still {run.status.value} after {args.run_timeout} s"
                        )
                    # Polling the store, not the API, so the server is idle while the worker works.
                    time.sleep(0.02)
                result.to_terminal_ms.append((time.perf_counter() - posted) * 1000)
                if run.status.value != "succeeded":
                    label = f"{run.status.value}:{run.failure_code}"
                    result.failed[label] = result.failed.get(label, 0) + 1
                first: dict[str, datetime] = {}
                for event in store.history.events(run_id):
                    first.setdefault(event.to_status.value, event.created_at)
                if "dispatching" in first:
                    result.to_dispatching_ms.append(
                        (first["dispatching"] - run.created_at).total_seconds() * 1000
                    )
                if "running" in first:
                    result.to_running_ms.append((first["running"] - run.created_at).total_seconds() * 1000)
    finally:
        store.close()
    return result
