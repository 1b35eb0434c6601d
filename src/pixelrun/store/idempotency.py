"""A create inside a shared transaction, idempotent under a key: one run per (owner,
`Idempotency-Key`) for 24 hours (docs/api.md).

The key's row is inserted first, in the transaction that inserts the run, with an
insert-or-fetch on its primary key (`ON CONFLICT`, both back ends). Two concurrent
creates with one key therefore cannot both insert: on PostgreSQL the second insert waits
for the first transaction and then finds its row; on SQLite `BEGIN IMMEDIATE` already
makes them take turns. An expired row (older than the lifetime) is taken over in place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from pixelrun.runs import new_run_id, utc_now
from pixelrun.store.errors import IdempotencyConflict, InsufficientCredit, OwnerNotFound
from pixelrun.store.records import Created, NewRun
from pixelrun.store.runs_tx import fetch_run, insert_run, queue_position_in_tx
from pixelrun.store.tables import idempotency_keys

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def request_hash(request: Any) -> str:
    """A stable digest of a normalised request (JSON-able), to tell a replay from a reuse."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CreateRequest:
    """One create as handed to the committer thread."""

    new_run: NewRun
    key: str | None
    request_digest: str
    status_code: int
    estimated_micros: int


def _claim_key(
    conn: Connection, owner_id: str, key: str, digest: str, run_id: str, status_code: int, now: datetime
) -> bool:
    """Insert the key's row, or take over an expired one; False when a live row exists."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = {
        "owner_id": owner_id,
        "key": key,
        "request_hash": digest,
        "run_id": run_id,
        "status_code": status_code,
        "created_at": now,
    }
    statement = dialect_insert(idempotency_keys).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[idempotency_keys.c.owner_id, idempotency_keys.c.key],
        set_={
            name: statement.excluded[name] for name in ("request_hash", "run_id", "status_code", "created_at")
        },
        where=idempotency_keys.c.created_at < now - KEY_LIFETIME,
    )
    # RETURNING rather than rowcount: a row comes back only when this statement wrote it.
    return conn.execute(statement.returning(idempotency_keys.c.run_id)).first() is not None


def create_in_tx(conn: Connection, request: CreateRequest) -> Created:
    """One create inside a shared write transaction; raises its expected errors with
    nothing of it written (the batch it is part of commits without it)."""
    new_run, key = request.new_run, request.key
    now = utc_now()
    run_id = new_run_id()
    if key is not None and not _claim_key(
        conn, new_run.owner_id, key, request.request_digest, run_id, request.status_code, now
    ):
        row = conn.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.owner_id == new_run.owner_id, idempotency_keys.c.key == key
            )
        ).one()
        if row.request_hash != request.request_digest:
            raise IdempotencyConflict(key, row.run_id)
        run = fetch_run(conn, row.run_id)
        return Created(run, True, row.status_code, queue_position_in_tx(conn, run))
    try:
        run = insert_run(conn, new_run, request.estimated_micros, run_id=run_id, now=now)
    except (InsufficientCredit, OwnerNotFound):
        if key is not None:
            # Nothing is remembered for a refused create: undo the key's row.
            conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.owner_id == new_run.owner_id, idempotency_keys.c.key == key
                )
            )
        raise
    return Created(run, False, request.status_code, queue_position_in_tx(conn, run))
