"""Housekeeping: an API process and an idle worker reap a dead worker's run through the
same pass (pixelrun.maintenance), on a real store; the worker's round waits its interval."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.maintenance import Housekeeping
from pixelrun.runs import RunStatus
from pixelrun.storage import LocalFileStorage, UrlSigner
from pixelrun.store import NewRun, Store

from .conftest import BASE_URL, MODEL, Caller, valid_input

MAINTENANCE_LOGGER = "pixelrun.maintenance.housekeeping"


def dead_workers_run(store: Store, caller: Caller) -> str:
    """A run leased to a worker that stopped renewing its lease; its one attempt is spent,
    so reaping fails it (and no live worker picks it up again)."""
    run = store.runs.create(NewRun(caller.owner_id, MODEL, valid_input(), max_attempts=1)).run
    claimed = store.queue.claim("wrk_dead", [MODEL], lease_seconds=-1)
    assert claimed is not None and claimed.id == run.id
    return run.id


def wait_until_failed(store: Store, run_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (run := store.runs.get(run_id)) is not None and run.status is not RunStatus.FAILED:
        assert time.monotonic() < deadline, f"run {run_id} still {run.status} after {timeout} s"
        time.sleep(0.05)


def reap_lines(caplog: pytest.LogCaptureFixture, run_id: str) -> list[str]:
    """The loggers that said `run_id` was reaped."""
    return [
        record.name
        for record in caplog.records
        if run_id in record.getMessage() and "lease expired" in record.getMessage()
    ]


def test_an_api_process_reaps_through_the_maintenance_pass(
    store: Store, settings: Settings, caller: Caller, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = dead_workers_run(store, caller)
    storage = LocalFileStorage(tmp_path / "files", BASE_URL, UrlSigner(b"r" * 32))
    caplog.set_level(logging.INFO, logger="pixelrun")
    # The app's lifespan starts the background tasks (api/background.py), as `pixelrun serve` does.
    with TestClient(create_app(settings, store, storage), base_url=BASE_URL):
        wait_until_failed(store, run_id, timeout=30)
    assert reap_lines(caplog, run_id) == [MAINTENANCE_LOGGER]


def test_an_idle_worker_reaps_through_the_maintenance_pass(
    store: Store, settings: Settings, caller: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    from pixelrun.worker.loop import Worker

    run_id = dead_workers_run(store, caller)
    caplog.set_level(logging.INFO, logger="pixelrun")
    # A real worker on the tiny weights, with nothing to claim: only its loop reaps here.
    worker = Worker(settings, name="idle")
    thread = threading.Thread(target=worker.run, name="idle-worker", daemon=True)
    thread.start()
    try:
        wait_until_failed(store, run_id, timeout=180)
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
        worker.store.close()
    assert not thread.is_alive()
    assert reap_lines(caplog, run_id) == [MAINTENANCE_LOGGER]


def test_a_round_waits_its_interval_unless_asked_for_at_once(store: Store, caller: Caller) -> None:
    housekeeping = Housekeeping(store, interval=60, purge_keys=False)
    first = dead_workers_run(store, caller)
    housekeeping.run_if_due()
    assert store.runs.get(first).status is RunStatus.FAILED
    second = store.runs.create(NewRun(caller.owner_id, MODEL, valid_input(), max_attempts=1)).run.id
    assert store.queue.claim("wrk_dead", [MODEL], lease_seconds=-1).id == second
    housekeeping.run_if_due()  # less than 60 s after the last round: not due
    assert store.runs.get(second).status is RunStatus.DISPATCHING
    housekeeping.run_once()
    assert store.runs.get(second).status is RunStatus.FAILED


def test_an_api_process_round_deletes_the_previews_of_ended_runs(store: Store, caller: Caller) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from pixelrun.maintenance.housekeeping import for_api, for_worker
    from pixelrun.runs import utc_now
    from pixelrun.store.tables import runs

    run = store.runs.create(NewRun(caller.owner_id, MODEL, valid_input())).run
    store.previews.add(run.id, 1, 2, "image/webp", b"RIFF....WEBP")
    store.runs.cancel(run.id, caller.owner_id)
    with store.engine.begin() as conn:
        conn.execute(
            update(runs).where(runs.c.id == run.id).values(completed_at=utc_now() - timedelta(minutes=1))
        )

    def preview() -> object:
        (row,) = [row for row in store.history.stream_rows_after({run.id: 0}) if row.step == 1]
        return row.preview

    for_worker(store).run_once()  # workers leave it to API processes
    assert preview() is not None
    for_api(store).run_once()
    assert preview() is None
