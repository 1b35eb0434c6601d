"""`store.storage_identities`: which file storage each process sharing this store uses.

Every API process and worker reports its storage's identity (a local directory's own id,
or the bucket and prefix) with a time. Processes that share a store must share their file
storage too, or a file written by one is missing on another (docs/deployment.md, "Settings
that must agree"); readiness compares the identities reported recently, and the file
route says when a missing file is probably on another machine's disk.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from pixelrun.runs import utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.records import ReportedStorage
from pixelrun.store.tables import storage_identities


class StorageIdentitiesRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def report(self, identity: str, description: str, host: str) -> None:
        """This process uses `identity` now (one row per storage, whoever reports it)."""
        values = {"description": description[:600], "host": host[:255], "seen_at": utc_now()}
        where = storage_identities.c.identity == identity
        with write_tx(self._engine) as conn:
            if conn.execute(update(storage_identities).where(where).values(**values)).rowcount:
                return
        try:
            with write_tx(self._engine) as conn:
                conn.execute(insert(storage_identities).values(identity=identity, **values))
        except IntegrityError:  # another process inserted it first
            with write_tx(self._engine) as conn:
                conn.execute(update(storage_identities).where(where).values(**values))

    def others(self, identity: str, within: timedelta | None = None) -> list[ReportedStorage]:
        """Storage other than `identity` reported by processes of this store (within `within`,
        if given), most recent first."""
        query = select(storage_identities).where(storage_identities.c.identity != identity)
        if within is not None:
            query = query.where(storage_identities.c.seen_at >= utc_now() - within)
        with read_tx(self._engine) as conn:
            rows = conn.execute(query.order_by(storage_identities.c.seen_at.desc())).mappings().all()
        return [ReportedStorage(r["identity"], r["description"], r["host"], r["seen_at"]) for r in rows]
