"""`urls.stream` of a prediction (docs/compatibility.md): the run's event stream in
Replicate's events.

The run stream is followed as it is (same hub, same resume and keep-alive rules) and
each typed event is re-spelled: `log` → `logs` (the line's text), and the terminal
`done` → one `output` per output URL, `error` (the failure message) or nothing, then
`done` (`{}`, or `{"reason": "canceled"}`). `status` and `progress` have no Replicate name.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from pixelrun.api.streaming.events import DoneEvent, KeepAlive, LogEvent, StreamEvent
from pixelrun.api.wire import RunOut
from pixelrun.runs import RunStatus


def _event(event_id: int, name: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"id: {event_id}\nevent: {name}\n{lines}\n".encode()


async def replicate_events(
    run_events: AsyncIterator[StreamEvent | KeepAlive], output_urls: Callable[[RunOut], list[str]]
) -> AsyncIterator[bytes]:
    """Re-spell the run stream; `output_urls` turns the terminal run into URLs."""
    async for event in run_events:
        if isinstance(event, KeepAlive):
            yield event.encoded
        elif isinstance(event, LogEvent):
            yield _event(event.id, "logs", event.log.message)
        elif isinstance(event, DoneEvent):
            status = event.run.status_code
            if status is RunStatus.SUCCEEDED:
                for url in output_urls(event.run):
                    yield _event(event.id, "output", url)
            elif status is RunStatus.FAILED:
                yield _event(event.id, "error", event.run.failure_message or "the run failed")
            canceled = status is RunStatus.CANCELED
            yield _event(event.id, "done", json.dumps({"reason": "canceled"} if canceled else {}))
            return
