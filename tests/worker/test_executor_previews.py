"""Previews through the executor (docs/api.md#previews), on both store back ends: the
run's own `preview_every` or the worker's default, and a run whose previews fail succeeds."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.runs import RunStatus
from pixelrun.storage import LocalFileStorage
from pixelrun.store import NewRun, Owner, Store, StreamKind
from pixelrun.worker import previews as previews_module
from pixelrun.worker.executor import RunExecutor

from .conftest import claim, small_input


def run_once(store: Store, owner: Owner, executor: RunExecutor, **input_overrides: object) -> str:
    run_id = store.runs.create(NewRun(owner.id, MODEL_ID, small_input(**input_overrides))).run.id
    assert executor.execute(claim(store)) is RunStatus.SUCCEEDED
    return run_id


def previews_of(store: Store, run_id: str) -> list[tuple[int, int, Image.Image]]:
    rows = store.history.stream_rows_after({run_id: 0})
    seen = []
    for row in rows:
        if row.kind is StreamKind.PREVIEW:
            assert row.preview is not None and row.preview.media_type == "image/jpeg"
            image = Image.open(io.BytesIO(row.preview.data))
            assert image.format == "JPEG"
            seen.append((row.step, row.steps, image))
    return seen


def output_bytes(store: Store, storage: LocalFileStorage, run_id: str) -> bytes:
    run = store.runs.get(run_id)
    assert run is not None and run.output is not None
    return storage.read(run.output["outputs"][0]["key"], max_bytes=10_000_000)


def test_previews_every_2_steps_and_the_same_output(
    store: Store, owner: Owner, executor: RunExecutor, storage: LocalFileStorage
) -> None:
    plain = run_once(store, owner, executor, num_inference_steps=7)
    with_previews = run_once(store, owner, executor, num_inference_steps=7, preview_every=2)
    seen = previews_of(store, with_previews)
    assert [(step, steps) for step, steps, _ in seen] == [(2, 7), (4, 7), (6, 7)]
    assert all(image.size == (32, 32) for _, _, image in seen)  # 256² output: 1/8 of its side
    assert previews_of(store, plain) == []
    assert output_bytes(store, storage, with_previews) == output_bytes(store, storage, plain)
    # Every preview row comes before the run's terminal status in the stream.
    kinds = [row.kind for row in store.history.stream_rows_after({with_previews: 0})]
    assert kinds.index(StreamKind.DONE) > max(i for i, kind in enumerate(kinds) if kind is StreamKind.PREVIEW)


def test_the_workers_default_applies_to_runs_that_do_not_say(
    store: Store, owner: Owner, executor: RunExecutor
) -> None:
    executor.config = dataclasses.replace(executor.config, preview_every=1)
    unsaid = run_once(store, owner, executor, num_inference_steps=3)
    refused = run_once(store, owner, executor, num_inference_steps=3, preview_every=0)
    assert [step for step, _, _ in previews_of(store, unsaid)] == [1, 2]
    assert previews_of(store, refused) == []


def test_a_run_whose_previews_fail_succeeds(
    store: Store,
    owner: Owner,
    executor: RunExecutor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(image: Image.Image) -> bytes:
        raise OSError("no encoder")

    monkeypatch.setattr(previews_module, "encode_preview", broken)
    run_id = run_once(store, owner, executor, num_inference_steps=4, preview_every=1)
    assert previews_of(store, run_id) == []
    assert "previews stopped" in caplog.text
