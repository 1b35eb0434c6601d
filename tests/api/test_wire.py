"""Wire models: the request body's rules and the run object's exact form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from pixelrun.api.wire import RunCreate, RunOut, unstorable_values
from pixelrun.runs import FailureStage, RunStatus
from pixelrun.store import RunRecord

from .conftest import valid_input


def _record(**overrides: object) -> RunRecord:
    created = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    fields: dict[str, object] = {
        "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "owner_id": "own_1",
        "model_id": "alibaba/qwen-image-edit-2511",
        "status": RunStatus.QUEUED,
        "input": valid_input(),
        "output": None,
        "metadata": None,
        "callback_url": None,
        "client_ref": None,
        "created_at": created,
        "dispatched_at": None,
        "started_at": None,
        "completed_at": None,
        "cost": None,
        "cost_breakdown": None,
        "cost_micros": 0,
        "failure_code": None,
        "failure_message": None,
        "failure_stage": None,
        "progress_step": None,
        "progress_steps": None,
        "attempt": 0,
        "max_attempts": 3,
        "graceful_requeues": 0,
        "worker_id": None,
        "lease_expires_at": None,
        "cancel_requested": False,
    }
    fields.update(overrides)
    return RunRecord(**fields)  # type: ignore[arg-type]


def _out(record: RunRecord, queue_position: int | None = None) -> dict[str, object]:
    run = RunOut.from_record(
        record,
        base_url="https://api.example.com/",
        url_for=lambda key: f"signed:{key}",
        queue_position=queue_position,
    )
    return run.model_dump(mode="json")


def test_timestamps_use_plus_zero_offset_never_z() -> None:
    other_zone = timezone(timedelta(hours=2))
    record = _record(
        status=RunStatus.SUCCEEDED,
        started_at=datetime(2025, 1, 2, 5, 4, 6, tzinfo=other_zone),
        completed_at=datetime(2025, 1, 2, 3, 4, 7, 678000, tzinfo=UTC),
        output={"outputs": [{"key": "runs/x/0.png", "width": 1}], "seed": 1},
        cost="0.000001",
        cost_breakdown=[],
    )
    out = _out(record)
    assert out["created_at"] == "2025-01-02T03:04:05.678000+00:00"
    assert out["started_at"] == "2025-01-02T03:04:06+00:00"
    assert out["completed_at"] == "2025-01-02T03:04:07.678000+00:00"
    assert out["duration_ms"] == 2000
    assert out["output"] == {"outputs": [{"url": "signed:runs/x/0.png", "width": 1}], "seed": 1}
    assert out["links"] == {
        "self": "https://api.example.com/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "cancel": "https://api.example.com/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/cancellation",
        "logs": "https://api.example.com/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/logs",
        "callback": "https://api.example.com/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/callback",
    }


def test_queue_position_only_while_queued_and_progress_only_while_running() -> None:
    assert _out(_record(), queue_position=3)["queue_position"] == 3
    running = _record(status=RunStatus.RUNNING, progress_step=2, progress_steps=8)
    out = _out(running, queue_position=3)
    assert out["queue_position"] is None
    assert out["progress"] == {"step": 2, "steps": 8}
    assert _out(_record(status=RunStatus.DISPATCHING, progress_steps=8))["progress"] is None


def test_failure_stage_is_its_code() -> None:
    out = _out(_record(status=RunStatus.FAILED, failure_stage=FailureStage.TIMEOUT, failure_code="timeout"))
    assert out["failure_stage_code"] == "timeout"


def test_run_create_rejects_extra_fields_and_non_http_callbacks() -> None:
    assert RunCreate.model_validate({"input": {}, "callback_url": "HTTPS://Example.com/h"}).callback_url
    for bad in (
        {"input": {}, "extra": 1},
        {"input": {}, "callback_url": "javascript:alert(1)"},
        {"input": {}, "callback_url": "http://"},
        {"input": []},
    ):
        with pytest.raises(ValidationError):
            RunCreate.model_validate(bad)


def test_unstorable_values_finds_nul_and_non_finite_numbers_anywhere() -> None:
    value = {"a": ["ok", "b\x00"], "n": float("inf"), "k\x00": 1, "deep": [[{"x": float("nan")}]]}
    locs = sorted(str(err["loc"]) for err in unstorable_values(value, ("body",)))
    assert locs == sorted(
        str(loc) for loc in (["body", "a", 1], ["body", "n"], ["body", "k\x00"], ["body", "deep", 0, 0, "x"])
    )
    assert unstorable_values({"fine": [1, 2.5, "text", None, True]}, ()) == []
    deep: object = "end"
    for _ in range(5000):
        deep = [deep]
    assert unstorable_values(deep, ()) == []  # no recursion limit
