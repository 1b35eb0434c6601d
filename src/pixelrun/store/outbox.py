"""The callback outbox: a delivery row written in the transaction that makes a run terminal.

Writing it there (not after the commit) means a crash can never leave a terminal run
whose callback was forgotten; the dispatcher (pixelrun.callbacks) sends it later. The
payload and body stay NULL until the first attempt freezes them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, insert

from pixelrun.runs import WebhookEvent, new_run_id, wants_webhook_event
from pixelrun.store.tables import callback_deliveries

PENDING: Final = "pending"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
DELIVERY_STATUSES: Final = (PENDING, SUCCEEDED, FAILED)
DEFAULT_MAX_ATTEMPTS: Final = 3


def enqueue_delivery(
    conn: Connection,
    run_id: str,
    owner_id: str,
    callback_url: str,
    now: datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    *,
    event: str | None = None,
    due: datetime | None = None,
) -> str:
    """Insert a pending delivery, due at `due` (default now); returns its id. Call inside the
    caller's transaction. `event`: the webhook event it carries (None: the terminal callback)."""
    delivery_id = new_run_id()  # UUIDv7: deliveries of a run list in creation order
    conn.execute(
        insert(callback_deliveries).values(
            id=delivery_id,
            run_id=run_id,
            owner_id=owner_id,
            callback_url=callback_url,
            status=PENDING,
            attempt_count=0,
            max_attempts=max_attempts,
            next_attempt_at=due or now,
            # Fixed for the life of the delivery, so a receiver can drop duplicates.
            request_id=str(uuid.uuid4()),
            webhook_id=f"msg_{uuid.uuid4().hex}",
            created_at=now,
            event=event,
        )
    )
    return delivery_id


def enqueue_if_callback(
    conn: Connection,
    run_id: str,
    owner_id: str,
    callback_url: str | None,
    now: datetime,
    events: str | None = None,
) -> str | None:
    """The outbox step of a terminal transition: a delivery when the run has a callback_url
    and its webhook events (`runs.callback_events`; None: this one only) include `completed`."""
    if not callback_url or not wants_webhook_event(events, WebhookEvent.COMPLETED):
        return None
    return enqueue_delivery(conn, run_id, owner_id, callback_url, now)
