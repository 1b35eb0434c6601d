"""The fair queue (docs/queue.md): round-robin among owners, first-in first-out within one,
the per-owner limit on runs in progress, and `queue_position` as the exact claim order."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

from sqlalchemy import select

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import Owner, RunRecord, Store
from pixelrun.store.tables import owner_queues, runs

from .conftest import MODEL, MakeRun


def _claim(store: Store, worker: str = "w", max_active: int | None = None) -> RunRecord | None:
    return store.queue.claim(worker, [MODEL], 30, max_active)


def _positions(store: Store) -> dict[str, int]:
    """Every queued run's position, read through the polling read."""
    with store.engine.connect() as conn:
        ids = [r.id for r in conn.execute(select(runs.c.id).where(runs.c.status == "queued"))]
    positions: dict[str, int] = {}
    for run_id in ids:
        found = store.runs.get_with_position(run_id)
        assert found is not None and found[1] is not None
        positions[run_id] = found[1]
    # A list page reads the same positions in one transaction.
    records = [found[0] for run_id in ids if (found := store.runs.get_with_position(run_id))]
    assert store.runs.queue_positions(records) == positions
    return positions


def _assert_positions_are_the_claim_order(store: Store) -> None:
    """The positions read now are 1..n, and claiming everything takes the runs in that order."""
    positions = _positions(store)
    assert sorted(positions.values()) == list(range(1, len(positions) + 1))
    expected = sorted(positions, key=positions.__getitem__)
    order = []
    while (claimed := _claim(store, "drain")) is not None:
        order.append(claimed.id)
    assert order == expected


def test_a_second_owner_is_claimed_next_whatever_the_first_has_queued(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    other = store.owners.ensure("other")
    backlog = [make_run() for _ in range(200)]
    assert _claim(store).id == backlog[0].id  # type: ignore[union-attr]
    newcomer = make_run(owner_id=other.id)
    assert store.runs.get_with_position(newcomer.id)[1] == 1  # type: ignore[index]
    assert _claim(store).id == newcomer.id  # type: ignore[union-attr]
    # Then the backlog goes on, oldest first.
    assert _claim(store).id == backlog[1].id  # type: ignore[union-attr]


def test_owners_take_turns_and_each_owner_is_first_in_first_out(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    b, c = store.owners.ensure("b"), store.owners.ensure("c")
    a_runs = [make_run() for _ in range(3)]
    b_runs = [make_run(owner_id=b.id) for _ in range(3)]
    c_runs = [make_run(owner_id=c.id)]
    order = [_claim(store).id for _ in range(7)]  # type: ignore[union-attr]
    expected = [a_runs[0], b_runs[0], c_runs[0], a_runs[1], b_runs[1], a_runs[2], b_runs[2]]
    assert order == [r.id for r in expected]
    assert _claim(store) is None


def test_queue_position_is_the_claim_order_after_claims_cancels_and_requeues(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    b, c = store.owners.ensure("b"), store.owners.ensure("c")
    a_runs = [make_run() for _ in range(6)]
    b_runs = [make_run(owner_id=b.id) for _ in range(3)]
    # Head and middle before anything was claimed: a0 b0 a1 b1 a2 b2 a3 a4 a5.
    assert store.runs.get_with_position(a_runs[0].id)[1] == 1  # type: ignore[index]
    assert store.runs.get_with_position(b_runs[0].id)[1] == 2  # type: ignore[index]
    assert store.runs.get_with_position(a_runs[2].id)[1] == 5  # type: ignore[index]
    assert store.runs.get_with_position(a_runs[5].id)[1] == 9  # type: ignore[index]
    first, second = _claim(store, "w1"), _claim(store, "w2")
    assert [first.id, second.id] == [a_runs[0].id, b_runs[0].id]  # type: ignore[union-attr]
    c_runs = [make_run(owner_id=c.id) for _ in range(2)]
    # A newcomer joins the round being served: its first run is next, its second a round later.
    assert store.runs.get_with_position(c_runs[0].id)[1] == 1  # type: ignore[index]
    assert store.runs.get_with_position(c_runs[1].id)[1] == 4  # type: ignore[index]
    # Canceled ahead: a3 in A's middle, b1 at B's head.
    store.runs.cancel(a_runs[3].id, owner.id)
    store.runs.cancel(b_runs[1].id, b.id)
    assert store.runs.get_with_position(b_runs[1].id)[1] is None
    # A claimed run given back goes to the head of its owner's queue.
    assert store.queue.requeue(first.id, first.attempt, "w1", "shutdown")  # type: ignore[union-attr]
    a_runs += [make_run() for _ in range(2)]
    _assert_positions_are_the_claim_order(store)


def test_positions_stay_exact_while_the_queue_drains(store: Store, owner: Owner, make_run: MakeRun) -> None:
    b = store.owners.ensure("b")
    for i in range(12):
        make_run(owner_id=owner.id if i % 3 else b.id)
    for _ in range(4):
        positions = _positions(store)
        head = min(positions, key=positions.__getitem__)
        assert positions[head] == 1
        assert _claim(store).id == head  # type: ignore[union-attr]
    _assert_positions_are_the_claim_order(store)


def test_a_deadline_past_run_leaves_the_queue_counts_right(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    b = store.owners.ensure("b")
    late = make_run(deadline_at=utc_now() + timedelta(milliseconds=1))
    kept = make_run()
    other = make_run(owner_id=b.id)
    store.deadlines.expire(utc_now() + timedelta(seconds=1))
    assert store.runs.get(late.id).status is RunStatus.CANCELED  # type: ignore[union-attr]
    assert store.runs.get_with_position(kept.id)[1] == 1  # type: ignore[index]
    assert store.runs.get_with_position(other.id)[1] == 2  # type: ignore[index]
    _assert_positions_are_the_claim_order(store)


def test_owners_at_their_limit_of_runs_in_progress_wait(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    b = store.owners.ensure("b")
    a_runs = [make_run() for _ in range(3)]
    b_run = make_run(owner_id=b.id)
    first = _claim(store, "w1", max_active=1)
    assert first is not None and first.id == a_runs[0].id
    assert _claim(store, "w2", max_active=1).id == b_run.id  # type: ignore[union-attr]
    assert _claim(store, "w3", max_active=1) is None  # both owners at their limit
    assert _claim(store, "w3", max_active=2).id == a_runs[1].id  # type: ignore[union-attr]
    assert store.queue.finish(first.id, first.attempt, "w1", RunStatus.SUCCEEDED)
    assert _claim(store, "w3", max_active=2).id == a_runs[2].id  # type: ignore[union-attr]


def test_concurrent_claimers_take_every_run_once(store: Store, owner: Owner, make_run: MakeRun) -> None:
    b = store.owners.ensure("b")
    created = {make_run(owner_id=owner.id if i % 2 else b.id).id for i in range(60)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(worker: str) -> None:
        while (run := _claim(store, worker)) is not None:
            with lock:
                claimed.append(run.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(created)  # each run once, none left
    with store.engine.connect() as conn:
        counts = conn.execute(select(owner_queues.c.queued_count)).scalars().all()
    assert counts == [0, 0]


def test_concurrent_claims_keep_the_limit_of_runs_in_progress(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    for _ in range(20):
        make_run()
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def claimer(worker: str) -> None:
        barrier.wait()
        for _ in range(3):
            run = _claim(store, worker, max_active=2)
            if run is not None:
                with lock:
                    claimed.append(run.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 2


def test_positions_are_the_claim_order_after_random_traffic(
    store: Store, owner: Owner, make_run: MakeRun
) -> None:
    rng = random.Random(19)
    owners = [owner, store.owners.ensure("b"), store.owners.ensure("c")]
    held: list[RunRecord] = []
    for step in range(60):
        roll = rng.random()
        if roll < 0.5:
            make_run(owner_id=rng.choice(owners).id)
        elif roll < 0.7:
            if (run := _claim(store, f"w{step}")) is not None:
                held.append(run)
        elif roll < 0.8 and held:
            run = held.pop(rng.randrange(len(held)))
            assert store.queue.requeue(run.id, run.attempt, run.worker_id, "shutdown")  # type: ignore[arg-type]
        elif roll < 0.9 and held:
            run = held.pop(rng.randrange(len(held)))
            assert store.queue.finish(run.id, run.attempt, run.worker_id, RunStatus.SUCCEEDED)  # type: ignore[arg-type]
        else:
            queued = list(_positions(store))
            if queued:
                victim = store.runs.get(rng.choice(queued))
                store.runs.cancel(victim.id, victim.owner_id)  # type: ignore[union-attr]
    _assert_positions_are_the_claim_order(store)


def test_a_reaped_run_is_again_its_owners_next(store: Store, owner: Owner, make_run: MakeRun) -> None:
    b = store.owners.ensure("b")
    a_runs = [make_run() for _ in range(3)]
    b_run = make_run(owner_id=b.id)
    lost = _claim(store, "lost")
    assert lost is not None and lost.id == a_runs[0].id
    assert store.queue.reap_expired(utc_now() + timedelta(seconds=60)) == [lost.id]
    assert store.runs.get_with_position(lost.id)[1] == 2  # type: ignore[index]  # B's turn came first
    assert store.runs.get_with_position(b_run.id)[1] == 1  # type: ignore[index]
    _assert_positions_are_the_claim_order(store)
