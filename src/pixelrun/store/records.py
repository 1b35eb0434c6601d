"""Immutable records returned by the store, and their construction from rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from pixelrun.runs import FailureStage, RunStatus


@dataclass(frozen=True)
class Owner:
    id: str
    name: str
    budget_cents: int | None
    spent_cents: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> Owner:
        return cls(
            id=row["id"],
            name=row["name"],
            budget_cents=row["budget_cents"],
            spent_cents=row["spent_cents"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class KeyRecord:
    id: str
    owner_id: str
    label: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> KeyRecord:
        return cls(
            id=row["id"],
            owner_id=row["owner_id"],
            label=row["label"],
            key_prefix=row["key_prefix"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )


@dataclass(frozen=True)
class AuthContext:
    owner_id: str
    owner_name: str
    key_id: str
    key_label: str


@dataclass(frozen=True)
class RunRecord:
    id: str
    owner_id: str
    model_id: str
    status: RunStatus
    input: dict[str, Any]
    output: dict[str, Any] | None
    metadata: dict[str, Any] | None
    callback_url: str | None
    client_ref: str | None
    created_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cost: str | None
    cost_breakdown: list[dict[str, Any]] | None
    cost_cents: int
    failure_code: str | None
    failure_message: str | None
    failure_stage: FailureStage | None
    progress_step: int | None
    progress_steps: int | None
    attempt: int
    max_attempts: int
    graceful_requeues: int
    worker_id: str | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    # `Cancel-After`: canceled (failure_code deadline_exceeded) when not terminal by then.
    deadline_at: datetime | None = None
    callback_format: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def duration_ms(self) -> int | None:
        if self.completed_at is None:
            return None
        return int((self.completed_at - self.created_at).total_seconds() * 1000)

    @property
    def progress(self) -> dict[str, int] | None:
        """`{step, steps}` while running with progress reported, else None (SPEC §3)."""
        if self.status is not RunStatus.RUNNING or self.progress_steps is None:
            return None
        return {"step": self.progress_step or 0, "steps": self.progress_steps}

    @classmethod
    def from_row(cls, row: RowMapping) -> RunRecord:
        stage = row["failure_stage"]
        return cls(
            id=row["id"],
            owner_id=row["owner_id"],
            model_id=row["model_id"],
            status=RunStatus(row["status"]),
            input=row["input"],
            output=row["output"],
            metadata=row["metadata"],
            callback_url=row["callback_url"],
            client_ref=row["client_ref"],
            created_at=row["created_at"],
            dispatched_at=row["dispatched_at"],
            started_at=row["started_at"],
            completed_at=row["completed_at"],
            cost=row["cost"],
            cost_breakdown=row["cost_breakdown"],
            cost_cents=row["cost_cents"],
            failure_code=row["failure_code"],
            failure_message=row["failure_message"],
            failure_stage=FailureStage(stage) if stage is not None else None,
            progress_step=row["progress_step"],
            progress_steps=row["progress_steps"],
            attempt=row["attempt"],
            max_attempts=row["max_attempts"],
            graceful_requeues=row["graceful_requeues"],
            worker_id=row["worker_id"],
            lease_expires_at=row["lease_expires_at"],
            cancel_requested=bool(row["cancel_requested"]),
            deadline_at=row.get("deadline_at"),
            callback_format=row.get("callback_format"),
        )


@dataclass(frozen=True)
class LeaseState:
    """What a worker learns from a heartbeat.

    `owned` is False once the run is no longer this worker's attempt (reaped, canceled,
    finished or gone); `canceled` then says whether a cancel is the reason to stop.
    """

    owned: bool
    canceled: bool
    status: RunStatus | None


@dataclass(frozen=True)
class EventRecord:
    id: int
    run_id: str
    from_status: RunStatus | None
    to_status: RunStatus
    attempt: int
    created_at: datetime
    detail: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: RowMapping) -> EventRecord:
        old = row["from_status"]
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            from_status=RunStatus(old) if old is not None else None,
            to_status=RunStatus(row["to_status"]),
            attempt=row["attempt"],
            created_at=row["created_at"],
            detail=row["detail"],
        )


@dataclass(frozen=True)
class LogRecord:
    id: int
    run_id: str
    level: str
    message: str
    created_at: datetime
    meta: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: RowMapping) -> LogRecord:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            level=row["level"],
            message=row["message"],
            created_at=row["created_at"],
            meta=row["meta"],
        )


@dataclass(frozen=True)
class WorkerRecord:
    id: str
    name: str
    model_ids: list[str]
    device: str
    status: str
    info: dict[str, Any] | None
    started_at: datetime
    heartbeat_at: datetime
    failure_reason: str | None = None
    failure_message: str | None = None

    @classmethod
    def from_row(cls, row: RowMapping) -> WorkerRecord:
        return cls(
            id=row["id"],
            name=row["name"],
            model_ids=list(row["model_ids"]),
            device=row["device"],
            status=row["status"],
            info=row["info"],
            started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"],
            failure_reason=row.get("failure_reason"),
            failure_message=row.get("failure_message"),
        )


@dataclass(frozen=True)
class CallbackSecretRecord:
    """A callback secret as listed: never the secret itself (it is shown once, at creation)."""

    id: str
    owner_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> CallbackSecretRecord:
        return cls(
            id=row["id"],
            owner_id=row["owner_id"],
            label=row["label"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )


@dataclass(frozen=True)
class AttemptRecord:
    id: int
    delivery_id: str
    attempt_number: int
    status_code: int | None
    response_time_ms: int
    error_message: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> AttemptRecord:
        return cls(
            id=row["id"],
            delivery_id=row["delivery_id"],
            attempt_number=row["attempt_number"],
            status_code=row["status_code"],
            response_time_ms=row["response_time_ms"],
            error_message=row["error_message"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class DeliveryRecord:
    """One callback delivery; `attempts` is filled by the history listing only."""

    id: str
    run_id: str
    owner_id: str
    callback_url: str
    status: str  # "pending" | "succeeded" | "failed"
    attempt_count: int
    max_attempts: int
    next_attempt_at: datetime | None
    payload: dict[str, Any] | None
    body: str | None
    request_id: str
    webhook_id: str
    webhook_timestamp: int | None
    created_at: datetime
    completed_at: datetime | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    attempts: tuple[AttemptRecord, ...] = ()

    @classmethod
    def from_row(cls, row: RowMapping, attempts: tuple[AttemptRecord, ...] = ()) -> DeliveryRecord:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            owner_id=row["owner_id"],
            callback_url=row["callback_url"],
            status=row["status"],
            attempt_count=row["attempt_count"],
            max_attempts=row["max_attempts"],
            next_attempt_at=row["next_attempt_at"],
            payload=row["payload"],
            body=row["body"],
            request_id=row["request_id"],
            webhook_id=row["webhook_id"],
            webhook_timestamp=row["webhook_timestamp"],
            created_at=row["created_at"],
            completed_at=row["completed_at"],
            claimed_by=row["claimed_by"],
            claim_expires_at=row["claim_expires_at"],
            attempts=attempts,
        )
