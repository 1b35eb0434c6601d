"""Every record the store returns or takes, in one place: immutable values built from rows.

Repositories (`store.runs`, `store.queue`, ...) return these; nothing outside the store
sees a SQLAlchemy row. Most records are built column by column with `_from_row`; the run,
read on every poll, spells its construction out (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from sqlalchemy import RowMapping

from pixelrun.runs import FailureStage, RunStatus

_Record = TypeVar("_Record")


def _from_row(cls: type[_Record], row: RowMapping | dict[str, Any], **given: Any) -> _Record:
    """`cls` from the row's columns of the same names (a column absent from the row keeps
    the field's default); `given` overrides."""
    values = {f.name: row[f.name] for f in fields(cls) if f.name not in given and f.name in row}  # type: ignore[arg-type]
    return cls(**values, **given)


# ---- owners and keys ----


@dataclass(frozen=True)
class Owner:
    id: str
    name: str
    budget_micros: int | None
    spent_micros: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> Owner:
        return _from_row(cls, row)


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
        return _from_row(cls, row)


@dataclass(frozen=True)
class AuthContext:
    owner_id: str
    owner_name: str
    key_id: str
    key_label: str


# ---- runs ----


@dataclass(frozen=True)
class NewRun:
    """What a create stores; the id and the creation time are given by the store."""

    owner_id: str
    model_id: str
    input: dict[str, Any]
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    client_ref: str | None = None
    max_attempts: int = 3
    deadline_at: datetime | None = None
    callback_format: str | None = None
    #: Webhook events the callback URL receives, comma-separated; None: the terminal one only.
    callback_events: str | None = None


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
    cost_micros: int
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
    callback_events: str | None = None
    # The run's place in its owner's queue of its model (docs/queue.md#queue-position).
    queue_ticket: int | None = None

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
        """`{step, steps}` while running with progress reported, else None (docs/api.md#run-object)."""
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
            cost_micros=row["cost_micros"],
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
            callback_events=row.get("callback_events"),
            queue_ticket=row.get("queue_ticket"),
        )


@dataclass(frozen=True)
class Created:
    """What a create did: the run, and whether it is an earlier create's run (same
    `Idempotency-Key`), with the status code that create answered."""

    run: RunRecord
    replayed: bool
    status_code: int
    # 1-based place among the model's queued runs, read in the same transaction (None once
    # it left the queue: a replay of an older run).
    queue_position: int | None = None


@dataclass(frozen=True)
class LeaseState:
    """What a worker learns from a heartbeat.

    `owned` is False once the run is no longer this worker's attempt (reaped, canceled,
    finished or gone); `canceled` then says whether a cancel is the reason to stop.
    """

    owned: bool
    canceled: bool
    status: RunStatus | None


# ---- a run's history: status events, log lines, stream rows ----

LogLevel = Literal["debug", "info", "warning", "error"]


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
        return _from_row(
            cls,
            row,
            from_status=RunStatus(old) if old is not None else None,
            to_status=RunStatus(row["to_status"]),
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
        return _from_row(cls, row)


class StreamKind(StrEnum):
    """What a row of a run's event stream says; the SSE event of the same name shows it."""

    STATUS = "status"  # the run changed status
    PROGRESS = "progress"  # a denoising step finished
    LOG = "log"  # a log line
    PREVIEW = "preview"  # a preview image of the run (its bytes in `run_previews`)
    DONE = "done"  # the run is terminal: the stream's last event


@dataclass(frozen=True)
class PreviewImage:
    """The bytes of one preview (docs/api.md#previews)."""

    media_type: str
    data: bytes


@dataclass(frozen=True)
class StreamRow:
    """One row of a run's event stream (`GET /v1/runs/{id}/stream` replays them)."""

    id: int
    run_id: str
    kind: StreamKind
    status: RunStatus | None
    step: int | None
    steps: int | None
    log: LogRecord | None
    created_at: datetime
    #: The image of a `preview` row; None once housekeeping deleted it (the event is skipped).
    preview: PreviewImage | None = None


# ---- workers and the models they serve ----

WorkerStatus = Literal["starting", "loading", "ready", "busy", "stopping", "stopped", "failed"]


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
        return _from_row(cls, row, model_ids=list(row["model_ids"]))


@dataclass(frozen=True)
class ModelFailure:
    reason: str
    message: str
    worker_name: str
    failed_at: datetime


@dataclass
class ModelAvailability:
    ready: int = 0
    loading: int = 0
    #: Of the loading ones, those compiling their warm-up shapes (`PIXELRUN_COMPILE`).
    warming_up: int = 0
    #: The latest load failure of a worker of this model (shown while none is ready).
    last_failure: ModelFailure | None = None

    @property
    def live(self) -> int:
        return self.ready + self.loading


# ---- callbacks ----


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
        return _from_row(cls, row)


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
        return _from_row(cls, row)


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
    #: The webhook event it carries (start, output, logs); None: the terminal callback.
    event: str | None = None

    @classmethod
    def from_row(cls, row: RowMapping, attempts: tuple[AttemptRecord, ...] = ()) -> DeliveryRecord:
        return _from_row(cls, row, attempts=attempts)


# ---- uploaded assets ----

ASSET_PENDING = "pending"
ASSET_READY = "ready"


@dataclass(frozen=True)
class AssetRecord:
    id: str
    owner_id: str
    name: str
    mime_type: str
    size_bytes: int
    storage_key: str
    status: str  # ASSET_PENDING | ASSET_READY
    width: int | None
    height: int | None
    created_at: datetime
    upload_expires_at: datetime
    confirmed_at: datetime | None

    @property
    def ready(self) -> bool:
        return self.status == ASSET_READY

    @classmethod
    def from_row(cls, row: RowMapping) -> AssetRecord:
        return _from_row(cls, row)


# ---- operations: rate limits, retention, metrics, storage identities ----


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    limit: int
    # Whole seconds until the window turns (at least 1), for `Retry-After`.
    retry_after_seconds: int


@dataclass(frozen=True)
class RunFiles:
    """A terminal run whose files are still there."""

    id: str
    output: dict[str, Any] | None


@dataclass(frozen=True)
class ActiveRuns:
    model_id: str
    status: str
    count: int
    oldest_created_at: datetime


@dataclass(frozen=True)
class ReportedStorage:
    """A file storage a process of this store reported using, and when."""

    identity: str
    description: str
    host: str
    seen_at: datetime
