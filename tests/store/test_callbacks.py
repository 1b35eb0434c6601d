from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from pixelrun.callbacks import runflow_signature, standard_webhook_headers
from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import (
    DeliveryInFlight,
    DeliveryRecord,
    Owner,
    RedeliveryNotAllowed,
    RunNotFound,
    RunRecord,
    Store,
)
from pixelrun.store import queue as queue_module

from .conftest import MODEL, MakeRun

URL = "https://receiver.example/hook"


def _claim_and_finish(
    store: Store, run: RunRecord, status: RunStatus = RunStatus.SUCCEEDED, **kw: Any
) -> None:
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None and claimed.id == run.id
    assert store.queue.finish(run.id, claimed.attempt, "w", status, **kw)


def _only_delivery(store: Store, run_id: str) -> DeliveryRecord:
    deliveries = store.callbacks.deliveries(run_id)
    assert len(deliveries) == 1
    return deliveries[0]


def _terminal_run(store: Store, make_run: MakeRun, url: str | None = URL) -> RunRecord:
    run = make_run(callback_url=url)
    _claim_and_finish(store, run, output={"outputs": [{"key": "runs/x/0.png"}]}, cost="0.01")
    return run


# ---- secrets ----


def test_secret_is_shown_once_and_listed_without_it(store: Store, owner: Owner) -> None:
    record, plain = store.callbacks.create_secret(owner.id, "prod")
    assert plain.startswith("whsec_")
    # The stored format is the one the signing code accepts.
    assert runflow_signature(b"{}", [plain]) and standard_webhook_headers("m", 1, b"{}", [plain])
    (listed,) = store.callbacks.list_secrets(owner.id)
    assert listed == record
    assert not hasattr(listed, "secret") and plain not in repr(listed)
    assert store.callbacks.active_secrets(owner.id) == [plain]


def test_active_secrets_are_newest_first_and_revocation_removes_them(store: Store, owner: Owner) -> None:
    old, old_plain = store.callbacks.create_secret(owner.id, "old")
    new, new_plain = store.callbacks.create_secret(owner.id, "new")
    assert old_plain != new_plain
    assert store.callbacks.active_secrets(owner.id) == [new_plain, old_plain]
    assert store.callbacks.revoke_secret(owner.id, old.id)
    assert not store.callbacks.revoke_secret(owner.id, old.id)  # already revoked
    assert store.callbacks.active_secrets(owner.id) == [new_plain]
    assert [s.id for s in store.callbacks.list_secrets(owner.id)] == [new.id]
    everything = store.callbacks.list_secrets(owner.id, include_revoked=True)
    assert [(s.id, s.revoked_at is not None) for s in everything] == [(old.id, True), (new.id, False)]


def test_secrets_of_another_owner_are_invisible(store: Store, owner: Owner) -> None:
    other = store.owners.ensure("globex")
    record, _ = store.callbacks.create_secret(owner.id, "mine")
    assert store.callbacks.list_secrets(other.id) == []
    assert store.callbacks.active_secrets(other.id) == []
    assert not store.callbacks.revoke_secret(other.id, record.id)
    assert not store.callbacks.revoke_secret(owner.id, "cbs_unknown")
    assert len(store.callbacks.active_secrets(owner.id)) == 1


# ---- the outbox, written with the terminal transition ----


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED])
def test_finish_run_enqueues_a_delivery_in_the_same_transaction(
    store: Store, owner: Owner, make_run: MakeRun, status: RunStatus
) -> None:
    run = make_run(callback_url=URL)
    _claim_and_finish(store, run, status)
    finished = store.runs.get(run.id)
    assert finished is not None
    delivery = _only_delivery(store, run.id)
    assert (delivery.run_id, delivery.owner_id, delivery.callback_url) == (run.id, owner.id, URL)
    assert (delivery.status, delivery.attempt_count, delivery.max_attempts) == ("pending", 0, 3)
    assert delivery.next_attempt_at == finished.completed_at == delivery.created_at
    assert delivery.payload is None and delivery.body is None  # frozen at the first attempt
    assert delivery.request_id and delivery.webhook_id.startswith("msg_")
    assert delivery.claimed_by is None and delivery.attempts == ()


def test_no_delivery_without_a_callback_url_or_when_fenced_out(store: Store, make_run: MakeRun) -> None:
    plain = make_run()
    _claim_and_finish(store, plain)
    assert store.callbacks.deliveries(plain.id) == []
    fenced = make_run(callback_url=URL)
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None and claimed.id == fenced.id
    assert not store.queue.finish(fenced.id, claimed.attempt, "someone-else", RunStatus.SUCCEEDED)
    assert store.callbacks.deliveries(fenced.id) == []


def test_a_failing_outbox_insert_rolls_the_transition_back(
    store: Store, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(callback_url=URL)
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("outbox down")

    monkeypatch.setattr(queue_module, "enqueue_if_callback", broken)
    with pytest.raises(RuntimeError, match="outbox down"):
        store.queue.finish(run.id, claimed.attempt, "w", RunStatus.SUCCEEDED)
    still = store.runs.get(run.id)
    assert still is not None and still.status is RunStatus.DISPATCHING
    monkeypatch.undo()
    assert store.queue.finish(run.id, claimed.attempt, "w", RunStatus.SUCCEEDED)
    assert len(store.callbacks.deliveries(run.id)) == 1


def test_cancel_enqueues_once(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run(callback_url=URL)
    _, changed = store.runs.cancel(run.id, owner.id)
    assert changed
    _, changed_again = store.runs.cancel(run.id, owner.id)
    assert not changed_again
    assert _only_delivery(store, run.id).status == "pending"
    quiet = make_run()
    store.runs.cancel(quiet.id, owner.id)
    assert store.callbacks.deliveries(quiet.id) == []


def test_reaper_enqueues_only_when_it_fails_the_run(store: Store, make_run: MakeRun) -> None:
    run = make_run(callback_url=URL, max_attempts=2)
    later = utc_now() + timedelta(seconds=60)
    assert store.queue.claim("w1", [MODEL], 1) is not None
    assert store.queue.reap_expired(later) == [run.id]  # back to queued: nothing to deliver yet
    assert store.callbacks.deliveries(run.id) == []
    assert store.queue.claim("w2", [MODEL], 1) is not None
    assert store.queue.reap_expired(later) == [run.id]  # out of attempts: failed, worker_lost
    failed = store.runs.get(run.id)
    assert failed is not None and failed.status is RunStatus.FAILED
    assert _only_delivery(store, run.id).created_at == later


# ---- claims, freezing and attempts ----


def test_claims_are_exclusive_until_they_expire(store: Store, make_run: MakeRun) -> None:
    run = _terminal_run(store, make_run)
    now = utc_now()
    assert store.callbacks.next_due_at(now) is not None
    (claimed,) = store.callbacks.claim_due("d1", claim_seconds=30, now=now)
    assert claimed.run_id == run.id and claimed.claimed_by == "d1"
    assert store.callbacks.claim_due("d2", claim_seconds=30, now=now) == []
    assert store.callbacks.next_due_at(now) is None  # claimed ones are not waited for
    later = now + timedelta(seconds=31)
    (taken_over,) = store.callbacks.claim_due("d2", claim_seconds=30, now=later)
    assert taken_over.id == claimed.id and taken_over.claimed_by == "d2"
    stored = store.callbacks.get_delivery(claimed.id)
    assert stored is not None and stored.claimed_by == "d2"


def test_a_delivery_is_not_claimed_before_it_is_due(store: Store, make_run: MakeRun) -> None:
    run = _terminal_run(store, make_run)
    delivery = _only_delivery(store, run.id)
    assert delivery.next_attempt_at is not None
    before = delivery.next_attempt_at - timedelta(seconds=1)
    assert store.callbacks.claim_due("d", 30, now=before) == []
    assert store.callbacks.next_due_at(before) == delivery.next_attempt_at


def test_the_body_is_frozen_once(store: Store, make_run: MakeRun) -> None:
    run = _terminal_run(store, make_run)
    (claimed,) = store.callbacks.claim_due("d", 30)
    assert store.callbacks.freeze_body(claimed.id, "other", {"a": 1}, '{"a":1}') is None  # not its claim
    assert store.callbacks.freeze_body(claimed.id, "d", {"a": 1}, '{"a":1}') == '{"a":1}'
    assert store.callbacks.freeze_body(claimed.id, "d", {"a": 2}, '{"a":2}') == '{"a":1}'
    stored = store.callbacks.get_delivery(claimed.id)
    assert stored is not None and (stored.payload, stored.body) == ({"a": 1}, '{"a":1}')
    assert stored.run_id == run.id


def test_attempts_are_recorded_fenced_and_release_the_claim(store: Store, make_run: MakeRun) -> None:
    run = _terminal_run(store, make_run)
    (claimed,) = store.callbacks.claim_due("d", 30)
    retry_at = utc_now() + timedelta(seconds=1)
    common: dict[str, Any] = {"response_time_ms": 12, "webhook_timestamp": 1_700_000_000}
    assert not store.callbacks.record_attempt(
        claimed.id,
        "other",
        1,
        status_code=500,
        error_message="HTTP 500",
        outcome="pending",
        retry_at=retry_at,
        **common,
    )
    assert not store.callbacks.record_attempt(
        claimed.id,
        "d",
        2,
        status_code=500,
        error_message="HTTP 500",
        outcome="pending",
        retry_at=retry_at,
        **common,
    )
    assert store.callbacks.record_attempt(
        claimed.id,
        "d",
        1,
        status_code=500,
        error_message="HTTP 500",
        outcome="pending",
        retry_at=retry_at,
        **common,
    )
    pending = store.callbacks.get_delivery(claimed.id)
    assert pending is not None
    assert (pending.status, pending.attempt_count, pending.next_attempt_at) == ("pending", 1, retry_at)
    assert (pending.claimed_by, pending.claim_expires_at, pending.webhook_timestamp) == (
        None,
        None,
        1_700_000_000,
    )
    # Due again only at retry_at.
    assert store.callbacks.claim_due("d", 30, now=retry_at - timedelta(milliseconds=10)) == []
    (again,) = store.callbacks.claim_due("d", 30, now=retry_at)
    assert again.attempt_count == 1
    assert store.callbacks.record_attempt(
        again.id, "d", 2, status_code=200, error_message=None, outcome="succeeded", **common
    )
    (done,) = store.callbacks.deliveries(run.id)
    assert (done.status, done.attempt_count, done.next_attempt_at) == ("succeeded", 2, None)
    assert done.completed_at is not None
    assert [(a.attempt_number, a.status_code, a.error_message) for a in done.attempts] == [
        (1, 500, "HTTP 500"),
        (2, 200, None),
    ]
    # Succeeded: never claimed again, whatever the time.
    assert store.callbacks.claim_due("d", 30, now=utc_now() + timedelta(days=1)) == []
    assert store.callbacks.next_due_at() is None


def test_record_attempt_rejects_bad_outcomes(store: Store, make_run: MakeRun) -> None:
    run = _terminal_run(store, make_run)
    delivery = _only_delivery(store, run.id)
    kwargs: dict[str, Any] = {
        "status_code": None,
        "response_time_ms": 0,
        "error_message": "x",
        "webhook_timestamp": 1,
    }
    with pytest.raises(ValueError):
        store.callbacks.record_attempt(delivery.id, "d", 1, outcome="maybe", **kwargs)
    with pytest.raises(ValueError):
        store.callbacks.record_attempt(delivery.id, "d", 1, outcome="pending", **kwargs)


def test_concurrent_claimers_never_share_a_delivery(store: Store, make_run: MakeRun) -> None:
    for _ in range(12):
        _terminal_run(store, make_run)
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def claim(name: str) -> None:
        try:
            barrier.wait()
            got: list[str] = []
            while batch := store.callbacks.claim_due(name, 30, limit=2):
                got.extend(d.id for d in batch)
            claimed[name] = got
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(f"d{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    every = [d for ids in claimed.values() for d in ids]
    assert len(every) == len(set(every)) == 12


# ---- redelivery ----


def test_redelivery_creates_a_new_delivery_and_refuses_while_one_is_pending(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    run = _terminal_run(store, make_run)
    first = _only_delivery(store, run.id)
    with pytest.raises(DeliveryInFlight) as info:
        store.callbacks.redeliver(run.id, owner.id)
    assert info.value.delivery_id == first.id
    (claimed,) = store.callbacks.claim_due("d", 30)
    assert store.callbacks.record_attempt(
        claimed.id,
        "d",
        1,
        status_code=400,
        response_time_ms=3,
        error_message="HTTP 400",
        webhook_timestamp=1,
        outcome="failed",
    )
    second = store.callbacks.redeliver(run.id, owner.id)
    assert second.id != first.id and second.status == "pending" and second.attempt_count == 0
    assert second.payload is None and second.callback_url == URL
    # A new message for the receiver: new ids, so its deduplication does not drop it.
    assert second.request_id != first.request_id and second.webhook_id != first.webhook_id
    assert [d.id for d in store.callbacks.deliveries(run.id)] == [first.id, second.id]
    with pytest.raises(DeliveryInFlight):
        store.callbacks.redeliver(run.id, owner.id)


def test_redelivery_needs_a_terminal_run_of_the_owner_with_a_callback_url(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    other = store.owners.ensure("globex")
    run = _terminal_run(store, make_run)
    with pytest.raises(RunNotFound):
        store.callbacks.redeliver(run.id, other.id)
    with pytest.raises(RunNotFound):
        store.callbacks.redeliver("0190a5c0-0000-7000-8000-000000000000", owner.id)
    queued = make_run(callback_url=URL)
    with pytest.raises(RedeliveryNotAllowed, match="queued"):
        store.callbacks.redeliver(queued.id, owner.id)
    silent = make_run()
    store.runs.cancel(silent.id, owner.id)
    with pytest.raises(RedeliveryNotAllowed, match="callback_url"):
        store.callbacks.redeliver(silent.id, owner.id)
