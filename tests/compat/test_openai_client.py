"""The official `openai` package edits images against a real `pixelrun serve` (docs/compatibility.md#openai-post-v1imagesedits):
only the base URL and the key change."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import requests
from PIL import Image

from e2e.server import Server

from .conftest import png_bytes, start_server

FAST = {"num_inference_steps": 2}


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.key, max_retries=0, timeout=120)


def edit(client: openai.OpenAI, **kwargs: object) -> openai.types.ImagesResponse:
    params: dict[str, object] = {
        "image": ("in.png", png_bytes(), "image/png"),
        "prompt": "make it blue",
        "size": "256x256",
        "extra_body": FAST,
    }
    params.update(kwargs)
    return client.images.edit(**params)  # type: ignore[arg-type]


def decoded(item: openai.types.Image) -> Image.Image:
    assert item.b64_json is not None
    return Image.open(io.BytesIO(base64.b64decode(item.b64_json)))


def test_one_image_answers_b64_json_by_default(client: openai.OpenAI, server: Server) -> None:
    result = edit(client)
    assert result.size == "256x256" and result.output_format == "png"
    assert len(result.data) == 1 and result.data[0].url is None
    image = decoded(result.data[0])
    assert image.format == "PNG" and image.size == (256, 256)
    # A run like any other: listed with the native API.
    runs = requests.get(server.base_url + "/v1/runs", headers=server.headers(), timeout=10).json()["items"]
    assert any(run["status_code"] == "succeeded" and run["input"]["image_size"] for run in runs)


def test_two_images_as_an_image_list(client: openai.OpenAI, server: Server) -> None:
    images = [
        ("a.png", png_bytes(color=(10, 200, 10)), "image/png"),
        ("b.png", png_bytes(80, 80), "image/png"),
    ]
    result = edit(client, image=images, prompt="put picture 2 into picture 1")
    assert len(result.data) == 1
    run = _latest_run(server)
    assert len(run["input"]["image_urls"]) == 2
    assert run["input"]["prompt"] == "put picture 2 into picture 1"


def test_n_two_and_size(client: openai.OpenAI) -> None:
    result = edit(client, n=2, size="320x256")
    assert len(result.data) == 2 and result.size == "320x256"
    assert all(decoded(item).size == (320, 256) for item in result.data)


def test_response_format_url_serves_the_file(client: openai.OpenAI) -> None:
    result = edit(client, response_format="url")
    url = result.data[0].url
    assert url is not None and result.data[0].b64_json is None
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (256, 256)


def test_output_format(client: openai.OpenAI) -> None:
    result = edit(client, output_format="webp")
    assert result.output_format == "webp" and decoded(result.data[0]).format == "WEBP"


def test_pixelrun_fields_through_extra_body(client: openai.OpenAI, server: Server) -> None:
    extras = {
        "seed": 7,
        "num_inference_steps": 3,
        "guidance_scale": 1.5,
        "negative_prompt": "red",
        "acceleration": "none",
    }
    first = edit(client, extra_body=extras)
    run = _latest_run(server)
    assert {k: run["input"][k] for k in extras} == extras
    assert run["output"]["seed"] == 7
    again = edit(client, extra_body=extras)
    assert again.data[0].b64_json == first.data[0].b64_json  # same seed, same image


def test_mask_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, mask=("mask.png", png_bytes(), "image/png"))
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "mask" and "masks are not supported" in body["message"]


def test_a_nul_in_an_ignored_field_is_refused_as_the_schema_says(client: openai.OpenAI) -> None:
    # `user` is accepted and ignored, but its schema (every string's) forbids NUL.
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, user="alice\x00")
    assert caught.value.status_code == 400 and caught.value.param == "user"


def test_bad_key_is_an_openai_401(server: Server) -> None:
    bad = openai.OpenAI(base_url=server.base_url + "/v1", api_key="px_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        edit(bad)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"


def test_validation_error_names_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, n=9)
    assert caught.value.code == "validation_error" and caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, size="12x12")
    assert caught.value.param == "size"
    with pytest.raises(openai.BadRequestError) as caught:
        edit(client, extra_body={"seed": "lucky"})
    assert caught.value.param == "seed"


def test_streaming_sends_partial_images_then_the_final_image(client: openai.OpenAI, server: Server) -> None:
    # 6 steps and 2 partial images: previews after steps 2 and 4 (docs/api.md#previews).
    stream = edit(
        client, stream=True, partial_images=2, n=2, extra_body={"num_inference_steps": 6, "seed": 5}
    )
    events = list(stream)
    assert [event.type for event in events] == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
        "image_edit.completed",
    ]
    partials, completed = events[:2], events[2:]
    assert [event.partial_image_index for event in partials] == [0, 1]
    for event in partials:
        preview = Image.open(io.BytesIO(base64.b64decode(event.b64_json)))
        assert preview.format == "JPEG" and preview.size == (32, 32) and event.size == "32x32"
        assert event.output_format == "jpeg"
    for event in completed:
        image = Image.open(io.BytesIO(base64.b64decode(event.b64_json)))
        assert image.format == "PNG" and image.size == (256, 256)
        assert event.size == "256x256" and event.output_format == "png" and event.usage.total_tokens == 0
    run = _latest_run(server)
    assert run["input"]["preview_every"] == 2 and run["status_code"] == "succeeded"
    # The same edit without streaming gives the same images.
    plain = edit(client, n=2, extra_body={"num_inference_steps": 6, "seed": 5})
    assert [item.b64_json for item in plain.data] == [event.b64_json for event in completed]


def test_streaming_without_partial_images_and_a_failed_run(client: openai.OpenAI) -> None:
    events = list(edit(client, stream=True))
    assert [event.type for event in events] == ["image_edit.completed"]
    broken = ("in.png", b"not an image at all", "image/png")
    with pytest.raises(openai.APIError) as caught:
        list(edit(client, image=broken, stream=True, partial_images=1))
    assert "failed" in caught.value.message


@pytest.fixture(scope="module")
def impatient(server: Server, module_data: Path) -> Iterator[Server]:
    """A second API process on the same database and file storage without a worker of its
    own and a short sync timeout: the first server's worker runs what it queues (reading its
    input images, stored at create, from the shared files)."""
    database = f"sqlite:///{module_data / 'pixelrun.db'}"
    other = start_server(
        module_data / "impatient",
        database,
        workers=0,
        key=server.key,
        PIXELRUN_SYNC_TIMEOUT_SECONDS="0.3",
        PIXELRUN_STORAGE_URL=str(module_data / "data" / "files"),
    )
    try:
        yield other
    finally:
        other.stop()


def test_sync_timeout_is_a_504_naming_the_run_and_the_run_goes_on(impatient: Server, server: Server) -> None:
    client = openai.OpenAI(base_url=impatient.base_url + "/v1", api_key=server.key, max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        # Long enough (50 steps at 1 MP) that no machine finishes it within the 0.3 s timeout.
        edit(client, size="1024x1024", extra_body={"num_inference_steps": 50})
    assert caught.value.status_code == 504
    run_id = _latest_run(server)["id"]
    assert run_id in caught.value.message
    finished = server.wait_run(run_id)
    assert finished["status_code"] == "succeeded" and len(finished["output"]["outputs"]) == 1


def _latest_run(server: Server) -> dict:
    response = requests.get(server.base_url + "/v1/runs?limit=1", headers=server.headers(), timeout=10)
    return response.json()["items"][0]
