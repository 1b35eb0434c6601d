"""Runs whose input images are uploaded assets: read from storage, never over the network."""

from __future__ import annotations

import base64
from datetime import timedelta

from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.runs import RunStatus, asset_url, utc_now
from pixelrun.storage import LocalFileStorage
from pixelrun.store import AssetRecord, NewRun, Owner, Store
from pixelrun.worker.executor import RunExecutor

from .conftest import claim, data_uri, small_input


def ready_asset(store: Store, storage: LocalFileStorage, owner: Owner, data: bytes) -> AssetRecord:
    asset_id = store.assets.new_id()
    key = f"assets/{asset_id}/asset.png"
    storage.put(key, data, "image/png")
    store.assets.create(
        asset_id, owner.id, "a.png", "image/png", len(data), key, utc_now() + timedelta(hours=1)
    )
    confirmed = store.assets.confirm(asset_id, owner.id, 48, 40)
    assert confirmed is not None
    return confirmed


def png(width: int, height: int) -> bytes:
    return base64.b64decode(data_uri(width, height).split(",", 1)[1])


def test_asset_input_is_read_from_storage(
    store: Store, owner: Owner, executor: RunExecutor, storage: LocalFileStorage
) -> None:
    asset = ready_asset(store, storage, owner, png(64, 32))
    run = store.runs.create(
        NewRun(owner.id, MODEL_ID, small_input(image_urls=[asset_url(asset.id)], image_size=None))
    ).run
    assert executor.execute(claim(store)) is RunStatus.SUCCEEDED
    finished = store.runs.get(run.id)
    # No size given: the output follows the aspect ratio of the (asset) input, 2:1.
    item = finished.output["outputs"][0]
    assert item["width"] > item["height"]
    assert "fetched 1 input image(s): 64x32" in " ".join(line.message for line in store.history.logs(run.id))


def test_deleted_or_foreign_asset_fails_at_input_fetch(
    store: Store, owner: Owner, executor: RunExecutor, storage: LocalFileStorage
) -> None:
    gone = ready_asset(store, storage, owner, png(48, 40))
    store.assets.delete(gone.id)
    other = store.owners.ensure("globex")
    foreign = ready_asset(store, storage, other, png(48, 40))
    for asset in (gone, foreign):
        run = store.runs.create(
            NewRun(owner.id, MODEL_ID, small_input(image_urls=[data_uri(), asset_url(asset.id)]))
        ).run
        assert executor.execute(claim(store)) is RunStatus.FAILED
        failed = store.runs.get(run.id)
        assert failed.failure_stage == "input_fetch"
        assert "image_urls[1]" in failed.failure_message and asset.id in failed.failure_message
