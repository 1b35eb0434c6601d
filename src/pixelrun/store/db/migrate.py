"""Schema migrations, run in code: no alembic.ini is needed at runtime.

Several processes may start at once (API replicas, workers); each calls `migrate`. On
PostgreSQL a transaction-scoped advisory lock makes them take turns, and the one that
comes second finds the schema at head and does nothing. On SQLite an exclusive file lock
beside the database file makes them take turns before the first connection is opened:
`BEGIN IMMEDIATE` alone did not, since switching a new file to WAL and alembic's own
statements can meet another migrator's lock outside the busy handler ("database is locked").
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from pixelrun.store.db.database import is_postgres

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
# An arbitrary constant shared by every Pixelrun process: "pixelrun" in ASCII, as an int.
MIGRATION_LOCK_ID = int.from_bytes(b"pixelrun", "big") & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config() -> Config:
    config = Config()
    # configparser treats % as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on `<database>.migrate.lock` (SQLite files only)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision`; safe to call concurrently from many processes."""
    config = alembic_config()
    with _sqlite_file_lock(engine), engine.begin() as conn:
        if is_postgres(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
