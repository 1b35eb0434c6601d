"""Follow one run: the async generator behind `GET /v1/runs/{id}/stream` (docs/api.md,
"Streaming") and the Replicate stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi.responses import StreamingResponse

from pixelrun.api.streaming.events import KEEP_ALIVE, DoneEvent, KeepAlive, StreamEvent
from pixelrun.api.streaming.hub import StreamHub


def sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    """Encoded `events` as a `text/event-stream` answer that proxies pass through as it comes."""
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        # No proxy buffering or caching: events must reach the client as they happen.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def parse_last_event_id(value: str | None) -> int | None:
    """The id to resume after, or None for a fresh stream (a malformed header is ignored)."""
    if value is None:
        return None
    try:
        parsed = int(value.strip())
    except ValueError:
        return None
    return parsed if parsed >= 0 else None


async def encoded(events: AsyncIterator[StreamEvent | KeepAlive]) -> AsyncIterator[bytes]:
    """The native stream's bytes: each event as it encoded itself."""
    async for event in events:
        yield event.encoded


async def follow_run(
    hub: StreamHub, run_id: str, last_event_id: int | None, keepalive_seconds: float
) -> AsyncIterator[StreamEvent | KeepAlive]:
    """Events until `done`; a keep-alive after `keepalive_seconds` of quiet.

    Fresh stream: a `status` event with the current run (its id is the latest row's, so a
    resume from it continues after it), then every later row. Resume: every row after
    `last_event_id`; a run that already finished answers `done` again.
    """
    events = hub.events
    after = last_event_id or 0
    async with hub.subscribe(run_id, after) as sub:
        sent = after
        if last_event_id is None:
            snapshot = await anyio.to_thread.run_sync(events.snapshot, run_id)
            if snapshot is None:
                return
            yield snapshot.event
            sent = snapshot.event.id
        backlog = await anyio.to_thread.run_sync(events.after, {run_id: sent})
        for event in backlog.get(run_id, []):
            if event.id > sent:
                sent = event.id
                yield event
                if isinstance(event, DoneEvent):
                    return
        if not backlog.get(run_id):
            # Nothing after the client's last event: a finished run says `done` again.
            done = await anyio.to_thread.run_sync(events.done_event, run_id)
            if done is not None:
                yield done
                return
        while True:
            try:
                batch: list[StreamEvent] = await asyncio.wait_for(sub.queue.get(), keepalive_seconds)
            except TimeoutError:
                yield KEEP_ALIVE
                continue
            if sub.failed:
                return  # this run cannot be presented (the hub logged why): end its stream
            for event in batch:
                if event.id <= sent:
                    continue
                sent = event.id
                yield event
                if isinstance(event, DoneEvent):
                    return
