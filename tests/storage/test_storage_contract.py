"""The FileStorage contract, on both back ends: a local directory and an S3 bucket
(moto's server in its own process, reached over HTTP by boto3 as in production)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pixelrun.config import Settings
from pixelrun.storage import (
    FileStorage,
    InvalidKeyError,
    LocalFileStorage,
    S3FileStorage,
    StorageError,
    StoredFileNotFoundError,
    UrlSigner,
    parse_s3_url,
    storage_from_settings,
)

BASE_URL = "http://127.0.0.1:8000"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStorage]:
    if request.param == "local":
        yield LocalFileStorage(tmp_path / "files", BASE_URL, UrlSigner(b"k" * 32))
        return
    s3 = request.getfixturevalue("s3_server")
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://{s3.new_bucket()}/pfx",
        signing_secret="k" * 32,
        public_base_url=BASE_URL,
    )
    built = storage_from_settings(settings)
    assert isinstance(built, S3FileStorage)
    yield built


def test_put_then_read_stat_open_exists(storage: FileStorage) -> None:
    stored = storage.put("runs/r1/0.png", PNG, "image/png")
    assert (stored.key, stored.size, stored.content_type) == ("runs/r1/0.png", len(PNG), "image/png")
    assert storage.read("runs/r1/0.png", len(PNG)) == PNG
    stat = storage.stat("runs/r1/0.png")
    assert (stat.size, stat.content_type) == (len(PNG), "image/png")
    with storage.open("runs/r1/0.png") as stream:
        assert stream.read() == PNG
    assert storage.exists("runs/r1/0.png")
    assert not storage.exists("runs/r1/1.png")


def test_put_replaces_the_whole_file(storage: FileStorage) -> None:
    storage.put("runs/r1/0.png", PNG, "image/png")
    storage.put("runs/r1/0.png", b"short", "image/png")
    assert storage.read("runs/r1/0.png", 100) == b"short"


def test_missing_files_raise_not_found(storage: FileStorage) -> None:
    for call in (storage.open, storage.stat, lambda key: storage.read(key, 10)):
        with pytest.raises(StoredFileNotFoundError):
            call("runs/nope/0.png")


def test_read_refuses_files_over_the_limit(storage: FileStorage) -> None:
    storage.put("runs/r1/0.png", PNG, "image/png")
    with pytest.raises(StorageError):
        storage.read("runs/r1/0.png", len(PNG) - 1)


def test_content_type_must_match_the_key(storage: FileStorage) -> None:
    with pytest.raises(StorageError):
        storage.put("runs/r1/0.png", PNG, "image/jpeg")
    assert not storage.exists("runs/r1/0.png")


@pytest.mark.parametrize("key", ["../x.png", "runs/../x.png", "/abs.png", "runs//0.png", "runs/.hidden"])
def test_bad_keys_are_refused(storage: FileStorage, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        storage.put(key, PNG, "image/png")
    with pytest.raises(InvalidKeyError):
        storage.url_for(key, 60)


def test_delete_prefix_deletes_that_folder_only(storage: FileStorage) -> None:
    for key in ("runs/a/0.png", "runs/a/1.png", "runs/ab/0.png", "runs/b/0.png"):
        storage.put(key, PNG, "image/png")
    assert storage.delete_prefix("runs/a/") == 2
    assert not storage.exists("runs/a/0.png") and not storage.exists("runs/a/1.png")
    assert storage.exists("runs/ab/0.png") and storage.exists("runs/b/0.png")
    assert storage.delete_prefix("runs/a/") == 0
    with pytest.raises(InvalidKeyError):
        storage.delete_prefix("runs/a")


def test_ping_passes(storage: FileStorage) -> None:
    storage.ping()


def test_download_url_expires_and_names_the_key(storage: FileStorage) -> None:
    storage.put("runs/r1/0.png", PNG, "image/png")
    url = storage.url_for("runs/r1/0.png", 60)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if isinstance(storage, LocalFileStorage):
        assert url.startswith(f"{BASE_URL}/v1/files/runs/r1/0.png?")
        assert storage.signer.verify("runs/r1/0.png", query["expires"][0], query["signature"][0])
    else:
        # A presigned GET: the client downloads straight from the bucket.
        assert query["X-Amz-Expires"] == ["60"]
        assert parts.path.endswith("/pfx/runs/r1/0.png")
        response = httpx.get(url)
        assert response.status_code == 200 and response.content == PNG


def test_upload_url_takes_a_put_with_the_signed_content_type(storage: FileStorage) -> None:
    url = storage.upload_url_for("uploads/a1/upload.png", 60)
    query = parse_qs(urlsplit(url).query)
    if isinstance(storage, LocalFileStorage):
        assert url.startswith(f"{BASE_URL}/v1/uploads/uploads/a1/upload.png?")
        # Upload and download signatures never stand in for each other.
        assert storage.signer.verify("PUT:uploads/a1/upload.png", query["expires"][0], query["signature"][0])
        assert not storage.signer.verify("uploads/a1/upload.png", query["expires"][0], query["signature"][0])
    else:
        # What AWS, MinIO and R2 check (moto does not): the expiry and the signed content type.
        assert query["X-Amz-Expires"] == ["60"]
        assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
        sized = parse_qs(urlsplit(storage.upload_url_for("uploads/a1/upload.png", 60, len(PNG))).query)
        assert set(sized["X-Amz-SignedHeaders"][0].split(";")) == {"content-length", "content-type", "host"}
        response = httpx.put(url, content=PNG, headers={"Content-Type": "image/png"})
        assert response.status_code == 200, response.text
        assert storage.read("uploads/a1/upload.png", len(PNG)) == PNG


def test_s3_url_parsing() -> None:
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert parse_s3_url("s3://bucket/") == ("bucket", "")
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    for bad in ("s3://", "http://bucket", "s3://bucket/../x"):
        with pytest.raises(StorageError):
            parse_s3_url(bad)


def test_s3_storage_writes_nothing_locally(s3_server: Any, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", storage_url=f"s3://{s3_server.new_bucket()}", signing_secret="k" * 32
    )
    storage = storage_from_settings(settings)
    storage.put("runs/r1/0.png", PNG, "image/png")
    assert not (tmp_path / "data").exists()


def test_api_file_urls_on_s3_are_signed_by_the_api(s3_server: Any, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://{s3_server.new_bucket()}",
        signing_secret="k" * 32,
        public_base_url=BASE_URL,
        file_urls="api",
    )
    storage = storage_from_settings(settings)
    url = storage.url_for("runs/r1/0.png", 60)
    assert url.startswith(f"{BASE_URL}/v1/files/runs/r1/0.png?expires=")


def test_unreachable_bucket_fails_ping(s3_server: Any, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, storage_url="s3://no-such-bucket-pixelrun", signing_secret="k" * 32
    )
    with pytest.raises(StorageError):
        storage_from_settings(settings).ping()
