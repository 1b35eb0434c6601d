"""Migration 0020 numbers the runs already queued, so that they keep their order and their
positions are exact after the upgrade (docs/queue.md)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from pixelrun.runs import utc_now
from pixelrun.store import NewRun, Store
from pixelrun.store.db.migrate import migrate

MODEL = "alibaba/qwen-image-edit-2511"


def test_runs_queued_before_the_upgrade_keep_their_order(fresh_url: str) -> None:
    store = Store(fresh_url)
    try:
        migrate(store.engine, "0013")
        now = utc_now()
        with store.engine.begin() as conn:
            for owner in ("a", "b"):
                conn.execute(
                    text("INSERT INTO owners (id, name, spent_cents, created_at) VALUES (:id, :id, 0, :now)"),
                    {"id": owner, "now": now},
                )
            layout = [
                ("a1", "a", "queued"),
                ("a0", "a", "succeeded"),
                ("b1", "b", "queued"),
                ("a2", "a", "queued"),
            ]
            layout += [("a3", "a", "queued"), ("b2", "b", "queued")]
            for i, (run_id, owner, status) in enumerate(layout):
                conn.execute(
                    text(
                        "INSERT INTO runs (id, owner_id, model_id, status, input, created_at, attempt, "
                        "max_attempts, graceful_requeues, cost_cents, cancel_requested) VALUES "
                        "(:id, :owner, :model, :status, '{}', :created, 0, 3, 0, 0, false)"
                    ),
                    {
                        "id": run_id,
                        "owner": owner,
                        "model": MODEL,
                        "status": status,
                        "created": now + timedelta(seconds=i),
                    },
                )
        store.migrate()
        positions = {
            run_id: store.runs.get_with_position(run_id)[1] for run_id in ("a1", "b1", "a2", "b2", "a3")
        }  # type: ignore[index]
        assert positions == {"a1": 1, "b1": 2, "a2": 3, "b2": 4, "a3": 5}
        # A run created after the upgrade follows on from its owner's numbered ones.
        b3 = store.runs.create(NewRun("b", MODEL, {"prompt": "x"})).run
        assert store.runs.get_with_position(b3.id)[1] == 6  # type: ignore[index]
        order = []
        while (run := store.queue.claim("w", [MODEL], 30)) is not None:
            order.append(run.id)
        assert order == ["a1", "b1", "a2", "b2", "a3", b3.id]
    finally:
        store.close()
