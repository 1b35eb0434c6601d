"""Replicate's files API, as the official `replicate` package uses it, against a real
`pixelrun serve` (docs/compatibility.md#replicate-files): local files in a prediction's input
are uploaded with `POST /v1/files` (the client's default) and run as assets."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import replicate
import requests
from PIL import Image
from replicate.exceptions import ReplicateError

from e2e.server import Server

from .conftest import png_bytes, start_server

MODEL = "alibaba/qwen-image-edit-2511"
FAST = {"prompt": "make it blue", "image_size": "256x256", "num_inference_steps": 2}
MAX_UPLOAD_BYTES = 200_000


@pytest.fixture(scope="module")
def server(module_data: Path) -> Iterator[Server]:
    server = start_server(
        module_data / "data",
        f"sqlite:///{module_data / 'pixelrun.db'}",
        PIXELRUN_MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.key, base_url=server.base_url)


@pytest.fixture(scope="module")
def other(server: Server, module_data: Path) -> replicate.Client:
    """A client of another owner, its key made by `pixelrun keys create` on the same store."""
    done = subprocess.run(
        [sys.executable, "-m", "pixelrun.cli", "keys", "create", "--owner", "other", "--label", "t",
         "--database-url", f"sqlite:///{module_data / 'pixelrun.db'}"],
        capture_output=True, text=True, timeout=120, cwd=module_data,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return replicate.Client(api_token=done.stdout.strip().splitlines()[-1], base_url=server.base_url)


@pytest.fixture
def in_png(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    path.write_bytes(png_bytes(64, 48))
    return path


def test_run_uploads_a_local_file_and_edits_it(client: replicate.Client, in_png: Path) -> None:
    with in_png.open("rb") as image:
        outputs = client.run(MODEL, input={**FAST, "image_urls": [image]})
    assert isinstance(outputs, list) and len(outputs) == 1
    edited = Image.open(io.BytesIO(requests.get(outputs[0], timeout=10).content))
    assert edited.format == "PNG" and edited.size == (256, 256)
    uploaded = [f for f in client.files.list() if f.name == "in.png"]
    assert uploaded and uploaded[0].checksums["sha256"] == hashlib.sha256(in_png.read_bytes()).hexdigest()


def test_create_prediction_with_a_file_runs_on_the_asset(client: replicate.Client, in_png: Path) -> None:
    with in_png.open("rb") as image:
        prediction = client.models.predictions.create(model=MODEL, input={**FAST, "image_urls": [image]})
    (url,) = prediction.input["image_urls"]
    assert url.startswith("asset://")
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert client.files.get(url.removeprefix("asset://")).name == "in.png"


def test_create_get_list_delete(client: replicate.Client, in_png: Path) -> None:
    data = in_png.read_bytes()
    created = client.files.create(in_png, metadata={"purpose": "test", "n": 1})
    assert created.name == "in.png" and created.content_type == "image/png" and created.size == len(data)
    assert created.checksums == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert created.etag == created.checksums["md5"] and created.metadata == {"purpose": "test", "n": 1}
    assert created.urls == {"get": f"asset://{created.id}"} and created.expires_at > created.created_at

    assert client.files.get(created.id) == created
    assert created.id in [f.id for f in client.files.list()]
    # The same asset, seen through the uploads API.
    asset = requests.get(
        f"{client._base_url}/v1/assets/{created.id}",
        headers={"Authorization": f"Bearer {client._api_token}"},
        timeout=10,
    ).json()
    assert asset["url"] == created.urls["get"] and (asset["width"], asset["height"]) == (64, 48)

    assert client.files.delete(created.id) is True
    with pytest.raises(ReplicateError) as caught:
        client.files.get(created.id)
    assert caught.value.status == 404 and created.id in (caught.value.detail or "")
    assert created.id not in [f.id for f in client.files.list()]


def test_the_bytes_decide_an_images_type(client: replicate.Client) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(buffer, format="JPEG")
    # A JPEG named .png, and one with no name at all (sent as application/octet-stream).
    misnamed = client.files.create(io.BytesIO(buffer.getvalue()), filename="photo.png")
    unnamed = client.files.create(io.BytesIO(buffer.getvalue()))
    assert misnamed.content_type == unnamed.content_type == "image/jpeg"
    assert (misnamed.name, unnamed.name) == ("photo.png", "file")


def test_another_owner_can_neither_read_nor_delete_nor_use_a_file(
    client: replicate.Client, other: replicate.Client, in_png: Path
) -> None:
    mine = client.files.create(in_png)
    for call in (other.files.get, other.files.delete):
        with pytest.raises(ReplicateError) as caught:
            call(mine.id)
        assert caught.value.status == 404
    assert mine.id not in [f.id for f in other.files.list()]
    with pytest.raises(ReplicateError) as caught:
        other.models.predictions.create(model=MODEL, input={**FAST, "image_urls": [mine.urls["get"]]})
    assert caught.value.status == 422 and mine.id in (caught.value.detail or "")
    assert client.files.get(mine.id).id == mine.id  # still there


def test_oversize_and_non_image_files_are_refused_clearly(client: replicate.Client, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES)
    with pytest.raises(ReplicateError) as caught:
        client.files.create(big)
    assert caught.value.status == 413
    assert f"limited to {MAX_UPLOAD_BYTES} bytes" in (caught.value.detail or "")

    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    with pytest.raises(ReplicateError) as caught:
        client.files.create(notes)
    assert caught.value.status == 422 and "not an allowed image" in (caught.value.detail or "")
    with notes.open("rb") as handle, pytest.raises(ReplicateError) as caught:
        client.run(MODEL, input={**FAST, "image_urls": [handle]})
    assert caught.value.status == 422
    assert "notes.txt" not in [f.name for f in client.files.list()]


def test_the_route_answers_json_in_replicates_shape(server: Server) -> None:
    # It answered an empty 307 (a redirect to /v1/files/) before the route existed.
    url = f"{server.base_url}/v1/files"
    response = requests.post(
        url, files={"content": ("a.png", png_bytes())}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 401 and set(response.json()) == {"title", "detail", "status"}
    response = requests.post(url, json={"content": "x"}, headers=server.headers(), timeout=10)
    assert response.status_code == 400 and "multipart/form-data" in response.json()["detail"]
    form = {"content": ("a.png", png_bytes()), "colour": (None, "blue")}
    response = requests.post(url, files=form, headers=server.headers(), timeout=10)
    assert response.status_code == 422 and response.json()["detail"].startswith("colour: unknown field")
    response = requests.post(
        url,
        files={"content": ("a.png", png_bytes()), "metadata": (None, "[1]")},
        headers=server.headers(),
        timeout=10,
    )
    assert response.status_code == 422 and "metadata" in response.json()["detail"]


def test_a_lora_file_and_an_uploaded_asset(client: replicate.Client, server: Server, tmp_path: Path) -> None:
    header = json.dumps({"__metadata__": {}}).encode()
    lora = tmp_path / "style.safetensors"
    lora.write_bytes(struct.pack("<Q", len(header)) + header)
    made = client.files.create(lora)  # the client sends it as application/octet-stream
    assert made.content_type == "application/octet-stream" and made.name == "style.safetensors"

    # An asset made by the upload flow (docs/uploads.md) is a file too, without checksums.
    data = png_bytes(10, 10)
    body = {"filename": "up.png", "mime_type": "image/png", "size_bytes": len(data)}
    upload = requests.post(
        f"{server.base_url}/v1/asset-uploads", json=body, headers=server.headers(), timeout=10
    )
    put = requests.put(
        upload.json()["upload_url"], data=data, headers={"Content-Type": "image/png"}, timeout=10
    )
    assert put.status_code == 200
    asset_id = upload.json()["asset_id"]
    confirmation = f"{server.base_url}/v1/asset-uploads/{asset_id}/confirmations"
    assert requests.post(confirmation, headers=server.headers(), timeout=10).status_code == 201
    uploaded = client.files.get(asset_id)
    assert (uploaded.name, uploaded.size, uploaded.checksums, uploaded.etag) == (
        "up.png",
        len(data),
        {},
        asset_id,
    )
