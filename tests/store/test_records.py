from __future__ import annotations

import dataclasses

import pytest

from pixelrun.runs import RunStatus
from pixelrun.store import RunRecord, Store

from .conftest import MODEL, MakeRun


def test_records_are_frozen(make_run: MakeRun) -> None:
    run = make_run()
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = RunStatus.FAILED  # type: ignore[misc]


def test_progress_only_while_running(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    assert run.progress is None and run.duration_ms is None and not run.is_terminal
    store.queue.claim("w", [MODEL], 30)
    store.queue.heartbeat(run.id, 1, "w", 30, step=0, steps=28)
    dispatching = store.runs.get(run.id)
    assert dispatching is not None and dispatching.progress is None
    store.queue.mark_running(run.id, 1, "w")
    running = store.runs.get(run.id)
    assert isinstance(running, RunRecord) and running.progress == {"step": 0, "steps": 28}
