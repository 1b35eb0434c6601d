"""The dispatcher against real receivers on loopback ports, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest
import standardwebhooks
from callback_helpers import FinishRun, MakeDispatcher, drive, url_for
from callback_receiver import Receiver

from pixelrun.callbacks import CallbackDispatcher
from pixelrun.client.webhooks import verify_runflow_signature, verify_webhook
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.runs import RunStatus, build_callback_payload
from pixelrun.store import DeliveryRecord, Owner, Store

StartReceiver = Callable[..., Receiver]


def _delivery(store: Store, run_id: str) -> DeliveryRecord:
    (delivery,) = store.callbacks.deliveries(run_id)
    return delivery


def _done(store: Store, run_id: str) -> Callable[[], bool]:
    return lambda: all(d.status != "pending" for d in store.callbacks.deliveries(run_id))


def test_retries_5xx_with_waits_of_1_then_2_seconds_and_the_same_signed_body(
    store: Store,
    owner: Owner,
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: StartReceiver,
) -> None:
    _, secret = store.callbacks.create_secret(owner.id, "prod")
    receiver = receivers(statuses=[500, 500, 200])
    run = finish_run(receiver.url())

    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))

    assert len(receiver.requests) == 3
    first, second, third = receiver.requests
    assert 0.95 <= second.at - first.at <= 1.6, second.at - first.at
    assert 1.95 <= third.at - second.at <= 2.6, third.at - second.at

    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 3)
    assert [(a.attempt_number, a.status_code) for a in delivery.attempts] == [(1, 500), (2, 500), (3, 200)]
    assert [a.error_message for a in delivery.attempts] == ["HTTP 500", "HTTP 500", None]
    assert all(a.response_time_ms >= 0 for a in delivery.attempts)
    assert delivery.next_attempt_at is None and delivery.completed_at is not None

    # One frozen body, byte for byte, and it is what the history shows.
    assert delivery.body is not None
    assert {r.body for r in receiver.requests} == {delivery.body.encode()}
    assert json.loads(first.body) == delivery.payload == build_callback_payload(run, url_for)
    assert delivery.payload["output"]["outputs"][0]["url"] == url_for("runs/r/0.png")  # type: ignore[index]

    for request in receiver.requests:
        headers = request.headers
        assert headers["content-type"] == "application/json"
        assert headers["runflow-request-id"] == delivery.request_id
        assert headers["webhook-id"] == delivery.webhook_id
        # Each attempt signs its own send time.
        assert abs(int(headers["webhook-timestamp"]) - request.wall) <= 2
        assert verify_runflow_signature(request.body, headers["runflow-signature"], secret)
        verify_webhook(request.body, headers, secret)
        assert standardwebhooks.Webhook(secret).verify(request.body, headers) == delivery.payload
    assert delivery.webhook_timestamp == int(third.headers["webhook-timestamp"])


@pytest.mark.parametrize("status", [400, 404, 410])
def test_a_4xx_fails_at_once(
    store: Store,
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: StartReceiver,
    status: int,
) -> None:
    receiver = receivers(statuses=[status])
    run = finish_run(receiver.url(), RunStatus.FAILED)
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)
    assert [(a.status_code, a.error_message) for a in delivery.attempts] == [(status, f"HTTP {status}")]
    assert len(receiver.requests) == 1


def test_a_redirect_fails_at_once_and_is_not_followed(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    target = receivers()
    receiver = receivers(statuses=[302], location=target.url("/elsewhere"))
    run = finish_run(receiver.url())
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)
    (attempt,) = delivery.attempts
    assert attempt.status_code == 302 and "redirect" in (attempt.error_message or "")
    assert len(receiver.requests) == 1
    assert target.requests == []


def test_2xx_other_than_200_succeeds(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    receiver = receivers(statuses=[204])
    run = finish_run(receiver.url(), RunStatus.CANCELED)
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    payload = json.loads(receiver.requests[0].body)
    assert (payload["event"], payload["status"], payload["output"]) == ("run.cancelled", "cancelled", None)


def test_a_refused_url_fails_at_once_with_the_reason_and_a_warning(
    store: Store,
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: StartReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = receivers()
    run = finish_run(receiver.url())
    strict = OutboundClient(NetworkPolicy())  # the default rules: loopback is not public
    with caplog.at_level(logging.WARNING, logger="pixelrun.callbacks"):
        asyncio.run(drive([make_dispatcher(client=strict)], _done(store, run.id)))
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING and "refused" in r.getMessage()]
    message = warning.getMessage()
    assert run.id in message and receiver.url() in message
    assert "PIXELRUN_ALLOWED_NETWORKS" in message and "PIXELRUN_ALLOW_PRIVATE_URLS=1" in message
    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("failed", 1)
    (attempt,) = delivery.attempts
    assert attempt.status_code is None
    assert (attempt.error_message or "").startswith("refused:")
    assert receiver.requests == []


def test_timeouts_are_retried_up_to_three_attempts(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    # A 1 s timeout leaves the receiver time to read each request even on a loaded machine.
    receiver = receivers(delay=2.5)
    run = finish_run(receiver.url())
    dispatcher = make_dispatcher(timeout=1.0, claim_seconds=3.0, retry_waits=(0.1, 0.1))
    asyncio.run(drive([dispatcher], _done(store, run.id)))
    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("failed", 3)
    assert all(a.status_code is None and "timed out" in (a.error_message or "") for a in delivery.attempts)
    assert len(receiver.requests) == 3


def test_receiver_down_then_up(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    run = finish_run(f"http://127.0.0.1:{port}/hook")
    started: list[Receiver] = []

    def up_after_first_failure() -> bool:
        delivery = _delivery(store, run.id)
        if delivery.attempt_count >= 1 and not started:
            started.append(receivers(port=port))
        return delivery.status != "pending"

    asyncio.run(drive([make_dispatcher()], up_after_first_failure))
    delivery = _delivery(store, run.id)
    assert delivery.status == "succeeded"
    failed, *_, succeeded = delivery.attempts
    assert failed.status_code is None and "network error" in (failed.error_message or "")
    assert succeeded.status_code == 200 and succeeded.error_message is None
    assert len(started[0].requests) == 1


def test_without_secrets_nothing_is_signed_but_ids_are_sent(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    receiver = receivers()
    run = finish_run(receiver.url())
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    (request,) = receiver.requests
    delivery = _delivery(store, run.id)
    assert request.headers["runflow-request-id"] == delivery.request_id
    assert request.headers["webhook-id"] == delivery.webhook_id
    assert "runflow-signature" not in request.headers and "webhook-signature" not in request.headers


def test_rotation_signs_with_both_secrets(
    store: Store,
    owner: Owner,
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: StartReceiver,
) -> None:
    _, old = store.callbacks.create_secret(owner.id, "old")
    _, new = store.callbacks.create_secret(owner.id, "new")
    revoked, gone = store.callbacks.create_secret(owner.id, "revoked")
    store.callbacks.revoke_secret(owner.id, revoked.id)
    receiver = receivers()
    run = finish_run(receiver.url())
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    (request,) = receiver.requests
    digests = request.headers["runflow-signature"].split(",")
    assert len(digests) == 2
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert verify_runflow_signature(request.body, request.headers["runflow-signature"], secret)
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    assert not verify_runflow_signature(request.body, request.headers["runflow-signature"], gone)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(gone).verify(request.body, request.headers)


def test_two_dispatchers_deliver_each_callback_exactly_once(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    receiver = receivers(delay=0.05)
    runs = [finish_run(receiver.url(f"/hook/{i}")) for i in range(12)]

    def all_done() -> bool:
        return all(_done(store, run.id)() for run in runs)

    async def both() -> None:
        # Small batches, so that the two really interleave their claims.
        await drive([make_dispatcher(max_concurrency=2), make_dispatcher(max_concurrency=2)], all_done)

    asyncio.run(both())
    request_ids = [r.headers["runflow-request-id"] for r in receiver.requests]
    assert len(request_ids) == len(set(request_ids)) == 12
    deliveries = [_delivery(store, run.id) for run in runs]
    assert all((d.status, d.attempt_count) == ("succeeded", 1) for d in deliveries)
    assert {d.request_id for d in deliveries} == set(request_ids)


def test_two_dispatchers_in_separate_threads_deliver_each_exactly_once(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    receiver = receivers(statuses=[500, 500, 500, 500], delay=0.02)  # some retries in the mix
    runs = [finish_run(receiver.url()) for _ in range(8)]
    dispatchers = [make_dispatcher(max_concurrency=3, retry_waits=(0.1, 0.1)) for _ in range(2)]
    errors: list[BaseException] = []

    def all_done() -> bool:
        return all(_done(store, run.id)() for run in runs)

    def run_one(dispatcher: CallbackDispatcher) -> None:
        try:
            asyncio.run(drive([dispatcher], all_done))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run_one, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    deliveries = [_delivery(store, run.id) for run in runs]
    assert all(d.status == "succeeded" for d in deliveries)
    assert sum(d.attempt_count for d in deliveries) == len(receiver.requests) == 8 + 4
    for d in deliveries:
        sent = [r for r in receiver.requests if r.headers["runflow-request-id"] == d.request_id]
        assert len(sent) == d.attempt_count
        assert [a.attempt_number for a in d.attempts] == list(range(1, d.attempt_count + 1))


def test_redelivery_sends_a_new_delivery(
    store: Store,
    owner: Owner,
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: StartReceiver,
) -> None:
    receiver = receivers()
    run = finish_run(receiver.url())
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    again = store.callbacks.redeliver(run.id, owner.id)
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    first, second = store.callbacks.deliveries(run.id)
    assert second.id == again.id and second.status == "succeeded"
    assert [r.headers["runflow-request-id"] for r in receiver.requests] == [
        first.request_id,
        second.request_id,
    ]
    assert receiver.requests[0].body == receiver.requests[1].body  # the run did not change


def test_a_cancelled_dispatcher_is_resumed_and_delivers_exactly_once_after_success(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    """A crash mid-attempt: nothing was recorded, so once the claim expires another
    dispatcher sends the same delivery again (same body and ids), and then never again."""
    receiver = receivers(hold_count=1)  # the first request hangs until released
    run = finish_run(receiver.url())

    async def crash() -> None:
        task = asyncio.create_task(make_dispatcher(timeout=0.8, claim_seconds=1.0).run())
        assert await asyncio.to_thread(receiver.arrived.wait, 10)
        task.cancel()  # the process "dies" while the receiver is still answering
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(crash())
    receiver.release.set()
    stuck = _delivery(store, run.id)
    assert (stuck.status, stuck.attempt_count, stuck.attempts) == ("pending", 0, ())
    assert stuck.claimed_by is not None and stuck.body is not None

    started = time.monotonic()
    asyncio.run(drive([make_dispatcher()], _done(store, run.id)))
    assert time.monotonic() - started < 5
    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    assert len(receiver.requests) == 2
    crashed, resumed = receiver.requests
    assert crashed.body == resumed.body == delivery.body.encode()  # type: ignore[union-attr]
    assert crashed.headers["runflow-request-id"] == resumed.headers["runflow-request-id"]
    assert crashed.headers["webhook-id"] == resumed.headers["webhook-id"]

    # Succeeded: later dispatchers leave it alone.
    assert asyncio.run(make_dispatcher().deliver_due_once()) == 0
    until = time.monotonic() + 0.5
    asyncio.run(drive([make_dispatcher()], lambda: time.monotonic() > until))
    assert len(receiver.requests) == 2


def test_stop_lets_the_attempt_in_flight_finish_and_be_recorded(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    receiver = receivers(delay=0.5)
    run = finish_run(receiver.url())

    async def go() -> None:
        dispatcher = make_dispatcher()
        task = asyncio.create_task(dispatcher.run())
        assert await asyncio.to_thread(receiver.arrived.wait, 10)
        dispatcher.stop()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(go())
    delivery = _delivery(store, run.id)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)


def test_deliver_due_once_makes_one_attempt_per_due_delivery(
    store: Store, finish_run: FinishRun, make_dispatcher: MakeDispatcher, receivers: StartReceiver
) -> None:
    receiver = receivers(statuses=[503])
    runs = [finish_run(receiver.url()) for _ in range(3)]

    async def once() -> tuple[int, int]:
        dispatcher = make_dispatcher()
        return await dispatcher.deliver_due_once(), await dispatcher.deliver_due_once()

    assert asyncio.run(once()) == (3, 0)  # the 503 one waits 1 s before its retry
    statuses = sorted(_delivery(store, run.id).status for run in runs)
    assert statuses == ["pending", "succeeded", "succeeded"]


def test_wake_from_another_thread_starts_a_pass_at_once(
    store: Store,
    owner: Owner,
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: StartReceiver,
) -> None:
    receiver = receivers()
    run = finish_run(None)  # no callback: nothing to do yet

    async def go() -> float:
        dispatcher = make_dispatcher(poll_interval=30.0)
        task = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(0.2)  # the dispatcher is now asleep for 30 s
        # A run finishing with a callback, and an API thread waking the dispatcher.
        other = await asyncio.to_thread(finish_run, receiver.url())
        started = time.monotonic()
        await asyncio.to_thread(dispatcher.wake)
        while not await asyncio.to_thread(_done(store, other.id)):
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        dispatcher.stop()
        await asyncio.wait_for(task, timeout=5)
        return elapsed

    assert asyncio.run(go()) < 2
    assert store.callbacks.deliveries(run.id) == []
    assert len(receiver.requests) == 1


def test_claims_must_outlive_the_attempt_timeout(store: Store, client: OutboundClient) -> None:
    with pytest.raises(ValueError, match="claim_seconds"):
        CallbackDispatcher(store, client, url_for, worker_id="x", timeout=10, claim_seconds=10)
