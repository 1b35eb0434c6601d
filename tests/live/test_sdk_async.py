"""The asynchronous SDK (`AsyncPixelrun`): the same surface as the sync one, with `await`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from pixelrun.client import (
    AsyncPixelrun,
    Run,
    RunFailedError,
    RunNotFoundError,
    UnauthorizedError,
    ValidationError,
    WaitTimeoutError,
)

from .conftest import IMAGE_DATA_URI, MODEL, Live, png_bytes
from .runs import cancel, create_blocker

TINY = {"image_size": "256x256", "num_inference_steps": 2}


def test_every_method(live: Live, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncPixelrun(base_url=live.base_url, api_key=live.key) as px:
            run = await px.runs.create(MODEL, input={"prompt": "x", "image_urls": [IMAGE_DATA_URI], **TINY})
            events = [event async for event in px.runs.stream(run.id)]
            assert events[0].event == "status" and events[-1].event == "done"
            assert isinstance(events[-1].data, Run) and events[-1].data.status_code == "succeeded"
            assert (await px.runs.wait(run.id, timeout=30)).status_code == "succeeded"
            assert (await px.runs.get(run.id)).id == run.id
            assert (await px.runs.logs(run.id))[0].run_id == run.id
            waited = await px.runs.create(
                MODEL, input={"prompt": "y", "image_urls": [IMAGE_DATA_URI], **TINY}, wait=True
            )
            assert waited.status_code == "succeeded"
            listed = [r.id async for r in px.runs.list(page_size=1)]
            assert listed[:2] == [waited.id, run.id]

            path = tmp_path / "a.png"
            path.write_bytes(png_bytes(30, 20))
            asset = await px.assets.upload(path)
            assert asset.width == 30
            steps: list[int] = []
            edited = await px.edit(
                "make it red",
                images=[path, png_bytes(), Image.new("RGB", (20, 20)), IMAGE_DATA_URI],
                on_progress=lambda e: steps.append(e.data.step) if e.event == "progress" else None,
                **TINY,
            )
            assert edited.status_code == "succeeded" and steps == [1, 2]

            blocker = create_blocker(live)
            try:
                queued = await px.runs.create(
                    MODEL, input={"prompt": "z", "image_urls": [IMAGE_DATA_URI], **TINY}
                )
                with pytest.raises(WaitTimeoutError):
                    await px.runs.wait(queued.id, timeout=0.5)
                assert (await px.runs.cancel(queued.id)).status_code == "canceled"
            finally:
                cancel(live, blocker["id"])

            with pytest.raises(ValidationError):
                await px.runs.create(MODEL, input={"prompt": "x"})
            with pytest.raises(RunFailedError) as failed:
                await px.edit("x", images=["data:image/png;base64,bm9wZQ=="], **TINY)
            assert failed.value.failure_code == "input_fetch_failed"
        async with AsyncPixelrun(base_url=live.base_url, api_key=live.other_key) as other:
            with pytest.raises(RunNotFoundError):
                await other.runs.get(run.id)
        async with AsyncPixelrun(base_url=live.base_url, api_key="px_nope") as wrong:
            with pytest.raises(UnauthorizedError):
                await wrong.runs.get(run.id)

    asyncio.run(scenario())
