from __future__ import annotations

from pixelrun.store import Owner, Store

from .conftest import MODEL, MakeRun


def test_get_with_position_matches_queue_position(store: Store, owner: Owner, make_run: MakeRun) -> None:
    first, second, third = make_run(), make_run(), make_run()
    make_run(model_id="other/model")
    other_owner = store.owners.ensure("globex")
    for run in (first, second, third):
        found = store.runs.get_with_position(run.id, owner.id)
        assert found is not None
        record, position = found
        assert record == store.runs.get(run.id)
        assert position == store.runs.queue_position(run)
    assert store.runs.get_with_position(third.id, owner.id)[1] == 3  # type: ignore[index]
    assert store.runs.get_with_position(third.id, other_owner.id) is None
    assert store.runs.get_with_position("nope") is None
    claimed = store.queue.claim("wrk", [MODEL], 30)
    assert claimed is not None and claimed.id == first.id
    assert store.runs.get_with_position(first.id) == (store.runs.get(first.id), None)
    assert store.runs.get_with_position(third.id)[1] == 2  # type: ignore[index]


def test_the_created_record_equals_the_stored_one(store: Store, owner: Owner, make_run: MakeRun) -> None:
    # create_run builds its record from the inserted values instead of reading it back.
    from datetime import timedelta

    from pixelrun.runs import utc_now

    created = make_run(
        metadata={"order": 42, "tags": ["a", "ü"], "nested": {"x": 1.5, "none": None}},
        callback_url="https://example.com/hook",
        client_ref="ref-1",
        deadline_at=utc_now() + timedelta(minutes=5),
    )
    assert created == store.runs.get(created.id)
