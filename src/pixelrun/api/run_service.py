"""The one way a run enters the system and leaves it as a wire object.

Every create route (the native one and the OpenAI / Replicate translators) goes through
`submit`, and every route that shows a run uses `present_run`: one run path, one
set of checks, whatever the wire shape outside.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio.to_thread
from fastapi import Request, Response
from pydantic import ValidationError

from pixelrun.api.asset_service import asset_reference_errors, asset_urls_in
from pixelrun.api.errors import ApiError, field_errors, validation_error
from pixelrun.api.model_gate import model_gate
from pixelrun.api.models_catalog import CatalogModel
from pixelrun.api.wire import RunOut, unstorable_values
from pixelrun.config import Settings
from pixelrun.runs import RunStatus, utc_now
from pixelrun.storage import FileStorage
from pixelrun.store import (
    AuthContext,
    IdempotencyConflict,
    InsufficientCredit,
    NewRun,
    RunRecord,
    Store,
    request_hash,
)
from pixelrun.store.idempotency import MAX_KEY_LENGTH

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
CANCEL_AFTER_HEADER = "Cancel-After"
# `90s`, `5m`, `1h`, or combined like `1h30m`; at most a week.
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
MAX_CANCEL_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class CreateOptions:
    """The create headers of SPEC §11, read once by every create route."""

    idempotency_key: str | None = None
    cancel_after: timedelta | None = None

    @classmethod
    def from_request(cls, request: Request) -> CreateOptions:
        """Parse `Idempotency-Key` and `Cancel-After`; 422 VALIDATION_ERROR when malformed."""
        problems: list[dict[str, Any]] = []
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
            problems.append(
                _header_problem(IDEMPOTENCY_KEY_HEADER, f"must have 1 to {MAX_KEY_LENGTH} characters")
            )
        raw_deadline = request.headers.get(CANCEL_AFTER_HEADER)
        cancel_after = None
        if raw_deadline is not None:
            cancel_after = parse_duration(raw_deadline)
            if cancel_after is None:
                problems.append(
                    _header_problem(
                        CANCEL_AFTER_HEADER,
                        "must be a duration like 90s, 5m, 1h or 1h30m, from 1 second to 7 days",
                    )
                )
        if problems:
            raise validation_error(problems)
        return cls(idempotency_key=key, cancel_after=cancel_after)


def _header_problem(name: str, message: str) -> dict[str, Any]:
    return {"loc": ["header", name], "msg": message, "type": "value_error"}


def parse_duration(text: str) -> timedelta | None:
    """`90s`, `5m`, `1h`, `1h30m` as a timedelta; None when malformed or out of range."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    duration = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if not timedelta(seconds=1) <= duration <= MAX_CANCEL_AFTER:
        return None
    return duration


# `present_run(..., queue_position=UNKNOWN)`: not read yet, so present_run reads it.
UNKNOWN: Any = object()


@dataclass(frozen=True)
class Submission:
    """A create's outcome: the run and the status code to answer with.

    `replayed` is True when an earlier create with the same `Idempotency-Key` made the
    run; the answer then carries that create's status code and `Idempotent-Replayed: true`.
    """

    run: RunRecord
    status_code: int = 201
    replayed: bool = False
    # Read with the create; pass it on to `present_run(..., queue_position=...)`.
    queue_position: int | None = UNKNOWN

    def headers(self) -> dict[str, str]:
        return {REPLAYED_HEADER: "true"} if self.replayed else {}


def present_run(
    run: RunRecord,
    store: Store,
    settings: Settings,
    storage: FileStorage,
    *,
    queue_position: int | None = UNKNOWN,
) -> RunOut:
    """The wire form of a run: signed file URLs, links, and the queue position when queued.

    Pass `queue_position` when it was read with the run (`store.runs.get_with_position`) to save a query.
    """
    ttl = settings.file_url_ttl_seconds
    if run.status is not RunStatus.QUEUED:
        queue_position = None
    elif queue_position is UNKNOWN:
        queue_position = store.runs.queue_position(run)
    return RunOut.from_record(
        run,
        base_url=settings.public_base_url,
        url_for=lambda key: storage.url_for(key, ttl),
        queue_position=queue_position,
    )


async def present_on_loop(
    run: RunRecord,
    store: Store,
    settings: Settings,
    storage: FileStorage,
    limiter: anyio.CapacityLimiter,
    queue_position: int | None = UNKNOWN,
) -> RunOut:
    """`present_run` for coroutines: on the loop when nothing needs I/O, else in a thread.

    A run with stored files needs signed URLs, and signing may do I/O (an S3 client
    refreshing its credentials); a queued run without its position needs a query.
    """
    needs_io = has_stored_files(run) or (run.status is RunStatus.QUEUED and queue_position is UNKNOWN)
    if not needs_io:
        return present_run(run, store, settings, storage, queue_position=queue_position)
    return await anyio.to_thread.run_sync(
        lambda: present_run(run, store, settings, storage, queue_position=queue_position), limiter=limiter
    )


def has_stored_files(run: RunRecord) -> bool:
    outputs = (run.output or {}).get("outputs") or []
    return any("key" in item for item in outputs)


def json_response(body: RunOut, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`body` serialised once by pydantic. Returning the model instead makes FastAPI dump it,
    validate it again against the response model and serialise it: three passes per request.
    The bytes are the same (`RunOut` holds only JSON types; timestamps are strings already).
    """
    return Response(
        body.model_dump_json(), status_code=status_code, headers=headers, media_type="application/json"
    )


async def submit(
    *,
    store: Store,
    settings: Settings,
    auth: AuthContext,
    model: CatalogModel,
    raw_input: Any,
    metadata: dict[str, Any] | None = None,
    callback_url: str | None = None,
    client_ref: str | None = None,
    input_loc: tuple[str, ...] = ("body", "input"),
    options: CreateOptions | None = None,
    status_code: int = 201,
    callback_format: str | None = None,
) -> Submission:
    """Rate-limit, validate `raw_input` against the model's schema and queue the run.

    `options` carries `Idempotency-Key` and `Cancel-After` (`CreateOptions.from_request`);
    `status_code` is what the route answers for a new run, remembered for replays.
    Raises `ApiError` (429, 422 with field errors under `input_loc`, 409, 402) for the
    caller's error handler to render in whichever wire shape its route speaks; 503
    `MODEL_UNAVAILABLE` when no live worker can serve the model after the grace period.

    A coroutine: the checks run on the loop and the store is reached only when needed
    (the rate limit, asset URLs, a stale worker count: in a thread; the create itself:
    awaited from the committer thread). A hop to a thread per create cost more CPU than
    the checks.
    """
    options = options or CreateOptions()
    if settings.rate_limit_per_minute is not None:
        await anyio.to_thread.run_sync(_check_rate_limit, store, settings, auth)
    try:
        validated = model.input_model.model_validate(raw_input)
    except ValidationError as exc:
        raise validation_error(field_errors(exc.errors(), input_loc)) from None
    stored_input = validated.model_dump(mode="json")
    problems = unstorable_values(stored_input, input_loc)
    problems += unstorable_values(metadata, (input_loc[0], "metadata"))
    problems += unstorable_values([callback_url, client_ref], (input_loc[0],))
    if problems:
        raise validation_error(problems)
    # Uploaded assets are owner-scoped: another owner's (or a deleted) asset is refused here.
    assets = asset_urls_in(stored_input, input_loc)
    if assets:
        problems = await anyio.to_thread.run_sync(asset_reference_errors, store, auth.owner_id, assets)
        if problems:
            raise validation_error(problems)
    new_run = NewRun(
        owner_id=auth.owner_id,
        model_id=model.id,
        input=stored_input,
        metadata=metadata,
        callback_url=callback_url,
        client_ref=client_ref,
        max_attempts=settings.max_attempts,
        deadline_at=utc_now() + options.cancel_after if options.cancel_after is not None else None,
        callback_format=callback_format,
    )
    estimated_cents = model.estimate_cents(validated)
    gate = model_gate(store, settings)
    if gate.check_reads_store(model.id):
        await anyio.to_thread.run_sync(gate.check, model.id)
    else:
        gate.check(model.id)
    try:
        digest = ""
        if options.idempotency_key is not None:
            # The request as stored, plus the deadline asked for: a replay must repeat both.
            digest = request_hash(
                {
                    "model": model.id,
                    "input": stored_input,
                    "metadata": metadata,
                    "callback_url": callback_url,
                    "client_ref": client_ref,
                    "cancel_after": options.cancel_after.total_seconds() if options.cancel_after else None,
                }
            )
        created = await asyncio.wrap_future(
            store.runs.create_future(
                new_run,
                key=options.idempotency_key,
                request_digest=digest,
                status_code=status_code,
                estimated_cents=estimated_cents,
            )
        )
        return Submission(created.run, created.status_code, created.replayed, created.queue_position)
    except IdempotencyConflict as exc:
        raise ApiError(
            409,
            "CONFLICT",
            f"Idempotency-Key {exc.key!r} was already used for a different request (run {exc.run_id}); "
            "use a new key for a new request.",
        ) from None
    except InsufficientCredit as exc:
        raise ApiError(
            402,
            "INSUFFICIENT_CREDIT",
            f"Insufficient credit: the run may cost up to {exc.required_cents} cents and "
            f"{max(exc.available_cents, 0)} cents are left.",
        ) from None


def _check_rate_limit(store: Store, settings: Settings, auth: AuthContext) -> None:
    limit = settings.rate_limit_per_minute
    if limit is None:
        return
    decision = store.rate_limits.hit(auth.key_id, limit, window_seconds=settings.rate_limit_window_seconds)
    if not decision.allowed:
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"Rate limit of {limit} creates per {settings.rate_limit_window_seconds} s for this API key reached; "
            f"retry in {decision.retry_after_seconds} s.",
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )
