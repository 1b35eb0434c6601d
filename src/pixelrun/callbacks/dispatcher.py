"""The callback dispatcher: sends the deliveries of the outbox, with retries, and records them.

It runs as a task in every API process. Each pass claims due deliveries in the store
(so processes never send the same one at once), makes one attempt each, and records the
attempt together with what happens next (done, or retry at `next_attempt_at`) while
releasing the claim. Waiting between attempts therefore lives in the store, not in
memory: a restart resumes where the previous process stopped.

Crash window: when a process dies during an attempt, nothing was recorded; once its
claim expires (`claim_seconds`) another dispatcher sends that attempt again. A receiver
may so see one delivery twice, recognisable by the same `Runflow-Request-Id` and
`webhook-id`. A delivery recorded as succeeded is never claimed again.

The store is synchronous; its calls run in threads (`asyncio.to_thread`) so that a
slow database or SQLite's write lock never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pixelrun.callbacks.message import callback_headers, encode_body
from pixelrun.callbacks.policy import RETRY_WAITS, Decision, decide
from pixelrun.net import OutboundClient, PostResult
from pixelrun.runs import (
    PREDICTION_CALLBACK_FORMAT,
    WebhookEvent,
    build_callback_payload,
    build_prediction,
    prediction_as_of,
    utc_now,
)
from pixelrun.store import DeliveryRecord, RunRecord, Store, is_unavailable

log = logging.getLogger(__name__)

# After a pass that found a due delivery but claimed nothing (another process holds its
# lock for a moment), look again soon rather than at once.
_RECHECK_SECONDS = 0.05


class CallbackDispatcher:
    def __init__(
        self,
        store: Store,
        client: OutboundClient,
        url_for: Callable[[str], str],
        *,
        worker_id: str,
        poll_interval: float = 0.5,
        claim_seconds: float = 30.0,
        timeout: float = 10.0,
        max_concurrency: int = 10,
        retry_waits: Sequence[float] = RETRY_WAITS,
        clock: Callable[[], float] = time.time,
        public_base_url: str = "",
    ) -> None:
        if claim_seconds <= timeout:
            # A claim must outlive the attempt it covers, or a second dispatcher could take
            # the delivery over and send it while the first attempt is still in flight.
            raise ValueError(f"claim_seconds ({claim_seconds}) must be longer than timeout ({timeout})")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.store = store
        self.client = client
        self.url_for = url_for
        self.worker_id = worker_id
        self.poll_interval = poll_interval
        self.claim_seconds = claim_seconds
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.retry_waits = tuple(retry_waits)
        self._clock = clock
        self.public_base_url = public_base_url
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[int]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- control ----

    def stop(self) -> None:
        """Ask `run` to return: no new claims; attempts in flight are finished and recorded."""
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll (e.g. after a redelivery).

        Safe from any thread: sync API routes run in a thread pool, and asyncio events
        may only be set from their loop's thread.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Deliver until `stop()`. Cancelling the task instead abandons the attempts in
        flight, unrecorded, as a crash would (they are sent again after the claim expires)."""
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                # Cleared before the pass, not before the sleep: a wake-up (or stop) that
                # arrives during the pass must cut the following sleep short.
                self._wake.clear()
                try:
                    delay = await self._pass()
                except Exception as exc:
                    # The store may be down for a while; keep the loop alive and try later.
                    if is_unavailable(exc):
                        log.warning("callback dispatcher: the store is unavailable; trying again")
                    else:
                        log.exception("callback dispatcher pass failed")
                    delay = self.poll_interval
                if delay > 0 and not self._stopping.is_set():
                    await self._sleep(delay)
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
        finally:
            for task in self._inflight:
                task.cancel()
            if self._inflight:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*self._inflight, return_exceptions=True)

    async def deliver_due_once(self) -> int:
        """Claim every due delivery (up to `max_concurrency`), make one attempt each, and wait
        for them; the number of attempts made. For tests and one-shot use; `run` loops."""
        claimed = await asyncio.to_thread(
            self.store.callbacks.claim_due, self.worker_id, self.claim_seconds, self.max_concurrency
        )
        if not claimed:
            return 0
        return sum(await asyncio.gather(*(self.attempt(d) for d in claimed)))

    # ---- the loop ----

    async def _pass(self) -> float:
        """Start attempts for what is due; seconds to sleep before the next pass."""
        now = utc_now()
        # A read first: an idle dispatcher then never takes SQLite's write lock.
        due = await asyncio.to_thread(self.store.callbacks.next_due_at, now)
        if due is None:
            return self.poll_interval
        if due > now:
            return min(self.poll_interval, (due - now).total_seconds())
        room = self.max_concurrency - len(self._inflight)
        if room <= 0:
            return self.poll_interval  # a finishing attempt wakes the loop
        claimed = await asyncio.to_thread(
            self.store.callbacks.claim_due, self.worker_id, self.claim_seconds, room
        )
        for delivery in claimed:
            task = asyncio.create_task(self.attempt(delivery), name=f"callback-{delivery.id}")
            self._inflight.add(task)
            task.add_done_callback(self._attempt_done)
        return 0.0 if len(claimed) == room else _RECHECK_SECONDS

    def _attempt_done(self, task: asyncio.Task[int]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("callback attempt crashed", exc_info=task.exception())
        self._wake.set()  # a retry may now be due sooner than the poll interval

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    # ---- one attempt ----

    async def attempt(self, delivery: DeliveryRecord) -> int:
        """One attempt of a delivery this dispatcher has claimed; 1 if it was sent and recorded."""
        attempt_number = delivery.attempt_count + 1
        body_text = delivery.body
        if body_text is None:
            body_text = await self._freeze_body(delivery, attempt_number)
            if body_text is None:
                return 0
        body = body_text.encode("utf-8")
        secrets = await asyncio.to_thread(self.store.callbacks.active_secrets, delivery.owner_id)
        timestamp = int(self._clock())
        headers = callback_headers(delivery.request_id, delivery.webhook_id, body, secrets, timestamp)
        result = await self.client.post_json(delivery.callback_url, body, headers, timeout=self.timeout)
        if result.refused:
            # Otherwise visible only in GET /v1/runs/{id}/callback (docs/callbacks.md#private-addresses).
            log.warning(
                "callback of run %s to %s refused (%s): loopback and private addresses are refused "
                "unless PIXELRUN_ALLOWED_NETWORKS lists them or PIXELRUN_ALLOW_PRIVATE_URLS=1",
                delivery.run_id,
                delivery.callback_url,
                (result.error or "").removeprefix("refused: "),
            )
        decision = decide(result, attempt_number, delivery.max_attempts, self.retry_waits)
        return await self._record(delivery, attempt_number, result, decision, timestamp)

    async def _freeze_body(self, delivery: DeliveryRecord, attempt_number: int) -> str | None:
        """Build the payload from the run now and store it as the body of every attempt.

        A payload that cannot be built (e.g. output URLs cannot be signed) counts as a
        failed attempt, retried like a network error.
        """
        try:
            run = await asyncio.to_thread(self.store.runs.get, delivery.run_id)
            if run is None:
                raise LookupError(f"run {delivery.run_id} not found")
            payload = await asyncio.to_thread(self._payload, run, delivery.event)
            text = encode_body(payload)
        except Exception as exc:
            log.exception("cannot build the callback payload of run %s", delivery.run_id)
            failed = PostResult(None, 0, f"internal error building the payload: {exc}")
            decision = decide(failed, attempt_number, delivery.max_attempts, self.retry_waits)
            await self._record(delivery, attempt_number, failed, decision, None)
            return None
        frozen = await asyncio.to_thread(
            self.store.callbacks.freeze_body, delivery.id, self.worker_id, payload, text
        )
        if frozen is None:
            log.warning("lost the claim of callback delivery %s before sending it", delivery.id)
        return frozen

    def _payload(self, run: RunRecord, event: str | None = None) -> dict[str, Any]:
        """The run callback (docs/callbacks.md), or the prediction object for a Replicate webhook (docs/compatibility.md#replicate-predictions).

        A non-terminal webhook event (`event`: start, output, logs) shows the prediction as
        it is now, processing: built when sent, so it carries everything up to then, and
        never what only the terminal event tells.
        """
        if run.callback_format == PREDICTION_CALLBACK_FORMAT:
            logs = self.store.history.logs(run.id)
            if event is not None and run.completed_at is not None:
                logs = [line for line in logs if line.created_at <= run.completed_at]
            lines = [line.message for line in logs]
            prediction = build_prediction(
                run, base_url=self.public_base_url, url_for=self.url_for, log_lines=lines
            )
            return prediction if event is None else prediction_as_of(prediction, WebhookEvent(event))
        return build_callback_payload(run, self.url_for)

    async def _record(
        self,
        delivery: DeliveryRecord,
        attempt_number: int,
        result: PostResult,
        decision: Decision,
        timestamp: int | None,
    ) -> int:
        now = utc_now()
        retry_at = now + timedelta(seconds=decision.retry_in) if decision.retry_in is not None else None
        recorded = await asyncio.to_thread(
            self.store.callbacks.record_attempt,
            delivery.id,
            self.worker_id,
            attempt_number,
            status_code=result.status_code,
            response_time_ms=result.elapsed_ms,
            error_message=result.error,
            webhook_timestamp=timestamp,
            outcome=decision.outcome,
            retry_at=retry_at,
            now=now,
        )
        if not recorded:
            # Our claim expired and another dispatcher took the delivery over; its record wins.
            log.warning("attempt %d of callback delivery %s was not recorded", attempt_number, delivery.id)
            return 0
        log.info(
            "callback delivery %s attempt %d: %s (%s)",
            delivery.id,
            attempt_number,
            decision.outcome,
            result.status_code if result.status_code is not None else result.error,
        )
        return 1
