"""Fixtures that run every store test on SQLite (a temp file) and on PostgreSQL (a real server).

PostgreSQL: one database per test session (per xdist worker), named uniquely, created
on the `postgres` database and dropped at the end; tables are truncated between tests.
Set PIXELRUN_TEST_POSTGRES_URL to point at another server (an admin URL), or
PIXELRUN_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL half instead of failing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pixelrun.store import Owner, RunRecord, Store
from pixelrun.store.tables import metadata

ADMIN_URL = os.environ.get("PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SKIP_POSTGRES = os.environ.get("PIXELRUN_TEST_SKIP_POSTGRES") == "1"
MODEL = "alibaba/qwen-image-edit-2511"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class PostgresServer:
    """Creates uniquely named databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql")
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url.render_as_string(hide_password=False), autocommit=True)

    def check(self) -> None:
        try:
            with self._admin() as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at {self.admin_url!r}: {exc}\n"
                "Start it (pg_ctlcluster --skip-systemctl-redirect <version> main start), point "
                "PIXELRUN_TEST_POSTGRES_URL at a server, or set PIXELRUN_TEST_SKIP_POSTGRES=1.",
                pytrace=False,
            )

    def create_database(self) -> str:
        name = f"pixelrun_test_{uuid.uuid4().hex[:16]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if SKIP_POSTGRES:
        pytest.skip("PIXELRUN_TEST_SKIP_POSTGRES=1")
    server = PostgresServer(ADMIN_URL)
    server.check()
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def postgres_store(postgres_server: PostgresServer) -> Iterator[Store]:
    """One migrated database for the session; tests start from empty tables."""
    store = Store(postgres_server.create_database())
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
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database()
    return f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def owner(store: Store) -> Owner:
    return store.ensure_owner("acme")


MakeRun = Callable[..., RunRecord]


@pytest.fixture
def make_run(store: Store, owner: Owner) -> MakeRun:
    def make(model_id: str = MODEL, owner_id: str | None = None, **kwargs: Any) -> RunRecord:
        kwargs.setdefault("input", {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]})
        return store.create_run(owner_id or owner.id, model_id, **kwargs)

    return make
