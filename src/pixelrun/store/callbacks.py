"""Callbacks in the store: owners' signing secrets, the delivery history, redeliveries,
and the claim/freeze/record steps the dispatcher (pixelrun.callbacks) is built on.

Claims: a dispatcher marks due deliveries with `claimed_by` and `claim_expires_at`, so
that several API processes never send the same delivery at once. PostgreSQL uses
`FOR UPDATE SKIP LOCKED`; SQLite renders no FOR UPDATE and `BEGIN IMMEDIATE` makes the
claim the only writer. An expired claim (its process died mid-attempt) is claimed again:
the attempt that was in flight is then sent once more, so a receiver may see the same
delivery twice in that window, with the same `Runflow-Request-Id` and `webhook-id`.
After each attempt the claim is released; the next attempt is due at `next_attempt_at`.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update

from pixelrun.runs import NON_TERMINAL_INTERVAL, utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.errors import DeliveryInFlight, OwnerNotFound, RedeliveryNotAllowed
from pixelrun.store.metric_totals import attempt_outcome, count_attempt_in_tx
from pixelrun.store.outbox import FAILED, PENDING, SUCCEEDED, enqueue_delivery
from pixelrun.store.records import AttemptRecord, CallbackSecretRecord, DeliveryRecord
from pixelrun.store.runs_tx import fetch_run
from pixelrun.store.tables import callback_attempts, callback_deliveries, callback_secrets, owners

# ---- secrets ----

# The format of pixelrun.callbacks.signing.generate_secret (docs/callbacks.md), written out here
# because the store may not import the callbacks package (it imports the store).
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


# ---- history and redelivery ----


def _attempts_of(conn: Connection, delivery_ids: list[str]) -> dict[str, tuple[AttemptRecord, ...]]:
    by_delivery: dict[str, list[AttemptRecord]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        rows = conn.execute(
            select(callback_attempts)
            .where(callback_attempts.c.delivery_id.in_(delivery_ids))
            .order_by(callback_attempts.c.attempt_number, callback_attempts.c.id)
        ).mappings()
        for row in rows:
            by_delivery[row["delivery_id"]].append(AttemptRecord.from_row(row))
    return {d: tuple(a) for d, a in by_delivery.items()}


# ---- the dispatcher's steps ----


_EARLIER = callback_deliveries.alias("earlier")
# A run's deliveries go out in order (its webhook events, then the terminal one): one waits
# while an earlier one of its run is pending (docs/compatibility.md#replicate-predictions).
_WAITS_FOR_EARLIER = (
    select(_EARLIER.c.id)
    .where(
        _EARLIER.c.run_id == callback_deliveries.c.run_id,
        _EARLIER.c.status == PENDING,
        _EARLIER.c.id < callback_deliveries.c.id,
    )
    .exists()
)


def _claimable(now: datetime) -> Any:
    return (
        callback_deliveries.c.status == PENDING,
        or_(callback_deliveries.c.claim_expires_at.is_(None), callback_deliveries.c.claim_expires_at <= now),
        ~_WAITS_FOR_EARLIER,
    )


def _owned(delivery_id: str, worker_id: str) -> tuple[Any, ...]:
    return (
        callback_deliveries.c.id == delivery_id,
        callback_deliveries.c.claimed_by == worker_id,
        callback_deliveries.c.status == PENDING,
    )


def _space_next_event(conn: Connection, delivery_id: str, now: datetime) -> None:
    """After a non-terminal webhook event went out, its run's next waiting event is due no
    sooner than `NON_TERMINAL_INTERVAL` later: the interval counts from when an event was
    sent, not from when it was due (a late send must not bunch the next one up behind it;
    docs/compatibility.md#replicate-predictions). The terminal delivery is never held back."""
    sent = conn.execute(
        select(callback_deliveries.c.run_id, callback_deliveries.c.event).where(
            callback_deliveries.c.id == delivery_id
        )
    ).one()
    if sent.event is None:
        return
    earliest = now + NON_TERMINAL_INTERVAL
    conn.execute(
        update(callback_deliveries)
        .where(
            callback_deliveries.c.run_id == sent.run_id,
            callback_deliveries.c.event.is_not(None),
            callback_deliveries.c.status == PENDING,
            callback_deliveries.c.attempt_count == 0,
            callback_deliveries.c.next_attempt_at < earliest,
        )
        .values(next_attempt_at=earliest)
    )


class CallbacksRepo:
    """`store.callbacks`: signing secrets, the delivery history, redeliveries, and the dispatcher's steps."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_secret(self, owner_id: str, label: str) -> tuple[CallbackSecretRecord, str]:
        """A new secret for the owner: its record and the plain `whsec_…` string (show it once).

        The secret is stored as is (not hashed): signing needs it on every callback.
        """
        plain = generate_secret()
        record = CallbackSecretRecord(
            id=f"cbs_{uuid.uuid4().hex}",
            owner_id=owner_id,
            label=label,
            created_at=utc_now(),
            revoked_at=None,
        )
        with write_tx(self._engine) as conn:
            if conn.execute(select(owners.c.id).where(owners.c.id == owner_id)).first() is None:
                raise OwnerNotFound(owner_id)
            conn.execute(
                insert(callback_secrets).values(
                    id=record.id,
                    owner_id=owner_id,
                    label=label,
                    secret=plain,
                    created_at=record.created_at,
                )
            )
        return record, plain

    def list_secrets(self, owner_id: str, include_revoked: bool = False) -> list[CallbackSecretRecord]:
        """The owner's secrets, oldest first, without the secrets themselves."""
        query = select(callback_secrets).where(callback_secrets.c.owner_id == owner_id)
        if not include_revoked:
            query = query.where(callback_secrets.c.revoked_at.is_(None))
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                query.order_by(callback_secrets.c.created_at, callback_secrets.c.id)
            ).mappings()
            return [CallbackSecretRecord.from_row(r) for r in rows]

    def revoke_secret(self, owner_id: str, secret_id: str) -> bool:
        """Revoke one of the owner's secrets; False when unknown, another owner's or already revoked."""
        with write_tx(self._engine) as conn:
            result = conn.execute(
                update(callback_secrets)
                .where(
                    callback_secrets.c.id == secret_id,
                    callback_secrets.c.owner_id == owner_id,
                    callback_secrets.c.revoked_at.is_(None),
                )
                .values(revoked_at=utc_now())
            )
        return result.rowcount == 1

    def active_secrets(self, owner_id: str) -> list[str]:
        """The owner's active `whsec_…` secrets, newest first (two during a rotation)."""
        with read_tx(self._engine) as conn:
            return list(
                conn.execute(
                    select(callback_secrets.c.secret)
                    .where(callback_secrets.c.owner_id == owner_id, callback_secrets.c.revoked_at.is_(None))
                    .order_by(callback_secrets.c.created_at.desc(), callback_secrets.c.id.desc())
                ).scalars()
            )

    def deliveries(self, run_id: str) -> list[DeliveryRecord]:
        """Every delivery of the run, oldest first, each with its attempts."""
        with read_tx(self._engine) as conn:
            rows = list(
                conn.execute(
                    select(callback_deliveries)
                    .where(callback_deliveries.c.run_id == run_id)
                    .order_by(callback_deliveries.c.created_at, callback_deliveries.c.id)
                ).mappings()
            )
            attempts = _attempts_of(conn, [r["id"] for r in rows])
        return [DeliveryRecord.from_row(r, attempts[r["id"]]) for r in rows]

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        with read_tx(self._engine) as conn:
            row = (
                conn.execute(select(callback_deliveries).where(callback_deliveries.c.id == delivery_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            return DeliveryRecord.from_row(row, _attempts_of(conn, [delivery_id])[delivery_id])

    def redeliver(self, run_id: str, owner_id: str) -> DeliveryRecord:
        """A new delivery of the run's callback, due now; its payload is rebuilt from the run as it
        is at the first attempt (a run is terminal, so that is its current state).

        Raises `RunNotFound` (unknown or another owner's), `RedeliveryNotAllowed` (not terminal,
        or no callback_url) and `DeliveryInFlight` (a delivery of the run is still pending).
        """
        now = utc_now()
        with write_tx(self._engine) as conn:
            # Locking the run serialises concurrent redeliveries of it on PostgreSQL.
            run = fetch_run(conn, run_id, owner_id, lock=True)
            if not run.is_terminal:
                raise RedeliveryNotAllowed(run_id, f"the run is {run.status.value}; it has no callback yet")
            if not run.callback_url:
                raise RedeliveryNotAllowed(run_id, "the run has no callback_url")
            pending = conn.execute(
                select(callback_deliveries.c.id)
                .where(callback_deliveries.c.run_id == run_id, callback_deliveries.c.status == PENDING)
                .limit(1)
            ).scalar_one_or_none()
            if pending is not None:
                raise DeliveryInFlight(run_id, pending)
            delivery_id = enqueue_delivery(conn, run_id, run.owner_id, run.callback_url, now)
            row = (
                conn.execute(select(callback_deliveries).where(callback_deliveries.c.id == delivery_id))
                .mappings()
                .one()
            )
            return DeliveryRecord.from_row(row)

    def next_due_at(self, now: datetime | None = None) -> datetime | None:
        """When the earliest unclaimed pending delivery is due (a read, so idle polling takes no lock)."""
        now = now or utc_now()
        with read_tx(self._engine) as conn:
            return conn.execute(
                select(func.min(callback_deliveries.c.next_attempt_at)).where(*_claimable(now))
            ).scalar_one_or_none()

    def claim_due(
        self, worker_id: str, claim_seconds: float, limit: int = 10, now: datetime | None = None
    ) -> list[DeliveryRecord]:
        """Claim up to `limit` due deliveries for this dispatcher until `now + claim_seconds`."""
        now = now or utc_now()
        with write_tx(self._engine) as conn:
            rows = list(
                conn.execute(
                    select(callback_deliveries)
                    .where(*_claimable(now), callback_deliveries.c.next_attempt_at <= now)
                    .order_by(callback_deliveries.c.next_attempt_at, callback_deliveries.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).mappings()
            )
            if not rows:
                return []
            expires = now + timedelta(seconds=claim_seconds)
            conn.execute(
                update(callback_deliveries)
                .where(callback_deliveries.c.id.in_([r["id"] for r in rows]))
                .values(claimed_by=worker_id, claim_expires_at=expires)
            )
            return [
                DeliveryRecord.from_row({**r, "claimed_by": worker_id, "claim_expires_at": expires})
                for r in rows
            ]

    def freeze_body(self, delivery_id: str, worker_id: str, payload: dict[str, Any], body: str) -> str | None:
        """Store the payload and body of the first attempt unless already frozen.

        Returns the body every attempt must send (this one, or the one frozen before), or None
        when this dispatcher no longer holds the claim (send nothing then).
        """
        with write_tx(self._engine) as conn:
            conn.execute(
                update(callback_deliveries)
                .where(*_owned(delivery_id, worker_id), callback_deliveries.c.body.is_(None))
                .values(payload=payload, body=body)
            )
            return conn.execute(
                select(callback_deliveries.c.body).where(*_owned(delivery_id, worker_id))
            ).scalar_one_or_none()

    def record_attempt(
        self,
        delivery_id: str,
        worker_id: str,
        attempt_number: int,
        *,
        status_code: int | None,
        response_time_ms: int,
        error_message: str | None,
        webhook_timestamp: int | None,
        outcome: str,
        retry_at: datetime | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Record one attempt and its outcome, and release the claim, in one transaction.

        `outcome` is "succeeded", "failed" (final) or "pending" (retry at `retry_at`). Fenced by
        the claim and the attempt number: False, writing nothing, when another dispatcher took
        the delivery over (this one's claim expired) or it is no longer pending.
        """
        if outcome not in (PENDING, SUCCEEDED, FAILED):
            raise ValueError(f"unknown delivery outcome {outcome!r}")
        if outcome == PENDING and retry_at is None:
            raise ValueError("a retry needs retry_at")
        now = now or utc_now()
        done = outcome != PENDING
        with write_tx(self._engine) as conn:
            result = conn.execute(
                update(callback_deliveries)
                .where(
                    *_owned(delivery_id, worker_id), callback_deliveries.c.attempt_count == attempt_number - 1
                )
                .values(
                    status=outcome,
                    attempt_count=attempt_number,
                    next_attempt_at=None if done else retry_at,
                    completed_at=now if done else None,
                    webhook_timestamp=webhook_timestamp,
                    claimed_by=None,
                    claim_expires_at=None,
                )
            )
            if result.rowcount != 1:
                return False
            conn.execute(
                insert(callback_attempts).values(
                    delivery_id=delivery_id,
                    attempt_number=attempt_number,
                    status_code=status_code,
                    response_time_ms=response_time_ms,
                    error_message=error_message,
                    created_at=now,
                )
            )
            count_attempt_in_tx(
                conn, delivery_id, attempt_outcome(status_code, outcome == FAILED), attempt_number
            )
            if done:
                _space_next_event(conn, delivery_id, now)
            return True
