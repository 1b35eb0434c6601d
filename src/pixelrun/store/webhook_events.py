"""Non-terminal webhook events in the outbox (`start`, `output`, `logs`;
docs/compatibility.md#replicate-predictions), written in the transaction that makes them
happen, like the terminal callback (`outbox.py`).

Throttled per run, as Replicate does: an event is due no sooner than `NON_TERMINAL_INTERVAL`
after the run's previous one was sent (or is due), and an event like one still waiting is
not written again: the waiting one's body is built when it is sent, so it carries the news.
Each is sent once (no retries). The dispatcher sends a run's deliveries in order
(`store.callbacks`), so the terminal one follows the events before it and is never dropped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from pixelrun.runs import NON_TERMINAL_INTERVAL, WebhookEvent, wants_webhook_event
from pixelrun.store.outbox import PENDING, enqueue_delivery
from pixelrun.store.tables import callback_deliveries


def enqueue_webhook_event(
    conn: Connection,
    run_id: str,
    owner_id: str,
    callback_url: str | None,
    events: str | None,
    event: WebhookEvent,
    now: datetime,
) -> str | None:
    """A delivery of the non-terminal `event` when the run's filter has it; its id, or None
    when not wanted or merged into one already waiting."""
    if event.is_terminal:
        raise ValueError("the terminal event is enqueued by the run's terminal transition")
    if not callback_url or not wants_webhook_event(events, event):
        return None
    d = callback_deliveries
    latest = conn.execute(
        select(
            d.c.event, d.c.status, d.c.attempt_count, d.c.next_attempt_at, d.c.completed_at, d.c.created_at
        )
        .where(d.c.run_id == run_id, d.c.event.is_not(None))
        .order_by(d.c.id.desc())
        .limit(1)
    ).first()
    due = now
    if latest is not None:
        waiting = latest.status == PENDING and latest.attempt_count == 0
        if waiting and latest.event == event.value:
            return None
        sent_at = latest.next_attempt_at if latest.status == PENDING else latest.completed_at
        due = max(now, (sent_at or latest.created_at) + NON_TERMINAL_INTERVAL)
    return enqueue_delivery(
        conn, run_id, owner_id, callback_url, now, max_attempts=1, event=event.value, due=due
    )
