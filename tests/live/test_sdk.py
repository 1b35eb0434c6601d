"""The synchronous SDK (`pixelrun.client.Pixelrun`) against a real server and worker."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from e2e.server import StaticFiles
from pixelrun.client import (
    ModelNotFoundError,
    Pixelrun,
    Preview,
    Run,
    RunCanceledError,
    RunFailedError,
    RunNotFoundError,
    UnauthorizedError,
    ValidationError,
    WaitTimeoutError,
)

from .conftest import IMAGE_DATA_URI, MODEL, Live, png_bytes
from .runs import cancel, create_blocker

TINY = {"image_size": "256x256", "num_inference_steps": 2}


@pytest.fixture
def px(live: Live) -> Iterator[Pixelrun]:
    with Pixelrun(base_url=live.base_url, api_key=live.key) as client:
        yield client


@pytest.fixture(scope="module")
def images() -> Iterator[StaticFiles]:
    files = StaticFiles({"/in.png": png_bytes(80, 60, (10, 120, 200))})
    yield files
    files.close()


def test_env_vars_configure_the_client(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELRUN_BASE_URL", live.base_url)
    monkeypatch.setenv("PIXELRUN_API_KEY", live.key)
    with Pixelrun() as px:
        assert px.config.base_url == live.base_url
        run = px.runs.create(MODEL, input={"prompt": "x", "image_urls": [IMAGE_DATA_URI], **TINY}, wait=60)
    assert isinstance(run, Run) and run.status_code == "succeeded"
    assert run.output is not None and run.output.outputs[0].url.startswith("http")
    assert run.output.seed is not None and run.cost is not None


def test_create_get_wait_stream_logs(px: Pixelrun) -> None:
    run = px.runs.create(
        MODEL,
        input={"prompt": "make it blue", "image_urls": [IMAGE_DATA_URI], **TINY},
        metadata={"k": "v"},
        client_ref="ref-1",
    )
    assert run.status_code in ("queued", "dispatching", "running") and run.metadata == {"k": "v"}
    done = px.runs.wait(run.id, timeout=120)
    assert done.status_code == "succeeded" and done.completed_at is not None
    assert px.runs.get(run.id).status_code == "succeeded"
    events = list(px.runs.stream(run.id, last_event_id="0"))
    assert [event.event for event in events].count("progress") == 2
    assert events[-1].event == "done" and isinstance(events[-1].data, Run)
    assert [(e.data.step, e.data.steps) for e in events if e.event == "progress"] == [(1, 2), (2, 2)]
    logs = px.runs.logs(run.id)
    assert logs and logs[0].run_id == run.id and logs[0].level_code == "info"


def test_the_stream_carries_previews(px: Pixelrun) -> None:
    run = px.runs.create(
        MODEL,
        input={
            "prompt": "make it blue",
            "image_urls": [IMAGE_DATA_URI],
            **TINY,
            "num_inference_steps": 4,
            "preview_every": 1,
        },
    )
    px.runs.wait(run.id, timeout=120)
    previews = [event.data for event in px.runs.stream(run.id, last_event_id="0") if event.event == "preview"]
    assert all(isinstance(preview, Preview) for preview in previews)
    assert [(preview.step, preview.steps) for preview in previews] == [(1, 4), (2, 4), (3, 4)]
    assert previews[0].content_type == "image/jpeg"
    with Image.open(io.BytesIO(previews[-1].image_bytes())) as image:
        assert image.format == "JPEG" and image.size == (32, 32)


def test_an_idempotency_key_returns_the_same_run(px: Pixelrun) -> None:
    body = {"prompt": "same", "image_urls": [IMAGE_DATA_URI], **TINY}
    first = px.runs.create(MODEL, input=body, idempotency_key="sdk-test-key-1")
    again = px.runs.create(MODEL, input=body, idempotency_key="sdk-test-key-1")
    assert again.id == first.id
    px.runs.wait(first.id, timeout=120)


def test_list_iterates_across_pages(px: Pixelrun) -> None:
    created = [
        px.runs.create(MODEL, input={"prompt": f"p{i}", "image_urls": [IMAGE_DATA_URI], **TINY}).id
        for i in range(3)
    ]
    listed = [run.id for run in px.runs.list(page_size=1)]
    # page_size=1: one page per run (other tests of this server may have added more runs).
    assert listed[:3] == created[::-1] and len(listed) == len(set(listed)) >= 3
    for run_id in created:
        px.runs.wait(run_id, timeout=120)
    assert all(run.status_code == "succeeded" for run in px.runs.list(status="succeeded", page_size=2))


def test_cancel_and_wait_timeout(live: Live, px: Pixelrun) -> None:
    blocker = create_blocker(live)
    try:
        run = px.runs.create(MODEL, input={"prompt": "x", "image_urls": [IMAGE_DATA_URI], **TINY})
        with pytest.raises(WaitTimeoutError) as caught:
            px.runs.wait(run.id, timeout=1)
        assert caught.value.run.status_code == "queued"
        canceled = px.runs.cancel(run.id)
        assert canceled.status_code == "canceled"
        assert px.runs.wait(run.id, timeout=10).status_code == "canceled"
        assert px.runs.cancel(run.id).status_code == "canceled"  # already terminal: unchanged
    finally:
        cancel(live, blocker["id"])


def test_typed_errors(live: Live, px: Pixelrun) -> None:
    run = px.runs.create(MODEL, input={"prompt": "x", "image_urls": [IMAGE_DATA_URI], **TINY})
    with Pixelrun(base_url=live.base_url, api_key=live.other_key) as other:
        with pytest.raises(RunNotFoundError) as not_found:
            other.runs.get(run.id)
        assert not_found.value.status_code == 404 and not_found.value.code == "RUN_NOT_FOUND"
        with pytest.raises(RunNotFoundError):
            list(other.runs.stream(run.id))
    with Pixelrun(base_url=live.base_url, api_key="px_wrong") as wrong, pytest.raises(UnauthorizedError):
        wrong.runs.get(run.id)
    with pytest.raises(ValidationError) as invalid:
        px.runs.create(MODEL, input={"prompt": "", "image_urls": []})
    assert invalid.value.errors and invalid.value.status_code == 422
    with pytest.raises(ModelNotFoundError):
        px.runs.create("nobody/nothing", input={"prompt": "x", "image_urls": [IMAGE_DATA_URI]})
    px.runs.wait(run.id, timeout=120)


def test_assets_upload_path_bytes_and_pil(px: Pixelrun, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(40, 30))
    from_path = px.assets.upload(path)
    assert from_path.url and from_path.name == "photo.png" and from_path.width == 40
    from_bytes = px.assets.upload(png_bytes(20, 10))
    assert from_bytes.mime_type == "image/png" and from_bytes.height == 10
    from_pil = px.assets.upload(Image.new("RGB", (16, 12), (1, 2, 3)))
    assert from_pil.width == 16 and from_pil.url != from_bytes.url


def test_edit_with_a_path_bytes_a_pil_image_and_a_url(
    px: Pixelrun, tmp_path: Path, images: StaticFiles
) -> None:
    path = tmp_path / "in.jpg"
    Image.new("RGB", (48, 32), (200, 10, 10)).save(path, format="JPEG")
    seen: list[str] = []
    run = px.edit(
        "make it blue",
        images=[str(path), png_bytes(), Image.new("RGB", (32, 32), (0, 255, 0)), images.url + "/in.png"],
        on_progress=lambda event: seen.append(event.event),
        seed=7,
        **TINY,
    )
    assert run.status_code == "succeeded" and run.output is not None and run.output.seed == 7
    assert seen.count("progress") == 2 and seen[-1] == "done"
    assert len(run.input["image_urls"]) == 4 and run.input["image_urls"][3] == images.url + "/in.png"
    assert "/in.png" in images.requests
    image = Image.open(io.BytesIO(httpx.get(run.output.outputs[0].url).content))
    assert image.size == (256, 256)


def test_edit_raises_typed_errors_for_failed_and_canceled_runs(
    live: Live, px: Pixelrun, images: StaticFiles
) -> None:
    with pytest.raises(RunFailedError) as failed:
        px.edit("x", images=[images.url + "/missing.png"], **TINY)
    assert failed.value.failure_code == "input_fetch_failed" and failed.value.failure_message
    assert failed.value.run.status_code == "failed"

    blocker = create_blocker(live)
    try:

        def cancel_when_queued(event: object) -> None:
            if getattr(event, "event", "") == "status" and event.data.status_code == "queued":  # type: ignore[attr-defined]
                px.runs.cancel(event.data.id)  # type: ignore[attr-defined]

        with pytest.raises(RunCanceledError) as canceled:
            px.edit("x", images=[IMAGE_DATA_URI], on_progress=cancel_when_queued, **TINY)
        assert canceled.value.run.status_code == "canceled"
    finally:
        cancel(live, blocker["id"])
