from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from pixelrun.runs import FailureStage, RunStatus, price_outputs, utc_now
from pixelrun.store import WORKER_LOST, IllegalTransition, Owner, Store

from .conftest import MODEL, MakeRun

Q, D, R = RunStatus.QUEUED, RunStatus.DISPATCHING, RunStatus.RUNNING
S, F, C = RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED


def _events(store: Store, run_id: str) -> list[tuple[RunStatus | None, RunStatus, int]]:
    return [(e.from_status, e.to_status, e.attempt) for e in store.history.events(run_id)]


def test_claim_takes_the_oldest_run_of_a_served_model(store: Store, make_run: MakeRun) -> None:
    other = make_run(model_id="other/model")
    first, second = make_run(), make_run()
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None and claimed.id == first.id
    assert claimed.status is D
    assert (claimed.worker_id, claimed.attempt) == ("w1", 1)
    assert claimed.dispatched_at is not None and claimed.lease_expires_at is not None
    assert claimed.lease_expires_at - claimed.dispatched_at == timedelta(seconds=30)
    assert _events(store, first.id) == [(None, Q, 0), (Q, D, 1)]
    assert store.history.events(first.id)[-1].detail == {"worker_id": "w1"}
    assert store.queue.claim("w1", [MODEL], 30).id == second.id  # type: ignore[union-attr]
    assert store.queue.claim("w1", [MODEL], 30) is None
    assert store.queue.claim("w1", [], 30) is None
    assert store.queue.claim("w2", ["x", "other/model"], 30).id == other.id  # type: ignore[union-attr]


def test_full_life_of_a_successful_run(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run()
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None
    assert store.queue.mark_running(run.id, 1, "w")
    assert store.queue.mark_running(run.id, 1, "w")  # idempotent, no second event
    running = store.runs.get(run.id)
    assert running is not None and running.status is R and running.started_at is not None

    lease = store.queue.heartbeat(run.id, 1, "w", lease_seconds=60, step=3, steps=28)
    assert (lease.owned, lease.canceled, lease.status) == (True, False, R)
    beat = store.runs.get(run.id)
    assert beat is not None and beat.progress == {"step": 3, "steps": 28}
    assert beat.lease_expires_at > running.lease_expires_at  # type: ignore[operator]

    pricing = price_outputs([(1024, 1024)])
    output = {"outputs": [{"url": "https://x/y.png", "width": 1024, "height": 1024}], "seed": 7}
    assert store.queue.finish(
        run.id,
        1,
        "w",
        S,
        output=output,
        cost=pricing.cost_str,
        cost_breakdown=pricing.breakdown,
        cost_micros=pricing.cost_micros,
    )
    done = store.runs.get(run.id)
    assert done is not None
    assert done.status is S and done.output == output
    assert (done.cost, done.cost_breakdown, done.cost_micros) == ("0.031457", pricing.breakdown, 31_457)
    assert done.completed_at is not None and done.duration_ms is not None and done.duration_ms >= 0
    assert (done.progress_step, done.progress_steps, done.progress, done.lease_expires_at) == (
        None,
        None,
        None,
        None,
    )
    assert store.owners.balance(owner.id) == (None, 31_457)
    assert _events(store, run.id) == [(None, Q, 0), (Q, D, 1), (D, R, 1), (R, S, 1)]
    # Terminal: nothing moves it any more.
    assert not store.queue.finish(run.id, 1, "w", F, failure_code="late")
    assert not store.queue.mark_running(run.id, 1, "w")
    assert store.queue.heartbeat(run.id, 1, "w", 30).owned is False
    assert store.runs.get(run.id) == done


def test_failure_is_not_billed(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run()
    store.queue.claim("w", [MODEL], 30)
    assert store.queue.finish(
        run.id,
        1,
        "w",
        F,
        output={"partial": True},
        cost="0.5",
        cost_micros=50,
        failure_code="input_fetch_failed",
        failure_message="404 from https://e.com/a.png",
        failure_stage=FailureStage.INPUT_FETCH,
    )
    failed = store.runs.get(run.id)
    assert failed is not None
    assert (failed.status, failed.output, failed.cost, failed.cost_micros) == (F, None, "0.000000", 0)
    assert (failed.failure_code, failed.failure_stage) == ("input_fetch_failed", FailureStage.INPUT_FETCH)
    assert failed.failure_message == "404 from https://e.com/a.png"
    assert store.owners.balance(owner.id) == (None, 0)
    assert _events(store, run.id)[-1] == (D, F, 1)
    assert store.history.events(run.id)[-1].detail == {"failure_code": "input_fetch_failed"}


def test_finish_needs_a_terminal_status(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    store.queue.claim("w", [MODEL], 30)
    with pytest.raises(IllegalTransition):
        store.queue.finish(run.id, 1, "w", R)


def test_writes_are_fenced_by_attempt_and_worker(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run()
    store.queue.claim("w1", [MODEL], 30)
    # Another worker, or a wrong attempt, cannot touch it.
    assert not store.queue.mark_running(run.id, 1, "w2")
    assert not store.queue.mark_running(run.id, 2, "w1")
    assert store.queue.heartbeat(run.id, 1, "w2", 30).owned is False
    assert not store.queue.finish(run.id, 0, "w1", S, cost_micros=3)
    assert not store.queue.requeue(run.id, 1, "w2", "shutdown")

    # The lease expires, the run is reaped and claimed again: attempt 1 is stale now.
    assert store.queue.reap_expired(now=utc_now() + timedelta(seconds=31)) == [run.id]
    again = store.queue.claim("w2", [MODEL], 30)
    assert again is not None and (again.attempt, again.worker_id) == (2, "w2")
    stale = store.queue.heartbeat(run.id, 1, "w1", 30, step=9, steps=9)
    assert (stale.owned, stale.canceled, stale.status) == (False, False, D)
    assert not store.queue.mark_running(run.id, 1, "w1")
    assert not store.queue.finish(run.id, 1, "w1", S, output={"stale": True}, cost_micros=3)
    current = store.runs.get(run.id)
    assert current is not None and current.status is D and current.progress_steps is None
    assert store.owners.balance(owner.id) == (None, 0)
    assert store.queue.finish(run.id, 2, "w2", S, output={"ok": True}, cost="0.03", cost_micros=3)
    assert store.owners.balance(owner.id) == (None, 3)


def test_heartbeat_of_an_unknown_run(store: Store) -> None:
    lease = store.queue.heartbeat("0190c0de-0000-7000-8000-000000000000", 1, "w", 30)
    assert (lease.owned, lease.canceled, lease.status) == (False, False, None)


def test_lease_expiry_requeues_then_fails_with_worker_lost(store: Store, make_run: MakeRun) -> None:
    run = make_run(max_attempts=2)
    store.queue.claim("w1", [MODEL], 30)
    assert store.queue.mark_running(run.id, 1, "w1")
    store.queue.heartbeat(run.id, 1, "w1", 30, step=1, steps=10)
    assert store.queue.reap_expired() == []  # not expired yet

    later = utc_now() + timedelta(seconds=31)
    assert store.queue.reap_expired(now=later) == [run.id]
    requeued = store.runs.get(run.id)
    assert requeued is not None
    assert (requeued.status, requeued.attempt, requeued.worker_id, requeued.lease_expires_at) == (
        Q,
        1,
        None,
        None,
    )
    assert (requeued.started_at, requeued.progress_step) == (None, None)
    assert store.history.events(run.id)[-1].detail == {"reason": "lease_expired", "worker_id": "w1"}
    assert store.runs.queue_position(requeued) == 1

    second = store.queue.claim("w2", [MODEL], 30)
    assert second is not None and second.attempt == 2
    assert store.queue.reap_expired(now=utc_now() + timedelta(seconds=31)) == [run.id]
    failed = store.runs.get(run.id)
    assert failed is not None
    assert (failed.status, failed.failure_code, failed.failure_stage) == (
        F,
        WORKER_LOST,
        FailureStage.INTERNAL,
    )
    assert failed.completed_at is not None and failed.cost == "0.000000"
    assert _events(store, run.id) == [
        (None, Q, 0),
        (Q, D, 1),
        (D, R, 1),
        (R, Q, 1),
        (Q, D, 2),
        (D, F, 2),
    ]
    assert store.queue.reap_expired(now=utc_now() + timedelta(days=1)) == []


def test_graceful_requeue_does_not_use_up_attempts(store: Store, make_run: MakeRun) -> None:
    run = make_run(max_attempts=1)
    store.queue.claim("w1", [MODEL], 30)
    store.queue.mark_running(run.id, 1, "w1")
    assert store.queue.requeue(run.id, 1, "w1", reason="worker_shutdown")
    requeued = store.runs.get(run.id)
    assert requeued is not None
    assert (requeued.status, requeued.attempt, requeued.graceful_requeues, requeued.worker_id) == (
        Q,
        1,
        1,
        None,
    )
    assert store.history.events(run.id)[-1].detail == {"reason": "worker_shutdown", "worker_id": "w1"}
    assert _events(store, run.id)[-1] == (R, Q, 1)
    # The old attempt is fenced out even though the same worker id comes back.
    assert not store.queue.requeue(run.id, 1, "w1", reason="again")

    # The next claim has a fresh fencing token, and its lost lease is attempt 1 of 1
    # that counts, so the run is only now out of attempts.
    second = store.queue.claim("w1", [MODEL], 30)
    assert second is not None and second.attempt == 2
    assert not store.queue.finish(run.id, 1, "w1", S)
    assert store.queue.reap_expired(now=utc_now() + timedelta(seconds=31)) == [run.id]
    assert store.runs.get(run.id).failure_code == WORKER_LOST  # type: ignore[union-attr]


def test_concurrent_claimers_never_share_a_run(store: Store, make_run: MakeRun) -> None:
    made = {make_run().id for _ in range(24)}
    claims: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def claimer(worker_id: str) -> None:
        mine: list[str] = []
        try:
            barrier.wait()
            while (run := store.queue.claim(worker_id, [MODEL], 30)) is not None:
                mine.append(run.id)
        except BaseException as exc:
            errors.append(exc)
        claims[worker_id] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    everything = [rid for ids in claims.values() for rid in ids]
    assert len(everything) == len(set(everything)) == len(made)
    assert set(everything) == made
    for worker_id, ids in claims.items():
        for rid in ids:
            run = store.runs.get(rid)
            assert run is not None and (run.worker_id, run.attempt, run.status) == (worker_id, 1, D)
            assert [e.to_status for e in store.history.events(rid)] == [Q, D]
