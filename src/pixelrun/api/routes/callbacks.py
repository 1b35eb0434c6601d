"""Callbacks (docs/callbacks.md): a run's delivery history, redelivery, and the owner's signing secrets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.errors import ApiError
from pixelrun.api.wire import ErrorOut
from pixelrun.runs import isoformat_utc
from pixelrun.store import (
    AttemptRecord,
    CallbackSecretRecord,
    DeliveryInFlight,
    DeliveryRecord,
    RedeliveryNotAllowed,
    RunNotFound,
)

router = APIRouter(
    tags=["callbacks"],
    responses={401: {"model": ErrorOut, "description": "Missing or invalid API key"}},
)

RunId = Annotated[str, Path(description="The run's id (UUIDv7).")]
SecretId = Annotated[str, Path(description="The callback secret's id.")]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

_RUN_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "RUN_NOT_FOUND"}}


# ---- wire models ----


class AttemptOut(BaseModel):
    attempt_number: int
    status_code: int | None = Field(description="The receiver's HTTP status; null when none came back.")
    response_time_ms: int
    error_message: str | None
    created_at: Timestamp

    @classmethod
    def from_record(cls, attempt: AttemptRecord) -> AttemptOut:
        return cls(
            attempt_number=attempt.attempt_number,
            status_code=attempt.status_code,
            response_time_ms=attempt.response_time_ms,
            error_message=attempt.error_message,
            created_at=isoformat_utc(attempt.created_at),
        )


class DeliveryOut(BaseModel):
    """One delivery of a run's callback and its attempts."""

    id: str
    run_id: str
    callback_url: str
    status_code: str = Field(description='"pending", "succeeded" or "failed".')
    attempt_count: int
    max_attempts: int
    next_attempt_at: Timestamp | None = Field(description="When the next attempt is due; null once done.")
    payload: dict[str, Any] | None = Field(description="The body sent; null until the first attempt.")
    created_at: Timestamp
    completed_at: Timestamp | None
    attempts: list[AttemptOut]

    @classmethod
    def from_record(cls, delivery: DeliveryRecord) -> DeliveryOut:
        return cls(
            id=delivery.id,
            run_id=delivery.run_id,
            callback_url=delivery.callback_url,
            status_code=delivery.status,
            attempt_count=delivery.attempt_count,
            max_attempts=delivery.max_attempts,
            next_attempt_at=_ts(delivery.next_attempt_at),
            payload=delivery.payload,
            created_at=isoformat_utc(delivery.created_at),
            completed_at=_ts(delivery.completed_at),
            attempts=[AttemptOut.from_record(a) for a in delivery.attempts],
        )


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200, description="A name to tell secrets apart.")

    @field_validator("label")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the store.
        if "\x00" in value:
            raise ValueError("NUL characters are not allowed")
        return value


class SecretOut(BaseModel):
    id: str
    label: str
    created_at: Timestamp

    @classmethod
    def from_record(cls, secret: CallbackSecretRecord) -> SecretOut:
        return cls(id=secret.id, label=secret.label, created_at=isoformat_utc(secret.created_at))


class SecretCreated(SecretOut):
    plain_secret: str = Field(description="`whsec_…`; shown only in this response.")


def _ts(value: Any) -> str | None:
    return isoformat_utc(value) if value is not None else None


def _run_not_found(run_id: str) -> ApiError:
    return ApiError(404, "RUN_NOT_FOUND", f"Run {run_id} not found.")


# ---- deliveries ----


@router.get(
    "/runs/{run_id}/callback",
    response_model=list[DeliveryOut],
    summary="A run's callback deliveries",
    responses=_RUN_NOT_FOUND,
)
def list_deliveries(run_id: RunId, auth: CurrentAuth, services: ServicesDep) -> list[DeliveryOut]:
    if services.store.runs.get(run_id, auth.owner_id) is None:
        raise _run_not_found(run_id)
    return [DeliveryOut.from_record(d) for d in services.store.callbacks.deliveries(run_id)]


@router.post(
    "/runs/{run_id}/callback-redeliveries",
    status_code=202,
    response_model=DeliveryOut,
    summary="Deliver a run's callback again",
    description="A new delivery, sent soon; its payload is built from the run's current state "
    "at the first attempt. 409 while another delivery of the run is pending.",
    responses={
        **_RUN_NOT_FOUND,
        409: {"model": ErrorOut, "description": "CONFLICT: a delivery is pending, or nothing to deliver"},
    },
)
def redeliver(run_id: RunId, auth: CurrentAuth, services: ServicesDep) -> DeliveryOut:
    try:
        delivery = services.store.callbacks.redeliver(run_id, auth.owner_id)
    except RunNotFound:
        raise _run_not_found(run_id) from None
    except DeliveryInFlight as exc:
        raise ApiError(
            409, "CONFLICT", f"A delivery of run {run_id} is still pending ({exc.delivery_id})."
        ) from None
    except RedeliveryNotAllowed as exc:
        raise ApiError(409, "CONFLICT", f"Run {run_id} has no callback to deliver: {exc.reason}.") from None
    # The dispatcher, when the app runs one, would otherwise notice it at its next poll.
    if services.callback_dispatcher is not None:
        services.callback_dispatcher.wake()
    return DeliveryOut.from_record(delivery)


# ---- secrets ----


@router.post(
    "/callback-secrets",
    status_code=201,
    response_model=SecretCreated,
    summary="Create a callback signing secret",
    description="The secret is shown once, in this response. Pixelrun keeps the secret itself "
    "(not a hash, unlike API keys): it needs it to sign every callback. While two secrets are "
    "active (rotation), callbacks carry a signature for each; revoke the old one when receivers "
    "have the new one.",
)
def create_secret(body: SecretCreate, auth: CurrentAuth, services: ServicesDep) -> SecretCreated:
    record, plain = services.store.callbacks.create_secret(auth.owner_id, body.label)
    return SecretCreated(
        id=record.id, label=record.label, created_at=isoformat_utc(record.created_at), plain_secret=plain
    )


@router.get(
    "/callback-secrets",
    response_model=list[SecretOut],
    summary="List the active callback signing secrets (never the secrets themselves)",
)
def list_secrets(auth: CurrentAuth, services: ServicesDep) -> list[SecretOut]:
    return [SecretOut.from_record(s) for s in services.store.callbacks.list_secrets(auth.owner_id)]


@router.delete(
    "/callback-secrets/{secret_id}",
    status_code=204,
    summary="Revoke a callback signing secret",
    responses={404: {"model": ErrorOut, "description": "NOT_FOUND"}},
)
def revoke_secret(secret_id: SecretId, auth: CurrentAuth, services: ServicesDep) -> Response:
    if not services.store.callbacks.revoke_secret(auth.owner_id, secret_id):
        raise ApiError(404, "NOT_FOUND", f"Callback secret {secret_id} not found.")
    return Response(status_code=204)
