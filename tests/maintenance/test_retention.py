"""Retention: old files, assets and callback attempts are deleted; run records stay and
say their files expired; nothing answers 500. On both storage back ends."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, insert, select

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.maintenance import Janitor
from pixelrun.maintenance.retention import LEASE_NAME
from pixelrun.runs import RunStatus, utc_now
from pixelrun.storage import FileStorage, LocalFileStorage, UrlSigner, storage_from_settings
from pixelrun.store import Store
from pixelrun.store.tables import callback_attempts, callback_deliveries

from .conftest import BASE_URL, MODEL, Caller, valid_input

RETENTION_SECONDS = 1.0
#: Holds the janitor's lease while a test sets things up, as another replica would.
OTHER_REPLICA = "api_other_replica"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> FileStorage:
    if request.param == "local":
        return LocalFileStorage(tmp_path / "files", BASE_URL, UrlSigner(b"r" * 32))
    bucket = request.getfixturevalue("s3_server").new_bucket()
    return storage_from_settings(
        settings.model_copy(update={"storage_url": f"s3://{bucket}", "file_urls": "api"})
    )


@pytest.fixture
def client(settings: Settings, store: Store, storage: FileStorage) -> Iterator[TestClient]:
    """The app, its janitor held off by another replica's lease until the test releases it:
    on a loaded machine, setting up takes longer than the retention."""
    settings = settings.model_copy(
        update={"retention_hours": RETENTION_SECONDS / 3600, "janitor_interval_seconds": 0.2}
    )
    assert store.retention.try_lease(LEASE_NAME, OTHER_REPLICA, 600)
    with TestClient(create_app(settings, store, storage), base_url=BASE_URL) as test_client:
        yield test_client


def _succeed(store: Store, run_id: str, storage: FileStorage) -> None:
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None and claimed.id == run_id
    data = png()
    storage.put(f"runs/{run_id}/0.png", data, "image/png")
    output: dict[str, Any] = {
        "outputs": [
            {
                "key": f"runs/{run_id}/0.png",
                "type": "image",
                "content_type": "image/png",
                "width": 32,
                "height": 24,
                "file_size": len(data),
            }
        ],
        "seed": 1,
        "model_data": {},
        "nsfw_detected": False,
        "timing": {},
    }
    assert store.queue.finish(
        run_id, claimed.attempt, "w1", RunStatus.SUCCEEDED, output=output, cost="0.000023", cost_micros=0
    )


def _attempt_rows(store: Store) -> int:
    """The attempt row the test wrote (the dispatcher adds its own as it tries the callback)."""
    with store.engine.connect() as conn:
        query = (
            select(func.count()).select_from(callback_attempts).where(callback_attempts.c.attempt_number == 9)
        )
        return int(conn.execute(query).scalar_one())


def test_old_files_assets_and_attempts_go_records_stay(
    client: TestClient, store: Store, storage: FileStorage, caller: Caller
) -> None:
    run_id = client.post(
        f"/v1/models/{MODEL}/runs",
        json={"input": valid_input(), "callback_url": "https://example.com/hook"},
        headers=caller.headers,
    ).json()["id"]
    _succeed(store, run_id, storage)
    assert _attempt_rows(store) == 0
    before = client.get(f"/v1/runs/{run_id}", headers=caller.headers).json()
    file_url = before["output"]["outputs"][0]["url"]
    # Local: served by the API; S3 here with PIXELRUN_FILE_URLS=api: streamed from the bucket.
    assert file_url.startswith(f"{BASE_URL}/v1/files/runs/{run_id}/0.png?")
    downloaded = client.get(file_url)
    assert downloaded.status_code == 200 and downloaded.content == png()
    assert downloaded.headers["content-type"] == "image/png"
    with store.engine.begin() as conn:
        delivery_id = conn.execute(select(callback_deliveries.c.id)).scalar_one()
        conn.execute(
            insert(callback_attempts).values(
                delivery_id=delivery_id,
                attempt_number=1,
                status_code=500,
                response_time_ms=3,
                created_at=utc_now(),
            )
        )
    upload = client.post(
        "/v1/asset-uploads",
        json={"filename": "a.png", "mime_type": "image/png", "size_bytes": len(png())},
        headers=caller.headers,
    ).json()
    asset_id = upload["asset_id"]
    storage.put(f"uploads/{asset_id}/upload.png", png(), "image/png")
    assert (
        client.post(f"/v1/asset-uploads/{asset_id}/confirmations", headers=caller.headers).status_code == 201
    )

    # Set up: now the app's janitor may take the lease and do its passes.
    store.retention.release_lease(LEASE_NAME, OTHER_REPLICA)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        run = client.get(f"/v1/runs/{run_id}", headers=caller.headers)
        assert run.status_code == 200
        if run.json()["output"]["outputs"][0].get("expired"):
            break
        time.sleep(0.2)
    after = run.json()
    item = after["output"]["outputs"][0]
    assert item["expired"] is True and item["url"] is None
    assert (item["width"], item["height"], item["file_size"]) == (32, 24, len(png()))
    # The record, its cost and its status stay.
    assert after["status_code"] == "succeeded" and after["cost"] == before["cost"]
    assert not storage.exists(f"runs/{run_id}/0.png")
    # The old link is a 404 (whether the API or the bucket serves it), never a 500.
    assert client.get(file_url).status_code == 404
    deadline = time.monotonic() + 10
    while client.get(f"/v1/assets/{asset_id}", headers=caller.headers).status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert not storage.exists(f"assets/{asset_id}/asset.png")
    deadline = time.monotonic() + 10
    while _attempt_rows(store):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert client.get(f"/v1/runs/{run_id}/callback", headers=caller.headers).status_code == 200
    listed = client.get("/v1/runs", headers=caller.headers)
    assert listed.status_code == 200 and listed.json()["items"][0]["id"] == run_id


def test_one_janitor_at_a_time(store: Store, storage: FileStorage) -> None:
    first = Janitor(store, storage, retention_hours=1, interval_seconds=60)
    second = Janitor(store, storage, retention_hours=1, interval_seconds=60)
    assert first.run_once() is not None
    assert second.run_once() is None  # the first one's lease holds
    assert first.run_once() is not None  # renewing its own lease
    # A lapsed lease is taken over.
    assert store.retention.try_lease(
        "retention-janitor", second.holder, 60, now=utc_now() + timedelta(hours=1)
    )


def test_abandoned_uploads_are_deleted(store: Store, storage: FileStorage, caller: Caller) -> None:
    janitor = Janitor(store, storage, retention_hours=24, interval_seconds=60)
    fresh_id, stale_id = store.assets.new_id(), store.assets.new_id()
    for asset_id, expires in ((fresh_id, utc_now()), (stale_id, utc_now() - timedelta(hours=2))):
        store.assets.create(
            asset_id, caller.owner_id, "a.png", "image/png", 3, f"assets/{asset_id}/asset.png", expires
        )
        storage.put(f"uploads/{asset_id}/upload.png", b"abc", "image/png")
    report = janitor.run_once()
    assert report is not None and report.assets == 1
    assert store.assets.get(stale_id) is None and not storage.exists(f"uploads/{stale_id}/upload.png")
    assert store.assets.get(fresh_id) is not None and storage.exists(f"uploads/{fresh_id}/upload.png")
