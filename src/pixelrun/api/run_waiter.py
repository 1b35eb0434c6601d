"""Hold a request until a run is terminal or a time limit passes (`Prefer: wait`, the
OpenAI route's synchronous answer).

The store is read from a worker thread so the event loop stays free; the poll interval
is short because a waiting client sees every interval as latency.
"""

from __future__ import annotations

import time

import anyio
import anyio.to_thread

from pixelrun.store import RunRecord, Store

POLL_INTERVAL_SECONDS = 0.1


async def wait_for_terminal(store: Store, run: RunRecord, timeout: float) -> RunRecord:
    """The run as it is when it becomes terminal, or when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    current = run
    while not current.status.is_terminal:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await anyio.sleep(min(POLL_INTERVAL_SECONDS, remaining))
        fresh = await anyio.to_thread.run_sync(store.get_run, run.id)
        if fresh is not None:
            current = fresh
    return current
