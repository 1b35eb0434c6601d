"""Engines for SQLite and PostgreSQL, and the two kinds of transaction the store uses.

SQLite: WAL, a busy timeout, foreign keys, and `BEGIN IMMEDIATE` for write transactions
so that a write transaction holds the single write lock from its first statement (a
claim reads then updates; with a deferred BEGIN two claimers could read the same row).
This is SQLAlchemy's documented recipe: pysqlite's own transaction handling is turned
off (`isolation_level = None`) and SQLAlchemy's `begin` event emits the BEGIN.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url

from pixelrun.store.db.raw_statement import RawStatement

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
_READ_ONLY = "pixelrun_read_only"
_SINGLE_STATEMENT = "pixelrun_single_statement"


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; plain PostgreSQL URLs are rewritten to the psycopg 3 driver."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def listen_url_for(engine: Engine, listen_url: str | URL | None = None) -> str | None:
    """The libpq URL that LISTEN connects to: `listen_url`, else the engine's own database;
    None on SQLite (no LISTEN there)."""
    if not is_postgres(engine):
        return None
    url = normalize_url(listen_url) if listen_url is not None else engine.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine_for(url: str | URL, **kwargs: Any) -> Engine:
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if backend == "postgresql":
        engine = create_engine(parsed, **kwargs)
        ping_idle_connections(engine)
        return engine
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


#: A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0
_CHECKED_IN_AT = "pixelrun_checked_in_at"


def ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle (SQLAlchemy's custom
    pessimistic-disconnect recipe).

    `pool_pre_ping` pings on every checkout: a round trip that cost ~7 % of a polling
    GET. A connection in steady use needs none: if the server went away, the first
    failing statement is answered 503 and invalidates the whole pool. One that sat idle
    through a restart is what the ping is for.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            # The dialect's own ping (on psycopg: autocommit on for it, so no transaction is left open).
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and tries another (or a new one).
            raise exc.DisconnectionError(f"idle connection is dead: {error}") from error


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not pysqlite, decides when a transaction begins (see module doc).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # WAL makes NORMAL durable against application crashes, and much faster than FULL.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(_SINGLE_STATEMENT, False):
            return  # `single_read`: the statement runs in SQLite's own autocommit mode
        # Readers take no lock in WAL mode, so they must not queue behind writers.
        conn.exec_driver_sql("BEGIN" if options.get(_READ_ONLY, False) else "BEGIN IMMEDIATE")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


_writer_locks: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock | contextlib.nullcontext[None]:
    """On SQLite, threads of one process take turns at the single write lock in order.

    Without this, concurrent writers of one process (API request threads) wait in
    SQLite's busy handler, which sleeps with a growing back-off and gave p99 latencies
    above a second under load; a mutex hands the lock over at once. Writers of other
    processes (workers) still meet at SQLite's lock with the busy timeout.
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    with _writer_locks_guard:
        lock = _writer_locks.get(engine)
        if lock is None:
            lock = _writer_locks[engine] = threading.RLock()
    return lock


_AFTER_COMMIT = "pixelrun_after_commit"
_PENDING_NOTIFY = "pixelrun_pending_notify"
_BEFORE_COMMIT = "pixelrun_before_commit"


def pg_notify(conn: Connection, channel: str, payload: str) -> None:
    """`NOTIFY channel, payload` on PostgreSQL (nothing on SQLite), delivered at commit.

    Inside `write_tx` the notifications are gathered and sent in one statement just before
    the commit: a create notifies twice (queue and stream), and each statement is a round
    trip. PostgreSQL delivers notifications only at commit and folds identical ones within
    a transaction, so gathering (and folding) them changes nothing a listener sees.
    """
    if conn.dialect.name != "postgresql":
        return
    pending = conn.info.get(_PENDING_NOTIFY)
    if pending is None:
        conn.execute(_notify_statement(1), {"c0": channel, "p0": payload})
    else:
        pending[(channel, payload)] = None


_notify_statements: dict[int, Any] = {}


def _notify_statement(count: int) -> Any:
    statement = _notify_statements.get(count)
    if statement is None:
        calls = ", ".join(f"pg_notify(:c{i}, :p{i})" for i in range(count))
        statement = _notify_statements[count] = text(f"SELECT {calls}")
    return statement


_raw_notify_statements: dict[int, RawStatement] = {}


def _raw_notify_statement(count: int) -> RawStatement:
    statement = _raw_notify_statements.get(count)
    if statement is None:
        statement = _raw_notify_statements[count] = RawStatement(_notify_statement(count))
    return statement


def _flush_notifies(conn: Connection, pending: dict[tuple[str, str], None]) -> None:
    if not pending:
        return
    params: dict[str, str] = {}
    for i, (channel, payload) in enumerate(pending):
        params[f"c{i}"] = channel
        params[f"p{i}"] = payload
    pending.clear()
    _raw_notify_statement(len(params) // 2).execute(conn, params)


def after_commit(conn: Connection, hook: Callable[[], None]) -> bool:
    """Run `hook` once the current `write_tx` commits (never on rollback); False outside one."""
    hooks = conn.info.get(_AFTER_COMMIT)
    if hooks is None:
        return False
    hooks.append(hook)
    return True


def before_commit(conn: Connection, name: str, make: Callable[[], Any], flush: Callable[[Any], None]) -> Any:
    """State named `name` for the rest of the current `write_tx`, made by `make()` on first
    use, and given to `flush` once, just before the commit (never on rollback); None
    outside a `write_tx`.

    For writes gathered over a transaction and made last, in one statement: the
    `/metrics` totals, whose row locks are then held for the shortest time and always
    taken in one order (store/metric_totals.py).
    """
    states: dict[str, tuple[Any, Callable[[Any], None]]] | None = conn.info.get(_BEFORE_COMMIT)
    if states is None:
        return None
    if name not in states:
        states[name] = (make(), flush)
    return states[name][0]


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on error."""
    hooks: list[Callable[[], None]] = []
    with _writer_lock(engine), engine.begin() as conn:
        # conn.info lives as long as the pooled DBAPI connection: always take the list off.
        # Held directly: `conn.info` cannot be read any more once the connection broke.
        info = conn.info
        info[_AFTER_COMMIT] = hooks
        states: dict[str, tuple[Any, Callable[[Any], None]]] = {}
        info[_BEFORE_COMMIT] = states
        pending: dict[tuple[str, str], None] | None = None
        if conn.dialect.name == "postgresql":
            pending = info[_PENDING_NOTIFY] = {}
        try:
            yield conn
            for state, flush in states.values():
                flush(state)
            if pending:
                _flush_notifies(conn, pending)
        finally:
            info.pop(_AFTER_COMMIT, None)
            info.pop(_PENDING_NOTIFY, None)
            info.pop(_BEFORE_COMMIT, None)
    for hook in hooks:
        try:
            hook()
        except Exception:  # a hint that failed must not fail the committed work
            logging.getLogger(__name__).exception("after-commit hook failed")


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (a plain deferred BEGIN on SQLite)."""
    with engine.connect() as conn:
        conn.execution_options(**{_READ_ONLY: True})
        with conn.begin():
            yield conn


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for ONE read statement, without BEGIN and COMMIT around it.

    A single statement is consistent on its own (SQLite and PostgreSQL both run it in an
    implicit transaction), so the hot reads skip two round trips to the database. Use
    `read_tx` for anything that reads twice and needs both reads to agree.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            yield conn.execution_options(**{_SINGLE_STATEMENT: True})
