"""The callback payload builder (pixelrun.runs.callback_payload): docs/callbacks.md, field for field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pixelrun.runs import CALLBACK_EVENTS, RunStatus, build_callback_payload

CREATED = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@dataclass
class FakeRun:
    status: RunStatus
    id: str = "0190a5c0-0000-7000-8000-000000000001"
    output: dict[str, Any] | None = field(
        default_factory=lambda: {"outputs": [{"key": "runs/a/0.png", "width": 8}], "seed": 3}
    )
    metadata: dict[str, Any] | None = field(default_factory=lambda: {"order": 42})
    created_at: datetime = CREATED
    completed_at: datetime | None = CREATED + timedelta(seconds=2, milliseconds=500)

    @property
    def duration_ms(self) -> int | None:
        if self.completed_at is None:
            return None
        return int((self.completed_at - self.created_at).total_seconds() * 1000)


def url_for(key: str) -> str:
    return f"https://files.test/{key}?sig=1"


def test_succeeded_payload_has_exactly_the_spec_fields_and_signed_urls() -> None:
    run = FakeRun(RunStatus.SUCCEEDED)
    payload = build_callback_payload(run, url_for)
    assert payload == {
        "event": "run.completed",
        "run_id": run.id,
        "status": "succeeded",
        "output": {"outputs": [{"url": "https://files.test/runs/a/0.png?sig=1", "width": 8}], "seed": 3},
        "duration_ms": 2500,
        "created_at": "2025-01-02T03:04:05.123456+00:00",
        "completed_at": "2025-01-02T03:04:07.623456+00:00",
        "metadata": {"order": 42},
    }
    assert run.output == {"outputs": [{"key": "runs/a/0.png", "width": 8}], "seed": 3}  # not mutated
    json.dumps(payload, allow_nan=False)


@pytest.mark.parametrize(
    ("status", "event", "spelled"),
    [(RunStatus.FAILED, "run.failed", "failed"), (RunStatus.CANCELED, "run.cancelled", "cancelled")],
)
def test_failed_and_cancelled_have_no_output(status: RunStatus, event: str, spelled: str) -> None:
    payload = build_callback_payload(FakeRun(status), url_for)
    assert (payload["event"], payload["status"], payload["output"]) == (event, spelled, None)
    assert payload["metadata"] == {"order": 42}


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.DISPATCHING, RunStatus.RUNNING])
def test_a_run_that_is_not_terminal_has_no_payload(status: RunStatus) -> None:
    with pytest.raises(ValueError, match="not terminal"):
        build_callback_payload(FakeRun(status, completed_at=None), url_for)


def test_every_terminal_status_has_an_event() -> None:
    assert set(CALLBACK_EVENTS) == {s for s in RunStatus if s.is_terminal}
