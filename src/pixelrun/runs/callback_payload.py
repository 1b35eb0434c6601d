"""The body of a run's callback (docs/callbacks.md), built from a terminal run.

The callback spells the cancelled status the British way ("cancelled", event
"run.cancelled") while the run object says "canceled": the hosted API does so, and
receivers written for it match on these strings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from pixelrun.runs.ids import isoformat_utc
from pixelrun.runs.output import render_output
from pixelrun.runs.status import RunStatus

# Run status → (event, status as the callback spells it).
CALLBACK_EVENTS: dict[RunStatus, tuple[str, str]] = {
    RunStatus.SUCCEEDED: ("run.completed", "succeeded"),
    RunStatus.FAILED: ("run.failed", "failed"),
    RunStatus.CANCELED: ("run.cancelled", "cancelled"),
}


class CallbackRun(Protocol):
    """What the builder reads of a run (a store `RunRecord` has all of it)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> RunStatus: ...
    @property
    def output(self) -> dict[str, Any] | None: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def completed_at(self) -> datetime | None: ...
    @property
    def duration_ms(self) -> int | None: ...


def build_callback_payload(run: CallbackRun, url_for: Callable[[str], str]) -> dict[str, Any]:
    """The callback payload of a terminal run; output URLs are signed through `url_for`.

    Raises ValueError for a run that is not terminal (it has nothing to report yet).
    """
    status = RunStatus(run.status)
    if status not in CALLBACK_EVENTS:
        raise ValueError(f"run {run.id} is {status.value}, not terminal: no callback to build")
    event, callback_status = CALLBACK_EVENTS[status]
    succeeded = status is RunStatus.SUCCEEDED
    return {
        "event": event,
        "run_id": run.id,
        "status": callback_status,
        "output": render_output(run.output, url_for) if succeeded else None,
        "duration_ms": run.duration_ms,
        "created_at": isoformat_utc(run.created_at),
        "completed_at": isoformat_utc(run.completed_at) if run.completed_at is not None else None,
        "metadata": run.metadata,
    }
