"""Signed file URLs: served without a key, 404 for anything not validly signed or missing."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from pixelrun.storage import LocalFileStorage

from .conftest import BASE_URL, Backend, assert_envelope

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def storage(backend: Backend, client: TestClient) -> LocalFileStorage:
    storage = backend.app.state.services.storage
    assert isinstance(storage, LocalFileStorage)
    return storage


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL
    return f"{parts.path}?{parts.query}"


def test_valid_signature_serves_the_file_with_its_type(client: TestClient, storage: LocalFileStorage) -> None:
    storage.put("runs/r1/0.png", PNG, "image/png")
    storage.put("runs/r1/1.webp", b"RIFF0000WEBP", "image/webp")
    response = client.get(_path_and_query(storage.url_for("runs/r1/0.png", 60)))
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(PNG))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("private, max-age=")
    webp = client.get(_path_and_query(storage.url_for("runs/r1/1.webp", 60)))
    assert webp.headers["content-type"] == "image/webp"


def test_tampered_signature_or_path_is_404(client: TestClient, storage: LocalFileStorage) -> None:
    storage.put("runs/r1/0.png", PNG, "image/png")
    storage.put("runs/r2/0.png", PNG, "image/png")
    url = _path_and_query(storage.url_for("runs/r1/0.png", 60))
    path, query = url.split("?")
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    flipped = ("A" if params["signature"][0] != "A" else "B") + params["signature"][1:]
    for bad in (
        f"{path}?expires={params['expires']}&signature={flipped}",
        f"{path}?expires={int(params['expires']) + 1}&signature={params['signature']}",
        f"/v1/files/runs/r2/0.png?{query}",
        f"{path}?expires={params['expires']}",
        path,
    ):
        assert_envelope(client.get(bad), 404, "NOT_FOUND")


def test_expired_signature_is_404(client: TestClient, storage: LocalFileStorage) -> None:
    storage.put("runs/r1/0.png", PNG, "image/png")
    url = storage.url_for("runs/r1/0.png", 10, now=int(time.time()) - 60)
    assert_envelope(client.get(_path_and_query(url)), 404, "NOT_FOUND")


def test_validly_signed_missing_file_is_404(client: TestClient, storage: LocalFileStorage) -> None:
    assert_envelope(client.get(_path_and_query(storage.url_for("runs/gone/0.png", 60))), 404, "NOT_FOUND")


def test_signed_traversal_key_is_404(client: TestClient, storage: LocalFileStorage) -> None:
    # Even a signature over an unsafe key (no valid URL carries one) must not reach the disk.
    expires = int(time.time()) + 60
    signature = storage.signer.sign("runs/../../etc/passwd", expires)
    response = client.get(f"/v1/files/runs/%2E%2E/%2E%2E/etc/passwd?expires={expires}&signature={signature}")
    assert_envelope(response, 404, "NOT_FOUND")


def test_files_need_no_api_key_but_other_routes_do(client: TestClient, storage: LocalFileStorage) -> None:
    storage.put("runs/r1/0.png", PNG, "image/png")
    assert client.get(_path_and_query(storage.url_for("runs/r1/0.png", 60))).status_code == 200
