"""A worker whose row retention deleted (no heartbeat for a day: cut off from the store that
long) registers again at its next heartbeat, so the API does not think its models unserved."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pixelrun.config import Settings
from pixelrun.store import Store
from pixelrun.worker.loop import Worker

MODEL = "alibaba/qwen-image-edit-2511"


def test_a_deleted_worker_row_comes_back_at_the_next_heartbeat(store: Store, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=store.engine.url.render_as_string(hide_password=False),
        heartbeat_seconds=0.05,
    )
    worker = Worker(settings, name="gpu-0")
    try:
        worker.store.workers.register(worker.worker_id, worker.name, [MODEL], "cpu", {"a": 1}, "ready")
        worker._registration = ([MODEL], "cpu", {"a": 1})
        worker._status = "ready"
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM workers")
        beating = threading.Thread(target=worker._heartbeat_loop, daemon=True)
        beating.start()
        deadline = time.monotonic() + 30
        while (record := store.workers.get(worker.worker_id)) is None:
            assert time.monotonic() < deadline, "the worker did not register again"
            time.sleep(0.05)
        assert (record.name, record.model_ids, record.status) == ("gpu-0", [MODEL], "ready")
        assert [w.id for w in store.workers.ready(MODEL)] == [worker.worker_id]
    finally:
        worker.stopping.set()
        worker.store.close()
