"""Outputs delivered on their own thread while the worker computes the next run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.runs import RunStatus
from pixelrun.storage import LocalFileStorage, StoredFile, UrlSigner
from pixelrun.store import NewRun, Owner, Store
from pixelrun.worker.delivery import OutputDelivery
from pixelrun.worker.executor import RunExecutor

from .conftest import claim, small_input


class HeldStorage(LocalFileStorage):
    """Local storage whose `put` waits until released, and records when each write happened."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "http://127.0.0.1:9", UrlSigner(b"k" * 32))
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_once: Exception | None = None
        self.written_at: dict[str, float] = {}

    def put(self, key: str, data: bytes, content_type: str) -> StoredFile:
        self.entered.set()
        assert self.release.wait(30), "the test never released the storage"
        if self.fail_once is not None:
            error, self.fail_once = self.fail_once, None
            raise error
        stored = super().put(key, data, content_type)
        self.written_at[key] = time.monotonic()
        return stored


def _executor(executor: RunExecutor, storage: LocalFileStorage) -> RunExecutor:
    return RunExecutor(
        executor.store, executor.engine, storage, executor.client, executor.config, executor.stopping
    )


def _create(store: Store, owner: Owner) -> str:
    return store.runs.create(NewRun(owner.id, MODEL_ID, small_input(), None, None, None)).run.id


def test_the_next_run_computes_while_the_previous_one_is_delivered(
    store: Store, owner: Owner, executor: RunExecutor, guarded_engine: QwenImageEditEngine, tmp_path: Path
) -> None:
    storage = HeldStorage(tmp_path / "files")
    pipelined = _executor(executor, storage)
    first, second = _create(store, owner), _create(store, owner)
    delivery = OutputDelivery()
    try:
        assert pipelined.execute(claim(store), delivery) is None  # handed over, not finished
        assert storage.entered.wait(30)
        # The first run's outputs are still being written: the worker is free for the next.
        assert store.runs.get(first).status is RunStatus.RUNNING
        pipelined.execute(claim(store), delivery)
        assert store.runs.get(second).status is RunStatus.RUNNING
        storage.release.set()
    finally:
        delivery.close()
    runs = [store.runs.get(first), store.runs.get(second)]
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    # The second run started computing before the first one's file existed.
    assert runs[1].started_at < runs[0].completed_at
    for run in runs:
        assert storage.stat(run.output["outputs"][0]["key"]).size == run.output["outputs"][0]["file_size"]


def test_a_run_canceled_during_delivery_stays_canceled(
    store: Store, owner: Owner, executor: RunExecutor, tmp_path: Path
) -> None:
    storage = HeldStorage(tmp_path / "files")
    run_id = _create(store, owner)
    delivery = OutputDelivery()
    try:
        _executor(executor, storage).execute(claim(store), delivery)
        assert storage.entered.wait(30)
        _, changed = store.runs.cancel(run_id, owner.id)
        assert changed
        storage.release.set()
    finally:
        delivery.close()
    run = store.runs.get(run_id)
    assert run.status is RunStatus.CANCELED
    assert run.cost_micros == 0
    assert [event.to_status for event in store.history.events(run_id)][-1] == "canceled"


def test_close_delivers_what_was_handed_over(
    store: Store, owner: Owner, executor: RunExecutor, tmp_path: Path
) -> None:
    storage = HeldStorage(tmp_path / "files")
    run_id = _create(store, owner)
    delivery = OutputDelivery()
    _executor(executor, storage).execute(claim(store), delivery)
    assert storage.entered.wait(30)
    threading.Timer(0.3, storage.release.set).start()
    delivery.close()  # like a worker stopping on SIGTERM: waits for the delivery
    assert store.runs.get(run_id).status is RunStatus.SUCCEEDED


def test_a_delivery_that_crashes_does_not_stop_the_next(
    store: Store, owner: Owner, executor: RunExecutor, tmp_path: Path
) -> None:
    storage = HeldStorage(tmp_path / "files")
    storage.fail_once = RuntimeError("disk on fire")  # not a StorageError: a crash
    storage.release.set()
    crashed, fine = _create(store, owner), _create(store, owner)
    delivery = OutputDelivery()
    pipelined = _executor(executor, storage)
    try:
        pipelined.execute(claim(store), delivery)
        pipelined.execute(claim(store), delivery)
    finally:
        delivery.close()
    # The crashed run keeps its lease until it expires; the reaper then re-queues it.
    assert store.runs.get(crashed).status is RunStatus.RUNNING
    assert store.runs.get(fine).status is RunStatus.SUCCEEDED
