"""Wake-ups for idle workers when a run is queued.

PostgreSQL: `NOTIFY pixelrun_runs, '<model_id>'`, sent from inside the transaction that
queues the run (so it is delivered at commit, never before the row is visible), and a
`QueueWaiter` that LISTENs on a dedicated psycopg connection and returns as soon as a
notification arrives.

SQLite has no notifications between processes: the transaction that queues a run sends,
after its commit, a datagram to the Unix sockets of the idle workers of this box
(`local_wake`); the waiter returns on it, or after its poll interval (0.2 s by default)
when no wake-up comes (other machines, a lost datagram, an in-memory database).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine

from pixelrun.store.db.database import after_commit, is_postgres, listen_url_for, pg_notify
from pixelrun.store.db.local_wake import LocalWakeReceiver, wake_local

log = logging.getLogger(__name__)

CHANNEL = "pixelrun_runs"
DEFAULT_POLL_INTERVAL_SECONDS = 0.2


def notify_in_tx(conn: Connection, model_id: str) -> None:
    """Queue a notification in the current transaction, delivered at its commit."""
    if conn.dialect.name == "postgresql":
        pg_notify(conn, CHANNEL, model_id)
        return
    database = _sqlite_file(conn.engine)
    if database is None:
        return
    # After the commit, so that a woken worker finds the run; outside a write_tx at once.
    if not after_commit(conn, lambda: wake_local(database, {model_id})):
        wake_local(database, {model_id})


def _sqlite_file(engine: Engine) -> str | None:
    database = engine.url.database
    if (
        engine.dialect.name != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return None
    return database


def notify_queued(engine: Engine, model_id: str) -> None:
    if is_postgres(engine):
        with engine.begin() as conn:
            notify_in_tx(conn, model_id)
        return
    database = _sqlite_file(engine)
    if database is not None:
        wake_local(database, {model_id})


class QueueWaiter:
    """Blocks a worker until a run may be waiting for it, or until a timeout.

    A wake-up is a hint, not a promise: the caller must try to claim and may find nothing.
    `model_ids` (None: any) filters the notifications that wake the waiter.
    """

    def __init__(
        self,
        engine: Engine,
        model_ids: Iterable[str] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS,
        *,
        listen_url: str | None = None,
    ) -> None:
        self._engine = engine
        # LISTEN holds a session: not through a transaction-mode pooler
        # (docs/deployment.md#database-connections).
        self._listen_url = listen_url or listen_url_for(engine)
        self._model_ids = frozenset(model_ids) if model_ids is not None else None
        self._poll_interval = poll_interval
        self._listen_conn: Any = None
        self._local: LocalWakeReceiver | None = None
        if is_postgres(engine):
            # Listen from construction on, so that a run queued before the first wait() wakes it.
            self._connect()
        elif (database := _sqlite_file(engine)) is not None:
            try:
                self._local = LocalWakeReceiver(database)
            except OSError as exc:
                log.warning("no local wake-ups (%s); polling every %.2f s", exc, poll_interval)

    def _connect(self) -> None:
        import psycopg

        assert self._listen_url is not None
        conn = psycopg.connect(self._listen_url, autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        self._listen_conn = conn

    def wait(self, timeout: float) -> None:
        if not is_postgres(self._engine):
            wait = max(0.0, min(timeout, self._poll_interval))
            if self._local is not None:
                until = time.monotonic() + wait
                # Another model's wake-up does not count: wait on for the rest of the time.
                while not self._local.wait(until - time.monotonic(), self._model_ids):
                    if time.monotonic() >= until:
                        break
            else:
                time.sleep(wait)
            return
        self._wait_postgres(timeout)

    def _wait_postgres(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                if self._listen_conn is None:
                    self._connect()
                for notify in self._listen_conn.notifies(timeout=remaining, stop_after=1):
                    if self._model_ids is None or notify.payload in self._model_ids:
                        return
            except psycopg.OperationalError:
                # The listening connection broke: behave like polling until it is back.
                self._drop_connection()
                time.sleep(min(remaining, self._poll_interval))
                return

    def _drop_connection(self) -> None:
        if self._listen_conn is not None:
            with contextlib.suppress(Exception):
                self._listen_conn.close()
            self._listen_conn = None

    def close(self) -> None:
        self._drop_connection()
        if self._local is not None:
            self._local.close()
            self._local = None

    def __enter__(self) -> QueueWaiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
