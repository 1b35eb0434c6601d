"""The upload flow (docs/uploads.md) end to end through the API: create, PUT, confirm, use, delete."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.storage import FileStorage, LocalFileStorage, S3FileStorage, UrlSigner, storage_from_settings
from pixelrun.store import Store

from .conftest import BASE_URL, MODEL, Backend, Caller, MakeCaller, assert_envelope, valid_input


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Uploads:
    """An app on one storage back end, and a PUT that goes wherever the upload URL points."""

    client: TestClient
    storage: FileStorage

    def put(self, url: str, data: bytes, content_type: str = "image/png") -> httpx.Response:
        if url.startswith(BASE_URL):
            return self.client.put(url, content=data, headers={"Content-Type": content_type})
        return httpx.put(url, content=data, headers={"Content-Type": content_type}, timeout=10)

    def start(self, caller: Caller, data: bytes, mime_type: str = "image/png", **body: object) -> dict:
        payload = {"filename": "photo.png", "mime_type": mime_type, "size_bytes": len(data), **body}
        response = self.client.post("/v1/asset-uploads", json=payload, headers=caller.headers)
        assert response.status_code == 201, response.text
        return response.json()

    def confirm(self, caller: Caller, asset_id: str) -> httpx.Response:
        return self.client.post(f"/v1/asset-uploads/{asset_id}/confirmations", headers=caller.headers)

    def upload(self, caller: Caller, data: bytes, mime_type: str = "image/png", **body: object) -> dict:
        started = self.start(caller, data, mime_type, **body)
        assert self.put(started["upload_url"], data, mime_type).status_code == 200
        confirmed = self.confirm(caller, started["asset_id"])
        assert confirmed.status_code == 201, confirmed.text
        return confirmed.json()


def _local_storage(settings: Settings) -> FileStorage:
    return LocalFileStorage(settings.data_dir / "files", BASE_URL, UrlSigner(b"u" * 32))


@pytest.fixture(params=["local", "s3"])
def uploads(request: pytest.FixtureRequest, backend: Backend, store: Store, tmp_path) -> Iterator[Uploads]:
    settings = backend.settings.model_copy(update={"data_dir": tmp_path, "background_tasks": False})
    if request.param == "local":
        storage = _local_storage(settings)
    else:
        bucket = request.getfixturevalue("s3_server").new_bucket()
        storage = storage_from_settings(settings.model_copy(update={"storage_url": f"s3://{bucket}/up"}))
    with TestClient(create_app(settings, store, storage), base_url=BASE_URL) as client:
        yield Uploads(client, storage)


def test_whole_flow_gives_an_asset_usable_in_runs(uploads: Uploads, caller: Caller) -> None:
    data = png_bytes(40, 30)
    started = uploads.start(caller, data)
    assert set(started) == {"asset_id", "upload_url", "expires_at"}
    assert started["expires_at"].endswith("+00:00")
    assert uploads.put(started["upload_url"], data).status_code == 200
    response = uploads.confirm(caller, started["asset_id"])
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset == {
        "id": started["asset_id"],
        "name": "photo.png",
        "url": f"asset://{started['asset_id']}",
        "mime_type": "image/png",
        "size_bytes": len(data),
        "width": 40,
        "height": 30,
        "created_at": asset["created_at"],
    }
    assert uploads.client.get(f"/v1/assets/{asset['id']}", headers=caller.headers).json() == asset
    # Confirming again is harmless.
    assert uploads.confirm(caller, asset["id"]).json() == asset
    run = uploads.client.post(
        f"/v1/models/{MODEL}/runs",
        json={"input": valid_input(image_urls=[asset["url"], "https://example.com/b.png"])},
        headers=caller.headers,
    )
    assert run.status_code == 201, run.text
    assert run.json()["input"]["image_urls"][0] == asset["url"]


def test_the_confirmed_bytes_are_stored_under_the_asset_key(
    uploads: Uploads, caller: Caller, store: Store
) -> None:
    data = png_bytes()
    asset = uploads.upload(caller, data)
    record = store.assets.get(asset["id"])
    assert record is not None and record.ready
    assert uploads.storage.read(record.storage_key, len(data)) == data
    # The upload key is gone, so PUTting again cannot change what runs read.
    assert not uploads.storage.exists(f"uploads/{asset['id']}/upload.png")


def test_confirm_before_upload_is_409(uploads: Uploads, caller: Caller) -> None:
    started = uploads.start(caller, png_bytes())
    assert_envelope(uploads.confirm(caller, started["asset_id"]), 409, "CONFLICT")


def _tampered(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    name = "signature" if "signature" in query else "X-Amz-Signature"
    query[name] = ("0" if query[name][0] != "0" else "1") + query[name][1:]
    return urlunsplit(parts._replace(query=urlencode(query)))


MOTO_SKIPS_SIGNATURES = (
    "moto's server does not check presigned URL signatures or expiry (AWS S3, MinIO and R2 do); "
    "the S3 URL's signed expiry and content type are checked in tests/storage/test_storage_contract.py"
)


def test_tampered_upload_url_is_403(uploads: Uploads, caller: Caller) -> None:
    if isinstance(uploads.storage, S3FileStorage):
        pytest.skip(MOTO_SKIPS_SIGNATURES)
    data = png_bytes()
    started = uploads.start(caller, data)
    assert uploads.put(_tampered(started["upload_url"]), data).status_code == 403
    other = uploads.start(caller, data)
    # Another asset's path with this asset's signature.
    swapped = started["upload_url"].replace(started["asset_id"], other["asset_id"])
    assert uploads.put(swapped, data).status_code == 403
    assert_envelope(uploads.confirm(caller, started["asset_id"]), 409, "CONFLICT")


def test_expired_upload_url_is_403(uploads: Uploads, caller: Caller) -> None:
    if isinstance(uploads.storage, S3FileStorage):
        pytest.skip(MOTO_SKIPS_SIGNATURES)
    data = png_bytes()
    started = uploads.start(caller, data)
    assert isinstance(uploads.storage, LocalFileStorage)
    key = f"uploads/{started['asset_id']}/upload.png"
    expired = uploads.storage.upload_url_for(key, 5, now=int(time.time()) - 6)
    assert uploads.put(expired, data).status_code == 403


def test_wrong_content_type_is_403(uploads: Uploads, caller: Caller) -> None:
    if isinstance(uploads.storage, S3FileStorage):
        pytest.skip(MOTO_SKIPS_SIGNATURES)
    data = png_bytes()
    started = uploads.start(caller, data)
    assert uploads.put(started["upload_url"], data, "image/jpeg").status_code == 403


def test_non_image_bytes_are_422_and_can_be_uploaded_again(uploads: Uploads, caller: Caller) -> None:
    junk = b"this is not an image at all".ljust(64, b".")
    started = uploads.start(caller, junk)
    assert uploads.put(started["upload_url"], junk).status_code == 200
    assert_envelope(uploads.confirm(caller, started["asset_id"]), 422, "VALIDATION_ERROR")
    # The rejected bytes were discarded: nothing to confirm until the next PUT.
    assert_envelope(uploads.confirm(caller, started["asset_id"]), 409, "CONFLICT")


@pytest.mark.parametrize("delta", [-1, 1])
def test_bytes_of_another_size_than_declared_are_422(uploads: Uploads, caller: Caller, delta: int) -> None:
    data = png_bytes()
    started = uploads.start(caller, data, size_bytes=len(data) + delta)
    put = uploads.put(started["upload_url"], data)
    if delta < 0 and isinstance(uploads.storage, LocalFileStorage):
        # More than declared: the local PUT refuses it at once (S3 leaves it to the confirmation).
        assert_envelope(put, 413, "PAYLOAD_TOO_LARGE")
        return
    assert put.status_code == 200
    body = assert_envelope(uploads.confirm(caller, started["asset_id"]), 422, "VALIDATION_ERROR")
    assert "declared" in body["message"]


def test_create_checks_type_and_size(uploads: Uploads, caller: Caller) -> None:
    def post(**body: object) -> httpx.Response:
        payload = {"filename": "a.png", "mime_type": "image/png", "size_bytes": 10, **body}
        return uploads.client.post("/v1/asset-uploads", json=payload, headers=caller.headers)

    assert_envelope(post(size_bytes=50 * 1024 * 1024 + 1), 422, "VALIDATION_ERROR")
    assert post(size_bytes=50 * 1024 * 1024).status_code == 201
    assert_envelope(post(size_bytes=0), 422, "VALIDATION_ERROR")
    assert_envelope(post(mime_type="text/plain"), 422, "VALIDATION_ERROR")
    assert_envelope(post(mime_type="application/octet-stream"), 422, "VALIDATION_ERROR")
    assert post(filename="style.safetensors", mime_type="application/octet-stream").status_code == 201
    assert_envelope(post(extra=1), 422, "VALIDATION_ERROR")
    assert_envelope(uploads.client.post("/v1/asset-uploads", json={}), 401, "UNAUTHORIZED")


def test_safetensors_asset_is_checked_at_confirmation(uploads: Uploads, caller: Caller) -> None:
    header = b'{"__metadata__":{}}'
    data = len(header).to_bytes(8, "little") + header
    asset = uploads.upload(caller, data, "application/octet-stream", filename="style.safetensors")
    assert asset["width"] is None and asset["url"] == f"asset://{asset['id']}"
    bad = b"\xff" * 8 + b"not a header"
    started = uploads.start(caller, bad, "application/octet-stream", filename="x.safetensors")
    assert uploads.put(started["upload_url"], bad, "application/octet-stream").status_code == 200
    assert_envelope(uploads.confirm(caller, started["asset_id"]), 422, "VALIDATION_ERROR")


def test_assets_are_owner_scoped(uploads: Uploads, caller: Caller, make_caller: MakeCaller) -> None:
    other = make_caller("globex")
    asset = uploads.upload(caller, png_bytes())
    assert_envelope(uploads.client.get(f"/v1/assets/{asset['id']}", headers=other.headers), 404, "NOT_FOUND")
    assert_envelope(uploads.confirm(other, asset["id"]), 404, "NOT_FOUND")
    assert_envelope(
        uploads.client.delete(f"/v1/assets/{asset['id']}", headers=other.headers), 404, "NOT_FOUND"
    )
    run = uploads.client.post(
        f"/v1/models/{MODEL}/runs",
        json={"input": valid_input(image_urls=[asset["url"]])},
        headers=other.headers,
    )
    body = assert_envelope(run, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["loc"] == ["body", "input", "image_urls", 0]


def test_unconfirmed_unknown_and_malformed_assets_are_refused_at_create(
    uploads: Uploads, caller: Caller
) -> None:
    pending = uploads.start(caller, png_bytes())
    for url in (
        f"asset://{pending['asset_id']}",
        "asset://01234567-89ab-7def-8123-456789abcdef",
        "asset://not-an-id",
        "ASSET://x",
    ):
        run = uploads.client.post(
            f"/v1/models/{MODEL}/runs", json={"input": valid_input(image_urls=[url])}, headers=caller.headers
        )
        assert_envelope(run, 422, "VALIDATION_ERROR")


def test_delete_removes_the_asset_and_its_file(uploads: Uploads, caller: Caller, store: Store) -> None:
    asset = uploads.upload(caller, png_bytes())
    key = store.assets.get(asset["id"]).storage_key  # type: ignore[union-attr]
    response = uploads.client.delete(f"/v1/assets/{asset['id']}", headers=caller.headers)
    assert response.status_code == 204
    assert not uploads.storage.exists(key)
    assert_envelope(uploads.client.get(f"/v1/assets/{asset['id']}", headers=caller.headers), 404, "NOT_FOUND")
    run = uploads.client.post(
        f"/v1/models/{MODEL}/runs",
        json={"input": valid_input(image_urls=[asset["url"]])},
        headers=caller.headers,
    )
    assert_envelope(run, 422, "VALIDATION_ERROR")


def test_local_upload_larger_than_the_limit_is_413(
    backend: Backend, store: Store, caller: Caller, tmp_path
) -> None:
    settings = backend.settings.model_copy(
        update={"data_dir": tmp_path, "background_tasks": False, "max_upload_bytes": 100}
    )
    storage = _local_storage(settings)
    with TestClient(create_app(settings, store, storage), base_url=BASE_URL) as client:
        url = storage.upload_url_for("uploads/x/upload.png", 60)
        response = client.put(url, content=b"x" * 101, headers={"Content-Type": "image/png"})
        assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
        # Above the JSON body limit of the test settings (64 KiB) but within the upload limit.
        assert backend.settings.max_body_bytes < 100_000 < Settings().max_upload_bytes


@pytest.fixture
def local_uploads(backend: Backend, store: Store, tmp_path) -> Iterator[Uploads]:
    settings = backend.settings.model_copy(
        update={"data_dir": tmp_path, "background_tasks": False, "max_pending_uploads": 3}
    )
    storage = _local_storage(settings)
    with TestClient(create_app(settings, store, storage), base_url=BASE_URL) as client:
        yield Uploads(client, storage)


def _upload_files(storage: FileStorage, asset_id: str) -> list[Path]:
    folder = storage.path_for(f"uploads/{asset_id}/upload.png").parent  # type: ignore[attr-defined]
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_local_put_over_the_declared_size_is_413_and_stores_nothing(
    local_uploads: Uploads, caller: Caller
) -> None:
    declared = 1
    started = local_uploads.start(caller, b"x", size_bytes=declared)
    big = png_bytes(400, 300)
    # Declared by Content-Length: refused before the body is read.
    assert_envelope(local_uploads.put(started["upload_url"], big), 413, "PAYLOAD_TOO_LARGE")

    # Chunked (no Content-Length): refused as soon as the bytes pass the declared size.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    response = local_uploads.client.put(
        started["upload_url"], content=chunks(), headers={"Content-Type": "image/png"}
    )
    assert "content-length" not in response.request.headers
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert _upload_files(local_uploads.storage, started["asset_id"]) == []  # no file, no temporary left


def test_a_put_after_the_confirmation_is_409_and_changes_nothing(
    local_uploads: Uploads, caller: Caller
) -> None:
    data = png_bytes()
    started = local_uploads.start(caller, data)
    assert local_uploads.put(started["upload_url"], data).status_code == 200
    asset = local_uploads.confirm(caller, started["asset_id"]).json()
    # The upload URL is still valid for its hour: a second PUT with other bytes is refused.
    assert_envelope(local_uploads.put(started["upload_url"], png_bytes(41, 30)), 409, "CONFLICT")
    assert _upload_files(local_uploads.storage, started["asset_id"]) == []
    stored = local_uploads.storage.read(f"assets/{asset['id']}/asset.png", 10**6)
    assert stored == data


def test_open_uploads_per_owner_are_capped(
    local_uploads: Uploads, caller: Caller, make_caller: MakeCaller
) -> None:
    data = png_bytes()
    started = [local_uploads.start(caller, data) for _ in range(3)]  # the cap in this app
    response = local_uploads.client.post(
        "/v1/asset-uploads",
        json={"filename": "p.png", "mime_type": "image/png", "size_bytes": len(data)},
        headers=caller.headers,
    )
    body = assert_envelope(response, 429, "RATE_LIMITED")
    assert "3 uploads are open" in body["message"] and int(response.headers["retry-after"]) >= 1
    # Another owner is not affected; confirming one upload frees a place.
    local_uploads.start(make_caller("globex"), data)
    assert local_uploads.put(started[0]["upload_url"], data).status_code == 200
    assert local_uploads.confirm(caller, started[0]["asset_id"]).status_code == 201
    local_uploads.start(caller, data)
