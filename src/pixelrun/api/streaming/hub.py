"""One hub per API app that watches the store for every open stream and fans events out.

However many clients follow a run, the process reads the store once per change: on
PostgreSQL when a `NOTIFY pixelrun_stream` names the run (a listener thread, plus a slow
safety poll in case a notification was missed while reconnecting); on SQLite by one
short poll for all watched runs. Each subscriber gets the shared events on an asyncio
queue, so a stream costs a coroutine, not a thread.

One run that cannot be read or presented must not hold up the others' streams and waits
(docs/security.md#isolation): when a batch read fails while the store is reachable, the
runs are read one by one, the failing one is logged once and its own subscribers are
told (`Subscription.failed`); everyone else gets their events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio.to_thread

from pixelrun.api.streaming.events import StreamEvent, StreamEvents
from pixelrun.store import is_unavailable

log = logging.getLogger(__name__)

# PostgreSQL: poll anyway this often, in case a notification was lost.
SAFETY_POLL_SECONDS = 5.0
# Runs whose failure was logged, remembered so each is reported once per process.
MAX_REPORTED = 10_000


@dataclass(eq=False)
class Subscription:
    run_id: str
    queue: asyncio.Queue[list[StreamEvent]] = field(default_factory=asyncio.Queue)
    #: The run cannot be read or presented; an empty batch on `queue` wakes the reader.
    failed: bool = False


@dataclass
class _Watched:
    cursor: int
    subscribers: set[Subscription] = field(default_factory=set)
    failed: bool = False


class StreamHub:
    def __init__(self, events: StreamEvents, poll_interval: float) -> None:
        self.events = events
        self._store = events.store
        self._poll_interval = poll_interval
        self._watched: dict[str, _Watched] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: threading.Thread | None = None
        self._stopping = threading.Event()
        self.reads = 0  # store reads done for streams (the bench reports it)
        self._reported: set[str] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="stream-hub")
        url = self._store.history.stream_listen_url()
        if url is not None:
            self._listener = threading.Thread(
                target=self._listen, args=(url,), name="stream-listen", daemon=True
            )
            self._listener.start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            await anyio.to_thread.run_sync(self._listener.join, 5)

    @contextlib.asynccontextmanager
    async def subscribe(self, run_id: str, after: int) -> AsyncIterator[Subscription]:
        """Events of `run_id` with ids above the hub's cursor arrive on `.queue` (they may
        repeat ones the caller read itself: skip ids already sent)."""
        sub = Subscription(run_id)
        watched = self._watched.get(run_id)
        if watched is None:
            watched = self._watched[run_id] = _Watched(cursor=after)
        watched.subscribers.add(sub)
        if watched.failed:
            sub.failed = True
            sub.queue.put_nowait([])
        self._dirty.add(run_id)
        self._wake.set()
        try:
            yield sub
        finally:
            watched.subscribers.discard(sub)
            if not watched.subscribers and self._watched.get(run_id) is watched:
                del self._watched[run_id]

    def _mark_dirty(self, run_id: str) -> None:
        if run_id in self._watched:
            self._dirty.add(run_id)
            self._wake.set()

    async def _run(self) -> None:
        postgres = self._listener is not None
        while True:
            timeout = SAFETY_POLL_SECONDS if postgres else self._poll_interval
            if not self._watched:
                timeout = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            # Notified runs on PostgreSQL; otherwise a poll of every watched run.
            targets = self._dirty & self._watched.keys() if postgres and self._dirty else set(self._watched)
            self._dirty.clear()
            cursors = {
                run_id: self._watched[run_id].cursor for run_id in targets if not self._watched[run_id].failed
            }
            if not cursors:
                continue
            try:
                batches = await anyio.to_thread.run_sync(self.events.after, cursors)
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("stream hub: the store cannot be reached; retrying")
                    await asyncio.sleep(self._poll_interval)
                    continue
                batches, failures = await anyio.to_thread.run_sync(self._one_by_one, cursors)
                for run_id, error in failures.items():
                    self._fail(run_id, error)
            self.reads += 1
            for run_id, events in batches.items():
                watched = self._watched.get(run_id)
                if watched is None or not events:
                    continue
                watched.cursor = max(watched.cursor, events[-1].id)
                for sub in watched.subscribers:
                    sub.queue.put_nowait(events)

    def _one_by_one(
        self, cursors: dict[str, int]
    ) -> tuple[dict[str, list[StreamEvent]], dict[str, Exception]]:
        """Thread: the batch read again, one run at a time, so one bad run fails alone."""
        batches: dict[str, list[StreamEvent]] = {}
        failures: dict[str, Exception] = {}
        for run_id, cursor in cursors.items():
            try:
                batches.update(self.events.after({run_id: cursor}))
            except Exception as exc:
                if is_unavailable(exc):
                    break  # the store went away: the next round retries every run
                failures[run_id] = exc
        return batches, failures

    def _fail(self, run_id: str, error: Exception) -> None:
        watched = self._watched.get(run_id)
        if watched is None:
            return
        if run_id not in self._reported:
            if len(self._reported) >= MAX_REPORTED:
                self._reported.clear()
            self._reported.add(run_id)
            log.error(
                "stream hub: run %s cannot be read or presented; its streams and waits end (%s)",
                run_id,
                error,
                exc_info=error,
            )
        # Not read again while anyone watches it; a later subscription tries afresh.
        watched.failed = True
        for sub in watched.subscribers:
            sub.failed = True
            sub.queue.put_nowait([])

    def _listen(self, url: str) -> None:
        """Thread: LISTEN for stream notifications and mark their runs dirty."""
        import psycopg

        from pixelrun.store import STREAM_CHANNEL

        while not self._stopping.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {STREAM_CHANNEL}")
                    # Anything missed while (re)connecting is picked up by one full poll.
                    self._call(self._wake.set)
                    while not self._stopping.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            self._call(self._mark_dirty, notify.payload)
            except Exception:
                if self._stopping.is_set():
                    return
                log.warning("stream hub: LISTEN connection lost; reconnecting", exc_info=True)
                self._stopping.wait(1.0)

    def _call(self, fn: object, *args: object) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(fn, *args)  # type: ignore[arg-type]
