from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from pixelrun.runs import utc_now
from pixelrun.store import Store
from pixelrun.store.tables import workers

from .conftest import MODEL


def test_register_and_heartbeat(store: Store) -> None:
    record = store.workers.register("wk1", "gpu0", [MODEL], "cuda:0", {"vram_gb": 80})
    assert (record.status, record.model_ids, record.device, record.info) == (
        "starting",
        [MODEL],
        "cuda:0",
        {"vram_gb": 80},
    )
    assert store.workers.ready() == []
    assert store.workers.heartbeat("wk1", "ready")
    assert [w.id for w in store.workers.ready(MODEL)] == ["wk1"]
    assert store.workers.ready("some/other-model") == []
    assert store.workers.heartbeat("wk1", "busy", {"run_id": "r"})
    busy = store.workers.get("wk1")
    assert busy is not None and busy.status == "busy" and busy.info == {"run_id": "r"}
    assert [w.id for w in store.workers.ready()] == ["wk1"]
    assert not store.workers.heartbeat("missing", "ready")
    with pytest.raises(ValueError):
        store.workers.heartbeat("wk1", "sleeping")  # type: ignore[arg-type]


def test_stale_and_stopped_workers_are_not_ready(store: Store) -> None:
    store.workers.register("old", "gpu0", [MODEL], "cuda:0", status="ready")
    store.workers.register("stopped", "gpu1", [MODEL], "cuda:1", status="ready")
    store.workers.register("fresh", "gpu2", [MODEL], "cuda:2", status="ready")
    with store.engine.begin() as conn:
        conn.execute(
            update(workers).where(workers.c.id == "old").values(heartbeat_at=utc_now() - timedelta(minutes=5))
        )
    assert store.workers.mark_stopped("stopped")
    assert [w.id for w in store.workers.ready(MODEL, fresh_within_seconds=60)] == ["fresh"]
    assert {w.id for w in store.workers.ready(MODEL, fresh_within_seconds=3600)} == {"old", "fresh"}


def test_re_register_resets_the_worker(store: Store) -> None:
    store.workers.register("wk", "a", ["m1"], "cpu", status="ready")
    again = store.workers.register("wk", "b", ["m2"], "cuda", {"x": 1})
    assert (again.name, again.model_ids, again.device, again.status) == ("b", ["m2"], "cuda", "starting")
    assert store.workers.get("wk") == again
