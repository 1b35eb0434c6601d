"""Which database errors mean "the store cannot be reached now" (503) and which are bugs (500)."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa_exc

from pixelrun.store import is_unavailable


def wrapped(error: Exception, cls: type[sa_exc.DBAPIError] = sa_exc.OperationalError) -> sa_exc.DBAPIError:
    return cls("SELECT 1", {}, error)


def test_postgres_connection_errors_are_outages() -> None:
    assert is_unavailable(wrapped(psycopg.OperationalError("connection refused")))
    assert is_unavailable(wrapped(psycopg.InterfaceError("connection closed"), sa_exc.InterfaceError))
    invalidated = sa_exc.DBAPIError("SELECT 1", {}, psycopg.DatabaseError("x"), connection_invalidated=True)
    assert is_unavailable(invalidated)


def test_sqlite_only_locks_and_unopenable_files_are_outages() -> None:
    assert is_unavailable(wrapped(sqlite3.OperationalError("database is locked")))
    assert is_unavailable(wrapped(sqlite3.OperationalError("unable to open database file")))
    assert not is_unavailable(wrapped(sqlite3.OperationalError("no such table: runs")))


def test_other_errors_are_not_outages() -> None:
    assert not is_unavailable(wrapped(psycopg.errors.UniqueViolation("dup"), sa_exc.IntegrityError))
    assert not is_unavailable(ValueError("nope"))
