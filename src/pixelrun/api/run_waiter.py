"""Hold a request until a run is terminal or a time limit passes (`Prefer: wait`, the
OpenAI route's synchronous answer).

The waiter sleeps until the app's stream hub sees the run's `done` row, so a thousand
waiting requests cost the store nothing more than the streams do.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import anyio.to_thread

from pixelrun.api.streaming.events import DoneEvent
from pixelrun.store import RunRecord

if TYPE_CHECKING:
    from pixelrun.api.services import Services


async def wait_for_terminal(services: Services, run: RunRecord, timeout: float) -> RunRecord:
    """The run as it is when it becomes terminal, or when `timeout` seconds have passed."""
    if run.status.is_terminal:
        return run
    store = services.store
    deadline = time.monotonic() + timeout
    async with services.stream_hub.subscribe(run.id, 0) as sub:
        # The run may have finished before we subscribed: look once after subscribing.
        fresh = await anyio.to_thread.run_sync(store.runs.get, run.id)
        if fresh is not None and fresh.status.is_terminal:
            return fresh
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                batch = await asyncio.wait_for(sub.queue.get(), remaining)
            except TimeoutError:
                break
            if sub.failed or any(isinstance(event, DoneEvent) for event in batch):
                break
    fresh = await anyio.to_thread.run_sync(store.runs.get, run.id)
    return fresh if fresh is not None else run
