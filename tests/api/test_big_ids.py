"""64-bit ids (docs/operations.md#64-bit-ids): on PostgreSQL, with every id sequence moved
past 2**31, runs go on getting events, log lines, stream rows, previews and callback
attempts, and the API reads them back (logs, a stream resumed from a big `Last-Event-ID`).

SQLite needs no such test: an INTEGER PRIMARY KEY is the 64-bit rowid there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.runs import RunStatus
from pixelrun.store import NewRun, Store

from .conftest import BASE_URL, MODEL

pytestmark = pytest.mark.postgres

BIG = 2**31 + 1000
SEQUENCED = ("run_events", "run_logs", "run_stream_events", "callback_attempts")


@pytest.fixture
def big_store(postgres_databases: Any) -> Iterator[Store]:
    """A database of its own, its sequences past what a 32-bit column holds."""
    store = Store(postgres_databases.create())
    store.migrate()
    with store.engine.begin() as conn:
        for table in SEQUENCED:
            sequence = conn.execute(text(f"SELECT pg_get_serial_sequence('{table}', 'id')")).scalar_one()
            conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART WITH {BIG}"))
    yield store
    store.close()


def _lifecycle(store: Store, owner_id: str, worker: str) -> str:
    """A run through the whole queue, with every kind of row a run gets."""
    run = store.runs.create(
        NewRun(owner_id, MODEL, {"prompt": "x", "image_urls": []}, callback_url="https://example.com/hook")
    ).run
    claimed = store.queue.claim(worker, [MODEL], 30)
    assert claimed is not None and claimed.id == run.id
    assert store.queue.mark_running(run.id, claimed.attempt, worker)
    store.history.add_progress(run.id, [(1, 2), (2, 2)])
    store.previews.add(run.id, 1, 2, "image/webp", b"RIFF-preview")
    store.history.add_log(run.id, "info", "step two of two")
    assert store.queue.finish(run.id, claimed.attempt, worker, RunStatus.SUCCEEDED, output={"images": []})
    (delivery,) = store.callbacks.claim_due(worker, 30)
    assert store.callbacks.record_attempt(
        delivery.id,
        worker,
        1,
        status_code=200,
        response_time_ms=5,
        error_message=None,
        webhook_timestamp=1,
        outcome="succeeded",
    )
    return run.id


def test_ids_past_two_to_the_31(big_store: Store, tmp_path: Path) -> None:
    owner = big_store.owners.ensure("big-ids")
    _, key = big_store.keys.create(owner.id, "big")
    run_ids = [_lifecycle(big_store, owner.id, "w1") for _ in range(3)]

    for run_id in run_ids:
        events = big_store.history.events(run_id)
        assert [e.to_status for e in events][-1] is RunStatus.SUCCEEDED
        assert all(e.id > 2**31 for e in events)
        (log,) = big_store.history.logs(run_id)
        assert log.id > 2**31
        (delivery,) = big_store.callbacks.deliveries(run_id)
        assert [a.status_code for a in delivery.attempts] == [200]
    with big_store.engine.connect() as conn:
        for table in SEQUENCED:
            assert conn.execute(text(f"SELECT min(id) FROM {table}")).scalar_one() >= BIG, table

    settings = Settings(
        data_dir=tmp_path, public_base_url=BASE_URL, signing_secret="s" * 32, retention_hours=0
    )
    headers = {"Authorization": f"Bearer {key}"}
    run_id = run_ids[-1]
    rows = big_store.history.stream_rows_after({run_id: 0})
    kinds = [row.kind.value for row in rows]
    assert kinds[-1] == "done" and {"progress", "preview", "log"} <= set(kinds)
    with TestClient(create_app(settings, big_store), base_url=BASE_URL) as client:
        logs = client.get(f"/v1/runs/{run_id}/logs", headers=headers)
        assert logs.status_code == 200 and logs.json()[0]["id"] > 2**31
        # Resumed after its first row: every later row comes back, ids and all.
        resume_after = rows[0].id
        with client.stream(
            "GET", f"/v1/runs/{run_id}/stream", headers={**headers, "Last-Event-ID": str(resume_after)}
        ) as response:
            assert response.status_code == 200
            body = response.read().decode()
    ids = [int(line.removeprefix("id: ")) for line in body.splitlines() if line.startswith("id: ")]
    assert ids == [row.id for row in rows[1:]]
    assert ids and min(ids) > 2**31
