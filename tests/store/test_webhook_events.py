"""Replicate's webhook events in the outbox (docs/compatibility.md#replicate-predictions):
written with what makes them happen, throttled per run, sent in order."""

from __future__ import annotations

from datetime import timedelta

from pixelrun.runs import NON_TERMINAL_INTERVAL, RunStatus, format_webhook_events, wants_webhook_event
from pixelrun.runs.webhook_events import WebhookEvent
from pixelrun.store import DeliveryRecord, RunRecord, Store

from .conftest import MODEL, MakeRun

URL = "https://receiver.example/hook"


def _running(store: Store, make_run: MakeRun, events: list[str] | None) -> RunRecord:
    filter_ = format_webhook_events(events) if events is not None else None
    run = make_run(callback_url=URL, callback_format="prediction", callback_events=filter_)
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None and claimed.id == run.id
    assert store.queue.mark_running(run.id, claimed.attempt, "w")
    return claimed


def _events(store: Store, run_id: str) -> list[str | None]:
    return [delivery.event for delivery in store.callbacks.deliveries(run_id)]


def _send(store: Store, delivery: DeliveryRecord) -> None:
    assert store.callbacks.record_attempt(
        delivery.id,
        "d",
        delivery.attempt_count + 1,
        status_code=200,
        response_time_ms=1,
        error_message=None,
        webhook_timestamp=0,
        outcome="succeeded",
    )


def test_the_stored_filter() -> None:
    assert format_webhook_events(["completed"]) is None
    assert format_webhook_events(["logs", "start", "completed", "logs"]) == "start,logs,completed"
    assert format_webhook_events([]) == ""
    assert wants_webhook_event(None, WebhookEvent.COMPLETED)
    assert not wants_webhook_event(None, WebhookEvent.START)
    assert not wants_webhook_event("start,logs", WebhookEvent.COMPLETED)
    assert not wants_webhook_event("", WebhookEvent.COMPLETED)


def test_start_logs_and_completed_are_written_throttled_and_sent_in_order(
    store: Store, make_run: MakeRun
) -> None:
    run = _running(store, make_run, ["start", "logs", "completed"])
    store.history.add_log(run.id, "info", "step one", webhook=True)
    store.history.add_log(run.id, "info", "step two", webhook=True)  # merged into the waiting one
    assert store.queue.finish(run.id, run.attempt, "w", RunStatus.SUCCEEDED)  # no `output` asked
    deliveries = store.callbacks.deliveries(run.id)
    assert [d.event for d in deliveries] == ["start", "logs", None]
    start, logs, completed = deliveries
    assert (start.max_attempts, logs.max_attempts, completed.max_attempts) == (1, 1, 3)
    assert start.next_attempt_at is not None and logs.next_attempt_at is not None
    assert logs.next_attempt_at - start.next_attempt_at >= NON_TERMINAL_INTERVAL  # throttled
    assert completed.next_attempt_at is not None and completed.next_attempt_at < logs.next_attempt_at

    # In order: each waits for the one before it, whatever is due.
    later = logs.next_attempt_at + timedelta(seconds=1)
    assert [d.id for d in store.callbacks.claim_due("d", 30, now=later)] == [start.id]
    assert store.callbacks.next_due_at(later) is None  # the others wait; nothing to poll for
    _send(store, start)
    assert [d.id for d in store.callbacks.claim_due("d", 30, now=later)] == [logs.id]
    _send(store, logs)
    assert [d.id for d in store.callbacks.claim_due("d", 30, now=later)] == [completed.id]


def test_a_later_log_after_the_waiting_one_was_sent_is_a_new_event(store: Store, make_run: MakeRun) -> None:
    run = _running(store, make_run, ["logs"])
    store.history.add_log(run.id, "info", "one", webhook=True)
    (first,) = store.callbacks.claim_due("d", 30)
    _send(store, first)
    store.history.add_log(run.id, "info", "two", webhook=True)
    assert _events(store, run.id) == ["logs", "logs"]
    second = store.callbacks.deliveries(run.id)[1]
    sent = store.callbacks.get_delivery(first.id)
    assert sent is not None and sent.completed_at is not None and second.next_attempt_at is not None
    assert second.next_attempt_at >= sent.completed_at + NON_TERMINAL_INTERVAL


def test_an_event_sent_late_holds_the_next_one_back_but_never_the_terminal_one(
    store: Store, make_run: MakeRun
) -> None:
    run = _running(store, make_run, ["start", "logs", "completed"])
    store.history.add_log(run.id, "info", "line", webhook=True)
    assert store.queue.finish(run.id, run.attempt, "w", RunStatus.SUCCEEDED)
    start, logs, completed = store.callbacks.deliveries(run.id)
    assert logs.next_attempt_at is not None and completed.next_attempt_at is not None
    # The start event goes out two seconds after it was due (a busy dispatcher): the logs
    # event, due 500 ms after the start was due, now waits 500 ms after it was sent.
    late = logs.next_attempt_at + timedelta(seconds=2)
    assert [d.id for d in store.callbacks.claim_due("d", 30, now=late)] == [start.id]
    assert store.callbacks.record_attempt(
        start.id,
        "d",
        1,
        status_code=200,
        response_time_ms=1,
        error_message=None,
        webhook_timestamp=0,
        outcome="succeeded",
        now=late,
    )
    held = store.callbacks.get_delivery(logs.id)
    assert held is not None and held.next_attempt_at == late + NON_TERMINAL_INTERVAL
    assert store.callbacks.claim_due("d", 30, now=late) == []
    terminal = store.callbacks.get_delivery(completed.id)
    assert terminal is not None and terminal.next_attempt_at == completed.next_attempt_at


def test_output_comes_before_completed_and_only_on_success(store: Store, make_run: MakeRun) -> None:
    every = ["start", "output", "logs", "completed"]
    run = _running(store, make_run, every)
    assert store.queue.finish(run.id, run.attempt, "w", RunStatus.SUCCEEDED)
    assert _events(store, run.id) == ["start", "output", None]
    failed = _running(store, make_run, every)
    assert store.queue.finish(failed.id, failed.attempt, "w", RunStatus.FAILED, failure_code="x")
    assert _events(store, failed.id) == ["start", None]


def test_only_what_the_filter_names(store: Store, make_run: MakeRun) -> None:
    default = _running(store, make_run, None)  # the terminal callback only
    store.history.add_log(default.id, "info", "line", webhook=True)
    assert store.queue.finish(default.id, default.attempt, "w", RunStatus.SUCCEEDED)
    assert _events(store, default.id) == [None]
    no_completed = _running(store, make_run, ["start"])
    assert store.queue.finish(no_completed.id, no_completed.attempt, "w", RunStatus.SUCCEEDED)
    assert _events(store, no_completed.id) == ["start"]


def test_logs_events_only_while_running(store: Store, make_run: MakeRun) -> None:
    run = make_run(callback_url=URL, callback_format="prediction", callback_events="logs,completed")
    store.history.add_log(run.id, "info", "queued", webhook=True)
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None
    store.history.add_log(run.id, "info", "claimed", webhook=True)
    assert _events(store, run.id) == []
    assert store.queue.mark_running(run.id, claimed.attempt, "w")
    assert store.queue.finish(run.id, claimed.attempt, "w", RunStatus.SUCCEEDED)
    store.history.add_log(run.id, "info", "after the end", webhook=True)
    assert _events(store, run.id) == [None]
