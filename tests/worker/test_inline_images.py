"""Inline `data:` images at create (docs/uploads.md#inline-images): over
PIXELRUN_MAX_IMAGE_BYTES a 422 naming the field with nothing stored; accepted ones moved to
file storage as assets, the run's input naming them, and a real worker (tiny weights)
running from them. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.engines.qwen_image_edit import MODEL_ID
from pixelrun.runs import RunStatus, resolve_asset_url
from pixelrun.storage import LocalFileStorage
from pixelrun.store import Owner, Store
from pixelrun.store.tables import assets, runs
from pixelrun.worker.executor import RunExecutor

from .conftest import claim, data_uri, small_input

BASE_URL = "http://pixelrun.test"
LIMIT = 4096


@pytest.fixture
def api(store: Store, storage: LocalFileStorage, tmp_path: Path, owner: Owner) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=store.engine.url.render_as_string(hide_password=False),
        public_base_url=BASE_URL,
        signing_secret="s" * 32,
        model_grace_seconds=-1,
        background_tasks=False,
        max_image_bytes=LIMIT,
    )
    _, key = store.keys.create(owner.id, "test key")
    with TestClient(create_app(settings, store, storage), base_url=BASE_URL) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


def _rows(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _uri_of_size(size: int) -> str:
    return "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"x" * (size - 4)).decode()


def _files(storage: LocalFileStorage) -> list[Path]:
    return [path for path in storage.root.rglob("*") if path.is_file()]


def test_inline_image_over_the_limit_is_a_422_and_nothing_is_stored(
    api: TestClient, store: Store, storage: LocalFileStorage
) -> None:
    for size in (LIMIT + 1, LIMIT + 2, LIMIT + 3, 10 * LIMIT):  # every base64 padding
        answer = api.post(
            f"/v1/models/{MODEL_ID}/runs",
            json={"input": small_input(image_urls=[data_uri(), _uri_of_size(size)])},
        )
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["code"] == "VALIDATION_ERROR"
        [problem] = body["errors"]
        assert problem["loc"] == ["body", "input", "image_urls", 1]
        assert f"{size} bytes" in problem["msg"] and str(LIMIT) in problem["msg"]
    assert _rows(store, runs) == _rows(store, assets) == 0
    assert _files(storage) == []


def test_inline_image_is_moved_to_storage_and_the_worker_uses_it(
    api: TestClient, store: Store, storage: LocalFileStorage, executor: RunExecutor
) -> None:
    image = data_uri(64, 32)
    assert len(base64.b64decode(image.split(",", 1)[1])) <= LIMIT
    created = api.post(
        f"/v1/models/{MODEL_ID}/runs",
        json={"input": small_input(image_urls=[image, "https://example.com/b.png"], image_size=None)},
        headers={"Idempotency-Key": "k1"},
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    reference, kept = created.json()["input"]["image_urls"]
    assert kept == "https://example.com/b.png"
    asset_id = resolve_asset_url(reference)
    assert asset_id is not None
    # The row holds the reference, not the bytes; the bytes are in file storage.
    with store.engine.connect() as conn:
        stored_input = conn.execute(select(runs.c.input).where(runs.c.id == run_id)).scalar_one()
    assert "data:" not in str(stored_input)
    asset = store.assets.get(asset_id)
    assert asset is not None and asset.ready
    assert storage.read(asset.storage_key, LIMIT) == base64.b64decode(image.split(",", 1)[1])
    # A retry of the same create (same Idempotency-Key, same data: URI) replays the run and
    # leaves no second copy.
    replay = api.post(
        f"/v1/models/{MODEL_ID}/runs",
        json={"input": small_input(image_urls=[image, "https://example.com/b.png"], image_size=None)},
        headers={"Idempotency-Key": "k1"},
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == run_id
    assert _rows(store, assets) == 1
    assert api.get(f"/v1/runs/{run_id}").json()["input"]["image_urls"][0] == reference

    # The worker reads it from storage. (Its second image is unreachable: drop it first.)
    with store.engine.begin() as conn:
        conn.execute(
            runs.update().where(runs.c.id == run_id).values(input={**stored_input, "image_urls": [reference]})
        )
    assert executor.execute(claim(store)) is RunStatus.SUCCEEDED
    output = store.runs.get(run_id).output["outputs"][0]
    assert output["width"] > output["height"]  # the 2:1 inline image set the aspect ratio
    assert "64x32" in " ".join(line.message for line in store.history.logs(run_id))
