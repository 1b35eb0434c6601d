"""Idempotent creates: one run per (owner, `Idempotency-Key`) for 24 hours (SPEC §11).

The key's row is inserted first, in the transaction that inserts the run, with an
insert-or-fetch on its primary key (`ON CONFLICT`, both back ends). Two concurrent
creates with one key therefore cannot both insert: on PostgreSQL the second insert waits
for the first transaction and then finds its row; on SQLite `BEGIN IMMEDIATE` already
makes them take turns. An expired row (older than the lifetime) is taken over in place.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from pixelrun.runs import new_run_id, utc_now
from pixelrun.store.database import write_tx
from pixelrun.store.errors import IdempotencyConflict, InsufficientCredit, OwnerNotFound
from pixelrun.store.group_commit import GroupCommit
from pixelrun.store.records import RunRecord
from pixelrun.store.runs_repo import NewRun, fetch_run, insert_run, queue_position_in_tx
from pixelrun.store.tables import idempotency_keys

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def request_hash(request: Any) -> str:
    """A stable digest of a normalised request (JSON-able), to tell a replay from a reuse."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Created:
    """What an idempotent create did: the run, and whether it is an earlier create's run."""

    run: RunRecord
    replayed: bool
    status_code: int
    # 1-based place among the model's queued runs, read in the same transaction (None once
    # it left the queue: a replay of an older run).
    queue_position: int | None = None


@dataclass(frozen=True)
class CreateRequest:
    """One create as handed to the committer thread."""

    new_run: NewRun
    key: str | None
    request_digest: str
    status_code: int
    estimated_cents: int


class IdempotentCreates:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Concurrent creates share transactions (see group_commit); their expected errors
        # leave nothing written, so they fail alone.
        self._commits: GroupCommit[CreateRequest, Created] = GroupCommit(
            engine,
            _create_in_tx,
            expected=(InsufficientCredit, OwnerNotFound, IdempotencyConflict),
            name="run-creates",
        )

    def create_run(
        self,
        new_run: NewRun,
        *,
        key: str | None,
        request_digest: str = "",
        status_code: int = 201,
        estimated_cents: int = 0,
    ) -> Created:
        """The run created under `key`, or the one an earlier identical request created.

        `key=None` is a plain create. Either way the run's queue position is read in the
        same transaction (the API shows it; a second transaction cost more than the count).
        Raises `IdempotencyConflict` when the key was used for a different request, and
        `InsufficientCredit` like any create (nothing is remembered then).
        """
        return self.create_run_future(
            new_run,
            key=key,
            request_digest=request_digest,
            status_code=status_code,
            estimated_cents=estimated_cents,
        ).result()

    def create_run_future(
        self,
        new_run: NewRun,
        *,
        key: str | None,
        request_digest: str = "",
        status_code: int = 201,
        estimated_cents: int = 0,
    ) -> Future[Created]:
        """`create_run` without waiting: its outcome as a future (the API awaits it on its loop)."""
        if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ValueError(f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters")
        return self._commits.submit_future(
            CreateRequest(new_run, key, request_digest, status_code, estimated_cents)
        )

    def close(self) -> None:
        self._commits.close()

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete keys past their lifetime (they no longer protect anything); how many."""
        cutoff = (now or utc_now()) - KEY_LIFETIME
        with write_tx(self.engine) as conn:
            result = conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
        return result.rowcount


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


def _create_in_tx(conn: Connection, request: CreateRequest) -> Created:
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
        run = insert_run(conn, new_run, request.estimated_cents, run_id=run_id, now=now)
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
