"""One run through the executor, on both store back ends, with the tiny engine."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.engines.qwen_image_edit.engine import QwenImageEditEngine
from pixelrun.runs import RunStatus
from pixelrun.storage import LocalFileStorage
from pixelrun.store import NewRun, Owner, Store
from pixelrun.worker.executor import RunExecutor

from .conftest import claim, data_uri, small_input


def create(store: Store, owner: Owner, **input_overrides: object) -> str:
    return store.runs.create(
        NewRun(owner.id, MODEL_ID, small_input(**input_overrides), None, None, None)
    ).run.id


def test_success_stores_outputs_prices_and_logs(
    store: Store, owner: Owner, executor: RunExecutor, storage: LocalFileStorage
) -> None:
    run_id = create(store, owner, num_images=2, output_format="webp")
    assert executor.execute(claim(store)) is RunStatus.SUCCEEDED
    run = store.runs.get(run_id)
    assert run.status is RunStatus.SUCCEEDED
    outputs = run.output["outputs"]
    assert [item["key"] for item in outputs] == [f"runs/{run_id}/0.webp", f"runs/{run_id}/1.webp"]
    for item in outputs:
        assert storage.stat(item["key"]).size == item["file_size"]
        assert (item["width"], item["height"], item["content_type"]) == (256, 256, "image/webp")
    assert run.output["seed"] == 1
    assert run.output["nsfw_detected"] is False
    assert run.output["model_data"]["has_nsfw_concepts"] == [False, False]
    assert run.cost == "0.003932"  # 2 × 256² px × $0.03/MP
    assert store.owners.balance(owner.id) == (None, run.cost_micros)
    statuses = [event.to_status for event in store.history.events(run_id)]
    assert statuses == ["queued", "dispatching", "running", "succeeded"]
    messages = " | ".join(line.message for line in store.history.logs(run_id))
    assert "claimed by worker" in messages and "inference done" in messages and "succeeded" in messages


def test_sync_mode_inlines_outputs_and_stores_nothing(
    store: Store, owner: Owner, executor: RunExecutor, storage: LocalFileStorage
) -> None:
    run_id = create(store, owner, sync_mode=True, output_format="jpeg")
    executor.execute(claim(store))
    item = store.runs.get(run_id).output["outputs"][0]
    assert item["url"].startswith("data:image/jpeg;base64,")
    assert "key" not in item
    assert not storage.exists(f"runs/{run_id}/0.jpg")


@pytest.mark.parametrize(
    ("bad_url", "reason"),
    [
        ("data:image/png;base64,bm90IGFuIGltYWdl", "not an image"),
        ("http://127.0.0.1:9/a.png", "127.0.0.1"),
    ],
)
def test_bad_input_image_fails_the_run_at_input_fetch(
    store: Store, owner: Owner, executor: RunExecutor, bad_url: str, reason: str
) -> None:
    run_id = create(store, owner, image_urls=[data_uri(), bad_url])
    assert executor.execute(claim(store)) is RunStatus.FAILED
    run = store.runs.get(run_id)
    assert (run.failure_stage, run.failure_code) == ("input_fetch", "input_fetch_failed")
    assert "image_urls[1]" in run.failure_message and reason in run.failure_message
    assert run.cost == "0.000000" and store.owners.balance(owner.id) == (None, 0)


def test_cancel_while_running_stops_at_the_next_step(
    store: Store, owner: Owner, executor: RunExecutor
) -> None:
    run_id = create(store, owner, num_inference_steps=50)
    claimed = claim(store)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(executor.execute(claimed)))
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = store.runs.get(run_id)
        if run.progress and run.progress["step"] >= 2:
            break
        time.sleep(0.02)
    _, changed = store.runs.cancel(run_id, owner.id)
    assert changed
    thread.join(30)
    assert outcome == [None]
    run = store.runs.get(run_id)
    assert run.status is RunStatus.CANCELED and run.output is None
    assert any("canceled" in line.message for line in store.history.logs(run_id))
    # The worker carries on with the next run.
    next_id = create(store, owner)
    assert executor.execute(claim(store)) is RunStatus.SUCCEEDED
    assert store.runs.get(next_id).status is RunStatus.SUCCEEDED


def test_out_of_memory_fails_the_run_and_the_engine_keeps_serving(
    store: Store,
    owner: Owner,
    executor: RunExecutor,
    engine: QwenImageEditEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = create(store, owner)

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with monkeypatch.context() as patch:
        patch.setattr(engine.pipeline.vae, "decode", exhausted)
        assert executor.execute(claim(store)) is RunStatus.FAILED
    run = store.runs.get(run_id)
    assert (run.failure_stage, run.failure_code) == ("inference", "out_of_memory")
    assert "smaller image_size" in run.failure_message
    next_id = create(store, owner)
    assert executor.execute(claim(store)) is RunStatus.SUCCEEDED
    assert store.runs.get(next_id).status is RunStatus.SUCCEEDED


def test_shutdown_returns_the_run_to_the_queue(
    store: Store, owner: Owner, executor: RunExecutor, stopping: threading.Event
) -> None:
    run_id = create(store, owner, num_inference_steps=4)
    stopping.set()
    assert executor.execute(claim(store)) is None
    run = store.runs.get(run_id)
    assert run.status is RunStatus.QUEUED
    stopping.clear()
    again = claim(store)
    assert again.id == run_id and again.attempt == 2
    assert executor.execute(again) is RunStatus.SUCCEEDED


def test_invalid_stored_input_fails_at_validation(store: Store, owner: Owner, executor: RunExecutor) -> None:
    run_id = store.runs.create(NewRun(owner.id, MODEL_ID, {"prompt": "x"}, None, None, None)).run.id
    assert executor.execute(claim(store)) is RunStatus.FAILED
    run = store.runs.get(run_id)
    assert (run.failure_stage, run.failure_code) == ("validation", "invalid_input")
    assert "image_urls" in run.failure_message


def test_a_running_run_past_its_deadline_stops_at_the_next_step(
    store: Store, owner: Owner, executor: RunExecutor
) -> None:
    from datetime import timedelta

    from pixelrun.runs import utc_now
    from pixelrun.store import DEADLINE_EXCEEDED

    run_id = store.runs.create(
        NewRun(
            owner.id,
            MODEL_ID,
            small_input(num_inference_steps=50, image_size="1024x1024"),
            callback_url="https://example.com/hook",
            deadline_at=utc_now() + timedelta(seconds=1.5),
        )
    ).run.id
    claimed = claim(store)
    assert executor.execute(claimed) is RunStatus.CANCELED
    run = store.runs.get(run_id)
    assert run.status is RunStatus.CANCELED and run.failure_code == DEADLINE_EXCEEDED
    # It did start, and stopped before its 50 steps.
    assert run.started_at is not None and run.output is None and run.cost == "0.000000"
    events = [e.to_status for e in store.history.events(run_id)]
    assert events[-2:] == [RunStatus.RUNNING, RunStatus.CANCELED]
    assert store.owners.balance(owner.id) == (None, 0)
    assert len(store.callbacks.deliveries(run_id)) == 1
