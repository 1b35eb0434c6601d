"""Request and response bodies as the client sees them (docs/api.md#errors, docs/api.md#run-object).

Timestamps are plain strings built with `isoformat_utc`: pydantic would write UTC as
`Z`, and the contract says `+00:00` everywhere (callback signatures cover exact bytes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pixelrun.runs import RunStatus, isoformat_utc, render_output
from pixelrun.store import AuthContext, LogRecord, RunRecord

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

MAX_CALLBACK_URL_CHARS = 2048
# What a callback URL may be, as a JSON Schema pattern (the validator reads it the same
# way): http(s), a host name or IPv4 address (no user info), an optional port and path.
HTTP_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~%!$&'()*+,;=-]+(:[0-9]{0,5})?([/?#][^\u0000]*)?$"
_HTTP_URL = re.compile(HTTP_URL_PATTERN)


def check_http_url(value: str | None, name: str) -> str | None:
    if value is not None and not _HTTP_URL.match(value):
        raise ValueError(f"{name} must be an absolute http:// or https:// URL (host, optional port and path)")
    return value


MAX_CLIENT_REF_CHARS = 256


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The envelope of every error response."""

    code: str = Field(examples=["RUN_NOT_FOUND"])
    message: str
    errors: list[ErrorDetail] | None = None


class RunCreate(BaseModel):
    """Body of `POST /v1/models/{model_id}/runs`; `input` is checked against the model's schema."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(description="The model's input; see the model's input_schema.")
    callback_url: Annotated[
        str | None, Field(max_length=MAX_CALLBACK_URL_CHARS, json_schema_extra={"pattern": HTTP_URL_PATTERN})
    ] = Field(default=None, description="POSTed when the run reaches a terminal status.")
    metadata: dict[str, Any] | None = Field(default=None, description="Returned as given with the run.")
    client_ref: Annotated[str | None, Field(max_length=MAX_CLIENT_REF_CHARS)] = Field(
        default=None, description="The caller's own reference for the run."
    )

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value, "callback_url")


class Progress(BaseModel):
    step: int
    steps: int


class CostLine(BaseModel):
    item: str
    quantity: float
    unit: str
    unit_price: str
    amount: str


class RunLinks(BaseModel):
    self: str
    cancel: str
    logs: str
    callback: str


class RunOut(BaseModel):
    """The run object (docs/api.md#run-object)."""

    id: str
    model_id: str
    status_code: RunStatus
    input: dict[str, Any]
    output: dict[str, Any] | None
    metadata: dict[str, Any] | None
    callback_url: str | None
    client_ref: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration_ms: int | None
    cost: str | None = Field(description="USD as a decimal string; set when the run is terminal.")
    cost_breakdown: list[CostLine] | None
    failure_code: str | None
    failure_message: str | None
    failure_stage_code: str | None
    progress: Progress | None = Field(description="Set only while running.")
    queue_position: int | None = Field(description="1-based; set only while queued.")
    links: RunLinks

    @classmethod
    def from_record(
        cls,
        run: RunRecord,
        *,
        base_url: str,
        url_for: Callable[[str], str],
        queue_position: int | None,
    ) -> RunOut:
        self_url = f"{base_url.rstrip('/')}/v1/runs/{run.id}"
        return cls(
            id=run.id,
            model_id=run.model_id,
            status_code=run.status,
            input=run.input,
            output=render_output(run.output, url_for),
            metadata=run.metadata,
            callback_url=run.callback_url,
            client_ref=run.client_ref,
            created_at=isoformat_utc(run.created_at),
            started_at=_ts(run.started_at),
            completed_at=_ts(run.completed_at),
            duration_ms=run.duration_ms,
            cost=run.cost,
            cost_breakdown=[CostLine.model_validate(line) for line in run.cost_breakdown]
            if run.cost_breakdown is not None
            else None,
            failure_code=run.failure_code,
            failure_message=run.failure_message,
            failure_stage_code=run.failure_stage.value if run.failure_stage is not None else None,
            progress=Progress.model_validate(run.progress) if run.progress is not None else None,
            queue_position=queue_position if run.status is RunStatus.QUEUED else None,
            links=RunLinks(
                self=self_url,
                cancel=f"{self_url}/cancellation",
                logs=f"{self_url}/logs",
                callback=f"{self_url}/callback",
            ),
        )


def _ts(value: Any) -> str | None:
    return isoformat_utc(value) if value is not None else None


class RunList(BaseModel):
    items: list[RunOut]
    next_pq: str | None = Field(description="Pass as `pq` for the next page; null on the last page.")


class StatusOut(BaseModel):
    status_code: RunStatus
    description: str
    is_terminal: bool


class LogOut(BaseModel):
    id: int
    run_id: str
    level_code: str
    message: str
    timestamp: Timestamp
    meta: dict[str, Any] | None

    @classmethod
    def from_record(cls, record: LogRecord) -> LogOut:
        return cls(
            id=record.id,
            run_id=record.run_id,
            level_code=record.level,
            message=record.message,
            timestamp=isoformat_utc(record.created_at),
            meta=record.meta,
        )


class PricingOut(BaseModel):
    unit: Literal["megapixel"]
    price: str = Field(description="USD per unit, as a decimal string.")
    currency: Literal["USD"]


class AvailabilityOut(BaseModel):
    workers_ready: int
    available: bool
    workers_loading: int = Field(0, description="Workers still loading the model.")
    reason: str | None = Field(
        None,
        description="Why the last worker of this model failed to load (not_found, incomplete, "
        "no_hub_access, gpu_memory, ...), while no worker is ready.",
    )
    message: str | None = Field(None, description="That failure, in one line that says what to do.")


class ModelOut(BaseModel):
    id: str
    name: str
    description: str
    pricing: PricingOut
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    availability: AvailabilityOut


class BalanceOut(BaseModel):
    balance_usd: str | None = Field(
        description="Credit left (budget - spent), an exact decimal string with 6 places; "
        "null when unlimited."
    )
    spent_usd: str = Field(description="The sum of the runs' `cost`, an exact decimal string with 6 places.")
    currency: Literal["USD"] = "USD"
    balance_cents: int | None = Field(
        description="`balance_usd` rounded down to whole cents (for older clients); null when unlimited."
    )
    spent_cents: int = Field(description="`spent_usd` rounded down to whole cents (for older clients).")


class MeOut(BaseModel):
    owner_id: str
    owner_name: str
    key_id: str
    key_label: str

    @classmethod
    def from_auth(cls, auth: AuthContext) -> MeOut:
        return cls(
            owner_id=auth.owner_id, owner_name=auth.owner_name, key_id=auth.key_id, key_label=auth.key_label
        )


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class CheckOut(BaseModel):
    ok: bool
    detail: str | None = None


class WorkerFailureOut(BaseModel):
    reason: str
    message: str
    worker: str
    failed_at: str = Field(description="ISO 8601, UTC.")


class WorkersCheckOut(CheckOut):
    ready: dict[str, int] = Field(description="Ready workers per model id.")
    loading: dict[str, int] = Field(default_factory=dict, description="Workers loading each model.")
    failures: dict[str, WorkerFailureOut] = Field(
        default_factory=dict,
        description="Per model without a ready worker: why its last worker failed to load.",
    )


class ReadinessChecks(BaseModel):
    store: CheckOut
    storage: CheckOut
    workers: WorkersCheckOut


class ReadinessOut(BaseModel):
    status: Literal["ready"] = "ready"
    checks: ReadinessChecks


class NotReadyOut(ErrorOut):
    """503 from readiness: the envelope plus the checks that failed."""

    checks: ReadinessChecks


def unstorable_values(value: Any, loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Field errors for JSON that parses but cannot be stored: NUL characters (PostgreSQL
    text and JSONB refuse them) and NaN/Infinity (Python's JSON parser accepts them; JSON does not)."""
    errors: list[dict[str, Any]] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, loc)]
    while stack:  # iterative: nesting depth is the client's choice
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                errors.append(
                    {"loc": list(where), "msg": "NUL characters are not allowed", "type": "string_nul"}
                )
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                errors.append({"loc": list(where), "msg": "number must be finite", "type": "finite_number"})
        elif isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and "\x00" in key:
                    errors.append(
                        {"loc": [*where, key], "msg": "NUL characters are not allowed", "type": "string_nul"}
                    )
                stack.append((sub, (*where, key)))
        elif isinstance(item, list):
            stack.extend((sub, (*where, index)) for index, sub in enumerate(item))
    return errors


def json_limit_errors(
    value: Any, loc: tuple[str | int, ...], *, max_depth: int, max_bytes: int | None = None
) -> list[dict[str, Any]]:
    """Field errors for JSON a create must not store: nested deeper than `max_depth`
    (every answer that shows it would then fail to serialise; docs/security.md#limits),
    or, with `max_bytes`, longer than that as compact JSON."""
    if value is None:
        return []
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: nesting depth is the client's choice
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                return [
                    {
                        "loc": list(loc),
                        "msg": f"must not nest objects and lists more than {max_depth} levels deep",
                        "type": "json_too_deep",
                    }
                ]
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    if max_bytes is not None:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if size > max_bytes:
            return [
                {
                    "loc": list(loc),
                    "msg": f"must be at most {max_bytes} bytes as JSON ({size} given)",
                    "type": "json_too_large",
                }
            ]
    return []
