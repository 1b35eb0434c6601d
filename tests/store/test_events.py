from __future__ import annotations

from pixelrun.runs import RunStatus
from pixelrun.store import Owner, Store

from .conftest import MODEL, MakeRun


def test_every_transition_leaves_one_event_in_order(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run()
    store.queue.claim("w", [MODEL], 30)
    store.queue.requeue(run.id, 1, "w", "worker_shutdown")
    store.queue.claim("w", [MODEL], 30)
    store.queue.mark_running(run.id, 2, "w")
    store.runs.cancel(run.id, owner.id)
    events = store.history.events(run.id)
    assert [(e.from_status, e.to_status, e.attempt) for e in events] == [
        (None, RunStatus.QUEUED, 0),
        (RunStatus.QUEUED, RunStatus.DISPATCHING, 1),
        (RunStatus.DISPATCHING, RunStatus.QUEUED, 1),
        (RunStatus.QUEUED, RunStatus.DISPATCHING, 2),
        (RunStatus.DISPATCHING, RunStatus.RUNNING, 2),
        (RunStatus.RUNNING, RunStatus.CANCELED, 2),
    ]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(e.run_id == run.id and e.created_at.tzinfo is not None for e in events)
    assert events[-1].detail == {"reason": "user_request"}
    assert store.history.events("unknown") == []
