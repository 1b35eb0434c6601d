"""`urls.stream` of a prediction (SPEC §10): the run's SSE stream (§7) in Replicate's events.

The run stream is followed as it is (same hub, same resume and keep-alive rules) and
each event is re-spelled: `log` → `logs` (the line's text), and the terminal `done` →
one `output` per output URL, `error` (the failure message) or nothing, then `done`
(`{}`, or `{"reason": "canceled"}`). `status` and `progress` have no Replicate name.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pixelrun.api.streaming.events import KEEP_ALIVE


def _event(event_id: str, name: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"id: {event_id}\nevent: {name}\n{lines}\n".encode()


def _parse(chunk: bytes) -> tuple[str, str, str] | None:
    """(id, event, data) of one encoded run-stream event; None for a comment."""
    fields: dict[str, str] = {}
    for line in chunk.decode().split("\n"):
        if line and not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    if "event" not in fields:
        return None
    return fields.get("id", ""), fields["event"], fields.get("data", "")


async def replicate_events(
    run_events: AsyncIterator[bytes], output_urls: Callable[[dict[str, Any]], list[str]]
) -> AsyncIterator[bytes]:
    """Re-spell the run stream; `output_urls` turns the terminal run object into URLs."""
    async for chunk in run_events:
        if chunk == KEEP_ALIVE:
            yield chunk
            continue
        parsed = _parse(chunk)
        if parsed is None:
            continue
        event_id, name, data = parsed
        if name == "log":
            yield _event(event_id, "logs", json.loads(data)["message"])
        elif name == "done":
            run = json.loads(data)
            status = run["status_code"]
            if status == "succeeded":
                for url in output_urls(run):
                    yield _event(event_id, "output", url)
            elif status == "failed":
                yield _event(event_id, "error", run.get("failure_message") or "the run failed")
            yield _event(event_id, "done", json.dumps({"reason": "canceled"} if status == "canceled" else {}))
            return
