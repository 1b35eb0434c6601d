"""Replicate-compatible predictions (docs/compatibility.md#replicate-predictions), as the official `replicate` client calls them.

A thin translator over the one run path: a prediction is a run (same id) created
through `run_service.submit`, `Prefer: wait` is `wait_for_terminal`, and the prediction object
is built by `pixelrun.runs.build_prediction`, the same builder that makes the webhook
bodies the callback outbox delivers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from pixelrun.api.compat.replicate_stream import replicate_events
from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.errors import ApiError, invalid_cursor
from pixelrun.api.models_catalog import get_catalog_model
from pixelrun.api.prefer import parse_prefer_wait
from pixelrun.api.run_service import CreateOptions, RunRequest, submit
from pixelrun.api.run_waiter import wait_for_terminal
from pixelrun.api.services import Services
from pixelrun.api.streaming.follow import follow_run, parse_last_event_id, sse_response
from pixelrun.api.wire import HTTP_URL_PATTERN, MAX_CALLBACK_URL_CHARS, RunOut, check_http_url
from pixelrun.runs import (
    ALL_WEBHOOK_EVENTS,
    PREDICTION_CALLBACK_FORMAT,
    build_prediction,
    format_webhook_events,
)
from pixelrun.store import CURSOR_PATTERN, InvalidCursor, RunNotFound, RunRecord

PAGE_SIZE = 100
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
# The files routes too (compat/replicate_files.py): one segment after /v1/files, since the
# signed output file URLs below it (`/v1/files/runs/...`) keep the hosted API's shape.
_PATHS = re.compile(r"^/v1/(predictions(/.*)?|models/[^/]+/[^/]+/predictions/?|files(/[^/]+)?)$")

router = APIRouter(tags=["replicate-compatible"])


# ---- wire models ----


class ReplicateErrorOut(BaseModel):
    """Replicate's error shape (RFC 7807 problem details), used by every error of these routes."""

    title: str
    detail: str
    status: int


class PredictionUrls(BaseModel):
    get: str
    cancel: str
    stream: str


class PredictionOut(BaseModel):
    id: str = Field(description="The run id: GET /v1/runs/{id} shows the same run.")
    model: str
    version: str
    status: Literal["starting", "processing", "succeeded", "failed", "canceled"]
    input: dict[str, Any]
    output: list[str] | None = Field(description="Output image URLs (signed), once succeeded.")
    logs: str | None = Field(description="The run's log lines; null in lists.")
    error: str | None
    metrics: dict[str, Any]
    source: Literal["api"]
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    started_at: str | None = Field(json_schema_extra={"format": "date-time"})
    completed_at: str | None = Field(json_schema_extra={"format": "date-time"})
    urls: PredictionUrls


class PredictionList(BaseModel):
    results: list[PredictionOut]
    next: str | None = Field(description="URL of the next (older) page; null on the last page.")
    previous: str | None = None


class PredictionCreate(BaseModel):
    """Body of `POST /v1/models/{owner}/{name}/predictions`."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(description="The model's input; see the model's input_schema.")
    webhook: Annotated[
        str | None, Field(max_length=MAX_CALLBACK_URL_CHARS, json_schema_extra={"pattern": HTTP_URL_PATTERN})
    ] = Field(
        default=None,
        description="POSTed the prediction object at the events of webhook_events_filter "
        "(Standard Webhooks headers).",
    )
    webhook_events_filter: list[Literal["start", "output", "logs", "completed"]] | None = Field(
        default=None,
        description="Which events POST the webhook: start, output, logs (at most every 500 ms), "
        "completed; default: all of them.",
    )
    stream: Annotated[bool | None, Strict()] = Field(
        default=None, description="Accepted; urls.stream is always given."
    )

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value, "webhook")


# ---- the error shape ----


class ReplicateErrorShape:
    """`{"title", "detail", "status"}` on the prediction and file routes."""

    def matches(self, path: str) -> bool:
        return _PATHS.match(path) is not None

    def render(
        self, status_code: int, code: str, message: str, errors: list[dict[str, Any]] | None
    ) -> tuple[int, dict[str, Any]]:
        title = "Input validation failed" if status_code == 422 else code.replace("_", " ").capitalize()
        return status_code, {"title": title, "detail": message, "status": status_code}


ERROR_SHAPE = ReplicateErrorShape()


def _errors(**statuses: str) -> dict[int | str, dict[str, Any]]:
    return {
        int(s.removeprefix("s")): {"model": ReplicateErrorOut, "description": d} for s, d in statuses.items()
    }


_AUTH_ERRORS = _errors(s401="Missing or invalid API key")
_NOT_FOUND = _errors(s404="Prediction not found")


def prediction_not_found(prediction_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"Prediction {prediction_id} not found.")


def present(run: RunRecord, services: Services, *, with_logs: bool = True) -> PredictionOut:
    ttl = services.settings.file_url_ttl_seconds
    lines = [line.message for line in services.store.history.logs(run.id)] if with_logs else None
    return PredictionOut.model_validate(
        build_prediction(
            run,
            base_url=services.settings.public_base_url,
            url_for=lambda key: services.storage.url_for(key, ttl),
            log_lines=lines,
        )
    )


# ---- routes ----


@router.post(
    "/models/{owner}/{name}/predictions",
    status_code=201,
    response_model=PredictionOut,
    summary="Create a prediction (Replicate-compatible)",
    description="A run of model `{owner}/{name}`. `Prefer: wait[=N]` (1..60 s) holds the answer until "
    "the run is terminal or N seconds passed.",
    responses={
        **_AUTH_ERRORS,
        **_errors(
            s400="Body is not JSON",
            s402="Insufficient credit",
            s404="Model not found",
            s409="Idempotency-Key reused with another request",
            s413="Body over the configured limit",
            s422="Input validation failed",
            s429="Rate limited (Retry-After)",
            s503="No worker can serve the model",
        ),
    },
)
async def create_prediction(
    owner: Annotated[str, Path(description="e.g. alibaba")],
    name: Annotated[str, Path(description="e.g. qwen-image-edit-2511")],
    auth: CurrentAuth,
    body: PredictionCreate,
    request: Request,
    response: Response,
    services: ServicesDep,
    prefer: Annotated[str | None, Header(description="wait or wait=N (seconds, 1..60)")] = None,
) -> PredictionOut:
    model = get_catalog_model(f"{owner}/{name}")
    if model is None:
        raise ApiError(404, "MODEL_NOT_FOUND", f"Model {owner}/{name} not found.")
    chosen = body.webhook_events_filter
    events = format_webhook_events(ALL_WEBHOOK_EVENTS if chosen is None else chosen)
    webhook = body.webhook if events != "" else None  # an empty filter: no event, no webhook
    options = CreateOptions.from_request(
        request
    )  # Idempotency-Key, Cancel-After (docs/operations.md#protecting-the-service)
    submission = await submit(
        services,
        RunRequest(
            auth=auth,
            model=model,
            input=body.input,
            callback_url=webhook,
            options=options,
            callback_format=PREDICTION_CALLBACK_FORMAT if webhook else None,
            callback_events=events if webhook else None,
        ),
    )
    run = submission.run
    response.status_code = submission.status_code
    response.headers.update(submission.headers())
    wait = parse_prefer_wait(prefer)
    if wait is not None:
        run = await wait_for_terminal(services, run, wait)
        response.headers["Preference-Applied"] = f"wait={wait}"
    return await anyio.to_thread.run_sync(lambda: present(run, services))


@router.get(
    "/predictions",
    response_model=PredictionList,
    summary="List predictions, newest first (Replicate-compatible)",
    responses={**_AUTH_ERRORS, **_errors(s422="Invalid cursor")},
)
def list_predictions(
    auth: CurrentAuth,
    services: ServicesDep,
    cursor: Annotated[
        str | None,
        Query(description="From `next` of the previous page.", json_schema_extra={"pattern": CURSOR_PATTERN}),
    ] = None,
) -> PredictionList:
    try:
        records, next_cursor = services.store.runs.page(auth.owner_id, limit=PAGE_SIZE, cursor=cursor)
    except InvalidCursor:
        raise invalid_cursor("cursor", "`next`") from None
    base = f"{services.settings.public_base_url.rstrip('/')}/v1/predictions"
    return PredictionList(
        results=[present(run, services, with_logs=False) for run in records],
        next=f"{base}?cursor={quote(next_cursor, safe='')}" if next_cursor else None,
        previous=None,
    )


PredictionId = Annotated[str, Path(description="The prediction's (run's) id.")]


@router.get(
    "/predictions/{prediction_id}",
    response_model=PredictionOut,
    summary="Get a prediction (Replicate-compatible)",
    responses={**_AUTH_ERRORS, **_NOT_FOUND},
)
def get_prediction(prediction_id: PredictionId, auth: CurrentAuth, services: ServicesDep) -> PredictionOut:
    run = services.store.runs.get(prediction_id, auth.owner_id)
    if run is None:
        raise prediction_not_found(prediction_id)
    return present(run, services)


@router.post(
    "/predictions/{prediction_id}/cancel",
    response_model=PredictionOut,
    summary="Cancel a prediction (Replicate-compatible)",
    description="200 with the prediction, canceled by this call or already terminal.",
    responses={**_AUTH_ERRORS, **_NOT_FOUND},
)
def cancel_prediction(prediction_id: PredictionId, auth: CurrentAuth, services: ServicesDep) -> PredictionOut:
    try:
        run, _ = services.store.runs.cancel(prediction_id, auth.owner_id)
    except RunNotFound:
        raise prediction_not_found(prediction_id) from None
    return present(run, services)


@router.get(
    "/predictions/{prediction_id}/stream",
    summary="Stream a prediction (Replicate-compatible SSE)",
    description="`text/event-stream` with Replicate's events: `logs` (a log line), `output` (an output "
    "URL, once the run succeeded), `error` (the failure message), `done` (`{}` or "
    '`{"reason": "canceled"}`); then the stream closes. `: keep-alive` comments at least every 15 s.',
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
        **_AUTH_ERRORS,
        **_NOT_FOUND,
    },
)
async def stream_prediction(
    prediction_id: PredictionId,
    request: Request,
    auth: CurrentAuth,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    run = await anyio.to_thread.run_sync(services.store.runs.get, prediction_id, auth.owner_id)
    if run is None:
        raise prediction_not_found(prediction_id)
    run_events = follow_run(
        services.stream_hub,
        run.id,
        parse_last_event_id(last_event_id),
        services.settings.stream_keepalive_seconds,
    )

    def output_urls(wire_run: RunOut) -> list[str]:
        return [str(item["url"]) for item in (wire_run.output or {}).get("outputs", [])]

    return sse_response(replicate_events(run_events, output_urls))
