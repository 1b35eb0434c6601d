"""Fixtures that run every store test on SQLite (a temp file) and on PostgreSQL (a real server).

PostgreSQL: one database per test session (per xdist worker), named uniquely, created
on the `postgres` database and dropped at the end; tables are truncated between tests.
Set PIXELRUN_TEST_POSTGRES_URL to point at another server (an admin URL), or
PIXELRUN_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL half instead of failing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from pixelrun.store import NewRun, Owner, RunRecord, Store
from pixelrun.store.tables import metadata

SKIP_POSTGRES = os.environ.get("PIXELRUN_TEST_SKIP_POSTGRES") == "1"
MODEL = "alibaba/qwen-image-edit-2511"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_store(postgres_databases: Any) -> Iterator[Store]:
    """One migrated database for the session; tests start from empty tables."""
    store = Store(postgres_databases.create())
    store.migrate()
    yield store
    store.close()


def _truncate(store: Store) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if backend == "postgres":
        pg: Store = request.getfixturevalue("postgres_store")
        _truncate(pg)
        yield pg
        return
    yield request.getfixturevalue("sqlite_store")


@pytest.fixture
def pg_store(postgres_store: Store) -> Store:
    """For PostgreSQL-only behaviour (LISTEN/NOTIFY): the session database, emptied."""
    _truncate(postgres_store)
    return postgres_store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """For SQLite-only behaviour: a fresh migrated file."""
    store = Store(f"sqlite:///{tmp_path / 'pixelrun.db'}")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, unmigrated database."""
    if backend == "postgres":
        return request.getfixturevalue("postgres_databases").create()
    return f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def owner(store: Store) -> Owner:
    return store.owners.ensure("acme")


MakeRun = Callable[..., RunRecord]


@pytest.fixture
def make_run(store: Store, owner: Owner) -> MakeRun:
    def make(model_id: str = MODEL, owner_id: str | None = None, **kwargs: Any) -> RunRecord:
        kwargs.setdefault("input", {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]})
        return store.runs.create(NewRun(owner_id or owner.id, model_id, **kwargs)).run

    return make
