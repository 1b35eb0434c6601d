"""Helpers to create and follow runs over plain HTTP (no SDK) for the live tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from .conftest import IMAGE_DATA_URI, RUNS_PATH, Live
from .sse import Event, read_events


def create(live: Live, headers: dict[str, str] | None = None, **input_fields: Any) -> httpx.Response:
    body = {
        "input": {
            "prompt": "make it blue",
            "image_urls": [IMAGE_DATA_URI],
            "image_size": "256x256",
            "num_inference_steps": 3,
            **input_fields,
        }
    }
    return httpx.post(
        live.base_url + RUNS_PATH, json=body, headers={**live.headers(), **(headers or {})}, timeout=90
    )


def create_run(live: Live, **input_fields: Any) -> dict[str, Any]:
    response = create(live, **input_fields)
    assert response.status_code == 201, response.text
    return response.json()


def create_blocker(live: Live) -> dict[str, Any]:
    """A long run that keeps the one worker busy (cancel it when done)."""
    return create_run(live, image_size="1024x1024", num_inference_steps=50, acceleration="none")


def cancel(live: Live, run_id: str) -> None:
    httpx.post(f"{live.base_url}/v1/runs/{run_id}/cancellation", headers=live.headers(), timeout=10)


@contextmanager
def stream(
    live: Live, run_id: str, last_event_id: str | None = None, key: str | None = None, timeout: float = 60
) -> Iterator[httpx.Response]:
    headers = live.headers(key)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with httpx.stream(
        "GET", f"{live.base_url}/v1/runs/{run_id}/stream", headers=headers, timeout=timeout
    ) as response:
        yield response


def all_events(live: Live, run_id: str, last_event_id: str | None = None) -> list[Event]:
    """Every event (no comments) until the server closes the stream."""
    with stream(live, run_id, last_event_id) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [event for event in read_events(response) if event.comment is None]
