from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pixelrun.store import Store, current_revision, head_revision
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
