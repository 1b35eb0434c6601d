"""Group commit: writes from many threads share one transaction, written by one thread.

Under concurrent creates every request thread paid for its own BEGIN and COMMIT and, on
SQLite, for a turn at the single write lock, and every waiting thread woke up to fight
for it: at 16 concurrent clients a create cost about twice its CPU at one client. Here
a thread hands its write to the committer thread and waits for the result; the committer
applies everything that arrived meanwhile in one transaction, in arrival order, so an
idle server pays one thread hand-off and a busy one commits batches.

A write's own *expected* errors (credit, idempotency conflicts) are raised by `apply`
before it writes anything, so they fail that write alone and the batch commits. Any other
error rolls the batch back and each write is retried alone in its own transaction: one
bad write never fails its neighbours, and a store outage reaches every caller as the
same exception it would have met alone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

from pixelrun.store.db.database import write_tx

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

#: The most writes committed in one transaction (bounds a batch's latency).
MAX_BATCH = 32


class GroupCommit(Generic[Item, Result]):
    """`submit(item)` from any thread; `apply(conn, item)` runs on the committer thread.

    `expected` are the exception types `apply` raises before writing anything.
    """

    def __init__(
        self,
        engine: Engine,
        apply: Callable[[Connection, Item], Result],
        expected: tuple[type[Exception], ...],
        name: str,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._engine = engine
        self._apply = apply
        self._expected = expected
        self._name = name
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Item, Future[Result]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, item: Item) -> Result:
        """Apply `item` in the next batch and return its result (or raise its error)."""
        return self.submit_future(item).result()

    def submit_future(self, item: Item) -> Future[Result]:
        """Apply `item` in the next batch; the future holds its result or error (for
        coroutines: `asyncio.wrap_future`, no thread of theirs waits)."""
        future: Future[Result] = Future()
        self._ensure_started()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Stop the committer after the writes already submitted."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                # A daemon: a process that exits without closing the store must not hang on it.
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is None:
                    stop = True
                    break
                batch.append(pending)
            # A write whose caller gave up (its future canceled, e.g. the client hung up while
            # the create waited) is dropped; the others cannot be canceled from now on.
            batch = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Item, Future[Result]]]) -> None:
        if len(batch) == 1:
            self._alone(*batch[0])
            return
        outcomes: list[Result | Exception] = []
        try:
            with write_tx(self._engine) as conn:
                for item, _ in batch:
                    try:
                        outcomes.append(self._apply(conn, item))
                    except self._expected as error:
                        outcomes.append(error)
        except Exception:
            # Unexpected: nothing of the batch was committed. Each write alone, so that the
            # error reaches only the write that causes it.
            log.debug("%s: a batch of %d failed; retrying each alone", self._name, len(batch), exc_info=True)
            for item, future in batch:
                self._alone(item, future)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _alone(self, item: Item, future: Future[Result]) -> None:
        try:
            with write_tx(self._engine) as conn:
                result = self._apply(conn, item)
        except Exception as error:  # the caller's `submit` raises it
            future.set_exception(error)
        else:
            future.set_result(result)
