from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from pixelrun.store import create_engine_for, normalize_url


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
