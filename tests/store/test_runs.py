from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import InsufficientCredit, InvalidCursor, NewRun, Owner, RunNotFound, Store
from pixelrun.store.tables import runs

from .conftest import MODEL, MakeRun


def test_create_run_is_queued_with_a_creation_event(store: Store, owner: Owner) -> None:
    run = store.runs.create(
        NewRun(
            owner.id,
            MODEL,
            {"prompt": "p", "image_urls": ["https://e.com/a.png"]},
            metadata={"k": "v"},
            callback_url="https://e.com/cb",
            client_ref="ref-1",
            max_attempts=2,
        )
    ).run
    assert run.status is RunStatus.QUEUED
    assert (run.owner_id, run.model_id, run.metadata, run.callback_url, run.client_ref) == (
        owner.id,
        MODEL,
        {"k": "v"},
        "https://e.com/cb",
        "ref-1",
    )
    assert run.input["image_urls"] == ["https://e.com/a.png"]
    assert (run.attempt, run.max_attempts, run.output, run.cost, run.completed_at) == (0, 2, None, None, None)
    assert run.created_at.tzinfo is not None
    assert store.runs.get(run.id) == run
    [event] = store.history.events(run.id)
    assert (event.from_status, event.to_status, event.attempt) == (None, RunStatus.QUEUED, 0)


def test_credit_check(store: Store) -> None:
    owner = store.owners.ensure("budgeted", budget_micros=10)
    store.runs.create(NewRun(owner.id, MODEL, {"prompt": "p"}), estimated_micros=10)
    with pytest.raises(InsufficientCredit) as info:
        store.runs.create(NewRun(owner.id, MODEL, {"prompt": "p"}), estimated_micros=11)
    assert (info.value.available_micros, info.value.required_micros) == (10, 11)
    # Nothing was written by the refused call.
    assert len(store.runs.page(owner.id)[0]) == 1
    unlimited = store.owners.ensure("unlimited")
    store.runs.create(NewRun(unlimited.id, MODEL, {"prompt": "p"}), estimated_micros=10**9)


def test_credit_check_counts_spent_money(store: Store) -> None:
    owner = store.owners.ensure("budgeted", budget_micros=10)
    run = store.runs.create(NewRun(owner.id, MODEL, {"prompt": "p"}), estimated_micros=4).run
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None
    assert store.queue.finish(run.id, 1, "w", RunStatus.SUCCEEDED, output={}, cost="0.07", cost_micros=7)
    store.runs.create(NewRun(owner.id, MODEL, {"prompt": "p"}), estimated_micros=3)
    with pytest.raises(InsufficientCredit):
        store.runs.create(NewRun(owner.id, MODEL, {"prompt": "p"}), estimated_micros=4)


def test_get_run_is_owner_scoped(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run()
    other = store.owners.ensure("other")
    assert store.runs.get(run.id, owner.id) == run
    assert store.runs.get(run.id, other.id) is None
    assert store.runs.get("0190c0de-0000-7000-8000-000000000000") is None


def _page_all(store: Store, owner_id: str, limit: int, **filters: object) -> tuple[list[str], int]:
    ids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page, cursor = store.runs.page(owner_id, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        pages += 1
        ids.extend(r.id for r in page)
        if cursor is None:
            return ids, pages


def test_list_runs_pages_newest_first(store: Store, owner: Owner, make_run: MakeRun) -> None:
    made = [make_run() for _ in range(11)]
    # Equal timestamps must still page correctly: the id breaks the tie.
    same = made[3].created_at
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id.in_([r.id for r in made[3:7]])).values(created_at=same))
    ids, pages = _page_all(store, owner.id, limit=3)
    assert pages == 4
    expected = sorted(
        made, key=lambda r: (same if 3 <= made.index(r) < 7 else r.created_at, r.id), reverse=True
    )
    assert ids == [r.id for r in expected]
    assert len(set(ids)) == 11


def test_list_runs_filters_and_scoping(store: Store, owner: Owner, make_run: MakeRun) -> None:
    other = store.owners.ensure("other")
    make_run(owner_id=other.id)
    early = [make_run(model_id="a") for _ in range(3)]
    middle = utc_now()
    late_a = [make_run(model_id="a") for _ in range(4)]
    late_b = [make_run(model_id="b") for _ in range(3)]
    canceled, _ = store.runs.cancel(late_a[0].id, owner.id)

    ids, pages = _page_all(store, owner.id, limit=2, model_id="a")
    assert ids == [r.id for r in reversed(early + late_a)]
    assert pages == 4
    ids, _ = _page_all(store, owner.id, limit=2, model_id="a", created_after=middle)
    assert ids == [r.id for r in reversed(late_a)]
    ids, _ = _page_all(store, owner.id, limit=2, created_before=middle)
    assert ids == [r.id for r in reversed(early)]
    ids, _ = _page_all(store, owner.id, limit=2, status="queued", model_id="a")
    assert ids == [r.id for r in reversed(early + late_a[1:])]
    ids, _ = _page_all(store, owner.id, limit=2, status=RunStatus.CANCELED)
    assert ids == [canceled.id]
    assert len(_page_all(store, owner.id, limit=500)[0]) == len(early + late_a + late_b)
    assert _page_all(store, other.id, limit=500)[0] != []
    assert store.runs.page(owner.id, model_id="none") == ([], None)


def test_list_runs_refuses_a_bad_cursor(store: Store, owner: Owner) -> None:
    with pytest.raises(InvalidCursor):
        store.runs.page(owner.id, cursor="garbage!")
    with pytest.raises(ValueError):
        store.runs.page(owner.id, limit=0)


def test_queue_position(store: Store, make_run: MakeRun) -> None:
    first, second, third = make_run(), make_run(), make_run()
    elsewhere = make_run(model_id="other-model")
    assert [store.runs.queue_position(r) for r in (first, second, third)] == [1, 2, 3]
    assert store.runs.queue_position(elsewhere) == 1
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None and claimed.id == first.id
    assert store.runs.queue_position(claimed) is None
    assert store.runs.queue_position(store.runs.get(third.id)) == 2  # type: ignore[arg-type]
    # A stale record of a run that left the queue gets no position.
    assert store.runs.queue_position(first) is None


def _events(store: Store, run_id: str) -> list[tuple[RunStatus | None, RunStatus]]:
    return [(e.from_status, e.to_status) for e in store.history.events(run_id)]


@pytest.mark.parametrize("state", ["queued", "dispatching", "running"])
def test_cancel_from_each_live_state(store: Store, owner: Owner, make_run: MakeRun, state: str) -> None:
    run = make_run()
    if state != "queued":
        assert store.queue.claim("w", [MODEL], 30) is not None
    if state == "running":
        assert store.queue.mark_running(run.id, 1, "w")
    canceled, changed = store.runs.cancel(run.id, owner.id)
    assert changed is True
    assert canceled.status is RunStatus.CANCELED
    assert canceled.completed_at is not None and canceled.cancel_requested
    assert (canceled.cost, canceled.cost_breakdown, canceled.lease_expires_at) == ("0.000000", [], None)
    assert _events(store, run.id)[-1] == (RunStatus(state), RunStatus.CANCELED)
    # The worker learns it from its next heartbeat, and its result is dropped.
    if state != "queued":
        lease = store.queue.heartbeat(run.id, 1, "w", 30)
        assert (lease.owned, lease.canceled, lease.status) == (False, True, RunStatus.CANCELED)
        assert not store.queue.finish(run.id, 1, "w", RunStatus.SUCCEEDED, output={"x": 1}, cost_micros=5)
        assert store.owners.balance(owner.id) == (None, 0)
    assert store.runs.get(run.id) == canceled


@pytest.mark.parametrize("final", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED])
def test_cancel_after_terminal_changes_nothing(
    store: Store, owner: Owner, make_run: MakeRun, final: RunStatus
) -> None:
    run = make_run()
    if final is RunStatus.CANCELED:
        store.runs.cancel(run.id, owner.id)
    else:
        store.queue.claim("w", [MODEL], 30)
        assert store.queue.finish(run.id, 1, "w", final, output={}, cost="0.01", cost_micros=1)
    before = store.runs.get(run.id)
    events_before = store.history.events(run.id)
    again, changed = store.runs.cancel(run.id, owner.id)
    assert changed is False
    assert again == before
    assert store.history.events(run.id) == events_before


def test_cancel_is_owner_scoped(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    other = store.owners.ensure("other")
    with pytest.raises(RunNotFound):
        store.runs.cancel(run.id, other.id)
    assert store.runs.get(run.id).status is RunStatus.QUEUED  # type: ignore[union-attr]


def test_created_at_filter_bounds_are_exclusive(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run()
    assert store.runs.page(owner.id, created_after=run.created_at)[0] == []
    assert store.runs.page(owner.id, created_before=run.created_at)[0] == []
    assert store.runs.page(owner.id, created_after=datetime(2000, 1, 1, tzinfo=UTC))[0] == [run]
