"""`store.previews` (docs/api.md#previews): a preview is a stream row plus its image, read
back by the stream; images are capped and deleted shortly after their run ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import MetaData, func, insert, select

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import MAX_PREVIEW_BYTES, PreviewImage, PreviewTooLarge, Store, StreamKind
from pixelrun.store.db.migrate import migrate
from pixelrun.store.previews import GRACE, MAX_AGE
from pixelrun.store.tables import run_previews

from .conftest import MODEL, MakeRun

WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


def _preview_rows(store: Store, run_id: str) -> list:
    rows = store.history.stream_rows_after({run_id: 0})
    return [row for row in rows if row.kind is StreamKind.PREVIEW]


def _count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(run_previews)).scalar_one())


def test_a_preview_is_a_stream_row_with_its_image(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    store.history.add_progress(run.id, [(1, 4), (2, 4)])
    row_id = store.previews.add(run.id, 2, 4, "image/webp", WEBP)
    rows = store.history.stream_rows_after({run.id: 0})
    assert [row.kind for row in rows] == [
        StreamKind.STATUS,
        StreamKind.PROGRESS,
        StreamKind.PROGRESS,
        StreamKind.PREVIEW,
    ]
    preview = rows[-1]
    assert preview.id == row_id and (preview.step, preview.steps) == (2, 4)
    assert preview.preview == PreviewImage("image/webp", WEBP)
    assert all(row.preview is None for row in rows[:-1])


def test_a_preview_over_the_cap_is_refused(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    with pytest.raises(PreviewTooLarge, match="at most"):
        store.previews.add(run.id, 1, 2, "image/webp", b"\x00" * (MAX_PREVIEW_BYTES + 1))
    assert _preview_rows(store, run.id) == []


def test_purge_keeps_previews_of_running_runs_and_deletes_those_of_ended_ones(
    store: Store, make_run: MakeRun
) -> None:
    running, ended = make_run(), make_run()
    for run in (running, ended):
        store.previews.add(run.id, 1, 3, "image/webp", WEBP)
    claimed = store.queue.claim("w", [MODEL], 30)
    assert claimed is not None and claimed.id == running.id
    store.runs.cancel(ended.id, ended.owner_id)
    finished = store.runs.get(ended.id)
    assert finished is not None and finished.completed_at is not None
    assert store.previews.purge(finished.completed_at + GRACE / 2) == 0  # streams may still read it
    assert store.previews.purge(finished.completed_at + GRACE + timedelta(seconds=1)) == 1
    (gone,) = _preview_rows(store, ended.id)
    assert gone.preview is None  # the row stays; the stream leaves its event out
    (kept,) = _preview_rows(store, running.id)
    assert kept.preview is not None
    # However long a run takes, a preview lives at most MAX_AGE.
    assert store.previews.purge(utc_now() + MAX_AGE + timedelta(seconds=1)) == 1
    assert _count(store) == 0
    assert store.previews.purge() == 0  # nothing left: a read only


def test_the_upgrade_from_0007_keeps_runs_and_deliveries(fresh_url: str) -> None:
    store = Store(fresh_url)
    run_id = "0190a0a0-0000-7000-8000-000000000001"
    try:
        migrate(store.engine, "0007")
        now = utc_now()
        owner_id = "own_before"
        with store.engine.begin() as conn:
            # The tables as 0007 made them (reflected: today's have columns and defaults it lacks).
            old = MetaData()
            old.reflect(conn, only=["owners", "runs", "callback_deliveries"])
            conn.execute(insert(old.tables["owners"]).values(id=owner_id, name="before", created_at=now))
            conn.execute(
                insert(old.tables["runs"]).values(
                    id=run_id,
                    owner_id=owner_id,
                    model_id=MODEL,
                    status=RunStatus.SUCCEEDED.value,
                    input={"prompt": "p"},
                    callback_url="https://receiver.example/hook",
                    callback_format="prediction",
                    created_at=now,
                    completed_at=now,
                    max_attempts=3,
                )
            )
            conn.execute(
                insert(old.tables["callback_deliveries"]).values(
                    id="0190a0a0-0000-7000-8000-0000000000d1",
                    run_id=run_id,
                    owner_id=owner_id,
                    callback_url="https://receiver.example/hook",
                    status="succeeded",
                    max_attempts=3,
                    request_id="r",
                    webhook_id="msg_1",
                    created_at=now,
                )
            )
        store.migrate()
        run = store.runs.get(run_id)
        assert run is not None and run.status is RunStatus.SUCCEEDED
        assert run.callback_format == "prediction" and run.callback_events is None
        (delivery,) = store.callbacks.deliveries(run_id)
        assert delivery.status == "succeeded" and delivery.event is None  # the terminal callback
        store.previews.add(run_id, 1, 2, "image/webp", WEBP)
        assert _count(store) == 1
    finally:
        store.close()
