"""Hold a request until a run is terminal or a time limit passes (`Prefer: wait`, the
OpenAI route's synchronous answer).

With the app's stream hub (the normal case) the waiter sleeps until the hub sees the
run's `done` row, so a thousand waiting requests cost the store nothing more than the
streams do. Without one (a store used outside the app) it polls the run.
"""

from __future__ import annotations

import asyncio
import time

import anyio
import anyio.to_thread

from pixelrun.api.streaming.hub import hub_for
from pixelrun.store import RunRecord, Store

POLL_INTERVAL_SECONDS = 0.1


async def wait_for_terminal(store: Store, run: RunRecord, timeout: float) -> RunRecord:
    """The run as it is when it becomes terminal, or when `timeout` seconds have passed."""
    if run.status.is_terminal:
        return run
    hub = hub_for(store)
    if hub is None:
        return await _poll(store, run, timeout)
    deadline = time.monotonic() + timeout
    async with hub.subscribe(run.id, 0) as sub:
        # The run may have finished before we subscribed: look once after subscribing.
        fresh = await anyio.to_thread.run_sync(store.runs.get, run.id)
        if fresh is not None and fresh.status.is_terminal:
            return fresh
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                batch = await asyncio.wait_for(sub.queue.get(), remaining)
            except TimeoutError:
                break
            if any(event.event == "done" for event in batch):
                break
    fresh = await anyio.to_thread.run_sync(store.runs.get, run.id)
    return fresh if fresh is not None else run


async def _poll(store: Store, run: RunRecord, timeout: float) -> RunRecord:
    deadline = time.monotonic() + timeout
    current = run
    while not current.status.is_terminal:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await anyio.sleep(min(POLL_INTERVAL_SECONDS, remaining))
        fresh = await anyio.to_thread.run_sync(store.runs.get, run.id)
        if fresh is not None:
            current = fresh
    return current
