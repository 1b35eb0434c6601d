"""Runs: create, read, list, cancel, logs, and the status vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BeforeValidator

from pixelrun.api.deps import CurrentAuth, NoUnknownQuery, ServicesDep
from pixelrun.api.errors import ApiError, invalid_cursor
from pixelrun.api.models_catalog import CatalogModel, get_catalog_model
from pixelrun.api.prefer import parse_prefer_wait
from pixelrun.api.presenter import UNKNOWN, json_response
from pixelrun.api.run_service import CreateOptions, RunRequest, submit
from pixelrun.api.run_waiter import wait_for_terminal
from pixelrun.api.wire import (
    ErrorOut,
    LogOut,
    RunCreate,
    RunList,
    RunOut,
    StatusOut,
)
from pixelrun.runs import STATUS_DESCRIPTIONS, RunStatus
from pixelrun.store import CURSOR_PATTERN, InvalidCursor, RunNotFound

MAX_LIST_LIMIT = 500

router = APIRouter(
    tags=["runs"],
    responses={401: {"model": ErrorOut, "description": "Missing or invalid API key"}},
)

_RUN_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "RUN_NOT_FOUND"}}

RunId = Annotated[str, Path(description="The run's id (UUIDv7).")]


def _not_a_number(value: Any) -> Any:
    # pydantic reads a number as Unix seconds; the contract says ISO 8601 only.
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be an ISO 8601 date-time, not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


def run_not_found(run_id: str) -> ApiError:
    return ApiError(404, "RUN_NOT_FOUND", f"Run {run_id} not found.")


async def catalog_model(
    model_id: Annotated[str, Path(description="e.g. alibaba/qwen-image-edit-2511")],
) -> CatalogModel:
    model = get_catalog_model(model_id)
    if model is None:
        raise ApiError(404, "MODEL_NOT_FOUND", f"Model {model_id!r} not found.")
    return model


@router.post(
    "/models/{model_id:path}/runs",
    status_code=201,
    response_model=RunOut,
    summary="Create a run",
    responses={
        400: {"model": ErrorOut, "description": "Body is not JSON"},
        402: {"model": ErrorOut, "description": "INSUFFICIENT_CREDIT"},
        404: {"model": ErrorOut, "description": "MODEL_NOT_FOUND"},
        409: {"model": ErrorOut, "description": "CONFLICT: Idempotency-Key reused with another body"},
        413: {"model": ErrorOut, "description": "PAYLOAD_TOO_LARGE"},
        422: {"model": ErrorOut, "description": "VALIDATION_ERROR; errors[] says where"},
        429: {"model": ErrorOut, "description": "RATE_LIMITED; Retry-After says when to retry"},
    },
    description="Optional headers: `Idempotency-Key` (a retry with the same key and body returns the "
    "first run, with `Idempotent-Replayed: true`), `Cancel-After` (`90s`, `5m`, `1h`: canceled with "
    "failure_code `deadline_exceeded` when not finished by then).",
)
async def create_run(
    # Declaration order is check order: key, then model, then the body.
    auth: CurrentAuth,
    model: Annotated[CatalogModel, Depends(catalog_model)],
    body: RunCreate,
    request: Request,
    services: ServicesDep,
    prefer: Annotated[
        str | None,
        Header(description="`wait` or `wait=N` (1..60 s): answer when the run is terminal or after N s."),
    ] = None,
) -> Response:
    options = CreateOptions.from_request(request)
    wait = parse_prefer_wait(prefer)

    submission = await submit(
        services,
        RunRequest(
            auth=auth,
            model=model,
            input=body.input,
            metadata=body.metadata,
            callback_url=body.callback_url,
            client_ref=body.client_ref,
            options=options,
        ),
    )
    headers = submission.headers()
    run, position = submission.run, submission.queue_position
    if wait is not None:
        # The run is committed: a client that hangs up here does not cancel it.
        run = await wait_for_terminal(services, run, wait)
        headers["Preference-Applied"] = f"wait={wait}"
        position = UNKNOWN
    out = await services.presenter.present_on_loop(run, position)
    return json_response(out, submission.status_code, headers)


@router.get("/runs", response_model=RunList, summary="List runs, newest first")
def list_runs(
    auth: CurrentAuth,
    _known_query: NoUnknownQuery,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT, description="Page size.")] = 50,
    pq: Annotated[
        str | None,
        Query(
            description="Cursor from `next_pq` of the previous page.",
            json_schema_extra={"pattern": CURSOR_PATTERN},
        ),
    ] = None,
    status_code: Annotated[RunStatus | None, Query(description="Only runs in this status.")] = None,
    model_id: Annotated[str | None, Query(description="Only runs of this model.")] = None,
    created_after: Annotated[IsoDateTime | None, Query(description="ISO 8601; naive means UTC.")] = None,
    created_before: Annotated[IsoDateTime | None, Query(description="ISO 8601; naive means UTC.")] = None,
) -> RunList:
    try:
        records, next_pq = services.store.runs.page(
            auth.owner_id,
            limit=limit,
            cursor=pq,
            status=status_code,
            model_id=model_id,
            created_after=_as_utc(created_after),
            created_before=_as_utc(created_before),
        )
    except InvalidCursor:
        raise invalid_cursor("pq", "next_pq") from None
    positions = services.store.runs.queue_positions(records)  # one read for the page's queued runs
    items = [services.presenter.present(run, queue_position=positions.get(run.id)) for run in records]
    return RunList(items=items, next_pq=next_pq)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# Declared before /runs/{run_id} so that "statuses" is never taken for a run id.
@router.get("/runs/statuses", response_model=list[StatusOut], summary="The run statuses and their meaning")
def list_statuses(auth: CurrentAuth) -> list[StatusOut]:
    return [
        StatusOut(status_code=status, description=STATUS_DESCRIPTIONS[status], is_terminal=status.is_terminal)
        for status in RunStatus
    ]


@router.get("/runs/{run_id}", response_model=RunOut, summary="Get a run", responses=_RUN_NOT_FOUND)
async def get_run(run_id: RunId, auth: CurrentAuth, services: ServicesDep) -> Response:
    # On the loop: the polling hot path (store/db/loop_reads.py says why).
    found = await services.store.runs.get_with_position_on_loop(services.loop_reads, run_id, auth.owner_id)
    if found is None:
        raise run_not_found(run_id)
    run, position = found
    out = await services.presenter.present_on_loop(run, position)
    return json_response(out)


@router.post(
    "/runs/{run_id}/cancellation",
    response_model=RunOut,
    summary="Cancel a run",
    description="201 when this call canceled the run; 200 with the unchanged run when it was already "
    "terminal. A running run stops at its next denoising step.",
    responses={201: {"model": RunOut, "description": "Canceled by this call"}, **_RUN_NOT_FOUND},
)
def cancel_run(
    run_id: RunId,
    response: Response,
    auth: CurrentAuth,
    services: ServicesDep,
) -> RunOut:
    try:
        run, changed = services.store.runs.cancel(run_id, auth.owner_id)
    except RunNotFound:
        raise run_not_found(run_id) from None
    response.status_code = 201 if changed else 200
    return services.presenter.present(run)


@router.get(
    "/runs/{run_id}/logs", response_model=list[LogOut], summary="A run's log lines", responses=_RUN_NOT_FOUND
)
def list_logs(run_id: RunId, auth: CurrentAuth, services: ServicesDep) -> list[LogOut]:
    store = services.store
    if store.runs.get(run_id, auth.owner_id) is None:
        raise run_not_found(run_id)
    return [LogOut.from_record(line) for line in store.history.logs(run_id)]
