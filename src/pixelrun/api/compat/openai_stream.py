"""OpenAI's streaming image edits (docs/compatibility.md#openai-post-v1imagesedits): `stream=true`
answers Server-Sent Events as the official SDK reads them.

Up to `partial_images` (0..3) `image_edit.partial_image` events, from the run's previews
(docs/api.md#previews: the run gets `preview_every` so that they spread over its steps),
then one `image_edit.completed` per output image, then the stream ends. A run that fails,
is canceled or does not finish within `PIXELRUN_SYNC_TIMEOUT_SECONDS` ends the stream with
an `error` event in OpenAI's error shape, which the SDK raises as `APIError`.
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from PIL import Image
from pydantic import ValidationError

from pixelrun.api.errors import ApiError
from pixelrun.api.models_catalog import CatalogModel
from pixelrun.api.streaming.events import DoneEvent, KeepAlive, PreviewEvent
from pixelrun.api.streaming.follow import follow_run
from pixelrun.store import RunRecord

if TYPE_CHECKING:
    from pixelrun.api.services import Services

MAX_PARTIAL_IMAGES = 3
#: The route's 200 answer with stream=true, for the OpenAPI document.
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The images; with stream=true, `text/event-stream` of `image_edit.partial_image` "
        "events, then one `image_edit.completed` per image (or an `error` event)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
#: Usage is GPT-image token accounting; these models count no tokens.
NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}


def with_partial_images(
    model: CatalogModel, raw_input: dict[str, Any], partial_images: int
) -> dict[str, Any]:
    """The run input with `preview_every` spread so that `partial_images` previews come
    before the last step (e.g. 28 steps, 2 partial images: steps 10 and 20)."""
    if partial_images <= 0:
        return raw_input
    try:
        steps = model.input_model.model_validate(raw_input).num_inference_steps  # type: ignore[attr-defined]
    except (ValidationError, AttributeError):
        return raw_input  # the create says what is wrong with the input
    return {**raw_input, "preview_every": max(1, math.ceil(steps / (partial_images + 1)))}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _partial(event: PreviewEvent, index: int) -> bytes:
    with Image.open(io.BytesIO(event.image.data)) as image:  # reads the header only
        width, height = image.size
    return _event(
        "image_edit.partial_image",
        {
            "type": "image_edit.partial_image",
            "b64_json": base64.b64encode(event.image.data).decode("ascii"),
            "partial_image_index": index,
            "created_at": int(time.time()),
            "size": f"{width}x{height}",
            "output_format": event.image.media_type.removeprefix("image/"),
            "quality": "auto",
            "background": "opaque",
        },
    )


def _completed(answer: Any) -> list[bytes]:
    created = int(time.time())
    return [
        _event(
            "image_edit.completed",
            {
                "type": "image_edit.completed",
                "b64_json": image.b64_json,
                "created_at": created,
                "size": answer.size,
                "output_format": answer.output_format,
                "quality": "auto",
                "background": "opaque",
                "usage": NO_USAGE,
            },
        )
        for image in answer.data
    ]


async def stream_edit(
    services: Services,
    run: RunRecord,
    partial_images: int,
    answer: Callable[[RunRecord], Any],
    render_error: Callable[[ApiError], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """The SSE bytes of one streaming edit. `answer` turns the final run into the images
    response (raising `ApiError` for a failed, canceled or unfinished run); `render_error`
    gives OpenAI's error body of an `ApiError`."""
    deadline = time.monotonic() + services.settings.sync_timeout_seconds
    sent = 0
    # From the run's first row: previews written before this stream began are not missed.
    events = follow_run(services.stream_hub, run.id, 0, services.settings.stream_keepalive_seconds)
    final = run
    try:
        async for event in events:
            if isinstance(event, KeepAlive):
                yield event.encoded
            elif isinstance(event, PreviewEvent) and sent < partial_images:
                yield _partial(event, sent)
                sent += 1
            elif isinstance(event, DoneEvent):
                break
            if time.monotonic() > deadline:
                break
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    fresh = await anyio.to_thread.run_sync(services.store.runs.get, run.id)
    final = fresh if fresh is not None else final
    try:
        images = await anyio.to_thread.run_sync(answer, final)
    except ApiError as error:
        yield _event("error", render_error(error))
        return
    for chunk in _completed(images):
        yield chunk
