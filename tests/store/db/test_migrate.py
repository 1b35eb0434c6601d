from __future__ import annotations

import threading
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from pixelrun.runs import RunStatus
from pixelrun.store import Store, current_revision, head_revision
from pixelrun.store.db.migrate import migrate
from pixelrun.store.tables import metadata


def test_migrations_apply_and_are_idempotent(fresh_url: str) -> None:
    store = Store(fresh_url)
    try:
        assert current_revision(store.engine) is None
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        tables = set(inspect(store.engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= tables
    finally:
        store.close()


def test_migrated_schema_matches_the_tables(fresh_url: str) -> None:
    store = Store(fresh_url)
    try:
        store.migrate()
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        store.close()


def test_concurrent_migrations_take_turns(fresh_url: str) -> None:
    stores = [Store(fresh_url) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(store: Store) -> None:
        try:
            barrier.wait()
            store.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert current_revision(stores[0].engine) == head_revision()
    finally:
        for s in stores:
            s.close()


def test_cents_become_micro_dollars(fresh_url: str) -> None:
    # A store at 0013 holds the ledger in whole cents; 0014 converts it exactly
    # (docs/api.md#billing), keeping every row that references owners and runs.
    store = Store(fresh_url)
    try:
        migrate(store.engine, "0013")
        now = datetime(2026, 12, 1, tzinfo=UTC)
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO owners (id, name, budget_cents, spent_cents, created_at) VALUES "
                    "('own_a', 'a', 1000, 83, :now), ('own_b', 'b', NULL, 7, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, owner_id, label, key_prefix, key_hash, created_at) "
                    "VALUES ('key_a', 'own_a', 'k', 'px_', 'hash', :now)"
                ),
                {"now": now},
            )
            for run_id, owner_id, cents in (("r1", "own_a", 4), ("r2", "own_a", 0), ("r3", "own_b", 7)):
                conn.execute(
                    text(
                        "INSERT INTO runs (id, owner_id, model_id, status, input, created_at, cost, "
                        "cost_cents, attempt, max_attempts, graceful_requeues, cancel_requested) VALUES "
                        "(:id, :owner, 'm', 'succeeded', '{}', :now, '0.031457', :cents, 1, 1, 0, false)"
                    ),
                    {"id": run_id, "owner": owner_id, "cents": cents, "now": now},
                )
                conn.execute(
                    text(
                        "INSERT INTO run_events (run_id, to_status, attempt, created_at) "
                        "VALUES (:id, 'queued', 0, :now)"
                    ),
                    {"id": run_id, "now": now},
                )
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        assert store.owners.balance("own_a") == (10_000_000, 830_000)
        assert store.owners.balance("own_b") == (None, 70_000)
        assert [
            (run.id, run.cost_micros)
            for run in (store.runs.get(run_id) for run_id in ("r1", "r2", "r3"))
            if run
        ] == [("r1", 40_000), ("r2", 0), ("r3", 70_000)]
        assert [event.to_status for event in store.history.events("r1")] == [RunStatus.QUEUED]
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM api_keys WHERE owner_id = 'own_a'")).scalar() == 1
            # 64 bits: a budget beyond 2**31 micro-dollars ($2147) fits.
            conn.execute(text("UPDATE owners SET budget_micros = :big WHERE id = 'own_a'"), {"big": 2**53})
            conn.commit()
        assert store.owners.balance("own_a") == (2**53, 830_000)
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        store.close()
