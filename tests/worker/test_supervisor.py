"""The `pixelrun serve` supervisor: restart back-off, the load-failure limit, what it records."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pixelrun.config import Settings
from pixelrun.serve import WorkerSupervisor, restart_delay
from pixelrun.store import Store


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout} s")
        time.sleep(0.05)


def test_restart_delay_doubles_per_load_failure_up_to_the_cap() -> None:
    assert [restart_delay(n, 2.0, 60.0) for n in range(8)] == [2, 2, 4, 8, 16, 32, 60, 60]


def _settings(tmp_path: Path, store: Store, weights: str, limit: int) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=str(store.engine.url),
        weights=weights,
        device="cpu",
        worker_max_load_failures=limit,
        worker_restart_backoff_seconds=0.1,
    )


def test_a_worker_killed_while_loading_is_recorded_as_crashed(
    tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, tiny_dir: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = sqlite_store
    supervisor = WorkerSupervisor(_settings(tmp_path, store, str(tiny_dir), limit=1), 1, store)
    supervisor.start()
    try:
        slot = supervisor.slots[0]
        # It registers as loading before it imports torch: seconds to catch it there.
        wait_for(lambda: (w := store.workers.get(slot.worker_id)) is not None and w.status == "loading", 60)
        assert slot.process is not None
        os.kill(slot.process.pid, signal.SIGKILL)
        wait_for(lambda: slot.given_up, 30)
    finally:
        supervisor.stop()
    record = store.workers.get(slot.worker_id)
    assert record is not None and record.status == "failed" and record.failure_reason == "crashed"
    assert "killed by signal 9 while loading" in (record.failure_message or "")
    assert "not restarted after 1 load failures in a row" in (record.failure_message or "")
    assert slot.process is None  # not restarted


def test_load_failures_back_off_then_stop(tmp_path: Path, sqlite_store: Store) -> None:
    store = sqlite_store
    supervisor = WorkerSupervisor(_settings(tmp_path, store, str(tmp_path / "missing"), limit=3), 1, store)
    supervisor.start()
    seen: set[str] = set()
    try:
        slot = supervisor.slots[0]

        def given_up() -> bool:
            seen.add(slot.worker_id)
            return slot.given_up

        wait_for(given_up, 90)
    finally:
        supervisor.stop()
    assert slot.load_failures == 3 and len(seen) == 3  # three worker processes, then none
    failed = [store.workers.get(worker_id) for worker_id in seen]
    assert all(w is not None and w.status == "failed" and w.failure_reason == "not_found" for w in failed)
