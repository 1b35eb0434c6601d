"""Single-statement reads on the API's event loop, without a thread (the polling read:
a run and its queue position, `store.runs.get_with_position_on_loop`).

`GET /v1/runs/{id}` is what waiting clients send over and over. Handing its one indexed
read to a worker thread and back cost more CPU than the read itself (the hop, and the
threads taking turns at the GIL: about 0.2 ms per request at 16 clients, half the cost
of the whole request; docs/operations.md). So the read runs on the loop:

- PostgreSQL: through SQLAlchemy's asyncio engine on psycopg's async connection, so
  the loop waits for the database without blocking; the same prebuilt statement as the
  threaded read (`RawStatement` runs inside `run_sync`).
- SQLite: a plain read on a connection of its own that never waits: in WAL mode readers
  do not wait for writers, and on the rare lock (recovery, a checkpoint that resets the
  log) it gives up at once (busy timeout 0) and the read goes to a thread with the usual
  timeout instead of stalling the loop.

Errors are SQLAlchemy's, like the threaded read's, so an outage is still a 503.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pixelrun.store.db.database import ping_idle_connections, single_read
from pixelrun.store.db.raw_statement import RawStatement

#: Connections of the PostgreSQL read pool of one API process.
ASYNC_POOL_SIZE = 4


class LoopReads:
    """Prebuilt reads for coroutines; create and `await close()` on the loop that uses it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._async_engine: AsyncEngine | None = None
        self._nowait_engine: Engine | None = None
        if engine.dialect.name == "postgresql":
            # Single statements: autocommit, no BEGIN/COMMIT round trips (like `single_read`).
            self._async_engine = create_async_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_size=ASYNC_POOL_SIZE,
                max_overflow=0,
                # Autocommit: no transaction is ever left to roll back at check-in.
                pool_reset_on_return=None,
            )
            ping_idle_connections(self._async_engine.sync_engine)
        elif engine.url.database not in (None, "", ":memory:"):
            self._nowait_engine = _nowait_sqlite_engine(engine)

    async def first_mapping(self, query: RawStatement, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row of `query` as a dict (None when it has none), awaited."""
        if self._async_engine is not None:
            async with self._async_engine.connect() as conn:
                return await conn.run_sync(lambda sync_conn: query.first_mapping(sync_conn, params))
        if self._nowait_engine is not None:
            try:
                with self._nowait_engine.connect() as conn:
                    return query.first_mapping(conn, params)
            except sa_exc.OperationalError as error:
                if "locked" not in str(error.orig).lower():
                    raise
        return await anyio.to_thread.run_sync(self._threaded_first_mapping, query, params)

    def _threaded_first_mapping(self, query: RawStatement, params: dict[str, Any]) -> dict[str, Any] | None:
        with single_read(self._engine) as conn:
            return query.first_mapping(conn, params)

    async def close(self) -> None:
        if self._async_engine is not None:
            await self._async_engine.dispose()
        if self._nowait_engine is not None:
            self._nowait_engine.dispose()


def _nowait_sqlite_engine(engine: Engine) -> Engine:
    # One connection, used by the loop thread only (check_same_thread off: the pool may
    # create it on another thread at first use); timeout 0 = busy timeout 0.
    nowait = create_engine(
        engine.url,
        connect_args={"check_same_thread": False, "timeout": 0},
        pool_size=1,
        max_overflow=0,
    )

    @event.listens_for(nowait, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit: one statement, no BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    return nowait
