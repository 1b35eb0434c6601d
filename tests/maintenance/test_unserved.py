"""No accepted run waits forever: queued runs of a model that has had no live worker for the
grace period fail with `model_unavailable`, on SQLite and on PostgreSQL
(docs/weights.md#runs-no-worker-takes)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient

from callbacks.callback_receiver import receiving
from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.maintenance import UnservedModels
from pixelrun.runs import FailureStage, RunStatus
from pixelrun.storage import LocalFileStorage, UrlSigner
from pixelrun.store import MODEL_UNAVAILABLE, NewRun, Owner, Store

from .conftest import BASE_URL, MODEL, Caller, valid_input

LIGHTNING = "alibaba/qwen-image-edit-2511-lightning"
HOOK = "https://hooks.example.com/pixelrun"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def queued(store: Store, owner_id: str, model_id: str, callback_url: str | None = HOOK) -> str:
    return store.runs.create(NewRun(owner_id, model_id, valid_input(), callback_url=callback_url)).run.id


def status(store: Store, run_id: str) -> RunStatus:
    run = store.runs.get(run_id)
    assert run is not None
    return run.status


def test_runs_of_a_model_no_worker_serves_fail_after_the_grace_period(store: Store) -> None:
    # Workers started for the base model only; runs for the Lightning model were accepted
    # within the grace period.
    owner = store.owners.ensure("budgeted", budget_micros=10_000_000)
    store.workers.register("wrk_base", "base", [MODEL], "cpu", status="ready")
    unserved = queued(store, owner.id, LIGHTNING)
    quiet = queued(store, owner.id, LIGHTNING, callback_url=None)
    served = queued(store, owner.id, MODEL)
    clock = Clock()
    watcher = UnservedModels(store, grace_seconds=10, clock=clock)

    assert watcher.fail_queued_runs() == []
    clock.now += 9.9
    assert watcher.fail_queued_runs() == []
    assert status(store, unserved) is RunStatus.QUEUED

    clock.now += 0.1
    assert sorted(watcher.fail_queued_runs()) == sorted([unserved, quiet])
    run = store.runs.get(unserved)
    assert run is not None and run.status is RunStatus.FAILED
    assert (run.failure_code, run.failure_stage) == (MODEL_UNAVAILABLE, FailureStage.INTERNAL)
    assert run.failure_message is not None and LIGHTNING in run.failure_message
    assert "pixelrun worker --models" in run.failure_message
    assert (run.cost, run.cost_breakdown, run.cost_micros, run.output) == ("0.000000", [], 0, None)
    assert run.completed_at is not None
    # No charge, the event, and the callback through the outbox like any other failure.
    assert store.owners.balance(owner.id) == (10_000_000, 0)
    events = store.history.events(unserved)
    assert [(e.from_status, e.to_status) for e in events][-1] == (RunStatus.QUEUED, RunStatus.FAILED)
    assert events[-1].detail is not None and events[-1].detail["failure_code"] == MODEL_UNAVAILABLE
    deliveries = store.callbacks.deliveries(unserved)
    assert [(d.callback_url, d.status) for d in deliveries] == [(HOOK, "pending")]
    assert store.callbacks.deliveries(quiet) == []
    # The served model's run is untouched, and a failed run is not failed twice.
    assert status(store, served) is RunStatus.QUEUED
    assert watcher.fail_queued_runs() == []
    assert len(store.history.events(unserved)) == len(events)


def test_a_model_whose_last_worker_stopped_fails_its_queue_a_grace_period_later(store: Store) -> None:
    owner = store.owners.ensure("acme")
    store.workers.register("wrk_base", "base", [MODEL], "cpu", status="busy")
    clock = Clock()
    watcher = UnservedModels(store, grace_seconds=10, clock=clock)
    waiting = queued(store, owner.id, MODEL)
    clock.now += 60  # long after start-up, but the worker is live
    assert watcher.fail_queued_runs() == []
    assert store.workers.mark_stopped("wrk_base")
    clock.now += 9
    assert watcher.fail_queued_runs() == []  # 9 s since it was last seen live
    assert status(store, waiting) is RunStatus.QUEUED
    clock.now += 1
    assert watcher.fail_queued_runs() == [waiting]
    assert status(store, waiting) is RunStatus.FAILED


def test_a_loading_worker_counts_and_a_negative_grace_never_fails(store: Store, owner: Owner) -> None:
    store.workers.register("wrk_slow", "slow", [LIGHTNING], "cpu", status="loading")
    run_id = queued(store, owner.id, LIGHTNING)
    other = queued(store, owner.id, MODEL)
    clock = Clock()
    watcher = UnservedModels(store, grace_seconds=10, clock=clock)
    never = UnservedModels(store, grace_seconds=-1, clock=clock)
    clock.now += 3600
    assert never.fail_queued_runs() == []
    assert watcher.fail_queued_runs() == [other]
    assert status(store, run_id) is RunStatus.QUEUED


def test_a_long_queue_is_failed_in_batches(store: Store, owner: Owner) -> None:
    from pixelrun.maintenance import unserved as module

    run_ids = [queued(store, owner.id, LIGHTNING, callback_url=None) for _ in range(7)]
    clock = Clock()
    watcher = UnservedModels(store, grace_seconds=0, clock=clock)
    original = (module.BATCH, module.MAX_PER_PASS)
    module.BATCH, module.MAX_PER_PASS = 2, 4
    try:
        first = watcher.fail_queued_runs()
        assert first == run_ids[:4]  # oldest first, at most MAX_PER_PASS per pass
        assert watcher.fail_queued_runs() == run_ids[4:]
    finally:
        module.BATCH, module.MAX_PER_PASS = original
    assert store.unserved.queued_models() == []


def test_queued_models_lists_each_model_with_a_queued_run_once(store: Store, owner: Owner) -> None:
    for model_id in (LIGHTNING, MODEL, LIGHTNING, "z/other", MODEL):
        queued(store, owner.id, model_id)
    assert store.queue.claim("w", ["z/other"], 30) is not None  # no longer queued
    assert store.unserved.queued_models() == [MODEL, LIGHTNING]


def test_an_api_process_fails_them_and_sends_the_callback(
    store: Store, settings: Settings, caller: Caller, tmp_path: Path
) -> None:
    """The API's own housekeeping (api/background.py), with a short grace period."""
    store.workers.register("wrk_base", "base", [MODEL], "cpu", status="ready")
    storage = LocalFileStorage(tmp_path / "files", BASE_URL, UrlSigner(b"r" * 32))
    short = settings.model_copy(update={"model_grace_seconds": 0.5, "allow_private_urls": True})
    with receiving() as receiver:
        unserved = queued(store, caller.owner_id, LIGHTNING, callback_url=receiver.url())
        served = queued(store, caller.owner_id, MODEL)
        with TestClient(create_app(short, store, storage), base_url=BASE_URL) as client:
            deadline = time.monotonic() + 60
            while not receiver.requests:
                assert time.monotonic() < deadline, "no callback within 60 s"
                # Keep the served model's worker live however slow this machine is.
                store.workers.heartbeat("wrk_base", "ready")
                time.sleep(0.1)
            run = client.get(f"/v1/runs/{unserved}", headers=caller.headers).json()
            balance = client.get("/v1/billing/balance", headers=caller.headers).json()
            still = client.get(f"/v1/runs/{served}", headers=caller.headers).json()
    assert (run["status_code"], run["failure_code"], run["cost"]) == ("failed", MODEL_UNAVAILABLE, "0.000000")
    payload = json.loads(receiver.requests[0].body)
    assert (payload["event"], payload["run_id"], payload["status"]) == ("run.failed", unserved, "failed")
    assert balance["spent_usd"] == "0.000000"
    assert still["status_code"] == "queued"
