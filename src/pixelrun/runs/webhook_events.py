"""Replicate's webhook events (docs/compatibility.md#replicate-predictions): which ones a
run's callback URL receives, and how often.

`start` when the run starts computing, `logs` when it writes a log line, `output` when its
output exists, `completed` when it is terminal. A run stores its choice as a comma-separated
string (`runs.callback_events`); None means the terminal one only, which is what the native
run callback (docs/callbacks.md) always is. Non-terminal events are sent at most every
`NON_TERMINAL_INTERVAL` per run, each once (no retries: a later event carries its news); the
terminal one is never throttled and has its retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from typing import Final


class WebhookEvent(StrEnum):
    START = "start"
    OUTPUT = "output"
    LOGS = "logs"
    COMPLETED = "completed"

    @property
    def is_terminal(self) -> bool:
        return self is WebhookEvent.COMPLETED


#: What a Replicate prediction without `webhook_events_filter` receives: every event.
ALL_WEBHOOK_EVENTS: Final = tuple(WebhookEvent)
NON_TERMINAL_INTERVAL: Final = timedelta(milliseconds=500)


def format_webhook_events(events: Iterable[str]) -> str | None:
    """The stored form of a filter: its events in a fixed order, comma-separated; None when
    it is the terminal event alone (the default of every run)."""
    chosen = {WebhookEvent(event) for event in events}
    if chosen == {WebhookEvent.COMPLETED}:
        return None
    return ",".join(event.value for event in WebhookEvent if event in chosen)


def wants_webhook_event(callback_events: str | None, event: WebhookEvent) -> bool:
    """Whether a run with this stored filter sends `event`."""
    if callback_events is None:
        return event is WebhookEvent.COMPLETED
    return event.value in callback_events.split(",")
