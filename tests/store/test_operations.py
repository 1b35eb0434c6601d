"""Idempotent creates, rate-limit counters and Cancel-After deadlines in the store (both back ends)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import DEADLINE_EXCEEDED, IdempotencyConflict, NewRun, Owner, Store
from pixelrun.store.tables import idempotency_keys

from .conftest import MODEL, MakeRun

INPUT = {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]}


def new_run(owner: Owner, **overrides: object) -> NewRun:
    return NewRun(owner_id=owner.id, model_id=MODEL, input=dict(INPUT), **overrides)  # type: ignore[arg-type]


def test_same_key_and_body_replays_the_first_run(store: Store, owner: Owner) -> None:
    first = store.runs.create(new_run(owner), key="k1", request_digest="a" * 64)
    again = store.runs.create(new_run(owner), key="k1", request_digest="a" * 64, status_code=200)
    assert not first.replayed and first.status_code == 201
    assert again.replayed and again.run.id == first.run.id
    # The first create's status code, not the one the replaying route would have used.
    assert again.status_code == 201
    assert [run.id for run in store.runs.page(owner.id)[0]] == [first.run.id]


def test_same_key_other_body_conflicts(store: Store, owner: Owner) -> None:
    first = store.runs.create(new_run(owner), key="k1", request_digest="a" * 64)
    with pytest.raises(IdempotencyConflict) as caught:
        store.runs.create(new_run(owner), key="k1", request_digest="b" * 64)
    assert caught.value.run_id == first.run.id
    assert len(store.runs.page(owner.id)[0]) == 1


def test_keys_are_per_owner(store: Store, owner: Owner) -> None:
    other = store.owners.ensure("globex")
    mine = store.runs.create(new_run(owner), key="k1", request_digest="a" * 64)
    theirs = store.runs.create(new_run(other), key="k1", request_digest="b" * 64)
    assert not theirs.replayed and theirs.run.id != mine.run.id and theirs.run.owner_id == other.id


def test_an_expired_key_makes_a_new_run_and_is_purged(store: Store, owner: Owner) -> None:
    first = store.runs.create(new_run(owner), key="k1", request_digest="a" * 64)
    with store.engine.begin() as conn:
        conn.execute(update(idempotency_keys).values(created_at=utc_now() - timedelta(hours=25)))
    second = store.runs.create(new_run(owner), key="k1", request_digest="b" * 64)
    assert not second.replayed and second.run.id != first.run.id
    assert store.runs.purge_expired_keys(now=utc_now() + timedelta(hours=25)) == 1


def test_concurrent_creates_with_one_key_make_one_run(store: Store, owner: Owner) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[object] = []

    def create() -> None:
        barrier.wait()
        results.append(store.runs.create(new_run(owner), key="race", request_digest="a" * 64))

    workers = [threading.Thread(target=create) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert len(results) == threads
    assert len({r.run.id for r in results}) == 1  # type: ignore[attr-defined]
    assert sum(not r.replayed for r in results) == 1  # type: ignore[attr-defined]
    assert len(store.runs.page(owner.id)[0]) == 1


def test_rate_limit_counts_per_key_and_window(store: Store) -> None:
    t0 = 1_000_040.0  # 20 s into a one-minute window (1_000_020 is a multiple of 60)
    decisions = [store.rate_limits.hit("key_a", 2, now=t0) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[-1].retry_after_seconds == 40
    assert store.rate_limits.hit("key_b", 2, now=t0).allowed  # another key counts apart
    assert store.rate_limits.hit("key_a", 2, now=t0 + 40).allowed  # the next window


def test_claim_cancels_a_queued_run_past_its_deadline(store: Store, owner: Owner, make_run: MakeRun) -> None:
    late = make_run(deadline_at=utc_now() - timedelta(seconds=1), callback_url="https://example.com/hook")
    on_time = make_run(deadline_at=utc_now() + timedelta(hours=1))
    claimed = store.queue.claim("wrk", [MODEL], 30)
    assert claimed is not None and claimed.id == on_time.id
    run = store.runs.get(late.id)
    assert run is not None and run.status is RunStatus.CANCELED
    assert run.failure_code == DEADLINE_EXCEEDED and run.cost == "0.000000"
    assert run.dispatched_at is None and run.started_at is None and run.attempt == 0
    assert [e.to_status for e in store.history.events(late.id)] == [RunStatus.QUEUED, RunStatus.CANCELED]
    assert len(store.callbacks.deliveries(late.id)) == 1


def test_sweep_cancels_late_runs_in_any_live_status(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run(deadline_at=utc_now() + timedelta(seconds=5))
    claimed = store.queue.claim("wrk", [MODEL], 30)
    assert claimed is not None and store.queue.mark_running(claimed.id, claimed.attempt, "wrk")
    queued_late = make_run(deadline_at=utc_now() + timedelta(seconds=5), model_id="other/model")
    assert store.deadlines.expire() == []
    expired = store.deadlines.expire(now=utc_now() + timedelta(seconds=10))
    assert sorted(expired) == sorted([run.id, queued_late.id])
    for run_id in expired:
        record = store.runs.get(run_id)
        assert record is not None and record.status is RunStatus.CANCELED
        assert record.failure_code == DEADLINE_EXCEEDED
    # The worker's later writes are fenced out, and the owner was not charged.
    assert not store.queue.finish(run.id, claimed.attempt, "wrk", RunStatus.SUCCEEDED, cost_micros=5)
    assert store.owners.balance(owner.id) == (None, 0)
