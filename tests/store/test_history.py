from __future__ import annotations

import pytest

from pixelrun.store import Store

from .conftest import MakeRun


def test_logs_in_order_with_meta(store: Store, make_run: MakeRun) -> None:
    run, other = make_run(), make_run()
    store.history.add_log(run.id, "info", "fetching 1 input image")
    store.history.add_log(run.id, "warning", "slow download", {"seconds": 4.5})
    store.history.add_log(other.id, "error", "elsewhere")
    logs = store.history.logs(run.id)
    assert [(entry.level, entry.message, entry.meta) for entry in logs] == [
        ("info", "fetching 1 input image", None),
        ("warning", "slow download", {"seconds": 4.5}),
    ]
    assert logs[0].id < logs[1].id and all(entry.run_id == run.id for entry in logs)
    assert logs[0].created_at.tzinfo is not None


def test_unknown_level_is_refused(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    with pytest.raises(ValueError):
        store.history.add_log(run.id, "verbose", "x")  # type: ignore[arg-type]
