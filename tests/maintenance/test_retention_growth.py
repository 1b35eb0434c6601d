"""Retention of everything that grows, per table (docs/operations.md#retention): stream
rows an hour after a run ended, logs, webhook-event deliveries and delivery bodies with its
files, callback attempts, dead worker rows, old rate-limit windows. The run's record and
its status events stay. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.maintenance import Janitor
from pixelrun.runs import RunStatus, utc_now
from pixelrun.storage import LocalFileStorage, UrlSigner
from pixelrun.store import Owner, Store
from pixelrun.store.db.database import write_tx
from pixelrun.store.outbox import enqueue_delivery
from pixelrun.store.tables import (
    callback_attempts,
    callback_deliveries,
    rate_limit_windows,
    run_events,
    run_logs,
    run_previews,
    run_stream_events,
    runs,
    workers,
)

from .conftest import MODEL, valid_input

HOOK = "https://example.com/hook"


@pytest.fixture
def storage(tmp_path: Path) -> LocalFileStorage:
    return LocalFileStorage(tmp_path / "files", "http://pixelrun.test", UrlSigner(b"r" * 32))


def _count(store: Store, table, run_id: str | None = None) -> int:  # type: ignore[no-untyped-def]
    query = select(func.count()).select_from(table)
    if run_id is not None:
        query = query.where(table.c.run_id == run_id)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _finished_run(store: Store, owner: Owner, ended_ago: timedelta) -> str:
    """A run with everything a run writes: stream rows (status, steps, a log line, a
    preview), a log line, status events, its callback delivery with an attempt and a
    webhook-event delivery; ended `ended_ago`."""
    from pixelrun.store import NewRun

    run_id = store.runs.create(NewRun(owner.id, MODEL, input=valid_input(), callback_url=HOOK)).run.id
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None and claimed.id == run_id
    assert store.queue.mark_running(run_id, claimed.attempt, "w1")
    store.history.add_progress(run_id, [(1, 2), (2, 2)])
    store.history.add_log(run_id, "info", "step 2 of 2")
    store.previews.add(run_id, 1, 2, "image/webp", b"RIFF....WEBP")
    assert store.queue.finish(run_id, claimed.attempt, "w1", RunStatus.SUCCEEDED, output={"outputs": []})
    ended = utc_now() - ended_ago
    with write_tx(store.engine) as conn:
        enqueue_delivery(conn, run_id, owner.id, HOOK, ended, event="logs")
        conn.execute(
            update(callback_deliveries)
            .where(callback_deliveries.c.run_id == run_id)
            .values(status="succeeded", completed_at=ended, next_attempt_at=None, payload={"a": 1}, body="{}")
        )
        for delivery_id in conn.execute(
            select(callback_deliveries.c.id).where(callback_deliveries.c.run_id == run_id)
        ).scalars():
            conn.execute(
                insert(callback_attempts).values(
                    delivery_id=delivery_id,
                    attempt_number=1,
                    status_code=200,
                    response_time_ms=3,
                    created_at=ended,
                )
            )
        conn.execute(update(runs).where(runs.c.id == run_id).values(completed_at=ended))
        conn.execute(update(run_previews).where(run_previews.c.run_id == run_id).values(created_at=utc_now()))
    return run_id


def test_each_growing_table_is_pruned_and_the_record_stays(
    store: Store, owner: Owner, storage: LocalFileStorage
) -> None:
    old = _finished_run(store, owner, timedelta(hours=48))  # past both windows
    ended = _finished_run(store, owner, timedelta(hours=2))  # past the stream window only
    recent = _finished_run(store, owner, timedelta(minutes=5))  # in both
    storage.put(f"runs/{old}/0.png", b"png", "image/png")
    storage.put(f"runs/{ended}/0.png", b"png", "image/png")
    for run_id in (old, ended, recent):
        assert (
            _count(store, run_stream_events, run_id) >= 6
        )  # queued, dispatching, running, 2 steps, log, ...
        assert _count(store, run_logs, run_id) == 1
    long_ago = utc_now() - timedelta(days=2)
    with write_tx(store.engine) as conn:
        conn.execute(
            insert(workers),
            [
                {
                    "id": worker_id,
                    "name": worker_id,
                    "model_ids": [MODEL],
                    "device": "cpu",
                    "status": status,
                    "started_at": beat,
                    "heartbeat_at": beat,
                }
                for worker_id, status, beat in (
                    ("w-stopped", "stopped", long_ago),
                    ("w-failed", "failed", long_ago),
                    ("w-killed", "busy", long_ago),
                    ("w-live", "ready", utc_now()),
                )
            ],
        )
        now_window = int(time.time()) // 60 * 60
        conn.execute(
            insert(rate_limit_windows),
            [
                {"key_id": "quiet", "window_start": now_window - 2 * 86400, "count": 3},
                {"key_id": "busy", "window_start": now_window, "count": 1},
            ],
        )
    events_before = {run_id: len(store.history.events(run_id)) for run_id in (old, ended, recent)}

    janitor = Janitor(store, storage, retention_hours=24, interval_seconds=60, stream_retention_hours=1)
    report = janitor.run_once()

    assert report is not None
    assert (report.streams, report.runs, report.workers, report.rate_windows) == (2, 1, 3, 1)
    # Stream rows: gone an hour after the run ended; previews with them.
    assert _count(store, run_stream_events, old) == _count(store, run_stream_events, ended) == 0
    assert _count(store, run_previews, old) == _count(store, run_previews, ended) == 0
    assert _count(store, run_stream_events, recent) >= 6
    # Logs: kept for the retention window, like the files.
    assert _count(store, run_logs, old) == 0
    assert _count(store, run_logs, ended) == _count(store, run_logs, recent) == 1
    assert not storage.exists(f"runs/{old}/0.png") and storage.exists(f"runs/{ended}/0.png")
    # Deliveries: the webhook-event one goes, the callback's row stays without its body;
    # attempts older than the window go.
    old_deliveries = store.callbacks.deliveries(old)
    assert [d.event for d in old_deliveries] == [None]
    with store.engine.connect() as conn:
        body = conn.execute(
            select(callback_deliveries.c.body).where(callback_deliveries.c.run_id == old)
        ).scalar_one()
    assert body is None and old_deliveries[0].attempts == ()
    assert len(store.callbacks.deliveries(recent)) == 2
    # Worker rows with no heartbeat for a day, whatever they said last; the live one stays.
    with store.engine.connect() as conn:
        assert set(conn.execute(select(workers.c.id)).scalars()) == {"w-live"}
        assert set(conn.execute(select(rate_limit_windows.c.key_id)).scalars()) == {"busy"}
    # The records stay: status, output, status events (billing and support).
    for run_id in (old, ended, recent):
        record = store.runs.get(run_id)
        assert record is not None and record.status is RunStatus.SUCCEEDED
        assert len(store.history.events(run_id)) == events_before[run_id] >= 4
    assert _count(store, run_events) == sum(events_before.values())

    # A second pass finds nothing left to do.
    again = janitor.run_once()
    assert again is not None and not any(vars(again).values())


def test_stream_of_a_pruned_run_answers_the_run_and_done(
    store: Store, owner: Owner, storage: LocalFileStorage, settings: Settings
) -> None:
    _, key = store.keys.create(owner.id, "test key")
    run_id = _finished_run(store, owner, timedelta(hours=2))
    Janitor(store, storage, retention_hours=0, interval_seconds=60).run_once()
    assert _count(store, run_stream_events, run_id) == 0
    # retention_hours 0 keeps logs and files.
    assert _count(store, run_logs, run_id) == 1
    settings = settings.model_copy(update={"background_tasks": False})
    with TestClient(create_app(settings, store, storage), base_url="http://pixelrun.test") as client:
        answer = client.get(f"/v1/runs/{run_id}/stream", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        events = [line.split(": ", 1)[1] for line in answer.text.splitlines() if line.startswith("event: ")]
        assert events == ["status", "done"]
        assert '"status_code":"succeeded"' in answer.text
        logs = client.get(f"/v1/runs/{run_id}/logs", headers={"Authorization": f"Bearer {key}"})
        assert logs.status_code == 200 and "step 2 of 2" in logs.text


def test_sync_mode_outputs_in_the_record_expire_with_the_window(
    store: Store, owner: Owner, storage: LocalFileStorage
) -> None:
    from pixelrun.store import NewRun

    run_id = store.runs.create(NewRun(owner.id, MODEL, input=valid_input(sync_mode=True))).run.id
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None
    inline = {"url": "data:image/png;base64," + "A" * 4000, "type": "image", "content_type": "image/png"}
    output = {"outputs": [{**inline, "width": 8, "height": 8, "file_size": 3000}], "seed": 1}
    assert store.queue.finish(run_id, claimed.attempt, "w1", RunStatus.SUCCEEDED, output=output)
    with write_tx(store.engine) as conn:
        conn.execute(
            update(runs).where(runs.c.id == run_id).values(completed_at=utc_now() - timedelta(hours=48))
        )
    Janitor(store, storage, retention_hours=24, interval_seconds=60).run_once()
    record = store.runs.get(run_id)
    assert record is not None and record.output is not None
    [item] = record.output["outputs"]
    assert item["url"] is None and item["expired"] is True
    assert (item["width"], item["file_size"]) == (8, 3000)
