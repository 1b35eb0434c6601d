from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from pixelrun.store import Store, create_engine_for, is_unavailable, normalize_url
from pixelrun.store.db import database


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@db:5432/pixelrun",
        "postgresql://u:p@db:5432/pixelrun",
        "postgresql+psycopg://u:p@db:5432/pixelrun",
    ],
)
def test_postgres_urls_use_psycopg(url: str) -> None:
    parsed = normalize_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.host, parsed.port, parsed.database, parsed.password) == ("db", 5432, "pixelrun", "p")


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_engine_for("mysql://u@h/db")


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_sqlite_write_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """A second BEGIN IMMEDIATE must wait: this is what makes SQLite claims single-writer."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.begin() as first:
            first.execute(text("SELECT 1"))  # autobegin: BEGIN IMMEDIATE
            other = engine.connect()
            try:
                raw = other.connection.dbapi_connection
                assert raw is not None
                raw.execute("PRAGMA busy_timeout = 0")
                with pytest.raises(Exception, match="locked"):
                    raw.execute("BEGIN IMMEDIATE")
                # A reader is not blocked (WAL, deferred BEGIN).
                raw.execute("BEGIN")
                assert raw.execute("SELECT count(*) FROM t").fetchone() == (0,)
                raw.execute("ROLLBACK")
            finally:
                other.close()
    finally:
        engine.dispose()


@pytest.fixture
def own_pg_url(postgres_databases: Any) -> str:
    """A database of its own: the test kills every session on it."""
    url = postgres_databases.create()
    Store(url).migrate()
    return url


def _backend_pid(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill_sessions(url: str) -> None:
    """Terminate every other session on the database, as a server restart would."""
    killer = create_engine_for(url, poolclass=NullPool)
    with killer.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        conn.commit()
    killer.dispose()


@pytest.mark.postgres
def test_postgres_idle_connections_are_pinged_before_use(
    own_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(engine=create_engine_for(own_pg_url, pool_size=1, max_overflow=0))
    try:
        pid_before = _backend_pid(store)
        _kill_sessions(own_pg_url)
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        # The pooled connection is dead; the ping at checkout finds it and the pool opens another.
        assert _backend_pid(store) != pid_before
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_connections_in_steady_use_are_not_pinged(own_pg_url: str) -> None:
    store = Store(engine=create_engine_for(own_pg_url, pool_size=1, max_overflow=0))
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        for _ in range(3):
            _backend_pid(store)
        assert statements == ["SELECT pg_backend_pid()"] * 3
        # Killed while in steady use: its first statement fails (that request's 503), the
        # pool is invalidated, and the next statement works on a new connection.
        _kill_sessions(own_pg_url)
        with pytest.raises(OperationalError) as failure:
            _backend_pid(store)
        assert is_unavailable(failure.value)
        _backend_pid(store)
    finally:
        store.close()
